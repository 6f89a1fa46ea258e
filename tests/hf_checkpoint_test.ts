/**
 * Hugging Face checkpoints in and out, checked against PyTorch: tests/testdata/hf_tiny* and
 * their reference outputs come from tools/fixtures/make_hf_fixture.py (HF BERT semantics in plain
 * PyTorch); tests/testdata/exported_tiny is a directory our code wrote, which
 * tools/export/check_export.py loaded into that PyTorch BERT (see tools/export/our_logits.ts).
 */
import assert from "node:assert/strict";
import { setupBackend } from "../ner/bert/backend.ts";
import type { HostTensor } from "../ner/bert/init.ts";
import { paramSpecs } from "../ner/bert/init.ts";
import { type BatchInput, BertModel } from "../ner/bert/model.ts";
import { encodeSafetensors, type SafetensorsTensor } from "../ner/bert/safetensors.ts";
import { trainTokenClassifier } from "../ner/bert/trainer.ts";
import { adaptCheckpoint } from "../ner/bert/adapt.ts";
import {
  canonicalName,
  CheckpointError,
  loadModelDir,
  saveModelDir,
} from "../ner/bert/checkpoint.ts";
import { isUserError } from "../runner/errors.ts";

const DATA = new URL("./testdata/", import.meta.url).pathname;
const TINY = `${DATA}hf_tiny`;
const TINY7 = `${DATA}hf_tiny_labels7`;
const TOLERANCE = 1e-4;

interface ReferenceCase {
  name: string;
  batch_size: number;
  seq_len: number;
  ids: number[][];
  mask: number[][];
  hidden: number[][][];
  logits: number[][][];
}

const reference = JSON.parse(await Deno.readTextFile(`${TINY}/reference.json`)) as {
  labels: string[];
  cases: ReferenceCase[];
};

function batchOf(c: { ids: number[][]; mask: number[][] }): BatchInput {
  return {
    ids: Int32Array.from(c.ids.flat()),
    mask: Int32Array.from(c.mask.flat()),
    batchSize: c.ids.length,
    seqLen: c.ids[0]!.length,
  };
}

async function outputs(model: BertModel, batch: BatchInput): Promise<Float32Array> {
  const t = model.logits(batch);
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The same weights with an identity classifier: its "logits" are the last hidden states,
 * which BertModel does not expose otherwise.
 */
function hiddenStateWeights(weights: Map<string, HostTensor>, h: number): Map<string, HostTensor> {
  const eye = new Float32Array(h * h);
  for (let i = 0; i < h; i++) eye[i * h + i] = 1;
  const out = new Map(weights);
  out.set("classifier.weight", { shape: [h, h], data: eye });
  out.set("classifier.bias", { shape: [h], data: new Float32Array(h) });
  return out;
}

for (const backend of ["cpu", "wasm"] as const) {
  Deno.test(`a PyTorch-made HF checkpoint gives PyTorch's hidden states and logits within 1e-4 on ${backend}, with and without padding`, async () => {
    await setupBackend(backend);
    const ckpt = await loadModelDir(TINY);
    assert.deepEqual(ckpt.labels, reference.labels);
    const h = ckpt.config.hidden_size;
    const model = BertModel.fromWeights(ckpt.config, ckpt.labels.length, ckpt.weights);
    const encoder = BertModel.fromWeights(ckpt.config, h, hiddenStateWeights(ckpt.weights, h));
    try {
      const diffs: string[] = [];
      for (const c of reference.cases) {
        const batch = batchOf(c);
        const logits = maxAbsDiff(await outputs(model, batch), c.logits.flat(2));
        const hidden = maxAbsDiff(await outputs(encoder, batch), c.hidden.flat(2));
        diffs.push(
          `${c.name}: logits ${logits.toExponential(2)}, hidden ${hidden.toExponential(2)}`,
        );
        assert.ok(logits < TOLERANCE, `${backend} ${c.name} logits differ by ${logits}`);
        assert.ok(hidden < TOLERANCE, `${backend} ${c.name} hidden states differ by ${hidden}`);
      }
      console.log(`  ${backend} max |ours - PyTorch|: ${diffs.join("; ")}`);
      assert.ok(reference.cases.some((c) => c.mask.flat().includes(0)), "a case with padding");
      assert.ok(reference.cases.some((c) => !c.mask.flat().includes(0)), "a case without");
    } finally {
      model.dispose();
      encoder.dispose();
    }
  });
}

Deno.test("a checkpoint with the task's labels loads whole; the pooler and int64 buffers are reported unexpected", async () => {
  const ckpt = await loadModelDir(TINY);
  assert.deepEqual(ckpt.ignored, ["bert.embeddings.position_ids"]);
  const adapted = adaptCheckpoint(ckpt, reference.labels, 7);
  assert.equal(adapted.newClassifier, false);
  assert.deepEqual(adapted.missing, []);
  assert.deepEqual(adapted.unexpected, [
    "bert.embeddings.position_ids",
    "bert.pooler.dense.bias",
    "bert.pooler.dense.weight",
  ]);
  assert.deepEqual(adapted.report, [
    "unexpected keys, ignored: bert.embeddings.position_ids, bert.pooler.dense.bias, " +
    "bert.pooler.dense.weight",
  ]);
  for (const spec of paramSpecs(ckpt.config, reference.labels.length)) {
    assert.equal(adapted.weights.get(spec.name), ckpt.weights.get(spec.name), spec.name);
  }
});

Deno.test("a checkpoint with another label count gets a fresh classifier and the report says so", async () => {
  const tiny = await loadModelDir(TINY);
  const seven = await loadModelDir(TINY7);
  assert.equal(seven.labels.length, 7);
  const adapted = adaptCheckpoint(seven, reference.labels, 7);
  assert.equal(adapted.newClassifier, true);
  assert.match(
    adapted.report[0]!,
    /^classifier newly initialised \(classifier\.weight, classifier\.bias\): the checkpoint's classifier has 7 labels \(weight \[7,16\]\), the task has 5$/,
  );
  assert.deepEqual(adapted.missing, []);
  assert.ok(adapted.report.some((l) => l.startsWith("unexpected keys, ignored: bert.embeddings")));
  assert.deepEqual(adapted.weights.get("classifier.weight")!.shape, [5, 16]);
  assert.ok(adapted.weights.get("classifier.bias")!.data.every((v) => v === 0));
  // The encoder is the checkpoint's (the same as hf_tiny's).
  for (const spec of paramSpecs(seven.config, 5)) {
    if (spec.name.startsWith("classifier.")) continue;
    assert.deepEqual(adapted.weights.get(spec.name)!.data, tiny.weights.get(spec.name)!.data);
  }
  // A base checkpoint without any classifier says that instead.
  const base = new Map([...seven.weights].filter(([k]) => !k.startsWith("classifier.")));
  const fromBase = adaptCheckpoint({ ...seven, labels: [], weights: base }, ["O", "B-X"], 1);
  assert.match(fromBase.report[0]!, /the checkpoint has no classifier, the task has 2$/);
});

Deno.test("old LayerNorm gamma/beta names, bare BertModel names and missing layers are handled as from_pretrained does", async () => {
  const ckpt = await loadModelDir(TINY);
  assert.equal(
    canonicalName("encoder.layer.0.output.LayerNorm.gamma"),
    "bert.encoder.layer.0.output.LayerNorm.weight",
  );
  assert.equal(canonicalName("bert.embeddings.LayerNorm.beta"), "bert.embeddings.LayerNorm.bias");
  const renamed = new Map<string, HostTensor>();
  for (const [name, t] of ckpt.weights) {
    if (name.startsWith("bert.encoder.layer.1.")) continue;
    const bare = name.startsWith("bert.") ? name.slice(5) : name;
    renamed.set(
      bare.replace(/LayerNorm\.weight$/, "LayerNorm.gamma").replace(
        /LayerNorm\.bias$/,
        "LayerNorm.beta",
      ),
      t,
    );
  }
  renamed.set("cls.predictions.bias", { shape: [3], data: new Float32Array(3) });
  const adapted = adaptCheckpoint({ ...ckpt, weights: renamed, ignored: [] }, reference.labels, 1);
  assert.equal(adapted.newClassifier, false);
  assert.equal(adapted.missing.length, 16);
  assert.ok(adapted.missing.every((n) => n.startsWith("bert.encoder.layer.1.")));
  assert.deepEqual(adapted.unexpected, [
    "cls.predictions.bias",
    "pooler.dense.bias",
    "pooler.dense.weight",
  ]);
  assert.equal(
    adapted.weights.get("bert.embeddings.LayerNorm.weight"),
    ckpt.weights.get("bert.embeddings.LayerNorm.weight"),
  );
  // A weight whose shape contradicts config.json is an error, not a silent re-initialisation.
  const bad = new Map(ckpt.weights);
  bad.set("bert.embeddings.LayerNorm.bias", { shape: [3], data: new Float32Array(3) });
  assert.throws(
    () => adaptCheckpoint({ ...ckpt, weights: bad }, reference.labels, 1),
    (e) =>
      e instanceof CheckpointError &&
      /has shape \[3\]: its config.json gives \[16\]/.test(e.message),
  );
});

Deno.test("a directory with only pytorch_model.bin gets an error that says how to convert it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hf-bin-" });
  try {
    await Deno.copyFile(`${TINY}/config.json`, `${dir}/config.json`);
    await Deno.writeFile(`${dir}/pytorch_model.bin`, new Uint8Array(16));
    const error = await loadModelDir(dir).then(() => null, (e) => e);
    assert.ok(error instanceof CheckpointError);
    assert.ok(isUserError(error));
    assert.match(
      error.message,
      /^No "model\.safetensors" in ".*": only "pytorch_model\.bin" is there: convert it/,
    );
    assert.match(error.message, /python3 tools\/convert\/bin_to_safetensors\.py /);
    assert.match(error.message, /save_pretrained\(.*safe_serialization=True\)/);
    await Deno.remove(`${dir}/pytorch_model.bin`);
    const none = await loadModelDir(dir).then(() => null, (e) => e);
    assert.match(
      none.message,
      /^No "model\.safetensors" in ".*": save the model with save_pretrained/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("F16 and BF16 checkpoints are widened to F32 exactly; sharded checkpoints load", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hf-half-" });
  try {
    await Deno.copyFile(`${TINY}/config.json`, `${dir}/config.json`);
    // 1, -2, 0.5, 65504, the smallest subnormal, -0, +inf as F16; 1, -2, 3.140625, 1e38-ish as BF16.
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00]);
    const bf16 = new Uint16Array([0x3f80, 0xc000, 0x4049, 0x7e96]);
    const tensors = new Map<string, SafetensorsTensor>([
      ["a", { dtype: "F16", shape: [7], data: f16 }],
      ["b", { dtype: "BF16", shape: [2, 2], data: bf16 }],
      ["c", { dtype: "I64", shape: [1], data: new BigInt64Array([5n]) }],
    ]);
    await Deno.writeFile(`${dir}/model.safetensors`, encodeSafetensors(tensors));
    const ckpt = await loadModelDir(dir);
    assert.deepEqual([...ckpt.weights.get("a")!.data], [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity]);
    const b = ckpt.weights.get("b")!;
    assert.deepEqual(b.shape, [2, 2]);
    assert.deepEqual([...b.data], [
      1,
      -2,
      3.140625,
      new Float32Array(new Uint32Array([0x7e960000]).buffer)[0],
    ]);
    assert.deepEqual(ckpt.ignored, ["c"]);

    // Sharded: model.safetensors.index.json and two files.
    await Deno.remove(`${dir}/model.safetensors`);
    await Deno.writeFile(
      `${dir}/part-1.safetensors`,
      encodeSafetensors(new Map([...tensors].slice(0, 1))),
    );
    await Deno.writeFile(
      `${dir}/part-2.safetensors`,
      encodeSafetensors(new Map([...tensors].slice(1))),
    );
    await Deno.writeTextFile(
      `${dir}/model.safetensors.index.json`,
      JSON.stringify({
        weight_map: { a: "part-1.safetensors", b: "part-2.safetensors", c: "part-2.safetensors" },
      }),
    );
    const sharded = await loadModelDir(dir);
    assert.deepEqual([...sharded.weights.keys()].sort(), ["a", "b"]);
    assert.deepEqual(sharded.weights.get("b")!.data, b.data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("F32 weights are views of the one buffer the file was read into (no second copy)", async () => {
  const ckpt = await loadModelDir(TINY);
  const buffers = new Set([...ckpt.weights.values()].map((t) => t.data.buffer));
  assert.equal(buffers.size, 1);
  const size = (await Deno.stat(`${TINY}/model.safetensors`)).size;
  assert.equal([...buffers][0]!.byteLength, size);
});

Deno.test("train a few steps, save, load: identical logits (bit for bit)", async () => {
  await setupBackend("cpu");
  const ckpt = await loadModelDir(TINY);
  const labels = ["O", "B-X", "I-X"];
  const { weights: initial } = adaptCheckpoint(ckpt, labels, 3);
  const seqLen = 10;
  const batches = [0, 1, 2].map((b) => {
    const ids = new Int32Array(4 * seqLen);
    const mask = new Int32Array(4 * seqLen);
    const lab = new Int32Array(4 * seqLen).fill(-100);
    for (let r = 0; r < 4; r++) {
      const len = seqLen - ((r + b) % 4);
      for (let t = 0; t < len; t++) {
        const i = r * seqLen + t;
        ids[i] = t === 0 ? 2 : t === len - 1 ? 3 : 5 + ((r * 31 + t * 7 + b * 13) % 800);
        mask[i] = 1;
        if (t > 0 && t < len - 1) lab[i] = ids[i]! % 3;
      }
    }
    return { ids, mask, labels: lab, batchSize: 4, seqLen };
  });
  const result = await trainTokenClassifier({
    config: ckpt.config,
    numLabels: labels.length,
    epochs: 2,
    learningRate: 1e-3,
    weightDecay: 0.01,
    warmupRatio: 0,
    maxGradNorm: 1,
    seed: 5,
    train: batches,
    initialWeights: initial,
    workers: 1,
  });
  assert.notDeepEqual(
    result.weights.get("bert.embeddings.LayerNorm.weight")!.data,
    initial.get("bert.embeddings.LayerNorm.weight")!.data,
    "training changed the weights",
  );
  const dir = await Deno.makeTempDir({ prefix: "hf-roundtrip-" });
  const trained = BertModel.fromWeights(ckpt.config, labels.length, result.weights);
  try {
    await saveModelDir(dir, ckpt.config, labels, result.weights, TINY);
    const back = await loadModelDir(dir);
    assert.deepEqual(back.labels, labels);
    assert.deepEqual(back.config, { ...ckpt.config, pad_token_id: 0 });
    assert.deepEqual(
      [...back.weights.keys()].sort(),
      paramSpecs(ckpt.config, labels.length).map((s) => s.name).sort(),
    );
    for (const f of ["vocab.txt", "tokenizer_config.json"]) await Deno.stat(`${dir}/${f}`);
    const loaded = BertModel.fromWeights(back.config, back.labels.length, back.weights);
    try {
      for (const c of reference.cases) {
        const a = await outputs(trained, batchOf(c));
        const b = await outputs(loaded, batchOf(c));
        assert.deepEqual(b, a);
      }
    } finally {
      loaded.dispose();
    }
  } finally {
    trained.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a directory our code exported, which PyTorch loaded strictly with the same logits, still gives those logits", async () => {
  // tests/testdata/exported_tiny: written by saveModelDir (tools/export/our_logits.ts --fixture);
  // tools/export/check_export.py loaded it into BertForTokenClassification (strict) and matched
  // our_logits.json within 6e-7.
  const dir = `${DATA}exported_tiny`;
  const ours = JSON.parse(await Deno.readTextFile(`${dir}/our_logits.json`)) as {
    cases: ReferenceCase[];
  };
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  assert.equal(config.model_type, "bert");
  assert.deepEqual(config.architectures, ["BertForTokenClassification"]);
  for (const backend of ["cpu", "wasm"] as const) {
    await setupBackend(backend);
    const ckpt = await loadModelDir(dir);
    const model = BertModel.fromWeights(ckpt.config, ckpt.labels.length, ckpt.weights);
    try {
      for (const c of ours.cases) {
        const d = maxAbsDiff(await outputs(model, batchOf(c)), c.logits.flat(2));
        assert.ok(d < 1e-5, `${backend} ${c.name}: ${d}`);
      }
    } finally {
      model.dispose();
    }
  }
});
