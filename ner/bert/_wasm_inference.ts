/**
 * The inference pass of `BertModel.predictProbabilities` on the wasm backend without the
 * tfjs engine: the routines the wasm kernels run (OpenBLAS's `cblas_sgemm`, the SIMD kernels of
 * kernels/simd.wat or their loops, XNNPACK's softmax), called directly, in the same order, on
 * buffers of the wasm heap that are allocated once and grow when a batch needs more. It gives
 * the same bits as the pass through tfjs ops (tests/wasm_inference_test.ts).
 *
 * Each tfjs op allocates its output on the heap, registers it with the backend and makes
 * JavaScript objects for the tensor and its bookkeeping: about 4 KB of garbage per op, 147 KB
 * per pass of the sample model at batch 2, whose slowest passes (p99) took 1.9 times the median.
 * Here such a pass makes 19 KB of typed-array views and nothing else (p99 1.6 times the median).
 *
 * Used where the backend is wasm with OpenBLAS (the attention kernels need it too); elsewhere
 * the model runs its tfjs pass.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchInput } from "../types.ts";
import { addBias, geluValues, layerNorm } from "./_js_kernels.ts";
import { type SimdKernels, simdKernels } from "./_simd.ts";
import { attentionContextInto, attentionScoresInto, wasmBlas } from "./_wasm_kernels.ts";

/** The internals of tfjs's `BackendWasm` used here. */
interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    asm?: { memory?: unknown };
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    cwrap(name: string, ret: null, args: string[]): (...args: number[]) => void;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** One encoder layer's weights, dense ones `[in, out]` (query, key and value side by side). */
export interface InferenceLayer {
  qkv: tf.Tensor;
  qkvBias: tf.Tensor;
  attentionOut: tf.Tensor;
  attentionOutBias: tf.Tensor;
  ln1Gamma: tf.Tensor;
  ln1Beta: tf.Tensor;
  intermediate: tf.Tensor;
  intermediateBias: tf.Tensor;
  out: tf.Tensor;
  outBias: tf.Tensor;
  ln2Gamma: tf.Tensor;
  ln2Beta: tf.Tensor;
}

/** A model's weights and sizes, as {@link WasmInference.probabilities} reads them. */
export interface InferenceModel {
  hidden: number;
  heads: number;
  intermediate: number;
  labels: number;
  eps: number;
  /** The additive attention mask of a padded position. */
  maskNegative: number;
  word: tf.Tensor;
  position: tf.Tensor;
  tokenType: tf.Tensor;
  lnGamma: tf.Tensor;
  lnBeta: tf.Tensor;
  layers: InferenceLayer[];
  classifier: tf.Tensor;
  classifierBias: tf.Tensor;
}

let enabled = true;

/**
 * Turns the engine-free pass on or off (tests compare it with the tfjs pass).
 *
 * @returns Whether it was on.
 */
export function setWasmInference(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Whether the engine-free pass can run on the active backend (wasm with OpenBLAS). */
export function wasmInferenceAvailable(): boolean {
  return enabled && tf.getBackend() === "wasm" && wasmBlas() !== null;
}

/** Rounds a count of floats up to a multiple of 4 (16 bytes), so that every buffer is aligned. */
const align4 = (n: number) => (n + 3) & ~3;

/** Buffers of the wasm heap for the passes of one model, reused from batch to batch. */
export class WasmInference {
  readonly #backend: WasmBackend;
  readonly #softmax: (xId: number, outId: number, channels: number, batch: number) => void;
  /** Byte offset of the buffers on the heap, and their size in floats. */
  #pointer = 0;
  #capacity = 0;
  #heap: Float32Array | null = null;
  #simd: SimdKernels | null = null;
  /** Views of the weights on {@link #heap}, by tensor data (a weight assigned anew has new data). */
  #weights = new WeakMap<object, Float32Array>();

  /** Takes the active backend, which must be wasm with OpenBLAS ({@link wasmInferenceAvailable}). */
  constructor() {
    if (!wasmInferenceAvailable()) {
      throw new Error("The engine-free pass needs the wasm backend with OpenBLAS");
    }
    this.#backend = tf.backend() as unknown as WasmBackend;
    this.#softmax = this.#backend.wasm.cwrap("Softmax", null, [
      "number",
      "number",
      "number",
      "number",
    ]);
  }

  /** Whether the active backend is the one these buffers are on. */
  current(): boolean {
    return tf.backend() === (this.#backend as unknown as tf.KernelBackend);
  }

  /** Frees the buffers. */
  dispose(): void {
    if (this.#pointer) this.#backend.wasm._free(this.#pointer);
    this.#pointer = 0;
    this.#capacity = 0;
  }

  /** The whole heap as floats, made again when the heap has grown (which detaches views). */
  #floats(): Float32Array {
    const buffer = this.#backend.wasm.HEAPU8.buffer;
    if (this.#heap?.buffer !== buffer) {
      this.#heap = new Float32Array(buffer);
      this.#weights = new WeakMap();
      const memory = this.#backend.wasm.asm?.memory;
      this.#simd = memory instanceof WebAssembly.Memory ? simdKernels(memory) : null;
    }
    return this.#heap!;
  }

  /** A weight's values, a view of the heap (taken again after the heap grows). */
  #weight(t: tf.Tensor): Float32Array {
    const heap = this.#floats();
    let view = this.#weights.get(t.dataId);
    if (!view) {
      const data = this.#backend.dataIdMap.get(t.dataId);
      if (!data) throw new Error("A weight of the model is not on the wasm backend");
      view = heap.subarray(data.memoryOffset / 4, data.memoryOffset / 4 + t.size);
      this.#weights.set(t.dataId, view);
    }
    return view;
  }

  /** Buffers of at least `floats` floats (their float index). */
  #reserve(floats: number): number {
    if (floats > this.#capacity) {
      // Half as much again as before, so that slowly growing batches do not allocate each time.
      const capacity = Math.max(floats, Math.ceil(this.#capacity * 1.5));
      this.dispose();
      // Four floats more, for the alignment of the first buffer.
      this.#pointer = this.#backend.wasm._malloc((capacity + 4) * 4) >>> 0;
      if (!this.#pointer) throw new RangeError(`Cannot allocate ${capacity * 4} bytes for a pass`);
      this.#capacity = capacity;
    }
    return align4(this.#pointer / 4);
  }

  /** `softmax` over rows of `channels` values, from `x` to `out` (float indices), by XNNPACK. */
  #softmaxRows(x: number, out: number, channels: number, rows: number): void {
    const b = this.#backend;
    const xId = b.dataIdNextNumber++;
    const outId = b.dataIdNextNumber++;
    b.wasm.tfjs.registerTensor(xId, channels * rows, x * 4);
    b.wasm.tfjs.registerTensor(outId, channels * rows, out * 4);
    try {
      this.#softmax(xId, outId, channels, rows);
    } finally {
      b.wasm.tfjs.disposeData(xId);
      b.wasm.tfjs.disposeData(outId);
    }
  }

  /**
   * Class probabilities of every position of a batch (padding included).
   *
   * @param m The model's weights and sizes.
   * @param batch Token ids and mask, `seqLen` at most the model's positions.
   * @returns Row-major `[batchSize * seqLen * labels]`, a copy.
   * @throws {RangeError} When a token id is outside the vocabulary.
   */
  probabilities(m: InferenceModel, batch: BatchInput): Float32Array {
    const lib = wasmBlas();
    if (!lib) throw new Error("The engine-free pass needs OpenBLAS, which was turned off");
    const { batchSize: B, seqLen: T } = batch;
    const { hidden: H, heads, intermediate: I, labels: C, eps } = m;
    const N = B * T;
    // No position: nothing to compute (XNNPACK refuses a softmax over no value).
    if (N === 0) return new Float32Array(0);
    const dims = { batch: B, heads, t: T, h: H };
    // The buffers, one after the other, each aligned.
    const sizes = {
      mask: N,
      x: N * H,
      y1: N * H,
      tmp: N * H,
      ctx: N * H,
      posTok: T * H,
      qkv: N * 3 * H,
      scores: B * heads * T * T,
      probs: B * heads * T * T,
      g: N * I,
      logits: N * C,
      out: N * C,
    };
    const total = Object.values(sizes).reduce((a, n) => a + align4(n), 0);
    const base = this.#reserve(total);
    const at: Record<keyof typeof sizes, number> = { ...sizes };
    let next = base;
    for (const key of Object.keys(sizes) as (keyof typeof sizes)[]) {
      at[key] = next;
      next += align4(sizes[key]);
    }
    // Views of the heap as it is now: XNNPACK's softmax may allocate, and the heap grow.
    const v = (key: keyof typeof sizes) => this.#floats().subarray(at[key], at[key] + sizes[key]);
    const w = (t: tf.Tensor) => this.#weight(t);
    /** `y = (x W + b) (+ r)` over the batch's rows: the product, then the bias (and residual). */
    const dense = (
      x: Float32Array,
      weight: tf.Tensor,
      bias: tf.Tensor,
      r: Float32Array | null,
      inner: number,
      outer: number,
      y: Float32Array,
    ) => {
      lib.sgemm(false, false, N, outer, inner, 1, x, inner, w(weight), outer, 0, y, outer);
      addBias(this.#simd, y, w(bias), r, [N, outer], y);
    };

    // The additive mask and the embeddings: word rows, plus (position + token type 0).
    const mask = v("mask");
    for (let i = 0; i < N; i++) mask[i] = batch.mask[i] ? 0 : m.maskNegative;
    const x = v("x");
    const word = w(m.word);
    const vocab = word.length / H;
    for (let i = 0; i < N; i++) {
      const r = batch.ids[i]!;
      if (r < 0 || r >= vocab) throw new RangeError(`Gather index ${r} is outside [0, ${vocab})`);
      x.set(word.subarray(r * H, (r + 1) * H), i * H);
    }
    const posTok = v("posTok");
    addBias(this.#simd, w(m.position).subarray(0, T * H), w(m.tokenType), null, [T, H], posTok);
    for (let i = 0; i < N; i++) {
      const p = (i % T) * H;
      for (let j = 0; j < H; j++) x[i * H + j] = x[i * H + j]! + posTok[p + j]!;
    }
    layerNorm(this.#simd, x, w(m.lnGamma), w(m.lnBeta), [N, H], eps, x, null, null);

    const scale = Math.fround(1 / Math.sqrt(H / heads));
    for (const L of m.layers) {
      const qkv = v("qkv");
      dense(v("x"), L.qkv, L.qkvBias, null, H, 3 * H, qkv);
      attentionScoresInto(lib, qkv, v("mask"), v("scores"), dims, scale);
      this.#softmaxRows(at.scores, at.probs, T, B * heads * T);
      attentionContextInto(lib, v("probs"), v("qkv"), v("ctx"), dims);
      // The attention block's end: product, bias, residual, LayerNorm.
      const tmp = v("tmp");
      dense(v("ctx"), L.attentionOut, L.attentionOutBias, v("x"), H, H, tmp);
      const y1 = v("y1");
      layerNorm(this.#simd, tmp, w(L.ln1Gamma), w(L.ln1Beta), [N, H], eps, y1, null, null);
      // The feed-forward block: product, bias and GELU; product, bias, residual, LayerNorm.
      const g = v("g");
      dense(y1, L.intermediate, L.intermediateBias, null, H, I, g);
      geluValues(this.#simd, g, g);
      dense(g, L.out, L.outBias, y1, I, H, tmp);
      layerNorm(this.#simd, tmp, w(L.ln2Gamma), w(L.ln2Beta), [N, H], eps, v("x"), null, null);
    }

    dense(v("x"), m.classifier, m.classifierBias, null, H, C, v("logits"));
    this.#softmaxRows(at.logits, at.out, C, N);
    return v("out").slice();
  }
}
