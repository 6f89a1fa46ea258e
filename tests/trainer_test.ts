import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { probeWebGpu, setupBackend } from "../ner/bert/backend.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import {
  type Batch,
  resolveReplicas,
  type StepInfo,
  trainTokenClassifier,
} from "../ner/bert/trainer.ts";
import { BertModel } from "../ner/bert/model.ts";

const config = makeBertConfig(24, {
  hidden_size: 32,
  num_attention_heads: 2,
  intermediate_size: 64,
  num_hidden_layers: 2,
  max_position_embeddings: 32,
});

/** Batches where a token's label is its id's parity, or whether the previous token is > 12 (needs attention). */
function makeBatches(
  n: number,
  batchSize: number,
  seed: number,
  task: "parity" | "previous",
): Batch[] {
  let s = seed;
  const rand = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  const out: Batch[] = [];
  for (let b = 0; b < n; b++) {
    const lens = Array.from({ length: batchSize }, () => 4 + Math.floor(rand() * 9));
    const T = Math.max(...lens) + 2;
    const ids = new Int32Array(batchSize * T);
    const mask = new Int32Array(batchSize * T);
    const labels = new Int32Array(batchSize * T).fill(-100);
    lens.forEach((len, i) => {
      const row = i * T;
      ids[row] = 1; // [CLS]
      mask[row] = 1;
      for (let t = 1; t <= len; t++) {
        const id = 3 + Math.floor(rand() * 21);
        ids[row + t] = id;
        mask[row + t] = 1;
        labels[row + t] = task === "parity" ? id % 2 : (t > 1 && ids[row + t - 1]! > 12 ? 1 : 0);
      }
      ids[row + len + 1] = 2; // [SEP]
      mask[row + len + 1] = 1;
    });
    out.push({ ids, mask, labels, batchSize, seqLen: T });
  }
  return out;
}

async function accuracy(
  predict: (b: Batch) => Promise<Int32Array>,
  batches: Batch[],
): Promise<number> {
  let right = 0;
  let total = 0;
  for (const b of batches) {
    const p = await predict(b);
    for (let i = 0; i < p.length; i++) {
      if (b.labels[i] === -100) continue;
      total++;
      if (p[i] === b.labels[i]) right++;
    }
  }
  return right / total;
}

Deno.test("training keeps the tensor count flat across steps", async () => {
  await setupBackend("wasm");
  const counts = new Map<number, number>();
  await trainTokenClassifier({
    config,
    numLabels: 2,
    epochs: 2,
    learningRate: 1e-3,
    weightDecay: 0.01,
    warmupRatio: 0.1,
    maxGradNorm: 1,
    seed: 1,
    workers: 1,
    train: makeBatches(6, 4, 1, "parity"),
    onStep: (s) => counts.set(s.step, tf.memory().numTensors),
  });
  assert.equal(counts.size, 12);
  assert.equal(counts.get(2), counts.get(10));
  assert.equal(counts.get(3), counts.get(11));
});

Deno.test("training learns token parity to high accuracy within seconds", async () => {
  await setupBackend("wasm");
  const train = makeBatches(40, 16, 2, "parity");
  const dev = makeBatches(5, 16, 99, "parity");
  const steps: StepInfo[] = [];
  const t0 = performance.now();
  const result = await trainTokenClassifier({
    config,
    numLabels: 2,
    epochs: 3,
    learningRate: 2e-3,
    weightDecay: 0.01,
    warmupRatio: 0.1,
    maxGradNorm: 1,
    seed: 3,
    workers: 1,
    train,
    evaluate: async (_epoch, predict) => ({ f1: await accuracy(predict, dev) }),
    onStep: (s) => steps.push(s),
  });
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(steps.length, 120);
  const first = steps.slice(0, 10).reduce((a, s) => a + s.loss, 0) / 10;
  const last = steps.slice(-10).reduce((a, s) => a + s.loss, 0) / 10;
  assert.ok(last < first * 0.3, `loss ${first} -> ${last}`);
  const best = result.history[result.bestEpoch - 1]!.metrics!.f1;
  assert.ok(best > 0.97, `accuracy ${best}`);
  assert.equal(best, Math.max(...result.history.map((h) => h.metrics!.f1)));
  assert.ok(steps.every((s) => Number.isFinite(s.gradNorm) && s.gradNorm > 0));
  assert.equal(steps[0]!.lr, 0); // warm-up starts at 0 as in HF
  console.log(
    `parity: ${seconds.toFixed(1)} s, accuracy ${best.toFixed(3)}, final loss ${last.toFixed(4)}`,
  );
  // Returned weights reproduce the best epoch.
  const model = BertModel.fromWeights(config, 2, result.weights);
  try {
    const acc = await accuracy((b) => model.predictClasses(b), dev);
    assert.equal(acc, best);
  } finally {
    model.dispose();
  }
});

Deno.test("training learns a context-dependent label (attention and positions work)", async () => {
  await setupBackend("wasm");
  const train = makeBatches(60, 16, 5, "previous");
  const dev = makeBatches(5, 16, 77, "previous");
  const result = await trainTokenClassifier({
    config,
    numLabels: 2,
    epochs: 4,
    learningRate: 3e-3,
    weightDecay: 0.01,
    warmupRatio: 0.1,
    maxGradNorm: 1,
    seed: 4,
    workers: 1,
    train,
    evaluate: async (_e, predict) => ({ f1: await accuracy(predict, dev) }),
  });
  const best = result.history[result.bestEpoch - 1]!.metrics!.f1;
  assert.ok(best > 0.95, `accuracy ${best}`);
});

Deno.test("an aborted signal stops training after the current batch", async () => {
  await setupBackend("wasm");
  const ctrl = new AbortController();
  let steps = 0;
  const before = tf.memory().numTensors;
  await assert.rejects(
    trainTokenClassifier({
      config,
      numLabels: 2,
      epochs: 5,
      learningRate: 1e-3,
      weightDecay: 0,
      warmupRatio: 0,
      maxGradNorm: 1,
      seed: 1,
      workers: 1,
      train: makeBatches(10, 4, 1, "parity"),
      signal: ctrl.signal,
      onStep: (s) => {
        steps = s.step;
        if (s.step === 3) ctrl.abort(new Error("stop now"));
      },
    }),
    /stop now/,
  );
  assert.ok(steps >= 3 && steps <= 5, `steps ${steps}`);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("data-parallel worker replicas match single-thread training without dropout", async () => {
  await setupBackend("wasm");
  const noDropout = { ...config, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 };
  const train = makeBatches(8, 6, 8, "previous");
  const run = async (workers: number) => {
    const losses: number[] = [];
    const result = await trainTokenClassifier({
      config: noDropout,
      numLabels: 2,
      epochs: 2,
      learningRate: 3e-3,
      weightDecay: 0.01,
      warmupRatio: 0.1,
      maxGradNorm: 1,
      seed: 2,
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
  assert.equal(three.losses.length, 16);
  for (let i = 0; i < 16; i++) {
    assert.ok(
      Math.abs(one.losses[i]! - three.losses[i]!) < 1e-4,
      `step ${i}: ${one.losses[i]} vs ${three.losses[i]}`,
    );
  }
  // A replica that drifted from the coordinator would show up in later losses; weights agree too.
  const a = one.weights.get("classifier.weight")!.data;
  const b = three.weights.get("classifier.weight")!.data;
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-4);
});

Deno.test({
  name: "training on forced WebGPU matches the CPU loss",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const probe = await probeWebGpu();
    if (!probe.ok) {
      console.log(`skipped: no WebGPU adapter (${probe.description})`);
      return;
    }
    const small = makeBertConfig(24, {
      hidden_size: 16,
      num_attention_heads: 2,
      intermediate_size: 32,
      num_hidden_layers: 1,
      max_position_embeddings: 32,
    });
    const run = async () => {
      const losses: number[] = [];
      const norms: number[] = [];
      await trainTokenClassifier({
        config: small,
        numLabels: 2,
        epochs: 1,
        learningRate: 1e-2,
        weightDecay: 0.01,
        warmupRatio: 0,
        maxGradNorm: 1,
        seed: 5,
        workers: 1,
        train: makeBatches(3, 4, 6, "parity"),
        onStep: (s) => {
          losses.push(s.loss);
          norms.push(s.gradNorm);
        },
      });
      return { losses, norms };
    };
    const choice = await setupBackend("webgpu");
    assert.equal(choice.backend, "webgpu");
    const gpu = await run();
    await setupBackend("cpu");
    const cpu = await run();
    await setupBackend("wasm");
    for (let i = 0; i < 3; i++) {
      assert.ok(
        Math.abs(gpu.losses[i]! - cpu.losses[i]!) < 1e-3 * Math.max(1, cpu.losses[i]!),
        `loss ${i}`,
      );
      assert.ok(
        Math.abs(gpu.norms[i]! - cpu.norms[i]!) < 1e-3 * Math.max(1, cpu.norms[i]!),
        `norm ${i}`,
      );
    }
    console.log(
      `webgpu (${probe.description}) losses ${gpu.losses.map((x) => x.toFixed(5))} cpu ${
        cpu.losses.map((x) => x.toFixed(5))
      }`,
    );
  },
});

Deno.test("training starts from given weights; a classifier for other labels is re-initialised", async () => {
  await setupBackend("wasm");
  const base = BertModel.create(config, 5, 11);
  const weights = await base.exportWeights();
  base.dispose();
  const common = {
    config,
    numLabels: 2,
    epochs: 1,
    learningRate: 0,
    weightDecay: 0,
    warmupRatio: 0,
    maxGradNorm: 1,
    seed: 1,
    workers: 1,
    train: makeBatches(1, 2, 3, "parity"),
  } as const;
  const result = await trainTokenClassifier({ ...common, initialWeights: weights });
  // Learning rate 0: encoder weights come back unchanged, the classifier has the new shape.
  assert.deepEqual(
    result.weights.get("bert.encoder.layer.1.output.dense.weight")!.data,
    weights.get("bert.encoder.layer.1.output.dense.weight")!.data,
  );
  assert.deepEqual(result.weights.get("classifier.weight")!.shape, [2, 32]);
  const partial = new Map(weights);
  partial.delete("bert.encoder.layer.0.intermediate.dense.bias");
  await assert.rejects(
    trainTokenClassifier({ ...common, initialWeights: partial }),
    /Initial weights lack "bert.encoder.layer.0.intermediate.dense.bias"/,
  );
});

Deno.test("workers apply to wasm and cpu; GPU backends train in one replica", () => {
  assert.equal(resolveReplicas(3, "wasm"), 3);
  assert.equal(resolveReplicas(2, "cpu"), 2);
  // Each replica would open the GPU again (on llvmpipe, wgpu panicked in a worker).
  assert.equal(resolveReplicas(2, "webgpu"), 1);
  assert.equal(resolveReplicas(4, "tensorflow"), 1);
  assert.equal(resolveReplicas("auto", "webgpu"), 1);
  assert.ok(resolveReplicas("auto", "wasm") >= 1);
  assert.throws(() => resolveReplicas(0, "webgpu"), /positive integer/);
});
