import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "../ner/bert/backend.ts";
import { loadBlas } from "../ner/bert/_blas.ts";
import { fromHfConfigJson, makeBertConfig, toHfConfigJson } from "../ner/bert/config.ts";
import { paramSpecs, usesWeightDecay } from "../ner/bert/init.ts";
import { batchTensors, BertModel } from "../ner/bert/model.ts";
import { lossTarget } from "../ner/bert/loss.ts";
import { AdamW, clipByGlobalNorm } from "../ner/bert/adamw.ts";
import { linearWarmupDecay, warmupSteps } from "../ner/bert/schedule.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "../ner/bert/safetensors.ts";
import { loadModelDir, saveModelDir } from "../ner/bert/checkpoint.ts";

const tiny = makeBertConfig(30, {
  hidden_size: 16,
  num_attention_heads: 2,
  intermediate_size: 24,
  num_hidden_layers: 2,
  max_position_embeddings: 16,
  initializer_range: 0.2,
});

Deno.test("BERT config.json has HF fields and round-trips", () => {
  const json = toHfConfigJson(tiny, ["O", "B-PS", "I-PS"]);
  assert.equal(json.model_type, "bert");
  assert.deepEqual(json.architectures, ["BertForTokenClassification"]);
  assert.deepEqual(json.id2label, { "0": "O", "1": "B-PS", "2": "I-PS" });
  assert.deepEqual(json.label2id, { O: 0, "B-PS": 1, "I-PS": 2 });
  const back = fromHfConfigJson(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(back.labels, ["O", "B-PS", "I-PS"]);
  assert.equal(back.config.hidden_size, 16);
  assert.equal(back.config.layer_norm_eps, 1e-12);
  assert.throws(
    () => fromHfConfigJson({ ...json, model_type: "gpt2" }),
    /Unsupported model type "gpt2"/,
  );
});

Deno.test("BERT logits have shape [batch, seq, labels] on wasm", async () => {
  await setupBackend("wasm");
  const model = BertModel.create(tiny, 5, 1);
  try {
    const logits = model.logits({
      ids: new Int32Array(2 * 7).fill(3),
      mask: new Int32Array(14).fill(1),
      batchSize: 2,
      seqLen: 7,
    });
    assert.deepEqual(logits.shape, [2, 7, 5]);
    logits.dispose();
    const pred = await model.predictClasses({
      ids: new Int32Array(3).fill(4),
      mask: new Int32Array(3).fill(1),
      batchSize: 1,
      seqLen: 3,
    });
    assert.equal(pred.length, 3);
    assert.ok(pred.every((p) => p >= 0 && p < 5));
  } finally {
    model.dispose();
  }
});

Deno.test("BERT weights carry Hugging Face names and [out, in] shapes", async () => {
  await setupBackend("wasm");
  const model = BertModel.create(tiny, 5, 1);
  try {
    const w = await model.exportWeights();
    const expect: Record<string, number[]> = {
      "bert.embeddings.word_embeddings.weight": [30, 16],
      "bert.embeddings.position_embeddings.weight": [16, 16],
      "bert.embeddings.token_type_embeddings.weight": [2, 16],
      "bert.embeddings.LayerNorm.weight": [16],
      "bert.embeddings.LayerNorm.bias": [16],
      "bert.encoder.layer.1.attention.self.query.weight": [16, 16],
      "bert.encoder.layer.1.attention.self.key.bias": [16],
      "bert.encoder.layer.0.attention.output.dense.weight": [16, 16],
      "bert.encoder.layer.0.attention.output.LayerNorm.weight": [16],
      "bert.encoder.layer.0.intermediate.dense.weight": [24, 16],
      "bert.encoder.layer.0.intermediate.dense.bias": [24],
      "bert.encoder.layer.0.output.dense.weight": [16, 24],
      "bert.encoder.layer.1.output.LayerNorm.bias": [16],
      "classifier.weight": [5, 16],
      "classifier.bias": [5],
    };
    for (const [name, shape] of Object.entries(expect)) {
      assert.deepEqual(w.get(name)?.shape, shape, name);
    }
    assert.equal(w.size, 5 + 16 * 2 + 2);
    assert.ok(![...w.keys()].some((k) => k.includes("pooler")));
    assert.deepEqual([...w.keys()], paramSpecs(tiny, 5).map((s) => s.name));
    // LayerNorm init 1/0, biases 0, dense weights ~ N(0, 0.2).
    assert.ok(w.get("bert.embeddings.LayerNorm.weight")!.data.every((x) => x === 1));
    assert.ok(w.get("classifier.bias")!.data.every((x) => x === 0));
    const q = w.get("bert.encoder.layer.0.intermediate.dense.weight")!.data;
    const std = Math.sqrt(q.reduce((a, x) => a + x * x, 0) / q.length);
    assert.ok(Math.abs(std - 0.2) < 0.03, `std ${std}`);
    // Export then import gives the same logits.
    const copy = BertModel.fromWeights(tiny, 5, w);
    const batch = {
      ids: new Int32Array([5, 6, 7]),
      mask: new Int32Array([1, 1, 1]),
      batchSize: 1,
      seqLen: 3,
    };
    const a = await model.logits(batch).data();
    const b = await copy.logits(batch).data();
    copy.dispose();
    assert.deepEqual(a, b);
  } finally {
    model.dispose();
  }
});

Deno.test("padding does not change logits at real positions", async () => {
  for (const backend of ["wasm", "cpu"] as const) {
    await setupBackend(backend);
    const model = BertModel.create(tiny, 4, 2);
    try {
      const sent = [2, 9, 4, 17, 5];
      const alone = await model.logits({
        ids: Int32Array.from(sent),
        mask: new Int32Array(5).fill(1),
        batchSize: 1,
        seqLen: 5,
      }).data();
      // Same sentence padded to 9 next to a longer one.
      const ids = new Int32Array(18);
      const mask = new Int32Array(18);
      ids.set(sent, 0);
      mask.fill(1, 0, 5);
      ids.set([3, 8, 8, 1, 12, 13, 14, 15, 16], 9);
      mask.fill(1, 9, 18);
      const padded = await model.logits({ ids, mask, batchSize: 2, seqLen: 9 }).data();
      for (let t = 0; t < 5; t++) {
        for (let c = 0; c < 4; c++) {
          assert.ok(
            Math.abs(alone[t * 4 + c]! - padded[t * 4 + c]!) < 1e-5,
            `${backend} t=${t} c=${c}`,
          );
        }
      }
    } finally {
      model.dispose();
    }
  }
});

Deno.test("a pass with no backward pass skips GELU's slope, LayerNorm's statistics and the heads' split, and fuses biases, residuals and activations, with the same logits bit for bit", async () => {
  // Sizes that are not multiples of 4 take the JavaScript loops on wasm too.
  const odd = makeBertConfig(30, {
    hidden_size: 6,
    num_attention_heads: 2,
    intermediate_size: 10,
    num_hidden_layers: 2,
    max_position_embeddings: 16,
    initializer_range: 0.2,
  });
  for (const [backend, config] of [["wasm", tiny], ["cpu", tiny], ["wasm", odd]] as const) {
    await setupBackend(backend);
    const model = BertModel.create(config, 4, 2);
    try {
      const batch = {
        ids: Int32Array.from([2, 9, 4, 17, 5, 3, 8, 8, 1, 0]),
        mask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
        batchSize: 2,
        seqLen: 5,
      };
      const input = batchTensors(batch);
      let inference: Float32Array | undefined;
      const profile = await tf.profile(async () => {
        const logits = model.forward(input, { training: false });
        inference = await logits.data() as Float32Array;
        logits.dispose();
      });
      // The kernels of an inference pass return their output alone.
      const outputs = (name: string) =>
        profile.kernels.filter((k) => k.name === name).map((k) => k.outputShapes.length);
      // Each layer's first dense layer ends in GELU, and both its blocks end in a residual and a
      // LayerNorm, each in one kernel after the product; only the embeddings' LayerNorm is alone.
      assert.deepEqual(outputs("BertBiasGelu"), [1, 1], backend);
      assert.deepEqual(outputs("BertAddLayerNorm"), [1, 1, 1, 1], backend);
      assert.deepEqual(outputs("BertLayerNorm"), [1], backend);
      assert.deepEqual(outputs("BertGelu"), [], backend);
      // With OpenBLAS, wasm computes attention in the fused projection's layout: the heads are
      // never split apart (the training pass below splits them).
      const fused = backend === "wasm" && loadBlas() !== null;
      assert.equal(outputs("BertAttentionScores").length, fused ? 2 : 0, backend);
      assert.equal(outputs("BertAttentionContext").length, fused ? 2 : 0, backend);
      assert.equal(outputs("BertSplitHeads").length, fused ? 0 : 2, backend);
      // A training pass with dropout off (which keeps them) computes the same logits.
      const kept = tf.tidy(() => model.trainingPass(input, { training: false }).logits.clone());
      const training = await kept.data() as Float32Array;
      kept.dispose();
      assert.deepEqual(
        new Uint32Array(inference!.buffer),
        new Uint32Array(training.buffer),
        `${backend}: logits differ`,
      );
      for (const t of Object.values(input)) if (t instanceof tf.Tensor) t.dispose();
    } finally {
      model.dispose();
    }
  }
});

Deno.test("inference passes keep the fused query, key and value weights until a weight is assigned, and dispose frees them", async () => {
  await setupBackend("wasm");
  const batch = {
    ids: Int32Array.from([2, 9, 4, 17, 5, 3, 8, 8, 1, 0]),
    mask: Int32Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
    batchSize: 2,
    seqLen: 5,
  };
  const before = tf.memory().numTensors;
  const model = BertModel.create(tiny, 4, 2);
  const concats = async () =>
    (await tf.profile(() => model.predictProbabilities(batch))).kernels
      .filter((k) => k.name === "Concat").length;
  // The first pass fuses each layer's weights and biases; the next ones reuse them.
  assert.equal(await concats(), 4);
  assert.equal(await concats(), 0);
  // A training step assigns new tensors to the variables: the fused copy is made again, and
  // the probabilities are those of a model built with the new weights.
  const name = "bert.encoder.layer.1.attention.self.key.weight";
  const key = model.params.get(name)!;
  const scaled = tf.mul(key, 1.5);
  key.assign(scaled);
  scaled.dispose();
  assert.equal(await concats(), 2);
  const after = await model.predictProbabilities(batch);
  const fresh = BertModel.fromWeights(tiny, 4, await model.exportWeights());
  assert.deepEqual(
    new Uint32Array(after.buffer),
    new Uint32Array((await fresh.predictProbabilities(batch)).buffer),
  );
  fresh.dispose();
  model.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("hand-written gradients match finite differences (with dropout)", async () => {
  await setupBackend("cpu");
  const config = makeBertConfig(11, {
    hidden_size: 8,
    num_attention_heads: 2,
    intermediate_size: 12,
    num_hidden_layers: 2,
    max_position_embeddings: 9,
    initializer_range: 0.5,
  });
  const model = BertModel.create(config, 4, 3);
  try {
    const batch = {
      ids: new Int32Array([1, 2, 3, 4, 5, 6, 7, 8, 0, 0]),
      mask: new Int32Array([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
      batchSize: 2,
      seqLen: 5,
    };
    const { target } = lossTarget(new Int32Array([-100, 1, 2, 3, 0, 2, 1, -100, -100, -100]), 4);
    const input = batchTensors(batch);
    const targetT = tf.tensor2d(target, [10, 4]);
    const opts = { training: true, seed: 7 };
    const { loss, grads } = model.lossAndGradients(input, targetT, opts);
    assert.ok((await loss.data())[0]! > 0);
    const lossAt = async () => {
      const r = tf.tidy(() => model.lossAndGradients(input, targetT, opts).loss);
      const v = (await r.data())[0]!;
      r.dispose();
      return v;
    };
    assert.equal(grads.size, model.params.size);
    for (const [name, v] of model.params) {
      const g = (await grads.get(name)!.data()) as Float32Array;
      assert.deepEqual(grads.get(name)!.shape, v.shape, name);
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
        assert.ok(err < 1e-2, `${name}[${i}]: numeric ${num} vs analytic ${g[i]}`);
      }
    }
    tf.dispose([loss, input.ids, input.maskAdd, targetT, ...grads.values()]);
  } finally {
    model.dispose();
  }
});

Deno.test("loss is 0 with no labelled position; -100 positions are ignored", async () => {
  await setupBackend("wasm");
  const model = BertModel.create(tiny, 3, 1);
  try {
    const batch = {
      ids: new Int32Array([1, 2, 3]),
      mask: new Int32Array([1, 1, 1]),
      batchSize: 1,
      seqLen: 3,
    };
    const input = batchTensors(batch);
    const lossOf = async (labels: number[]) => {
      const t = tf.tensor2d(lossTarget(Int32Array.from(labels), 3).target, [3, 3]);
      const r = tf.tidy(() => model.lossAndGradients(input, t, { training: false }).loss);
      const v = (await r.data())[0]!;
      tf.dispose([r, t]);
      return v;
    };
    assert.equal(await lossOf([-100, -100, -100]), 0);
    const logits = await model.logits(batch).data();
    const ce = (t: number, y: number) => {
      const row = Array.from(logits.slice(t * 3, t * 3 + 3));
      const m = Math.max(...row);
      return -(row[y]! - m - Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0)));
    };
    const l = await lossOf([-100, 2, 0]);
    assert.ok(Math.abs(l - (ce(1, 2) + ce(2, 0)) / 2) < 1e-5);
    assert.throws(() => lossTarget(Int32Array.from([3]), 3), /outside \[0, 3\)/);
    tf.dispose([input.ids, input.maskAdd]);
  } finally {
    model.dispose();
  }
});

Deno.test("gradient clipping bounds the global norm and leaves small gradients unchanged", async () => {
  await setupBackend("wasm");
  const g = [tf.tensor1d([3, 4]), tf.tensor2d([[12]])]; // norm 13
  const big = clipByGlobalNorm(g, 1);
  assert.ok(Math.abs((await big.norm.data())[0]! - 13) < 1e-5);
  const after = Math.hypot(...(await big.grads[0]!.data()), ...(await big.grads[1]!.data()));
  assert.ok(after <= 1 + 1e-6, `norm after clipping ${after}`);
  assert.ok(after > 0.999);
  const small = clipByGlobalNorm(g, 100);
  assert.deepEqual(Array.from(await small.grads[0]!.data()), [3, 4]);
  assert.deepEqual(Array.from(await small.grads[1]!.data()), [12]);
  tf.dispose([...g, ...big.grads, big.norm, ...small.grads, small.norm]);
});

Deno.test("AdamW decays weights but not biases or LayerNorm weights", async () => {
  for (const backend of ["wasm", "cpu"] as const) {
    await setupBackend(backend);
    const names = [
      "bert.encoder.layer.0.intermediate.dense.weight",
      "bert.encoder.layer.0.intermediate.dense.bias",
      "bert.embeddings.LayerNorm.weight",
      "bert.embeddings.word_embeddings.weight",
    ];
    const params = new Map(names.map((n) => [n, tf.variable(tf.fill([3], 2))]));
    const opt = new AdamW(params, { weightDecay: 0.1 });
    const grads = new Map(names.map((n) => [n, tf.zeros([3])]));
    tf.tidy(() => opt.applyGradients(grads, 0.5));
    const v = async (n: string) => Array.from(await params.get(n)!.data());
    for (const n of [names[0]!, names[3]!]) {
      for (const x of await v(n)) {
        assert.ok(Math.abs(x - 2 * (1 - 0.5 * 0.1)) < 1e-6, `${backend} ${n}`);
      }
    }
    assert.deepEqual(await v(names[1]!), [2, 2, 2]);
    assert.deepEqual(await v(names[2]!), [2, 2, 2]);
    assert.ok(!usesWeightDecay("bert.encoder.layer.3.output.LayerNorm.weight"));
    assert.ok(usesWeightDecay("classifier.weight"));
    // A plain Adam step moves by ~lr against the gradient sign.
    const p = tf.variable(tf.tensor1d([1, 1]));
    const o2 = new AdamW(new Map([["classifier.bias", p]]), { weightDecay: 0 });
    tf.tidy(() => o2.applyGradients(new Map([["classifier.bias", tf.tensor1d([0.3, -2])]]), 0.01));
    const pv = Array.from(await p.data());
    assert.ok(Math.abs(pv[0]! - 0.99) < 1e-6 && Math.abs(pv[1]! - 1.01) < 1e-6, String(pv));
    opt.dispose();
    o2.dispose();
    tf.dispose([...params.values(), ...grads.values(), p]);
  }
});

Deno.test("linear warm-up then linear decay matches get_linear_schedule_with_warmup", () => {
  assert.equal(warmupSteps(0.1, 95), 10);
  assert.equal(warmupSteps(0, 95), 0);
  const lr = (s: number) => linearWarmupDecay(s, 1e-3, 10, 110);
  assert.equal(lr(0), 0);
  assert.ok(Math.abs(lr(5) - 5e-4) < 1e-12);
  assert.equal(lr(10), 1e-3);
  assert.ok(Math.abs(lr(60) - 5e-4) < 1e-12);
  assert.equal(lr(110), 0);
  assert.equal(lr(200), 0);
  assert.equal(linearWarmupDecay(0, 1, 0, 4), 1);
  assert.equal(linearWarmupDecay(3, 1, 0, 4), 0.25);
});

Deno.test("safetensors round-trips and reads aligned views of one buffer", async () => {
  const tensors = new Map([
    ["b", { dtype: "F32" as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6.5]) }],
    ["a", { dtype: "I64" as const, shape: [2], data: BigInt64Array.from([7n, -1n]) }],
    ["c", { dtype: "U8" as const, shape: [3], data: Uint8Array.from([1, 2, 3]) }],
  ]);
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/m.safetensors`;
    await writeSafetensors(path, tensors);
    const bytes = await Deno.readFile(path);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    assert.deepEqual(header.__metadata__, { format: "pt" });
    assert.deepEqual(Object.keys(header), ["__metadata__", "a", "b", "c"]);
    assert.deepEqual(header.a.data_offsets, [0, 16]);
    const { tensors: back, metadata } = await readSafetensors(path);
    assert.deepEqual(metadata, { format: "pt" });
    assert.deepEqual(Array.from(back.get("b")!.data as Float32Array), [1, 2, 3, 4, 5, 6.5]);
    assert.deepEqual(back.get("b")!.shape, [2, 3]);
    assert.deepEqual(Array.from(back.get("a")!.data as BigInt64Array), [7n, -1n]);
    assert.deepEqual(Array.from(back.get("c")!.data as Uint8Array), [1, 2, 3]);
    assert.equal(back.get("a")!.data.buffer, back.get("b")!.data.buffer);
    // Corruption is reported.
    const bad = bytes.slice(0, bytes.length - 1);
    assert.throws(() => decodeSafetensors(bad), SafetensorsError);
    assert.throws(() => decodeSafetensors(new Uint8Array(4)), /shorter/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.throws(
    () =>
      encodeSafetensors(new Map([["x", { dtype: "F32", shape: [3], data: new Float32Array(2) }]])),
    /has 2 values/,
  );
});

Deno.test("HF checkpoint folder round-trips config, labels and weights", async () => {
  await setupBackend("wasm");
  const model = BertModel.create(tiny, 3, 9);
  const dir = await Deno.makeTempDir();
  try {
    const w = await model.exportWeights();
    await saveModelDir(dir, tiny, ["O", "B-X", "I-X"], w);
    const loaded = await loadModelDir(dir);
    assert.deepEqual(loaded.labels, ["O", "B-X", "I-X"]);
    assert.equal(loaded.config.intermediate_size, 24);
    for (const [name, t] of w) {
      assert.deepEqual(loaded.weights.get(name)?.shape, t.shape);
      assert.deepEqual(loaded.weights.get(name)?.data, t.data);
    }
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an unavailable tensorflow backend says how to get it", async () => {
  const { BackendUnavailableError } = await import("../ner/bert/backend.ts");
  await assert.rejects(setupBackend("tensorflow"), (e: unknown) => {
    assert.ok(e instanceof BackendUnavailableError);
    assert.equal(e.name, "BackendUnavailableError");
    assert.match(e.message, /^Backend "tensorflow" is unavailable: .*@tensorflow\/tfjs-node/);
    return true;
  });
  await setupBackend("wasm");
});
