// The CRF head (issue 22, item 3) in the model and the trainer: its gradients through BERT, its
// parameters (AdamW without decay, clipping, checkpoints, replicas), and its save and load in a
// Hugging Face directory.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebGpu, setupBackend } from "../ner/bert/backend.ts";
import { type BertConfig, makeBertConfig, toHfConfigJson } from "../ner/bert/config.ts";
import { initWeights, paramSpecs, usesWeightDecay } from "../ner/bert/init.ts";
import { batchTensors, BertModel } from "../ner/bert/model.ts";
import { crfBatchLoss } from "../ner/bert/crf_loss.ts";
import { crfBatchGradients } from "../ner/bert/_step.ts";
import { tidyAsync } from "../ner/bert/_scope.ts";
import { type Batch, type StepInfo, trainTokenClassifier } from "../ner/bert/trainer.ts";
import { CheckpointError, loadModelDir, saveModelDir } from "../ner/bert/checkpoint.ts";
import { adaptCheckpoint } from "../ner/bert/adapt.ts";
import { writeSafetensors } from "../ner/bert/safetensors.ts";
import type { CrfParams } from "../ner/crf.ts";
import { Rng } from "../ner/bert/_random.ts";
import { crfProbabilityLoss } from "../ner/evaluate.ts";

const CRF = "crf" as const;
const CRF_NAMES = ["crf.transitions", "crf.start_transitions", "crf.end_transitions"];

function tinyConfig(overrides: Partial<BertConfig> = {}): BertConfig {
  return makeBertConfig(30, {
    hidden_size: 16,
    num_attention_heads: 2,
    intermediate_size: 32,
    num_hidden_layers: 1,
    max_position_embeddings: 24,
    ...overrides,
  });
}

/**
 * Sentences of a BIO task over 3 classes (O, B, I): an id above 20 starts an entity, which goes
 * on over the following ids below 10. Whether a small id is I or O depends on the label before:
 * what the CRF's transitions capture.
 */
function bioBatches(n: number, batchSize: number, seed: number): Batch[] {
  const rng = new Rng(seed);
  const out: Batch[] = [];
  for (let b = 0; b < n; b++) {
    const lens = Array.from({ length: batchSize }, () => 4 + Math.floor(rng.next() * 8));
    const T = Math.max(...lens) + 2;
    const ids = new Int32Array(batchSize * T);
    const mask = new Int32Array(batchSize * T);
    const labels = new Int32Array(batchSize * T).fill(-100);
    lens.forEach((len, r) => {
      const row = r * T;
      ids[row] = 1;
      mask[row] = 1;
      let prev = 0;
      for (let t = 1; t <= len; t++) {
        const id = 3 + Math.floor(rng.next() * 27);
        ids[row + t] = id;
        mask[row + t] = 1;
        prev = id > 20 ? 1 : id < 10 && prev !== 0 ? 2 : 0;
        labels[row + t] = prev;
      }
      ids[row + len + 1] = 2;
      mask[row + len + 1] = 1;
    });
    out.push({ ids, mask, labels, batchSize, seqLen: T });
  }
  return out;
}

const TRAIN = {
  numLabels: 3,
  learningRate: 1e-2,
  weightDecay: 0.01,
  warmupRatio: 0.1,
  maxGradNorm: 1,
  seed: 4,
  workers: 1,
};

Deno.test("a CRF head adds crf.* parameters that start at 0 and take no weight decay", () => {
  const softmax = tinyConfig();
  const crf = tinyConfig({ nerpipe_head: CRF });
  const plain = paramSpecs(softmax, 5);
  const specs = paramSpecs(crf, 5);
  // The softmax model's parameters are untouched; the CRF's follow them.
  assert.deepEqual(specs.slice(0, plain.length), plain);
  assert.deepEqual(specs.slice(plain.length), [
    { name: "crf.transitions", shape: [5, 5], kind: "crf" },
    { name: "crf.start_transitions", shape: [5], kind: "crf" },
    { name: "crf.end_transitions", shape: [5], kind: "crf" },
  ]);
  const w = initWeights(crf, 5, 1);
  for (const name of CRF_NAMES) {
    assert.ok(w.get(name)!.data.every((x) => x === 0), name);
    assert.equal(usesWeightDecay(name), false, name);
  }
  // The same draws for every other weight.
  assert.deepEqual(
    w.get("classifier.weight")!.data,
    initWeights(softmax, 5, 1).get("classifier.weight")!.data,
  );
  assert.equal(toHfConfigJson(crf, ["O"]).nerpipe_head, "crf");
  assert.equal("nerpipe_head" in toHfConfigJson(softmax, ["O"]), false);
});

Deno.test("the CRF head's gradients through BERT match finite differences of its loss", async () => {
  await setupBackend("cpu");
  const config = tinyConfig({
    vocab_size: 11,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 2,
    max_position_embeddings: 9,
    initializer_range: 0.5,
    nerpipe_head: CRF,
  });
  const weights = initWeights(config, 4, 3);
  // Scores away from 0, so that their own gradients are not the softmax's.
  const rng = new Rng(9);
  for (const name of CRF_NAMES) rng.fillNormal(weights.get(name)!.data, 1);
  const model = BertModel.fromWeights(config, 4, weights);
  const batch = {
    ids: new Int32Array([1, 2, 3, 4, 5, 6, 7, 8, 0, 0]),
    mask: new Int32Array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
    labels: new Int32Array([-100, 1, 2, 3, 0, 2, 1, -100, -100, -100]),
    batchSize: 2,
    seqLen: 5,
  };
  const seed = 7;
  const lossAt = async () => {
    const logits = tf.tidy(() => model.forward(batchTensors(batch), { training: true, seed }));
    const data = await logits.data();
    logits.dispose();
    return crfBatchLoss(data, batch.labels, batch.seqLen, (await model.crfParams())!).loss;
  };
  try {
    const before = tf.memory().numTensors;
    const out = await tidyAsync(async () => {
      const { loss, grads } = await crfBatchGradients(model, batch, 4, seed);
      return { loss, grads: model.specs.map((s) => grads.get(s.name)!) };
    });
    assert.equal(tf.memory().numTensors, before + 1 + model.specs.length);
    // The loss is the mean over the units of the rows' CRF NLL.
    assert.ok(Math.abs((await out.loss.data())[0]! - await lossAt()) < 1e-6);
    for (const [k, spec] of model.specs.entries()) {
      const v = model.params.get(spec.name)!;
      const g = (await out.grads[k]!.data()) as Float32Array;
      assert.deepEqual(out.grads[k]!.shape, v.shape, spec.name);
      const vals = (await v.data()).slice() as Float32Array;
      const idx = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(
        0,
        2,
      );
      for (const i of idx) {
        const h = 1e-2;
        const orig = vals[i]!;
        vals[i] = orig + h;
        v.assign(tf.tensor(vals, v.shape));
        const lp = await lossAt();
        vals[i] = orig - h;
        v.assign(tf.tensor(vals, v.shape));
        const lm = await lossAt();
        vals[i] = orig;
        v.assign(tf.tensor(vals, v.shape));
        const num = (lp - lm) / (2 * h);
        const err = Math.abs(num - g[i]!) / Math.max(1e-2, Math.abs(num) + Math.abs(g[i]!));
        assert.ok(err < 1e-2, `${spec.name}[${i}]: numeric ${num} vs analytic ${g[i]}`);
      }
    }
    tf.dispose([out.loss, ...out.grads]);
  } finally {
    model.dispose();
  }
});

Deno.test("training a CRF head: the loss falls, transitions are learned, tensors stay flat", async () => {
  await setupBackend("wasm");
  const config = tinyConfig({ nerpipe_head: CRF });
  const steps: StepInfo[] = [];
  const counts: number[] = [];
  const seen: (CrfParams | null)[] = [];
  const result = await trainTokenClassifier({
    ...TRAIN,
    config,
    epochs: 4,
    train: bioBatches(12, 8, 1),
    evaluate: (epoch, _predict, _probabilities, crf) => {
      seen.push(crf);
      return Promise.resolve({ f1: epoch }); // the last epoch is kept
    },
    onStep: (s) => {
      steps.push(s);
      counts.push(tf.memory().numTensors);
    },
  });
  assert.equal(steps.length, 48);
  const first = steps.slice(0, 6).reduce((a, s) => a + s.loss, 0) / 6;
  const last = steps.slice(-6).reduce((a, s) => a + s.loss, 0) / 6;
  assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
  assert.ok(steps.every((s) => Number.isFinite(s.gradNorm) && s.gradNorm > 0));
  assert.equal(counts[5], counts[40]);
  // O -> I is never gold: its score falls below O -> O's and B -> I's.
  const t = result.weights.get("crf.transitions")!;
  assert.deepEqual(t.shape, [3, 3]);
  assert.ok(t.data[0 * 3 + 2]! < t.data[0 * 3 + 0]!, `transitions ${t.data}`);
  assert.ok(t.data[0 * 3 + 2]! < t.data[1 * 3 + 2]!, `transitions ${t.data}`);
  // The evaluation got the scores of its epoch, the last ones those kept.
  assert.equal(seen.length, 4);
  assert.deepEqual(seen[0]!.transitions.length, 9);
  assert.deepEqual(Array.from(seen[3]!.transitions), Array.from(t.data));
});

Deno.test("CRF heads on data-parallel replicas match single-thread training without dropout", async () => {
  await setupBackend("wasm");
  const config = tinyConfig({
    nerpipe_head: CRF,
    hidden_dropout_prob: 0,
    attention_probs_dropout_prob: 0,
  });
  const train = bioBatches(6, 6, 2);
  const run = async (workers: number) => {
    const losses: number[] = [];
    const result = await trainTokenClassifier({
      ...TRAIN,
      config,
      epochs: 2,
      workers,
      train,
      onStep: (s) => losses.push(s.loss),
    });
    return { losses, weights: result.weights };
  };
  const before = tf.memory().numTensors;
  const one = await run(1);
  const three = await run(3);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(three.losses.length, 12);
  for (let i = 0; i < 12; i++) {
    assert.ok(
      Math.abs(one.losses[i]! - three.losses[i]!) < 1e-4,
      `step ${i}: ${one.losses[i]} vs ${three.losses[i]}`,
    );
  }
  for (const name of [...CRF_NAMES, "classifier.weight"]) {
    const a = one.weights.get(name)!.data;
    const b = three.weights.get(name)!.data;
    assert.ok(a.some((x) => x !== 0), name);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4, name);
  }
});

Deno.test("a CRF run interrupted after a checkpoint resumes to the same weights, bit for bit", async () => {
  await setupBackend("cpu");
  const dir = await Deno.makeTempDir({ prefix: "crf-resume-" });
  const opts = { ...TRAIN, config: tinyConfig({ nerpipe_head: CRF }), epochs: 2 };
  const train = bioBatches(4, 4, 3);
  try {
    const whole = await trainTokenClassifier({ ...opts, train });
    const ac = new AbortController();
    await assert.rejects(
      trainTokenClassifier({
        ...opts,
        train,
        signal: ac.signal,
        checkpoint: { dir, everySteps: 2 },
        onStep: (s) => s.step === 5 && ac.abort(),
      }),
      { name: "AbortError" },
    );
    const resumed = await trainTokenClassifier({
      ...opts,
      train,
      checkpoint: { dir, everySteps: 2 },
    });
    assert.deepEqual(resumed.resumed, { epoch: 1, step: 4 }); // in the first epoch, counted from 1
    for (const name of [...CRF_NAMES, "classifier.weight"]) {
      assert.deepEqual(resumed.weights.get(name)!.data, whole.weights.get(name)!.data, name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a CRF model directory saves crf.* tensors and nerpipe_head; without them it is a softmax model", async () => {
  const dir = await Deno.makeTempDir({ prefix: "crf-dir-" });
  const config = tinyConfig({ nerpipe_head: CRF });
  const labels = ["O", "B-PS", "I-PS"];
  const weights = initWeights(config, 3, 2);
  weights.get("crf.transitions")!.data.set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  try {
    await saveModelDir(dir, config, labels, weights);
    const json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(json.nerpipe_head, "crf");
    const loaded = await loadModelDir(dir, { complete: true });
    assert.equal(loaded.config.nerpipe_head, "crf");
    assert.deepEqual(Array.from(loaded.crf!.transitions), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(loaded.crf!.start.length, 3);
    // Fine-tuning it with a softmax head: the CRF's tensors are unexpected keys, ignored.
    const softmax = { ...loaded, config: { ...loaded.config } };
    delete softmax.config.nerpipe_head;
    const adapted = adaptCheckpoint(softmax, labels, 1);
    assert.deepEqual(adapted.unexpected, CRF_NAMES.slice().sort());
    assert.equal(adapted.weights.has("crf.transitions"), false);
    // The same weights without the head in config.json: a softmax model.
    delete json.nerpipe_head;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    const plain = await loadModelDir(dir, { complete: true });
    assert.equal(plain.crf, undefined);
    assert.equal(plain.config.nerpipe_head, undefined);
    // A softmax checkpoint fine-tuned with a CRF head: the CRF starts at 0, and the report says so.
    const fresh = adaptCheckpoint(
      {
        ...plain,
        weights: new Map([...plain.weights].filter(([n]) => !n.startsWith("crf."))),
        config: { ...plain.config, nerpipe_head: CRF },
      },
      labels,
      1,
    );
    assert.equal(fresh.newCrf, true);
    assert.ok(fresh.weights.get("crf.transitions")!.data.every((x) => x === 0));
    assert.match(fresh.report.join("\n"), /CRF newly initialised .*: the checkpoint has none/);
    // config.json says crf, the weights lack the CRF: an error that says what to do.
    json.nerpipe_head = "crf";
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    const tensors = new Map(
      [...plain.weights].filter(([n]) => !n.startsWith("crf.")).map((
        [n, t],
      ) => [n, { dtype: "F32" as const, shape: t.shape, data: t.data }]),
    );
    await writeSafetensors(`${dir}/model.safetensors`, tensors);
    await assert.rejects(
      () => loadModelDir(dir),
      (e: unknown) =>
        e instanceof CheckpointError &&
        /gives "nerpipe_head" "crf", but ".*model.safetensors" lacks "crf.transitions", "crf.start_transitions", "crf.end_transitions": .*remove "nerpipe_head"/
          .test(e.message),
    );
    json.nerpipe_head = "hmm";
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    await assert.rejects(
      () => loadModelDir(dir),
      /Unsupported "nerpipe_head" "hmm": expected "softmax" or "crf"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a CRF model's loss at initialisation is the softmax cross-entropy of its units", async () => {
  // Zero transitions: the CRF factorises into one softmax per unit.
  await setupBackend("cpu");
  const config = tinyConfig({ nerpipe_head: CRF });
  const model = BertModel.create(config, 3, 5);
  try {
    const [batch] = bioBatches(1, 3, 5);
    const logits = tf.tidy(() => model.forward(batchTensors(batch!), { training: false }));
    const data = await logits.data();
    logits.dispose();
    const params = (await model.crfParams())!;
    const crf = crfBatchLoss(data, batch!.labels, batch!.seqLen, params);
    let ce = 0;
    for (let i = 0; i < batch!.labels.length; i++) {
      const y = batch!.labels[i]!;
      if (y === -100) continue;
      const row = Array.from(data.subarray(i * 3, i * 3 + 3));
      const max = Math.max(...row);
      ce += max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[y]!;
    }
    assert.ok(Math.abs(crf.loss - ce / crf.count) < 1e-9, `${crf.loss} vs ${ce / crf.count}`);
  } finally {
    model.dispose();
  }
});

Deno.test({
  name: "CRF training on forced WebGPU matches the CPU loss",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const probe = await probeWebGpu();
    if (!probe.ok) {
      console.log(`skipped: no WebGPU adapter (${probe.description})`);
      return;
    }
    const run = async () => {
      const losses: number[] = [];
      const norms: number[] = [];
      const result = await trainTokenClassifier({
        ...TRAIN,
        config: tinyConfig({ nerpipe_head: CRF, num_hidden_layers: 1, hidden_size: 16 }),
        epochs: 1,
        warmupRatio: 0,
        train: bioBatches(3, 4, 6),
        onStep: (s) => {
          losses.push(s.loss);
          norms.push(s.gradNorm);
        },
      });
      return { losses, norms, transitions: result.weights.get("crf.transitions")!.data };
    };
    assert.equal((await setupBackend("webgpu")).backend, "webgpu");
    const gpu = await run();
    await setupBackend("cpu");
    const cpu = await run();
    await setupBackend("wasm");
    for (let i = 0; i < 3; i++) {
      const near = (a: number, b: number) => Math.abs(a - b) < 1e-3 * Math.max(1, Math.abs(b));
      assert.ok(near(gpu.losses[i]!, cpu.losses[i]!), `loss ${i}`);
      assert.ok(near(gpu.norms[i]!, cpu.norms[i]!), `norm ${i}`);
    }
    for (let k = 0; k < 9; k++) {
      assert.ok(Math.abs(gpu.transitions[k]! - cpu.transitions[k]!) < 1e-4, `transition ${k}`);
    }
    console.log(
      `webgpu (${probe.description}) CRF losses ${gpu.losses.map((x) => x.toFixed(5))} cpu ${
        cpu.losses.map((x) => x.toFixed(5))
      }`,
    );
  },
});

Deno.test("train's CRF validation loss from probabilities equals the training loss from logits", () => {
  // Softmax probabilities stand for the logits: one constant per position apart.
  const rng = new Rng(12);
  const n = 4;
  const [batch] = bioBatches(1, 3, 8);
  const logits = new Float32Array(batch!.labels.length * n);
  rng.fillNormal(logits, 3);
  const probs = new Float32Array(logits.length);
  for (let i = 0; i < batch!.labels.length; i++) {
    const row = logits.subarray(i * n, i * n + n);
    const max = Math.max(...row);
    const z = row.reduce((a, x) => a + Math.exp(x - max), 0);
    row.forEach((x, c) => (probs[i * n + c] = Math.exp(x - max) / z));
  }
  const crf = {
    transitions: new Float32Array(n * n),
    start: new Float32Array(n),
    end: new Float32Array(n),
  };
  rng.fillNormal(crf.transitions, 1);
  rng.fillNormal(crf.start, 1);
  const fromLogits = crfBatchLoss(logits, batch!.labels, batch!.seqLen, crf);
  const fromProbs = crfProbabilityLoss(batch!, probs, crf);
  assert.equal(fromProbs.count, fromLogits.count);
  assert.ok(
    Math.abs(fromProbs.sum / fromProbs.count - fromLogits.loss) < 1e-5,
    `${fromProbs.sum / fromProbs.count} vs ${fromLogits.loss}`,
  );
});
