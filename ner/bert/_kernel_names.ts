/**
 * The names of nerpipe's own tfjs kernels, defined once: every backend's kernels are registered
 * under these names (`_js_kernels.ts` for wasm and cpu, `_wasm_kernels.ts` for wasm,
 * `webgpu/register_all.ts` for WebGPU), and the ops that run them (`_ops.ts`, `adamw.ts`,
 * `_dropout.ts`) look them up by the same constants. A backend without a kernel of a name gets
 * the composite tf-op version instead.
 *
 * @module
 */

/**
 * Kernel name: GELU (on wasm and cpu it also returns its slope, for the backward pass, unless
 * its `keep` attribute is 0).
 */
export const GELU_KERNEL = "BertGelu";
/**
 * Kernel name: GELU of `x + bias` (the bias added to each row), its output alone: the dense layer
 * before it and its activation in one kernel after the product, for a pass with no backward
 * pass (wasm and cpu).
 */
export const BIAS_GELU_KERNEL = "BertBiasGelu";
/**
 * Kernel name: LayerNorm of `(x + bias) + residual`, its output alone: a dense layer's bias, the
 * residual connection and the LayerNorm after it in one kernel, for a pass with no backward pass
 * and no dropout (wasm and cpu).
 */
export const ADD_LAYER_NORM_KERNEL = "BertAddLayerNorm";
/** Kernel name: the GELU gradient (exists on WebGPU only: elsewhere GELU returns its slope). */
export const GELU_GRAD_KERNEL = "BertGeluGrad";
/** Kernel name: LayerNorm over the last axis (with `keep: 0`, its output alone on wasm and cpu). */
export const LAYER_NORM_KERNEL = "BertLayerNorm";
/** Kernel name: the LayerNorm gradient. */
export const LAYER_NORM_GRAD_KERNEL = "BertLayerNormGrad";
/** Kernel name: the column sums of a `[rows, cols]` matrix (wasm and cpu). */
export const COL_SUM_KERNEL = "BertColSum";
/** Kernel name: the fused projection `[B * T, 3H]` as query, key and value heads (wasm and cpu). */
export const SPLIT_HEADS_KERNEL = "BertSplitHeads";
/** Kernel name: the gradient of the head split, three `[B, nh, T, d]` back to `[B * T, 3H]`. */
export const MERGE_HEADS_KERNEL = "BertMergeHeads";
/**
 * Kernel name: attention scores `[B, nh, T, T]` straight from the fused projection `qkv`
 * `[B * T, 3H]`: `q k^T * scale + maskAdd` per batch item and head (wasm with OpenBLAS; a pass
 * with no backward pass, which needs the heads apart).
 */
export const ATTENTION_SCORES_KERNEL = "BertAttentionScores";
/**
 * Kernel name: the attention context `[B * T, H]`, heads side by side, from the probabilities
 * `probs` `[B, nh, T, T]` and the values in `qkv` `[B * T, 3H]` (wasm with OpenBLAS).
 */
export const ATTENTION_CONTEXT_KERNEL = "BertAttentionContext";

/** Kernel name: attributes `DropoutMaskAttrs` (`_dropout.ts`), no inputs, one float32 output. */
export const DROPOUT_MASK_KERNEL = "BertDropoutMask";

/**
 * Name of the fused AdamW kernel (registered for wasm by `_wasm_kernels.ts`, for WebGPU by
 * `webgpu/adamw.ts`); attributes `AdamWAttrs` (`_adamw_kernel.ts`).
 */
export const ADAMW_KERNEL = "BertAdamW";

/**
 * Kernel name: the word-embedding gradient, `[numSegments, hidden]`, from rows `x` `[n, hidden]`
 * and their token ids `segmentIds` `[n]` (what `tf.unsortedSegmentSum` computes; tfjs-webgpu's
 * version transposes both its input and the whole table around the sum).
 */
export const EMBEDDING_GRAD_KERNEL = "BertEmbeddingGrad";

/** Kernel name: the sum of squares of all inputs (named `0`, `1`, ...), a scalar. */
export const SUM_SQUARES_KERNEL = "BertSumSquares";
