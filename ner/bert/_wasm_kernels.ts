/**
 * JavaScript kernels that make the tfjs wasm backend fast and complete for
 * BERT training. They work on the wasm heap directly.
 *
 * - `BatchMatMul`: when OpenBLAS is available (see `_blas.ts`), `cblas_sgemm`
 *   on views of the wasm heap (no copies; transposes are flags). Otherwise:
 *   the stock kernel uses XNNPACK only for an un-batched, un-transposed
 *   product and a scalar loop (about 2 GFLOP/s) otherwise; the gradients of
 *   every matmul are transposed products. This override then transposes
 *   operands physically (cheap) and runs each batch item through the XNNPACK
 *   path, using heap views of the operands (no copies).
 * - `UnsortedSegmentSum`: missing on wasm; the gradient of `tf.gather`.
 * - `GatherV2`: the stock kernel takes ~5 ms for a 1024-row embedding lookup;
 *   a row copy is ~50x faster (axis 0 only; other cases use the stock kernel).
 * - `BertAdamW`: one fused AdamW update (parameter, first and second moment).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type AdamWAttrs, adamwLoop } from "./_adamw_kernel.ts";
import {
  ADAMW_KERNEL,
  ATTENTION_CONTEXT_KERNEL,
  ATTENTION_SCORES_KERNEL,
} from "./_kernel_names.ts";
import { type Blas, loadBlas } from "./_blas.ts";

interface TensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

/** The internals of `BackendWasm` used here. */
interface WasmBackend {
  wasm: {
    HEAPU8: Uint8Array;
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdNextNumber: number;
  dataIdMap: {
    get(dataId: object): TensorData;
    set(dataId: object, d: TensorData): void;
    delete(dataId: object): void;
  };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object): boolean;
}

let registered = false;

/** Attributes of `ATTENTION_SCORES_KERNEL`. */
interface AttentionAttrs {
  batch: number;
  heads: number;
  scale: number;
}

/**
 * The BLAS library of the attention kernels, which are registered only when there is one: a
 * test that turns BLAS off afterwards ({@link setWasmBlas}) must not run them.
 */
function attentionBlas(): Blas {
  if (!blas) throw new Error("The attention kernels need OpenBLAS, which was turned off");
  return blas;
}
let cBatchMatMul: ((...args: unknown[]) => void) | null = null;
let blas: Blas | null = null;

/**
 * Chooses the BLAS library used by the wasm `BatchMatMul` kernel (null: XNNPACK).
 *
 * @returns The previous choice.
 */
export function setWasmBlas(next: Blas | null): Blas | null {
  const prev = blas;
  blas = next;
  return prev;
}

/** The BLAS library the wasm `BatchMatMul` kernel uses, or null. */
export function wasmBlas(): Blas | null {
  return blas;
}

/** `op(A) op(B)` per batch item with BLAS, straight on the wasm heap. */
function blasBatchMatMul(
  b: WasmBackend,
  lib: Blas,
  a: tf.TensorInfo,
  bb: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  dims: { batch: number; batchA: number; batchB: number; m: number; n: number; k: number },
): tf.TensorInfo {
  const { batch, batchA, batchB, m, n, k } = dims;
  const out = b.makeOutput([batch, m, n], "float32");
  // Views are taken after the output is allocated: allocation may grow (and detach) the heap.
  const A = b.typedArrayFromHeap(a) as Float32Array;
  const B = b.typedArrayFromHeap(bb) as Float32Array;
  const C = b.typedArrayFromHeap(out) as Float32Array;
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  if (batch === 1 || (batchB === 1 && !transposeA)) {
    // One product; a shared right operand folds the batch into the rows of A.
    lib.sgemm(transposeA, transposeB, batch * m, n, k, 1, A, lda, B, ldb, 0, C, n);
    return out;
  }
  const sa = batchA === 1 ? 0 : m * k;
  const sb = batchB === 1 ? 0 : k * n;
  for (let i = 0; i < batch; i++) {
    lib.sgemm(
      transposeA,
      transposeB,
      m,
      n,
      k,
      1,
      A.subarray(i * sa, i * sa + m * k),
      lda,
      B.subarray(i * sb, i * sb + k * n),
      ldb,
      0,
      C.subarray(i * m * n, (i + 1) * m * n),
      n,
    );
  }
  return out;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** Registers a wasm tensor id for memory owned by another tensor; returns the id. */
function view(b: WasmBackend, memoryOffset: number, size: number): number {
  const id = b.dataIdNextNumber++;
  b.wasm.tfjs.registerTensor(id, size, memoryOffset);
  return id;
}

function transpose3d(b: WasmBackend, orig: tf.KernelFunc, x: tf.TensorInfo): tf.TensorInfo {
  return orig({
    inputs: { x },
    backend: b as unknown as tf.KernelBackend,
    attrs: { perm: [0, 2, 1] },
  }) as tf.TensorInfo;
}

/** The sizes of an attention pass: batch items, heads, sequence length, hidden size. */
export interface AttentionDims {
  batch: number;
  heads: number;
  t: number;
  h: number;
}

/**
 * Attention scores `q k^T * scale + maskAdd` of every batch item and head, `[batch, heads, t, t]`
 * into `S`, read in place from the fused projection `Q` (`[batch * t, 3h]`): one product per item
 * and head with strides, then the scale and the mask as tf.mul then tf.add do them (each a
 * float32 operation). The `BertAttentionScores` kernel and the engine-free inference pass
 * (`_wasm_inference.ts`) both run this.
 *
 * @param M The additive mask, `[batch, t]`.
 * @param scale The scale, a float32 value.
 */
export function attentionScoresInto(
  lib: Blas,
  Q: Float32Array,
  M: Float32Array,
  S: Float32Array,
  { batch, heads, t, h }: AttentionDims,
  scale: number,
): void {
  const h3 = 3 * h;
  const d = h / heads;
  const block = (t - 1) * h3 + d;
  for (let bi = 0; bi < batch; bi++) {
    for (let hi = 0; hi < heads; hi++) {
      const q = bi * t * h3 + hi * d;
      const s = (bi * heads + hi) * t * t;
      const scores = S.subarray(s, s + t * t);
      lib.sgemm(
        false,
        true,
        t,
        t,
        d,
        1,
        Q.subarray(q, q + block),
        h3,
        Q.subarray(q + h, q + h + block),
        h3,
        0,
        scores,
        t,
      );
      for (let i = 0; i < t; i++) {
        for (let j = 0; j < t; j++) {
          const k = i * t + j;
          scores[k] = Math.fround(Math.fround(scores[k]! * scale) + M[bi * t + j]!);
        }
      }
    }
  }
}

/**
 * The attention context `probs v` of every batch item and head, heads side by side
 * `[batch * t, h]` into `C`, with the values read in place from the fused projection `V`
 * (`[batch * t, 3h]`). The `BertAttentionContext` kernel and the engine-free inference pass
 * both run this.
 *
 * @param P The attention probabilities, `[batch, heads, t, t]`.
 */
export function attentionContextInto(
  lib: Blas,
  P: Float32Array,
  V: Float32Array,
  C: Float32Array,
  { batch, heads, t, h }: AttentionDims,
): void {
  const h3 = 3 * h;
  const d = h / heads;
  for (let bi = 0; bi < batch; bi++) {
    for (let hi = 0; hi < heads; hi++) {
      const p = (bi * heads + hi) * t * t;
      const v = bi * t * h3 + 2 * h + hi * d;
      const c = bi * t * h + hi * d;
      lib.sgemm(
        false,
        false,
        t,
        d,
        t,
        1,
        P.subarray(p, p + t * t),
        t,
        V.subarray(v, v + (t - 1) * h3 + d),
        h3,
        0,
        C.subarray(c, c + (t - 1) * h + d),
        h,
      );
    }
  }
}

/** Installs the kernels; call before `tf.setBackend("wasm")`. Idempotent. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  blas = loadBlas();
  const transposeKernel = tf.getKernel(tf.Transpose, "wasm");
  const reshapeKernel = tf.getKernel(tf.Reshape, "wasm");
  const origBmm = tf.getKernel(tf.BatchMatMul, "wasm");
  if (!transposeKernel || !reshapeKernel || !origBmm) {
    throw new Error("The tfjs wasm backend must be imported before registerWasmKernels()");
  }
  const transposeFn = transposeKernel.kernelFunc;
  const reshapeFn = reshapeKernel.kernelFunc;
  const origSetup = origBmm.setupFunc;
  const origGather = tf.getKernel(tf.GatherV2, "wasm");

  tf.unregisterKernel(tf.BatchMatMul, "wasm");
  tf.registerKernel({
    kernelName: tf.BatchMatMul,
    backendName: "wasm",
    setupFunc: (backend) => {
      origSetup?.(backend);
    },
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackend;
      if (!cBatchMatMul) {
        cBatchMatMul = b.wasm.cwrap("BatchMatMul", null, [
          "number",
          "array",
          "number",
          "number",
          "array",
          "number",
          "number",
          "number",
          "number",
        ]);
      }
      const { a, b: bb } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as unknown as {
        transposeA: boolean;
        transposeB: boolean;
      };
      if (a.dtype !== "float32" || bb.dtype !== "float32") {
        throw new Error("BatchMatMul supports float32 only");
      }
      const ar = a.shape.length;
      const br = bb.shape.length;
      const aOuter = a.shape.slice(0, -2);
      const bOuter = bb.shape.slice(0, -2);
      const batchA = aOuter.reduce((x, y) => x * y, 1);
      const batchB = bOuter.reduce((x, y) => x * y, 1);
      const a1 = a.shape[ar - 2]!;
      const a2 = a.shape[ar - 1]!;
      const b1 = bb.shape[br - 2]!;
      const b2 = bb.shape[br - 1]!;
      const m = transposeA ? a2 : a1;
      const k = transposeA ? a1 : a2;
      const kb = transposeB ? b2 : b1;
      const n = transposeB ? b1 : b2;
      if (k !== kb) {
        throw new Error(
          `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${bb.shape} must match`,
        );
      }
      const outerShape = tf.backend_util.assertAndGetBroadcastShape(aOuter, bOuter);
      const batch = Math.max(batchA, batchB);
      if ((batchA !== batch && batchA !== 1) || (batchB !== batch && batchB !== 1)) {
        throw new Error(`BatchMatMul: unsupported broadcast of ${a.shape} and ${bb.shape}`);
      }
      if (blas && m > 0 && n > 0 && k > 0) {
        const dims = { batch, batchA, batchB, m, n, k };
        const out = blasBatchMatMul(b, blas, a, bb, transposeA, transposeB, dims);
        out.shape = [...outerShape, m, n];
        return out;
      }
      const bk = b as unknown as tf.KernelBackend;
      const temps: tf.TensorInfo[] = [];
      /** `x` as `[batchX, d1, d2]`, physically transposed when asked (temporaries kept). */
      const as3d = (x: tf.TensorInfo, shape: number[], transpose: boolean) => {
        let t = reshapeFn({ inputs: { x }, backend: bk, attrs: { shape } }) as tf.TensorInfo;
        temps.push(t);
        if (transpose) {
          t = transpose3d(b, transposeFn, t);
          temps.push(t);
        }
        return t;
      };
      const a3 = as3d(a, [batchA, a1, a2], transposeA);
      const b3 = as3d(bb, [batchB, b1, b2], transposeB);
      const out = b.makeOutput([batch, m, n], "float32");
      const outD = b.dataIdMap.get(out.dataId);
      const aD = b.dataIdMap.get(a3.dataId);
      const bD = b.dataIdMap.get(b3.dataId);
      if (batch === 1) {
        cBatchMatMul(
          aD.id,
          shapeBytes([1, m, k]),
          3,
          bD.id,
          shapeBytes([1, k, n]),
          3,
          false,
          false,
          outD.id,
        );
      } else {
        const aShape = shapeBytes([1, m, k]);
        const bShape = shapeBytes([1, k, n]);
        for (let i = 0; i < batch; i++) {
          const ai = batchA === 1 ? aD.id : view(b, aD.memoryOffset + i * m * k * 4, m * k);
          const bi = batchB === 1 ? bD.id : view(b, bD.memoryOffset + i * k * n * 4, k * n);
          const oi = view(b, outD.memoryOffset + i * m * n * 4, m * n);
          cBatchMatMul(ai, aShape, 3, bi, bShape, 3, false, false, oi);
          if (ai !== aD.id) b.wasm.tfjs.disposeData(ai);
          if (bi !== bD.id) b.wasm.tfjs.disposeData(bi);
          b.wasm.tfjs.disposeData(oi);
        }
      }
      for (const t of temps) b.disposeData(t.dataId);
      out.shape = [...outerShape, m, n];
      return out;
    },
  });

  // Attention without the heads apart (inference): two products per batch item and head, read
  // and written in place in the fused projection and the merged context with strides. The
  // same products, in the same order, as the batched matMuls over split heads they replace.
  if (blas) {
    tf.registerKernel({
      kernelName: ATTENTION_SCORES_KERNEL,
      backendName: "wasm",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const b = backend as unknown as WasmBackend;
        const { qkv, maskAdd } = inputs as { qkv: tf.TensorInfo; maskAdd: tf.TensorInfo };
        const { batch, heads } = attrs as unknown as AttentionAttrs;
        // tf.mul takes the scale as a float32 tensor.
        const scale = Math.fround((attrs as unknown as AttentionAttrs).scale);
        const [n, h3] = qkv.shape as [number, number];
        const t = n / batch;
        const h = h3 / 3;
        const out = b.makeOutput([batch, heads, t, t], "float32");
        // Views after the allocation, which may grow (and detach) the heap.
        const Q = b.typedArrayFromHeap(qkv) as Float32Array;
        const M = b.typedArrayFromHeap(maskAdd) as Float32Array;
        const S = b.typedArrayFromHeap(out) as Float32Array;
        attentionScoresInto(attentionBlas(), Q, M, S, { batch, heads, t, h }, scale);
        return out;
      },
    });
    tf.registerKernel({
      kernelName: ATTENTION_CONTEXT_KERNEL,
      backendName: "wasm",
      kernelFunc: ({ inputs, backend }) => {
        const b = backend as unknown as WasmBackend;
        const { probs, qkv } = inputs as { probs: tf.TensorInfo; qkv: tf.TensorInfo };
        const [batch, heads, t] = probs.shape as [number, number, number, number];
        const [n, h3] = qkv.shape as [number, number];
        const h = h3 / 3;
        const out = b.makeOutput([n, h], "float32");
        // Views after the allocation, which may grow (and detach) the heap.
        const P = b.typedArrayFromHeap(probs) as Float32Array;
        const V = b.typedArrayFromHeap(qkv) as Float32Array;
        const C = b.typedArrayFromHeap(out) as Float32Array;
        attentionContextInto(attentionBlas(), P, V, C, { batch, heads, t, h });
        return out;
      },
    });
  }

  // The gradient of tf.gather (the embedding lookup).
  tf.registerKernel({
    kernelName: tf.UnsortedSegmentSum,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
      const b = backend as unknown as WasmBackend;
      const rest = x.shape.slice(segmentIds.shape.length);
      const inner = rest.reduce((p, c) => p * c, 1);
      const out = b.makeOutput([numSegments, ...rest], x.dtype);
      const o = b.typedArrayFromHeap(out);
      const xs = b.typedArrayFromHeap(x);
      const ids = b.typedArrayFromHeap(segmentIds);
      o.fill(0);
      const n = ids.length;
      for (let i = 0; i < n; i++) {
        const s = ids[i]!;
        if (s < 0 || s >= numSegments) continue;
        const src = i * inner;
        const dst = s * inner;
        for (let j = 0; j < inner; j++) o[dst + j]! += xs[src + j]!;
      }
      return out;
    },
  });

  if (origGather) {
    const origGatherFn = origGather.kernelFunc;
    const origGatherSetup = origGather.setupFunc;
    tf.unregisterKernel(tf.GatherV2, "wasm");
    tf.registerKernel({
      kernelName: tf.GatherV2,
      backendName: "wasm",
      setupFunc: (backend) => {
        origGatherSetup?.(backend);
      },
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args;
        const { x, indices } = inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
        const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
        if (
          axis !== 0 || (batchDims ?? 0) !== 0 || x.dtype !== "float32" || indices.dtype !== "int32"
        ) {
          return origGatherFn(args);
        }
        const b = backend as unknown as WasmBackend;
        const rows = x.shape[0]!;
        const inner = x.shape.slice(1).reduce((p, c) => p * c, 1);
        const out = b.makeOutput([...indices.shape, ...x.shape.slice(1)], "float32");
        const o = b.typedArrayFromHeap(out) as Float32Array;
        const xs = b.typedArrayFromHeap(x) as Float32Array;
        const ids = b.typedArrayFromHeap(indices) as Int32Array;
        for (let i = 0; i < ids.length; i++) {
          const r = ids[i]!;
          if (r < 0 || r >= rows) throw new RangeError(`Gather index ${r} is outside [0, ${rows})`);
          o.set(xs.subarray(r * inner, (r + 1) * inner), i * inner);
        }
        return out;
      },
    });
  }

  tf.registerKernel({
    kernelName: ADAMW_KERNEL,
    backendName: "wasm",
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { param, grad, m, v, scale } = inputs as Record<string, tf.TensorInfo>;
      const a = attrs as unknown as AdamWAttrs;
      const b = backend as unknown as WasmBackend;
      const outP = b.makeOutput(param!.shape, "float32");
      const outM = b.makeOutput(param!.shape, "float32");
      const outV = b.makeOutput(param!.shape, "float32");
      const P = b.typedArrayFromHeap(param!) as Float32Array;
      const G = b.typedArrayFromHeap(grad!) as Float32Array;
      const M = b.typedArrayFromHeap(m!) as Float32Array;
      const Vv = b.typedArrayFromHeap(v!) as Float32Array;
      const s = (b.typedArrayFromHeap(scale!) as Float32Array)[0]!;
      adamwLoop(
        P,
        G,
        M,
        Vv,
        s,
        a,
        b.typedArrayFromHeap(outP) as Float32Array,
        b.typedArrayFromHeap(outM) as Float32Array,
        b.typedArrayFromHeap(outV) as Float32Array,
      );
      return [outP, outM, outV];
    },
  });
}
