/**
 * A BERT token classifier with Hugging Face `BertForTokenClassification`
 * semantics on TensorFlow.js (tfjs-core with the wasm, cpu or WebGPU
 * backend), trained from scratch or from a checkpoint with AdamW.
 *
 * Only the train and predict stages should load this module: it imports
 * tfjs-core.
 *
 * @example
 * ```ts
 * import { makeBertConfig, setupBackend, trainTokenClassifier } from "./mod.ts";
 * await setupBackend("cpu");
 * const batch = {
 *   ids: new Int32Array([1, 5, 6, 2]), mask: new Int32Array([1, 1, 1, 1]),
 *   labels: new Int32Array([-100, 1, 0, -100]), batchSize: 1, seqLen: 4,
 * };
 * const { weights } = await trainTokenClassifier({
 *   config: makeBertConfig(8, { hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1 }),
 *   numLabels: 2, epochs: 1, learningRate: 1e-3, weightDecay: 0.01,
 *   warmupRatio: 0, maxGradNorm: 1, seed: 1, train: [batch],
 * });
 * console.assert(weights.has("bert.embeddings.word_embeddings.weight"));
 * ```
 *
 * @module
 */
export type { BertConfig } from "./config.ts";
export type { BackendChoice, BackendName } from "./backend.ts";
export type { HostTensor, ParamKind, ParamSpec } from "./init.ts";
export type { BatchInput, BatchTensors, ForwardOptions } from "./model.ts";
export type { AdamWOptions } from "./adamw.ts";
export type {
  Batch,
  EpochInfo,
  EvalMetrics,
  StepInfo,
  TrainOptions,
  TrainResult,
} from "./trainer.ts";
export type { SafetensorsArray, SafetensorsDtype, SafetensorsTensor } from "./safetensors.ts";

export {
  BertConfigError,
  DEFAULT_BERT_CONFIG,
  fromHfConfigJson,
  makeBertConfig,
  toHfConfigJson,
  validateBertConfig,
} from "./config.ts";
export { BackendUnavailableError, probeWebGpu, setupBackend } from "./backend.ts";
export { initWeights, paramSpecs, usesWeightDecay } from "./init.ts";
export { batchTensors, BertModel, MASK_NEGATIVE } from "./model.ts";
export { AdamW, clipByGlobalNorm, clipScale, globalNorm } from "./adamw.ts";
export { linearWarmupDecay, warmupSteps } from "./schedule.ts";
export { crossEntropy, IGNORE_INDEX, lossTarget } from "./loss.ts";
export { resolveReplicas, trainTokenClassifier } from "./trainer.ts";
export { predictBatch } from "./predict.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  SafetensorsError,
  writeSafetensors,
} from "./safetensors.ts";
