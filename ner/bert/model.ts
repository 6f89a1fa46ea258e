/**
 * A BERT token classifier with Hugging Face `BertForTokenClassification`
 * semantics, written with tfjs-core ops.
 *
 * Parameters live in a `Map<string, tf.Variable>` keyed by Hugging Face names.
 * Dense weights (`*.weight` of linear layers, including `classifier.weight`)
 * are held transposed, `[in, out]`, so that `x @ W` needs no transpose; the
 * Hugging Face layout `[out, in]` is restored by {@link BertModel.exportWeights}
 * and expected by {@link BertModel.fromWeights}.
 *
 * Attention masking adds `-1e9` to the scores of padded keys. Hugging Face
 * adds the most negative float32; either way `exp` underflows to exactly 0,
 * so padded positions get zero weight and results match.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchInput } from "../types.ts";
import type { CrfParams } from "../crf.ts";
import {
  type BertConfig,
  classifierDropout,
  type ClassifierHead,
  classifierHead,
  validateBertConfig,
} from "./config.ts";
import { type HostTensor, initWeights, type ParamSpec, paramSpecs } from "./init.ts";
import {
  attentionContext,
  attentionScores,
  colSum,
  embeddingGrad,
  geluBackward,
  type GeluCache,
  geluForward,
  hasFusedAttention,
  layerNormBackward,
  type LayerNormCache,
  layerNormForward,
  linear,
  linearAddNorm,
  linearBackward,
  linearGelu,
  mergeHeads,
  softmaxBackward,
  splitHeads,
} from "./_ops.ts";
import { mixSeed } from "./_random.ts";
import { dropoutMask, dropoutMaskAttrs } from "./_dropout.ts";
import { type InferenceModel, WasmInference, wasmInferenceAvailable } from "./_wasm_inference.ts";

/** Value added to attention scores of padded keys. */
export const MASK_NEGATIVE = -1e9;

export type { BatchInput };

/** Tensors made from a {@link BatchInput}. */
export interface BatchTensors {
  /** Token ids, `[batchSize * seqLen]` int32. */
  ids: tf.Tensor1D;
  /** Additive attention mask, `[batchSize, 1, 1, seqLen]`. */
  maskAdd: tf.Tensor4D;
  batchSize: number;
  seqLen: number;
}

/** Makes the input tensors of a batch (the caller disposes them). */
export function batchTensors(batch: BatchInput): BatchTensors {
  checkBatch(batch);
  const { batchSize, seqLen } = batch;
  const n = batchSize * seqLen;
  const add = new Float32Array(n);
  for (let i = 0; i < n; i++) add[i] = batch.mask[i] ? 0 : MASK_NEGATIVE;
  return {
    ids: tf.tensor1d(batch.ids, "int32"),
    maskAdd: tf.tensor4d(add, [batchSize, 1, 1, seqLen]),
    batchSize,
    seqLen,
  };
}

/** Checks that a batch's arrays hold `batchSize * seqLen` values. */
function checkBatch(batch: BatchInput): void {
  const n = batch.batchSize * batch.seqLen;
  if (batch.ids.length !== n || batch.mask.length !== n) {
    throw new RangeError(
      `Batch arrays must hold batchSize * seqLen = ${n} values: got ids ${batch.ids.length}, mask ${batch.mask.length}`,
    );
  }
}

/** Whether a parameter is stored transposed (`[in, out]`) inside {@link BertModel}. */
export function isTransposedInternally(spec: ParamSpec): boolean {
  return spec.kind === "dense";
}

function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c]!;
  }
  return out;
}

let modelCounter = 0;

/** Options of {@link BertModel.forward}. */
export interface ForwardOptions {
  /** Applies dropout when true. */
  training: boolean;
  /** Seed of this call's dropout masks (used when training). */
  seed?: number;
}

/** The parameters of one encoder layer, and the prefix of their names. */
interface LayerParams {
  /** Name prefix, `bert.encoder.layer.<l>`. */
  prefix: string;
  q: tf.Variable;
  k: tf.Variable;
  v: tf.Variable;
  qb: tf.Variable;
  kb: tf.Variable;
  vb: tf.Variable;
  ao: tf.Variable;
  aob: tf.Variable;
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  i: tf.Variable;
  ib: tf.Variable;
  o: tf.Variable;
  ob: tf.Variable;
  ln2g: tf.Variable;
  ln2b: tf.Variable;
}

/** The parameters of the embeddings. */
interface EmbeddingParams {
  word: tf.Variable;
  position: tf.Variable;
  tokenType: tf.Variable;
  lnGamma: tf.Variable;
  lnBeta: tf.Variable;
}

/** The parameters of the classifier head. */
interface ClassifierParams {
  weight: tf.Variable;
  bias: tf.Variable;
}

/** What every layer of one forward (and backward) pass shares. */
interface Pass {
  config: BertConfig;
  input: BatchTensors;
  /** Batch size. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Positions, `B * T`. */
  N: number;
  /** Hidden size. */
  H: number;
  /** Attention heads. */
  nh: number;
  /** Head size, `H / nh`. */
  d: number;
  /** Attention score scale, `1 / sqrt(d)`. */
  scale: number;
  /** Whether a backward pass follows: false lets the kernels skip what only it needs. */
  keep: boolean;
  /** A layer's query, key and value weights side by side `[H, 3H]`, and their biases `[3H]`. */
  qkv(L: LayerParams): { w: tf.Tensor2D; b: tf.Tensor1D };
  /**
   * The next dropout mask for `shape` (made where the tensors live), or null
   * when dropout is off. Masks are drawn from one stream per pass, so the
   * layers must ask for them in a fixed order.
   */
  dropMask(shape: number[], rate: number): tf.Tensor | null;
}

/** Multiplies by a dropout mask, or returns `x` when there is none. */
function drop<T extends tf.Tensor>(x: T, mask: tf.Tensor | null): T {
  return mask ? tf.mul(x, mask) as T : x;
}

/** Activations the embeddings backward pass needs. */
interface EmbeddingsCache {
  ln: LayerNormCache;
  mask: tf.Tensor | null;
}

/**
 * Embeddings forward: word + position + token-type (0) embeddings, LayerNorm,
 * dropout.
 *
 * @returns The hidden states `[N, H]` and the cache for {@link embeddingsBackward}.
 */
function embeddingsForward(
  pass: Pass,
  E: EmbeddingParams,
): { y: tf.Tensor2D; cache: EmbeddingsCache } {
  const { B, T, N, H } = pass;
  const words = tf.gather(E.word, pass.input.ids); // [N, H]
  const posTok = tf.add(
    tf.slice(E.position, [0, 0], [T, H]),
    tf.slice(E.tokenType, [0, 0], [1, H]),
  ); // [T, H]
  const emb = tf.reshape(tf.add(tf.reshape(words, [B, T, H]), posTok), [N, H]) as tf.Tensor2D;
  const ln = layerNormForward(emb, E.lnGamma, E.lnBeta, pass.config.layer_norm_eps, pass.keep);
  const mask = pass.dropMask([N, H], pass.config.hidden_dropout_prob);
  return { y: drop(ln.y, mask), cache: { ln: ln.cache, mask } };
}

/**
 * Embeddings backward: sets the gradients of the embedding LayerNorm and
 * tables in `grads`.
 *
 * @param dy Gradient of the embeddings' output `[N, H]`.
 * @param embeddingRows When true, the word-embedding gradient is not scattered
 *   into `grads`; the gradient of each looked-up row is returned instead.
 * @returns The looked-up rows' gradient `[N, H]` when `embeddingRows`, else null.
 */
function embeddingsBackward(
  pass: Pass,
  dy: tf.Tensor2D,
  cache: EmbeddingsCache,
  grads: Map<string, tf.Tensor>,
  embeddingRows: boolean,
): tf.Tensor2D | null {
  const { B, T, H } = pass;
  const c = pass.config;
  const b0 = layerNormBackward(drop(dy, cache.mask), cache.ln);
  grads.set("bert.embeddings.LayerNorm.weight", b0.dgamma);
  grads.set("bert.embeddings.LayerNorm.bias", b0.dbeta);
  const dEmb = b0.dx;
  if (!embeddingRows) {
    grads.set(
      "bert.embeddings.word_embeddings.weight",
      embeddingGrad(dEmb, pass.input.ids, c.vocab_size),
    );
  }
  const dPosTok = tf.reshape(colSum(tf.reshape(dEmb, [B, T * H]) as tf.Tensor2D), [T, H]); // [T, H]
  grads.set(
    "bert.embeddings.position_embeddings.weight",
    tf.pad(dPosTok, [[0, c.max_position_embeddings - T], [0, 0]]),
  );
  grads.set(
    "bert.embeddings.token_type_embeddings.weight",
    tf.pad(tf.reshape(colSum(dPosTok as tf.Tensor2D), [1, H]), [[0, c.type_vocab_size - 1], [
      0,
      0,
    ]]),
  );
  return embeddingRows ? dEmb : null;
}

/** Activations the self-attention backward pass needs. */
interface SelfAttentionCache {
  /** The layer's input. */
  x: tf.Tensor2D;
  /** Query, key and value weights side by side, `[H, 3H]`. */
  wqkv: tf.Tensor2D;
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  v: tf.Tensor4D;
  probs: tf.Tensor4D;
  /** `probs` after dropout. */
  probsD: tf.Tensor4D;
  mask: tf.Tensor | null;
}

/** A layer's query, key and value weights side by side `[H, 3H]`, and their biases `[3H]`. */
function concatQkv(L: LayerParams): { w: tf.Tensor2D; b: tf.Tensor1D } {
  return {
    w: tf.concat([L.q, L.k, L.v], 1) as tf.Tensor2D,
    b: tf.concat([L.qb, L.kb, L.vb], 0) as tf.Tensor1D,
  };
}

/**
 * Multi-head self-attention forward, up to the merged heads' context (before
 * the output dense).
 *
 * @returns The context `[N, H]` and the cache for {@link selfAttentionBackward} (null when no
 *   backward pass follows and the backend computes attention without the heads apart).
 */
function selfAttentionForward(
  pass: Pass,
  L: LayerParams,
  x: tf.Tensor2D,
): { ctx: tf.Tensor2D; cache: SelfAttentionCache | null } {
  const { B, N, H, nh } = pass;
  const { w: wqkv, b: bqkv } = pass.qkv(L);
  const qkv = linear(x, wqkv, bqkv); // [N, 3H]
  if (!pass.keep && hasFusedAttention()) {
    // The same products and softmax, read from and written to the fused layouts in place.
    const scores = attentionScores(qkv, pass.input.maskAdd, B, nh, pass.scale);
    const probs = tf.softmax(scores) as tf.Tensor4D;
    const mask = pass.dropMask(probs.shape, pass.config.attention_probs_dropout_prob);
    return { ctx: attentionContext(drop(probs, mask), qkv), cache: null };
  }
  const [q, k, v] = splitHeads(qkv, B, nh); // each [B, nh, T, d]
  const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), pass.scale), pass.input.maskAdd);
  const probs = tf.softmax(scores) as tf.Tensor4D;
  const mask = pass.dropMask(probs.shape, pass.config.attention_probs_dropout_prob);
  const probsD = drop(probs, mask);
  const ctx = tf.reshape(tf.transpose(tf.matMul(probsD, v), [0, 2, 1, 3]), [
    N,
    H,
  ]) as tf.Tensor2D;
  return { ctx, cache: { x, wqkv, q, k, v, probs, probsD, mask } };
}

/**
 * Self-attention backward: sets the query, key and value gradients in `grads`.
 *
 * @param dCtx Gradient of the context `[N, H]`.
 * @returns The gradient of the layer's input through the attention `[N, H]`.
 */
function selfAttentionBackward(
  pass: Pass,
  L: LayerParams,
  dCtx: tf.Tensor2D,
  C: SelfAttentionCache,
  grads: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const { B, T, nh, d } = pass;
  const pre = L.prefix;
  const dc = tf.transpose(tf.reshape(dCtx, [B, T, nh, d]), [0, 2, 1, 3]); // [B, nh, T, d]
  const dProbsD = tf.matMul(dc, C.v, false, true); // [B, nh, T, T]
  const dv = tf.matMul(C.probsD, dc, true, false); // [B, nh, T, d]
  const dScores = tf.mul(softmaxBackward(drop(dProbsD, C.mask), C.probs), pass.scale);
  const dq = tf.matMul(dScores, C.k); // [B, nh, T, d]
  const dk = tf.matMul(dScores, C.q, true, false);
  const dqkv = mergeHeads(dq as tf.Tensor4D, dk as tf.Tensor4D, dv as tf.Tensor4D); // [N, 3H]
  const qkv = linearBackward(dqkv, C.x, C.wqkv);
  const [dWq, dWk, dWv] = tf.split(qkv.dw, 3, 1);
  const [dbq, dbk, dbv] = tf.split(qkv.db, 3, 0);
  grads.set(`${pre}.attention.self.query.weight`, dWq!);
  grads.set(`${pre}.attention.self.key.weight`, dWk!);
  grads.set(`${pre}.attention.self.value.weight`, dWv!);
  grads.set(`${pre}.attention.self.query.bias`, dbq!);
  grads.set(`${pre}.attention.self.key.bias`, dbk!);
  grads.set(`${pre}.attention.self.value.bias`, dbv!);
  return qkv.dx!;
}

/** Activations the attention block's backward pass needs. */
interface AttentionCache {
  /** Null when no backward pass follows (see {@link selfAttentionForward}). */
  self: SelfAttentionCache | null;
  /** Context before the output dense. */
  ctx: tf.Tensor2D;
  mask: tf.Tensor | null;
  ln: LayerNormCache;
}

/** A block's residual and LayerNorm: `LayerNorm(out + x)`, keeping what the pass keeps. */
function addNorm(
  pass: Pass,
  out: tf.Tensor2D,
  x: tf.Tensor2D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
): { y: tf.Tensor2D; cache: LayerNormCache } {
  return layerNormForward(tf.add(out, x), gamma, beta, pass.config.layer_norm_eps, pass.keep);
}

/**
 * Attention block forward: self-attention, output dense, dropout, residual
 * and LayerNorm.
 *
 * @returns The block's output `[N, H]` and the cache for {@link attentionBackward} (null when
 *   no backward pass follows and the backend fused the block's end).
 */
function attentionForward(
  pass: Pass,
  L: LayerParams,
  x: tf.Tensor2D,
): { y: tf.Tensor2D; cache: AttentionCache | null } {
  const sa = selfAttentionForward(pass, L, x);
  const mask = pass.dropMask([pass.N, pass.H], pass.config.hidden_dropout_prob);
  if (!pass.keep && !mask) {
    const y = linearAddNorm(sa.ctx, L.ao, L.aob, x, L.ln1g, L.ln1b, pass.config.layer_norm_eps);
    if (y) return { y, cache: null };
  }
  const attn = drop(linear(sa.ctx, L.ao as tf.Tensor2D, L.aob as tf.Tensor1D), mask);
  const ln = addNorm(pass, attn, x, L.ln1g, L.ln1b);
  return { y: ln.y, cache: { self: sa.cache, ctx: sa.ctx, mask, ln: ln.cache } };
}

/**
 * Attention block backward: sets the attention gradients in `grads`.
 *
 * @param dy Gradient of the block's output `[N, H]`.
 * @returns The gradient of the block's input `[N, H]`.
 */
function attentionBackward(
  pass: Pass,
  L: LayerParams,
  dy: tf.Tensor2D,
  C: AttentionCache,
  grads: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const pre = L.prefix;
  const b1 = layerNormBackward(dy, C.ln);
  grads.set(`${pre}.attention.output.LayerNorm.weight`, b1.dgamma);
  grads.set(`${pre}.attention.output.LayerNorm.bias`, b1.dbeta);
  const dAttn = drop(b1.dx, C.mask);
  const ao = linearBackward(dAttn, C.ctx, L.ao as tf.Tensor2D);
  grads.set(`${pre}.attention.output.dense.weight`, ao.dw);
  grads.set(`${pre}.attention.output.dense.bias`, ao.db);
  const dx = selfAttentionBackward(pass, L, ao.dx!, C.self!, grads);
  return tf.add(b1.dx, dx) as tf.Tensor2D;
}

/** Activations the feed-forward block's backward pass needs. */
interface FeedForwardCache {
  /** The block's input. */
  x: tf.Tensor2D;
  gelu: GeluCache;
  /** GELU output. */
  g: tf.Tensor2D;
  mask: tf.Tensor | null;
  ln: LayerNormCache;
}

/**
 * Feed-forward block forward: intermediate dense, GELU, output dense, dropout,
 * residual and LayerNorm.
 *
 * @returns The block's output `[N, H]` and the cache for {@link feedForwardBackward}.
 */
function feedForwardForward(
  pass: Pass,
  L: LayerParams,
  x: tf.Tensor2D,
): { y: tf.Tensor2D; cache: FeedForwardCache | null } {
  // With no backward pass, each dense layer's bias and what follows it run in the kernel after
  // its product, where the backend has them (and no dropout mask comes between).
  const fused = pass.keep ? null : linearGelu(x, L.i, L.ib);
  const gl = fused
    ? null
    : geluForward(linear(x, L.i as tf.Tensor2D, L.ib as tf.Tensor1D), pass.keep);
  const g = fused ?? gl!.y;
  const mask = pass.dropMask([pass.N, pass.H], pass.config.hidden_dropout_prob);
  if (!pass.keep && !mask) {
    const y = linearAddNorm(g, L.o, L.ob, x, L.ln2g, L.ln2b, pass.config.layer_norm_eps);
    if (y) return { y, cache: null };
  }
  const out = drop(linear(g, L.o as tf.Tensor2D, L.ob as tf.Tensor1D), mask);
  const ln = addNorm(pass, out, x, L.ln2g, L.ln2b);
  return { y: ln.y, cache: gl ? { x, gelu: gl.cache, g, mask, ln: ln.cache } : null };
}

/**
 * Feed-forward block backward: sets the feed-forward gradients in `grads`.
 *
 * @param dy Gradient of the block's output `[N, H]`.
 * @returns The gradient of the block's input `[N, H]`.
 */
function feedForwardBackward(
  L: LayerParams,
  dy: tf.Tensor2D,
  C: FeedForwardCache,
  grads: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const pre = L.prefix;
  const b2 = layerNormBackward(dy, C.ln);
  grads.set(`${pre}.output.LayerNorm.weight`, b2.dgamma);
  grads.set(`${pre}.output.LayerNorm.bias`, b2.dbeta);
  const dOut = drop(b2.dx, C.mask);
  const o = linearBackward(dOut, C.g, L.o as tf.Tensor2D);
  grads.set(`${pre}.output.dense.weight`, o.dw);
  grads.set(`${pre}.output.dense.bias`, o.db);
  const du = geluBackward(o.dx!, C.gelu);
  const i = linearBackward(du, C.x, L.i as tf.Tensor2D);
  grads.set(`${pre}.intermediate.dense.weight`, i.dw);
  grads.set(`${pre}.intermediate.dense.bias`, i.db);
  return tf.add(b2.dx, i.dx!) as tf.Tensor2D;
}

/** Activations an encoder layer's backward pass needs. */
interface EncoderLayerCache {
  attention: AttentionCache;
  feedForward: FeedForwardCache;
}

/**
 * Encoder layer forward: the attention block, then the feed-forward block.
 *
 * @returns The layer's output `[N, H]` and the cache for {@link encoderLayerBackward}.
 */
function encoderLayerForward(
  pass: Pass,
  L: LayerParams,
  x: tf.Tensor2D,
): { y: tf.Tensor2D; cache: EncoderLayerCache | null } {
  const attention = attentionForward(pass, L, x);
  const feedForward = feedForwardForward(pass, L, attention.y);
  const { cache: a } = attention;
  const { cache: f } = feedForward;
  return { y: feedForward.y, cache: a && f ? { attention: a, feedForward: f } : null };
}

/**
 * Encoder layer backward: sets the layer's gradients in `grads`.
 *
 * @param dy Gradient of the layer's output `[N, H]`.
 * @returns The gradient of the layer's input `[N, H]`.
 */
function encoderLayerBackward(
  pass: Pass,
  L: LayerParams,
  dy: tf.Tensor2D,
  C: EncoderLayerCache,
  grads: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const dh1 = feedForwardBackward(L, dy, C.feedForward, grads);
  return attentionBackward(pass, L, dh1, C.attention, grads);
}

/** Activations the classifier head's backward pass needs. */
interface ClassifierCache {
  /** Input after dropout. */
  x: tf.Tensor2D;
  mask: tf.Tensor | null;
}

/**
 * Classifier head forward: dropout, then a dense layer to the classes.
 *
 * @returns The logits `[N, numLabels]` and the cache for {@link classifierBackward}.
 */
function classifierForward(
  pass: Pass,
  P: ClassifierParams,
  x: tf.Tensor2D,
): { logits: tf.Tensor2D; cache: ClassifierCache } {
  const mask = pass.dropMask([pass.N, pass.H], classifierDropout(pass.config));
  const xc = drop(x, mask);
  const logits = linear(xc, P.weight as tf.Tensor2D, P.bias as tf.Tensor1D);
  return { logits, cache: { x: xc, mask } };
}

/**
 * Classifier head backward: sets the classifier gradients in `grads`.
 *
 * @param dlogits Gradient of the logits.
 * @returns The gradient of the head's input `[N, H]`.
 */
function classifierBackward(
  P: ClassifierParams,
  dlogits: tf.Tensor2D,
  C: ClassifierCache,
  grads: Map<string, tf.Tensor>,
): tf.Tensor2D {
  const cls = linearBackward(dlogits, C.x, P.weight as tf.Tensor2D);
  grads.set("classifier.weight", cls.dw);
  grads.set("classifier.bias", cls.db);
  return drop(cls.dx!, C.mask);
}

/** A training forward pass whose backward pass is still to run (see {@link BertModel.trainingPass}). */
export interface TrainingPass {
  /** Logits `[batchSize * seqLen, numLabels]`. */
  logits: tf.Tensor2D;
  /** Filled by `backward` with the gradient of every parameter the pass used. */
  grads: Map<string, tf.Tensor>;
  /**
   * Runs the backward pass from the gradient of the loss with respect to the logits.
   *
   * @returns The looked-up embedding rows' gradient when the pass was made with
   *   `embeddingRows`, else null.
   */
  backward(dlogits: tf.Tensor2D): tf.Tensor2D | null;
}

/** A `BertForTokenClassification` whose weights are tfjs variables. */
export class BertModel {
  /** Model hyper-parameters. */
  readonly config: BertConfig;
  /** Number of classes. */
  readonly numLabels: number;
  /**
   * The head over the logits: `softmax`, or `crf` (a linear-chain CRF whose scores are the
   * `crf.*` parameters; the network is the same, the loss and decoding differ).
   */
  readonly head: ClassifierHead;
  /** Trainable parameters by Hugging Face name (dense weights transposed, see module doc). */
  readonly params: Map<string, tf.Variable>;
  /** Parameter specs in checkpoint order. */
  readonly specs: ParamSpec[];
  #embeddings: EmbeddingParams;
  #layers: LayerParams[];
  /** {@link BertModel.#fusedQkv}'s tensors, by layer, with the variables' data they came from. */
  readonly #qkv = new Map<LayerParams, { ids: object[]; w: tf.Tensor2D; b: tf.Tensor1D }>();
  #classifier: ClassifierParams;
  /** The buffers of the engine-free inference pass on wasm, made at its first use. */
  #wasm: WasmInference | null = null;
  #disposed = false;

  private constructor(config: BertConfig, numLabels: number, weights: Map<string, HostTensor>) {
    validateBertConfig(config);
    if (!Number.isInteger(numLabels) || numLabels < 1) {
      throw new RangeError(`Number of labels must be a positive integer: got ${numLabels}`);
    }
    this.config = config;
    this.numLabels = numLabels;
    this.head = classifierHead(config);
    this.specs = paramSpecs(config, numLabels);
    const uid = `bert${modelCounter++}`;
    this.params = new Map();
    for (const spec of this.specs) {
      const w = weights.get(spec.name);
      if (!w) throw new RangeError(`Missing weight "${spec.name}"`);
      if (w.shape.length !== spec.shape.length || w.shape.some((d, i) => d !== spec.shape[i])) {
        throw new RangeError(
          `Weight "${spec.name}" has shape [${w.shape}]: expected [${spec.shape}]`,
        );
      }
      let data = w.data;
      let shape = spec.shape;
      if (isTransposedInternally(spec)) {
        data = transpose2d(data, spec.shape[0]!, spec.shape[1]!);
        shape = [spec.shape[1]!, spec.shape[0]!];
      }
      const name = `${uid}/${spec.name}`;
      this.params.set(
        spec.name,
        tf.tidy(() => tf.variable(tf.tensor(data, shape, "float32"), true, name)),
      );
    }
    const p = (name: string) => this.params.get(name)!;
    this.#embeddings = {
      word: p("bert.embeddings.word_embeddings.weight"),
      position: p("bert.embeddings.position_embeddings.weight"),
      tokenType: p("bert.embeddings.token_type_embeddings.weight"),
      lnGamma: p("bert.embeddings.LayerNorm.weight"),
      lnBeta: p("bert.embeddings.LayerNorm.bias"),
    };
    this.#classifier = { weight: p("classifier.weight"), bias: p("classifier.bias") };
    this.#layers = [];
    for (let l = 0; l < config.num_hidden_layers; l++) {
      const pre = `bert.encoder.layer.${l}`;
      this.#layers.push({
        prefix: pre,
        q: p(`${pre}.attention.self.query.weight`),
        k: p(`${pre}.attention.self.key.weight`),
        v: p(`${pre}.attention.self.value.weight`),
        qb: p(`${pre}.attention.self.query.bias`),
        kb: p(`${pre}.attention.self.key.bias`),
        vb: p(`${pre}.attention.self.value.bias`),
        ao: p(`${pre}.attention.output.dense.weight`),
        aob: p(`${pre}.attention.output.dense.bias`),
        ln1g: p(`${pre}.attention.output.LayerNorm.weight`),
        ln1b: p(`${pre}.attention.output.LayerNorm.bias`),
        i: p(`${pre}.intermediate.dense.weight`),
        ib: p(`${pre}.intermediate.dense.bias`),
        o: p(`${pre}.output.dense.weight`),
        ob: p(`${pre}.output.dense.bias`),
        ln2g: p(`${pre}.output.LayerNorm.weight`),
        ln2b: p(`${pre}.output.LayerNorm.bias`),
      });
    }
  }

  /**
   * Creates a model with seeded random weights.
   *
   * @param config Model hyper-parameters.
   * @param numLabels Number of classes.
   * @param seed Initialisation seed.
   * @returns The model; dispose it when done.
   */
  static create(config: BertConfig, numLabels: number, seed: number): BertModel {
    return new BertModel(config, numLabels, initWeights(config, numLabels, seed));
  }

  /**
   * Creates a model from weights in Hugging Face naming and layout (as read
   * from a `model.safetensors`).
   *
   * @param config Model hyper-parameters.
   * @param numLabels Number of classes.
   * @param weights Weights by name; extra names (a pooler) are ignored.
   * @returns The model.
   * @throws {RangeError} When a weight is missing or has the wrong shape.
   */
  static fromWeights(
    config: BertConfig,
    numLabels: number,
    weights: Map<string, HostTensor>,
  ): BertModel {
    return new BertModel(config, numLabels, weights);
  }

  /**
   * Reads the weights back in Hugging Face naming and layout.
   *
   * @returns Weights by name, in checkpoint order.
   */
  async exportWeights(): Promise<Map<string, HostTensor>> {
    this.#checkAlive();
    const out = new Map<string, HostTensor>();
    for (const spec of this.specs) {
      const v = this.params.get(spec.name)!;
      let data = (await v.data()) as Float32Array;
      if (isTransposedInternally(spec)) data = transpose2d(data, spec.shape[1]!, spec.shape[0]!);
      else data = data.slice();
      out.set(spec.name, { shape: spec.shape.slice(), data });
    }
    return out;
  }

  /** The trainable variables, in checkpoint order. */
  variables(): tf.Variable[] {
    return this.specs.map((s) => this.params.get(s.name)!);
  }

  /**
   * Computes logits `[batchSize * seqLen, numLabels]` (rows are batch-major).
   *
   * @param input Input tensors from {@link batchTensors}.
   * @param opts Training mode and dropout seed.
   * @returns Logits; the caller disposes them (or runs this in `tf.tidy`).
   * @throws {RangeError} When the sequence is longer than `max_position_embeddings`.
   */
  forward(input: BatchTensors, opts: ForwardOptions): tf.Tensor2D {
    return tf.tidy(() => this.#run(input, opts, null).logits);
  }

  /**
   * Runs a training forward and backward pass: mean cross-entropy against
   * `target` (see `lossTarget`) and the gradient of every parameter. Call
   * inside `tf.tidy`.
   *
   * @param input Input tensors from {@link batchTensors}.
   * @param target `[batchSize * seqLen, numLabels]` loss weights.
   * @param opts Training mode (dropout) and seed.
   * @param embeddingRows When true, the word-embedding gradient is not
   *   scattered into a `[vocab, hidden]` matrix: `embeddingRows` holds the
   *   gradient of each input position's looked-up row instead (`[B*T, hidden]`,
   *   in `input.ids` order), which is much smaller to send between replicas.
   * @returns The loss scalar and gradients by parameter name, in the internal layout of
   *   {@link params} (dense weights `[in, out]`).
   */
  lossAndGradients(
    input: BatchTensors,
    target: tf.Tensor2D,
    opts: ForwardOptions,
    embeddingRows = false,
  ): { loss: tf.Scalar; grads: Map<string, tf.Tensor>; embeddingRows?: tf.Tensor2D } {
    this.#checkAlive();
    const grads = new Map<string, tf.Tensor>();
    const { logits, backward } = this.#run(input, opts, grads, embeddingRows);
    const logp = tf.logSoftmax(logits);
    const loss = tf.sub(0, tf.sum(tf.mul(logp, target))) as tf.Scalar; // 0 - x: no -0
    // d(-sum t * logsoftmax(z))/dz = softmax(z) * rowsum(t) - t
    const dlogits = tf.sub(tf.mul(tf.exp(logp), tf.sum(target, -1, true)), target) as tf.Tensor2D;
    const rows = backward!(dlogits);
    return rows ? { loss, grads, embeddingRows: rows } : { loss, grads };
  }

  /**
   * Runs a training forward pass and hands back the logits with the backward pass, for a loss
   * computed elsewhere (the CRF head's, on the host). The tensors of both passes belong to the
   * caller's scope: run it and `backward` in one `tf.tidy`, or one async scope when the logits
   * are read in between.
   *
   * @param input Input tensors from {@link batchTensors}.
   * @param opts Training mode (dropout) and seed.
   * @param embeddingRows As in {@link lossAndGradients}.
   * @returns The logits, the gradients' map and the backward pass that fills it.
   */
  trainingPass(input: BatchTensors, opts: ForwardOptions, embeddingRows = false): TrainingPass {
    this.#checkAlive();
    const grads = new Map<string, tf.Tensor>();
    const { logits, backward } = this.#run(input, opts, grads, embeddingRows);
    return { logits, grads, backward: backward! };
  }

  /**
   * The CRF head's scores, copied to the host (null for a softmax head).
   *
   * @returns Transitions `[numLabels * numLabels]` (row: the previous class), start and end
   *   scores.
   */
  async crfParams(): Promise<CrfParams | null> {
    this.#checkAlive();
    if (this.head !== "crf") return null;
    const [transitions, start, end] = await Promise.all(
      ["crf.transitions", "crf.start_transitions", "crf.end_transitions"].map(async (name) =>
        ((await this.params.get(name)!.data()) as Float32Array).slice()
      ),
    );
    return { transitions: transitions!, start: start!, end: end! };
  }

  /**
   * A layer's fused query, key and value weights for passes with no backward pass, made once and
   * kept while the six variables hold the same tensors (a training step assigns new ones, which
   * makes them again): concatenating them took about 6% of the sample model's forward pass at
   * batch 8. It costs one more copy of those weights (a quarter of an encoder layer's).
   */
  #fusedQkv(L: LayerParams): { w: tf.Tensor2D; b: tf.Tensor1D } {
    const ids = [L.q, L.k, L.v, L.qb, L.kb, L.vb].map((t) => t.dataId);
    const held = this.#qkv.get(L);
    if (held && held.ids.every((id, i) => id === ids[i])) return held;
    if (held) {
      held.w.dispose();
      held.b.dispose();
    }
    const { w, b } = concatQkv(L);
    const made = { ids, w: tf.keep(w), b: tf.keep(b) };
    this.#qkv.set(L, made);
    return made;
  }

  /** Throws when a sequence is longer than the model's positions. */
  #checkLength(T: number): void {
    const most = this.config.max_position_embeddings;
    if (T > most) {
      throw new RangeError(`Sequence length ${T} exceeds max_position_embeddings ${most}`);
    }
  }

  /** The weights and sizes the engine-free pass reads (the fused query-key-value kept). */
  #inferenceModel(): InferenceModel {
    const c = this.config;
    const E = this.#embeddings;
    return {
      hidden: c.hidden_size,
      heads: c.num_attention_heads,
      intermediate: c.intermediate_size,
      labels: this.numLabels,
      eps: c.layer_norm_eps,
      maskNegative: MASK_NEGATIVE,
      word: E.word,
      position: E.position,
      tokenType: E.tokenType,
      lnGamma: E.lnGamma,
      lnBeta: E.lnBeta,
      layers: this.#layers.map((L) => {
        const qkv = this.#fusedQkv(L);
        return {
          qkv: qkv.w,
          qkvBias: qkv.b,
          attentionOut: L.ao,
          attentionOutBias: L.aob,
          ln1Gamma: L.ln1g,
          ln1Beta: L.ln1b,
          intermediate: L.i,
          intermediateBias: L.ib,
          out: L.o,
          outBias: L.ob,
          ln2Gamma: L.ln2g,
          ln2Beta: L.ln2b,
        };
      }),
      classifier: this.#classifier.weight,
      classifierBias: this.#classifier.bias,
    };
  }

  /** Sets up a pass: checks the sequence length and starts the dropout stream. */
  #pass(input: BatchTensors, opts: ForwardOptions, keep: boolean): Pass {
    const c = this.config;
    const { batchSize: B, seqLen: T } = input;
    this.#checkLength(T);
    const H = c.hidden_size;
    const nh = c.num_attention_heads;
    const d = H / nh;
    const seed = mixSeed(opts.seed ?? 0, 0x5eed);
    let stream = 0;
    return {
      config: c,
      input,
      B,
      T,
      N: B * T,
      H,
      nh,
      d,
      scale: 1 / Math.sqrt(d),
      keep,
      qkv: (L) => keep ? concatQkv(L) : this.#fusedQkv(L),
      dropMask: (shape, rate) => {
        if (!opts.training || rate <= 0) return null;
        return dropoutMask(dropoutMaskAttrs(shape, seed, stream++, rate));
      },
    };
  }

  /**
   * The forward pass: embeddings, encoder layers, classifier head. With
   * `grads`, it keeps each layer's cache and returns the backward pass, which
   * fills `grads` and runs the layers in reverse.
   */
  #run(
    input: BatchTensors,
    opts: ForwardOptions,
    grads: Map<string, tf.Tensor> | null,
    embeddingRows = false,
  ): { logits: tf.Tensor2D; backward: ((dlogits: tf.Tensor2D) => tf.Tensor2D | null) | null } {
    this.#checkAlive();
    const pass = this.#pass(input, opts, grads !== null);
    const emb = embeddingsForward(pass, this.#embeddings);
    let x = emb.y;
    const caches: EncoderLayerCache[] = [];
    for (const L of this.#layers) {
      const layer = encoderLayerForward(pass, L, x);
      x = layer.y;
      if (grads) {
        // A pass that keeps its activations fuses nothing away.
        if (!layer.cache) throw new Error("A training pass lost an encoder layer's cache");
        caches.push(layer.cache);
      }
    }
    const head = classifierForward(pass, this.#classifier, x);
    if (!grads) return { logits: head.logits, backward: null };
    const backward = (dlogits: tf.Tensor2D): tf.Tensor2D | null => {
      let dx = classifierBackward(this.#classifier, dlogits, head.cache, grads);
      for (let l = this.#layers.length - 1; l >= 0; l--) {
        dx = encoderLayerBackward(pass, this.#layers[l]!, dx, caches[l]!, grads);
      }
      return embeddingsBackward(pass, dx, emb.cache, grads, embeddingRows);
    };
    return { logits: head.logits, backward };
  }

  /**
   * Logits `[batchSize, seqLen, numLabels]` of a host batch (inference mode by default).
   *
   * @param batch Token ids and mask.
   * @param opts Training mode and dropout seed.
   * @returns The logits tensor; the caller disposes it.
   */
  logits(batch: BatchInput, opts: ForwardOptions = { training: false }): tf.Tensor3D {
    return tf.tidy(() => {
      const input = batchTensors(batch);
      return tf.reshape(this.forward(input, opts), [batch.batchSize, batch.seqLen, this.numLabels]);
    });
  }

  /**
   * The most probable class of every position of a batch (padding included), in inference
   * mode.
   *
   * @param batch Token ids and mask.
   * @returns Argmax class per position, row-major `[batchSize * seqLen]`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "./backend.ts";
   * import { makeBertConfig } from "./config.ts";
   * import { BertModel } from "./model.ts";
   * await setupBackend("cpu");
   * const model = BertModel.create(makeBertConfig(20, { num_hidden_layers: 1, hidden_size: 8 }), 3, 1);
   * const classes = await model.predictClasses({ ids: new Int32Array([2, 5]), mask: new Int32Array([1, 1]), batchSize: 1, seqLen: 2 });
   * assert.equal(classes.length, 2);
   * model.dispose();
   * ```
   */
  async predictClasses(batch: BatchInput): Promise<Int32Array> {
    const classes = tf.tidy(() =>
      tf.argMax(this.forward(batchTensors(batch), { training: false }), -1)
    );
    try {
      return (await classes.data()) as Int32Array;
    } finally {
      classes.dispose();
    }
  }

  /**
   * Class probabilities (softmax of the logits) of every position of a batch, in inference
   * mode. On wasm with OpenBLAS the pass runs without the tfjs engine (`_wasm_inference.ts`),
   * with the same bits.
   *
   * @param batch Token ids and mask.
   * @returns Row-major `[batchSize * seqLen * numLabels]`.
   */
  async predictProbabilities(batch: BatchInput): Promise<Float32Array> {
    if (wasmInferenceAvailable()) {
      this.#checkAlive();
      checkBatch(batch);
      this.#checkLength(batch.seqLen);
      // Buffers on another wasm backend's heap (one that was removed since) are dropped.
      if (!this.#wasm?.current()) this.#wasm = new WasmInference();
      return this.#wasm.probabilities(this.#inferenceModel(), batch);
    }
    const probs = tf.tidy(() => tf.softmax(this.forward(batchTensors(batch), { training: false })));
    try {
      return (await probs.data()) as Float32Array;
    } finally {
      probs.dispose();
    }
  }

  /** Frees the variables. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const v of this.params.values()) v.dispose();
    for (const { w, b } of this.#qkv.values()) {
      w.dispose();
      b.dispose();
    }
    this.#qkv.clear();
    this.#wasm?.dispose();
    this.#wasm = null;
  }

  /** Whether {@link dispose} has run. */
  get disposed(): boolean {
    return this.#disposed;
  }

  #checkAlive(): void {
    if (this.#disposed) throw new Error("BertModel is disposed");
  }
}
