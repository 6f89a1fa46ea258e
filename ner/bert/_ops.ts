/**
 * Forward and backward building blocks of BERT, written with tfjs ops (no
 * autodiff: tfjs-core registers no gradients unless the full `@tensorflow/tfjs`
 * package is loaded, and hand-written backward passes are also faster).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { hasKernel } from "./_js_kernels.ts";
import {
  ADD_LAYER_NORM_KERNEL,
  ATTENTION_CONTEXT_KERNEL,
  ATTENTION_SCORES_KERNEL,
  BIAS_GELU_KERNEL,
  COL_SUM_KERNEL,
  EMBEDDING_GRAD_KERNEL,
  GELU_GRAD_KERNEL,
  GELU_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  MERGE_HEADS_KERNEL,
  SPLIT_HEADS_KERNEL,
} from "./_kernel_names.ts";

function run(
  name: string,
  inputs: tf.NamedTensorMap,
  attrs: Record<string, number> = {},
): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap);
  return Array.isArray(out) ? out : [out as tf.Tensor];
}

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** What the GELU backward pass needs. */
export interface GeluCache {
  u: tf.Tensor2D;
  /** `0.5 (1 + erf(u / sqrt 2))`, or null when a fused kernel recomputes it. */
  cdf: tf.Tensor2D | null;
  /** The derivative `cdf(u) + u pdf(u)`, where the forward kernel gives it. */
  slope?: tf.Tensor2D;
}

/**
 * GELU, exact erf form: `0.5 u (1 + erf(u / sqrt 2))`.
 *
 * @param keep Whether a backward pass follows: false (inference) skips what only it needs.
 */
export function geluForward(u: tf.Tensor2D, keep = true): { y: tf.Tensor2D; cache: GeluCache } {
  if (hasKernel(GELU_KERNEL)) {
    // Host kernels return the derivative too (the backward pass is then one product); the
    // WebGPU kernel returns only y and its gradient kernel recomputes (memory is the scarcer).
    const [y, slope] = run(GELU_KERNEL, { x: u }, { keep: keep ? 1 : 0 });
    return {
      y: y as tf.Tensor2D,
      cache: slope ? { u, cdf: null, slope: slope as tf.Tensor2D } : { u, cdf: null },
    };
  }
  const cdf = tf.mul(tf.add(tf.erf(tf.mul(u, SQRT1_2)), 1), 0.5) as tf.Tensor2D;
  return { y: tf.mul(u, cdf), cache: { u, cdf } };
}

/** Gradient of GELU: `dy * (cdf(u) + u * pdf(u))`. */
export function geluBackward(dy: tf.Tensor2D, cache: GeluCache): tf.Tensor2D {
  const { u, cdf, slope } = cache;
  if (slope) return tf.mul(dy, slope);
  if (!cdf) return run(GELU_GRAD_KERNEL, { dy, x: u })[0] as tf.Tensor2D;
  const pdf = tf.mul(tf.exp(tf.mul(tf.square(u), -0.5)), INV_SQRT_2PI);
  return tf.mul(dy, tf.add(cdf, tf.mul(u, pdf)));
}

/** What the LayerNorm backward pass needs. */
export interface LayerNormCache {
  xhat: tf.Tensor2D;
  /** `1 / sqrt(var + eps)`, `[rows, 1]`. */
  rstd: tf.Tensor2D;
  gamma: tf.Tensor;
}

/**
 * LayerNorm over the last axis of `[rows, hidden]`.
 *
 * @param keep Whether a backward pass follows: false (inference) skips what only it needs
 *   (the host kernels then return y alone; the cache is not to be used).
 */
export function layerNormForward(
  x: tf.Tensor2D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  keep = true,
): { y: tf.Tensor2D; cache: LayerNormCache } {
  if (hasKernel(LAYER_NORM_KERNEL)) {
    const [y, xhat, rstd] = run(LAYER_NORM_KERNEL, { x, gamma, beta }, { eps, keep: keep ? 1 : 0 });
    return {
      y: y as tf.Tensor2D,
      cache: { xhat: xhat as tf.Tensor2D, rstd: rstd as tf.Tensor2D, gamma },
    };
  }
  const mean = tf.mean(x, -1, true);
  const xc = tf.sub(x, mean);
  const variance = tf.mean(tf.square(xc), -1, true);
  const rstd = tf.rsqrt(tf.add(variance, eps)) as tf.Tensor2D;
  const xhat = tf.mul(xc, rstd) as tf.Tensor2D;
  return { y: tf.add(tf.mul(xhat, gamma), beta), cache: { xhat, rstd, gamma } };
}

/** LayerNorm gradients: input, gamma and beta. */
export function layerNormBackward(
  dy: tf.Tensor2D,
  cache: LayerNormCache,
): { dx: tf.Tensor2D; dgamma: tf.Tensor1D; dbeta: tf.Tensor1D } {
  const { xhat, rstd, gamma } = cache;
  if (hasKernel(LAYER_NORM_GRAD_KERNEL)) {
    const [dx, dgamma, dbeta] = run(LAYER_NORM_GRAD_KERNEL, { dy, xhat, rstd, gamma });
    return { dx: dx as tf.Tensor2D, dgamma: dgamma as tf.Tensor1D, dbeta: dbeta as tf.Tensor1D };
  }
  const dgamma = colSum(tf.mul(dy, xhat));
  const dbeta = colSum(dy);
  const dxhat = tf.mul(dy, gamma);
  const m1 = tf.mean(dxhat, -1, true);
  const m2 = tf.mean(tf.mul(dxhat, xhat), -1, true);
  const dx = tf.mul(tf.sub(tf.sub(dxhat, m1), tf.mul(xhat, m2)), rstd) as tf.Tensor2D;
  return { dx, dgamma, dbeta };
}

/**
 * Column sums of a `[rows, cols]` matrix as `ones[1, rows] @ x`: on wasm a
 * matrix product is ~30x faster than the axis-0 reduction.
 */
export function colSum(x: tf.Tensor2D): tf.Tensor1D {
  if (hasKernel(COL_SUM_KERNEL)) return run(COL_SUM_KERNEL, { x })[0] as tf.Tensor1D;
  const ones = tf.ones([1, x.shape[0]]);
  return tf.reshape(tf.matMul(ones, x), [x.shape[1]]);
}

/**
 * `x^T @ dy`, computed in the orientation that is faster on wasm (XNNPACK
 * packs the right operand; packing the wider one is cheaper than transposing it).
 */
export function weightGrad(x: tf.Tensor2D, dy: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[1] <= dy.shape[1]) return tf.matMul(x, dy, true, false);
  return tf.transpose(tf.matMul(dy, x, true, false));
}

/**
 * `x @ w + b` with `w` in `[in, out]` layout. On WebGPU the bias is added inside the
 * matrix product's shader (one dispatch, not two); on wasm our BatchMatMul kernel is the
 * fast one and the stock fused kernel is not.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (tf.getBackend() === "webgpu") return tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D;
  return tf.add(tf.matMul(x, w), b);
}

/**
 * `gelu(x w + b)` for a pass with no backward pass: the bias and GELU in one kernel after the
 * product, the bits of {@link linear} then {@link geluForward}.
 *
 * @returns The activation `[rows, out]`, or null where the backend has no such kernel.
 */
export function linearGelu(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D | null {
  if (!hasKernel(BIAS_GELU_KERNEL)) return null;
  return run(BIAS_GELU_KERNEL, { x: tf.matMul(x, w), bias: b })[0] as tf.Tensor2D;
}

/**
 * `LayerNorm((x w + b) + residual)` for a pass with no backward pass and no dropout: the bias,
 * the residual connection and the LayerNorm in one kernel after the product, the bits of
 * {@link linear}, an add and {@link layerNormForward}.
 *
 * @returns The normalized rows, or null where the backend has no such kernel.
 */
export function linearAddNorm(
  x: tf.Tensor2D,
  w: tf.Tensor,
  b: tf.Tensor,
  residual: tf.Tensor2D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
): tf.Tensor2D | null {
  if (!hasKernel(ADD_LAYER_NORM_KERNEL)) return null;
  const inputs = { x: tf.matMul(x, w), bias: b, residual, gamma, beta };
  return run(ADD_LAYER_NORM_KERNEL, inputs, { eps })[0] as tf.Tensor2D;
}

/** Gradients of {@link linear}: input (unless `needDx` is false), weight and bias. */
export function linearBackward(
  dy: tf.Tensor2D,
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  needDx = true,
): { dx: tf.Tensor2D | null; dw: tf.Tensor2D; db: tf.Tensor1D } {
  return {
    dx: needDx ? tf.matMul(dy, w, false, true) : null,
    dw: weightGrad(x, dy),
    db: colSum(dy),
  };
}

/** Softmax gradient over the last axis, given the softmax output `p`. */
export function softmaxBackward(dp: tf.Tensor, p: tf.Tensor): tf.Tensor {
  const pd = tf.mul(dp, p);
  return tf.sub(pd, tf.mul(p, tf.sum(pd, -1, true)));
}

/**
 * Gradient of an embedding table `[vocab, hidden]` from the gradients of looked-up rows
 * `[n, hidden]` and their ids `[n]` (rows of repeated ids add up).
 */
export function embeddingGrad(rows: tf.Tensor2D, ids: tf.Tensor1D, vocab: number): tf.Tensor2D {
  if (hasKernel(EMBEDDING_GRAD_KERNEL)) {
    return tf.engine().runKernel(EMBEDDING_GRAD_KERNEL, { x: rows, segmentIds: ids }, {
      numSegments: vocab,
    }) as tf.Tensor2D;
  }
  return tf.unsortedSegmentSum(rows, ids, vocab);
}

/** The fused projection `[B * T, 3H]` as query, key and value heads, each `[B, nh, T, d]`. */
export function splitHeads(
  qkv: tf.Tensor2D,
  batch: number,
  heads: number,
): [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D] {
  if (hasKernel(SPLIT_HEADS_KERNEL)) {
    return run(SPLIT_HEADS_KERNEL, { qkv }, { batch, heads }) as [
      tf.Tensor4D,
      tf.Tensor4D,
      tf.Tensor4D,
    ];
  }
  const [n, h3] = qkv.shape;
  const t = n / batch;
  const d = h3 / 3 / heads;
  const all = tf.transpose(tf.reshape(qkv, [batch, t, 3 * heads, d]), [0, 2, 1, 3]);
  return tf.split(all, 3, 1) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
}

/**
 * Whether the backend computes attention straight from the fused projection
 * ({@link attentionScores}, {@link attentionContext}): wasm with OpenBLAS.
 */
export function hasFusedAttention(): boolean {
  return hasKernel(ATTENTION_SCORES_KERNEL) && hasKernel(ATTENTION_CONTEXT_KERNEL);
}

/**
 * Attention scores `q k^T * scale + maskAdd`, `[B, nh, T, T]`, from the fused projection
 * `[B * T, 3H]` without splitting its heads apart (see {@link hasFusedAttention}).
 */
export function attentionScores(
  qkv: tf.Tensor2D,
  maskAdd: tf.Tensor4D,
  batch: number,
  heads: number,
  scale: number,
): tf.Tensor4D {
  return run(ATTENTION_SCORES_KERNEL, { qkv, maskAdd }, { batch, heads, scale })[0] as tf.Tensor4D;
}

/**
 * The attention context `probs v`, heads side by side `[B * T, H]`, with the values read from
 * the fused projection `[B * T, 3H]` (see {@link hasFusedAttention}).
 */
export function attentionContext(probs: tf.Tensor4D, qkv: tf.Tensor2D): tf.Tensor2D {
  return run(ATTENTION_CONTEXT_KERNEL, { probs, qkv })[0] as tf.Tensor2D;
}

/** The gradient of {@link splitHeads}: three `[B, nh, T, d]` back to `[B * T, 3H]`. */
export function mergeHeads(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D): tf.Tensor2D {
  if (hasKernel(MERGE_HEADS_KERNEL)) return run(MERGE_HEADS_KERNEL, { q, k, v })[0] as tf.Tensor2D;
  const [b, nh, t, d] = q.shape;
  const all = tf.transpose(tf.concat([q, k, v], 1), [0, 2, 1, 3]);
  return tf.reshape(all, [b * t, 3 * nh * d]);
}
