import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "../ner/bert/backend.ts";
import { loadBlas } from "../ner/bert/_blas.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import { BertModel } from "../ner/bert/model.ts";
import { setWasmInference, wasmInferenceAvailable } from "../ner/bert/_wasm_inference.ts";
import type { BatchInput } from "../ner/types.ts";

const noBlas = loadBlas() === null ? "OpenBLAS is not installed (libopenblas0-pthread)" : null;

/** A batch of `batchSize` rows of `seqLen` seeded ids; row `r` has `r % seqLen` pads at its end. */
function batchOf(batchSize: number, seqLen: number, vocab: number, seed: number): BatchInput {
  const n = batchSize * seqLen;
  const ids = new Int32Array(n);
  const mask = new Int32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const pad = i % seqLen >= seqLen - (Math.floor(i / seqLen) % seqLen);
    ids[i] = pad ? 0 : 1 + (s % (vocab - 1));
    mask[i] = pad ? 0 : 1;
  }
  return { ids, mask, batchSize, seqLen };
}

/** The probabilities of the pass through tfjs ops, and of the engine-free pass. */
async function bothPasses(
  model: BertModel,
  batch: BatchInput,
): Promise<[Uint32Array, Uint32Array]> {
  const was = setWasmInference(false);
  try {
    const ops = await model.predictProbabilities(batch);
    setWasmInference(true);
    const direct = await model.predictProbabilities(batch);
    return [new Uint32Array(ops.buffer), new Uint32Array(direct.buffer)];
  } finally {
    setWasmInference(was);
  }
}

const configs = {
  // Sizes that are multiples of 4 take the SIMD kernels.
  even: makeBertConfig(50, {
    hidden_size: 32,
    num_attention_heads: 4,
    intermediate_size: 64,
    num_hidden_layers: 2,
    max_position_embeddings: 40,
    initializer_range: 0.2,
  }),
  // Others take the JavaScript loops for the rest of each row.
  odd: makeBertConfig(30, {
    hidden_size: 6,
    num_attention_heads: 2,
    intermediate_size: 10,
    num_hidden_layers: 1,
    max_position_embeddings: 16,
    initializer_range: 0.2,
  }),
};

Deno.test({
  name:
    "the engine-free inference pass on wasm gives the probabilities of the tfjs pass bit for bit, whatever the batch's size and padding",
  ignore: noBlas !== null,
  async fn() {
    await setupBackend("wasm");
    assert.ok(wasmInferenceAvailable());
    for (const [name, config] of Object.entries(configs)) {
      const model = BertModel.create(config, 7, 3);
      try {
        // Growing batches, then a small one again: the buffers grow and are reused.
        const shapes = [[1, 1], [3, 7], [16, 12], [2, 16], [1, 5]] as const;
        for (const [i, [b, t]] of shapes.entries()) {
          const [ops, direct] = await bothPasses(model, batchOf(b, t, config.vocab_size, i + 1));
          assert.equal(direct.length, b * t * 7);
          assert.deepEqual(direct, ops, `${name}: batch ${b} x ${t}`);
        }
        // A batch with no position gives no probability, as the tfjs pass does.
        for (const [b, t] of [[0, 4], [3, 0]] as const) {
          const [ops, direct] = await bothPasses(model, batchOf(b, t, config.vocab_size, 1));
          assert.deepEqual([ops.length, direct.length], [0, 0]);
        }
        // The pass runs no tfjs kernel (the fused weights were made by the first).
        const batch = batchOf(2, 4, config.vocab_size, 9);
        const profile = await tf.profile(() => model.predictProbabilities(batch));
        assert.deepEqual(profile.kernels.map((k) => k.name), [], name);
      } finally {
        model.dispose();
      }
    }
  },
});

Deno.test({
  name:
    "the engine-free pass reads the weights a training step assigned, and its views survive the heap growing",
  ignore: noBlas !== null,
  async fn() {
    await setupBackend("wasm");
    const config = configs.even;
    const model = BertModel.create(config, 5, 11);
    const batch = batchOf(4, 9, config.vocab_size, 5);
    try {
      const first = (await bothPasses(model, batch))[1];
      // New tensors for a weight of the fused projection and for one read as it is.
      for (const name of ["bert.encoder.layer.0.attention.self.value.weight", "classifier.bias"]) {
        const v = model.params.get(name)!;
        const moved = tf.add(v, 0.25);
        v.assign(moved);
        moved.dispose();
      }
      const [ops, direct] = await bothPasses(model, batch);
      assert.deepEqual(direct, ops);
      assert.notDeepEqual(direct, first);
      // 64 MB more on the wasm heap: it grows, and every view taken before is detached.
      const big = tf.zeros([16 * 1024 * 1024]);
      try {
        const [ops2, direct2] = await bothPasses(model, batchOf(8, 20, config.vocab_size, 6));
        assert.deepEqual(direct2, ops2);
        assert.deepEqual((await bothPasses(model, batch))[1], direct);
      } finally {
        big.dispose();
      }
    } finally {
      model.dispose();
    }
  },
});

Deno.test({
  name:
    "the engine-free pass refuses what the tfjs pass refuses, with the same errors, and a disposed model",
  ignore: noBlas !== null,
  async fn() {
    await setupBackend("wasm");
    const config = configs.odd;
    const model = BertModel.create(config, 3, 1);
    const bad: [string, BatchInput][] = [
      ["an id outside the vocabulary", {
        ...batchOf(1, 3, 30, 1),
        ids: Int32Array.from([2, 30, 1]),
      }],
      ["a negative id", { ...batchOf(1, 3, 30, 1), ids: Int32Array.from([2, -1, 1]) }],
      ["too long a sequence", batchOf(1, 17, 30, 1)],
      ["arrays of the wrong length", { ...batchOf(2, 3, 30, 1), batchSize: 3 }],
    ];
    try {
      for (const [what, batch] of bad) {
        const messages: string[] = [];
        for (const on of [false, true]) {
          const was = setWasmInference(on);
          try {
            await assert.rejects(model.predictProbabilities(batch), (e: unknown) => {
              assert.ok(e instanceof RangeError, `${what}: ${e}`);
              messages.push(e.message);
              return true;
            });
          } finally {
            setWasmInference(was);
          }
        }
        assert.equal(messages[1], messages[0], what);
      }
    } finally {
      model.dispose();
    }
    await assert.rejects(model.predictProbabilities(batchOf(1, 3, 30, 1)), /disposed/);
  },
});
