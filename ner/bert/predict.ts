/**
 * Inference helpers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type BatchInput, batchTensors, type BertModel } from "./model.ts";

/**
 * Predicts the class of every position of a batch (padding included).
 *
 * @param model The model.
 * @param batch Token ids and mask.
 * @returns Argmax class per position, row-major `[batchSize * seqLen]`.
 * @example
 * ```ts
 * import { setupBackend } from "./backend.ts";
 * import { makeBertConfig } from "./config.ts";
 * import { BertModel } from "./model.ts";
 * import { predictBatch } from "./predict.ts";
 * await setupBackend("cpu");
 * const model = BertModel.create(makeBertConfig(20, { num_hidden_layers: 1, hidden_size: 8 }), 3, 1);
 * const pred = await predictBatch(model, { ids: new Int32Array([2, 5]), mask: new Int32Array([1, 1]), batchSize: 1, seqLen: 2 });
 * console.assert(pred.length === 2);
 * model.dispose();
 * ```
 */
export async function predictBatch(model: BertModel, batch: BatchInput): Promise<Int32Array> {
  const classes = tf.tidy(() => {
    const input = batchTensors(batch);
    return tf.argMax(model.forward(input, { training: false }), -1);
  });
  try {
    return (await classes.data()) as Int32Array;
  } finally {
    classes.dispose();
  }
}

/**
 * Class probabilities (softmax of the logits) of every position of a batch.
 *
 * @param model The model.
 * @param batch Token ids and mask.
 * @returns Row-major `[batchSize * seqLen * numLabels]`.
 */
export async function predictProbabilities(
  model: BertModel,
  batch: BatchInput,
): Promise<Float32Array> {
  const probs = tf.tidy(() => tf.softmax(model.forward(batchTensors(batch), { training: false })));
  try {
    return (await probs.data()) as Float32Array;
  } finally {
    probs.dispose();
  }
}
