/**
 * Fused element loops for BERT training, run as tfjs kernels on backends
 * whose tensors live in host memory (wasm, cpu). WebGPU registers WGSL kernels
 * under the same names (`webgpu/register_all.ts`; the names: `_kernel_names.ts`); backends with neither use the
 * composite tf-op versions in `_ops.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type DropoutMaskAttrs, fillDropoutMask } from "./_dropout.ts";
import {
  ADD_LAYER_NORM_KERNEL,
  BIAS_GELU_KERNEL,
  COL_SUM_KERNEL,
  DROPOUT_MASK_KERNEL,
  GELU_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  MERGE_HEADS_KERNEL,
  SPLIT_HEADS_KERNEL,
} from "./_kernel_names.ts";
import { type SimdKernels, simdKernels } from "./_simd.ts";

/**
 * erf(z) ~ z P(z^2) / Q(z^2) on z clamped to [-4, 4]: a rational fit of our own (|error| under
 * 1.4e-7 in float64), float32 coefficients, lowest power first. kernels/simd.wat holds the same
 * numbers; tests/simd_kernels_test.ts checks that both give the same bits.
 */
export const ERF_P: readonly number[] = [
  1.1283791065216064,
  0.1858798861503601,
  0.05219276621937752,
  0.0035882925149053335,
  0.0002836669737007469,
  2.1170721993257757e-06,
];
/** The denominator of {@link ERF_P}'s fit. */
export const ERF_Q: readonly number[] = [
  1,
  0.4980645775794983,
  0.1122782826423645,
  0.014605240896344185,
  0.0011251475661993027,
  3.873254172503948e-05,
];

const f32 = Math.fround;
const RSQRT2_F32 = f32(Math.SQRT1_2);

/**
 * GELU's values, y = x Phi(x) = x (0.5 + 0.5 erf(x / sqrt 2)) with erf from {@link ERF_P}, in
 * float32 arithmetic: each step is rounded as one float32 operation, in the order of
 * kernels/simd.wat's `gelu` (Phi clamped to [0, 1]), so this loop and the SIMD kernel agree bit for
 * bit (within 1.3e-6 of the exact GELU; 4.7e-7 for |x| < 3).
 *
 * @param from The first element to compute (the SIMD kernel does those before it).
 */
export function geluValueLoop(u: Float32Array, y: Float32Array, from = 0): void {
  for (let k = from; k < u.length; k++) {
    const x = u[k]!;
    y[k] = x * phiOf(x);
  }
}

/**
 * Phi(x) = min(max(0.5 + 0.5 erf(z), 0), 1), z = x / sqrt 2 clamped to [-4, 4], float32 step
 * by step.
 */
function phiOf(x: number): number {
  const z = Math.min(Math.max(f32(x * RSQRT2_F32), -4), 4);
  const [p0, p1, p2, p3, p4, p5] = ERF_P as [number, number, number, number, number, number];
  const [, q1, q2, q3, q4, q5] = ERF_Q as [number, number, number, number, number, number];
  const s = f32(z * z);
  let p = f32(f32(p5 * s) + p4);
  p = f32(f32(p * s) + p3);
  p = f32(f32(p * s) + p2);
  p = f32(f32(p * s) + p1);
  p = f32(f32(p * s) + p0);
  let q = f32(f32(q5 * s) + q4);
  q = f32(f32(q * s) + q3);
  q = f32(f32(q * s) + q2);
  q = f32(f32(q * s) + q1);
  q = f32(f32(q * s) + 1);
  return Math.min(Math.max(f32(0.5 + f32(0.5 * f32(f32(z * p) / q))), 0), 1);
}

/** float32 constants of {@link geluLoop}'s exp, as kernels/simd.wat writes them. */
const LOG2E_F32 = f32(Math.LOG2E);
const LN2_HI = 0.693359375;
const LN2_LO = f32(-2.12194440e-4);
const INV_SQRT_2PI_F32 = f32(0.3989422804014327);
const EXP_TAYLOR = [1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1, 1].map(f32);

/** Rounds to the nearest integer, ties to even (as f32x4.nearest does). */
function nearestEven(v: number): number {
  const n = Math.round(v);
  return n - v === 0.5 && n % 2 !== 0 ? n - 1 : n;
}

/**
 * GELU's values as {@link geluValueLoop} gives them and its slope, `slope` = Phi(x) + x phi(x)
 * (the backward pass is then `dy * slope`), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) with exp as
 * kernels/simd.wat's `gelu_slope` computes it (2^n times a Taylor polynomial), float32 step by
 * step in its order: the same bits.
 *
 * @param from The first element to compute (the SIMD kernel does those before it).
 */
export function geluLoop(u: Float32Array, y: Float32Array, slope: Float32Array, from = 0): void {
  const [c6, c5, c4, c3, c2, c1, c0] = EXP_TAYLOR as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  for (let k = from; k < u.length; k++) {
    const x = u[k]!;
    const phi = phiOf(x);
    y[k] = x * phi;
    const t = Math.max(f32(f32(x * x) * -0.5), -87);
    const n = nearestEven(f32(t * LOG2E_F32));
    const r = f32(f32(t - f32(n * LN2_HI)) - f32(n * LN2_LO));
    let e = f32(f32(c6 * r) + c5);
    e = f32(f32(e * r) + c4);
    e = f32(f32(e * r) + c3);
    e = f32(f32(e * r) + c2);
    e = f32(f32(e * r) + c1);
    e = f32(f32(e * r) + c0);
    e = f32(e * 2 ** n);
    slope[k] = phi + f32(x * f32(e * INV_SQRT_2PI_F32));
  }
}

/**
 * LayerNorm over rows of `[rows, h]` in float32 arithmetic, in the order of kernels/simd.wat's
 * `layer_norm` (sums in four lanes, element j in lane j mod 4, the lanes added as
 * ((l0 + l1) + l2) + l3), so that both give the same bits: mean, variance,
 * rstd = 1 / sqrt(var + eps), xhat = (x - mean) rstd, y = xhat gamma + beta. Writes xhat and
 * rstd (one per row) when they are given (a backward pass follows), y alone otherwise.
 *
 * @param fromRow The first row to compute (the SIMD kernel does those before it).
 */
export function layerNormLoop(
  x: Float32Array,
  gamma: Float32Array,
  beta: Float32Array,
  h: number,
  eps: number,
  y: Float32Array,
  xhat: Float32Array | null,
  rstd: Float32Array | null,
  fromRow = 0,
): void {
  const rows = x.length / h;
  const e = f32(eps);
  const lanes = new Float64Array(4);
  const laneSum = () => f32(f32(f32(lanes[0]! + lanes[1]!) + lanes[2]!) + lanes[3]!);
  for (let r = fromRow; r < rows; r++) {
    const o = r * h;
    lanes.fill(0);
    for (let j = 0; j < h; j++) lanes[j & 3] = f32(lanes[j & 3]! + x[o + j]!);
    const mean = f32(laneSum() / h);
    lanes.fill(0);
    for (let j = 0; j < h; j++) {
      const d = f32(x[o + j]! - mean);
      lanes[j & 3] = f32(lanes[j & 3]! + f32(d * d));
    }
    const rs = f32(1 / f32(Math.sqrt(f32(f32(laneSum() / h) + e))));
    if (rstd) rstd[r] = rs;
    for (let j = 0; j < h; j++) {
      const xh = f32(f32(x[o + j]! - mean) * rs);
      if (xhat) xhat[o + j] = xh;
      y[o + j] = f32(xh * gamma[j]!) + beta[j]!;
    }
  }
}

/**
 * `y = x + b` with `b` a row of `h` values added to each row; with `r`, `y = (x + b) + r`
 * (float32 sums, as the SIMD `add_bias`). In place when `y` is `x`.
 */
export function addBiasLoop(
  x: Float32Array,
  b: Float32Array,
  r: Float32Array | null,
  h: number,
  y: Float32Array,
): void {
  for (let i = 0; i < x.length; i++) {
    const v = f32(x[i]! + b[i % h]!);
    y[i] = r ? v + r[i]! : v;
  }
}

/** LayerNorm backward; writes dx, and dgamma/dbeta (zeroed here). */
export function layerNormGradLoop(
  dy: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
  gamma: Float32Array,
  h: number,
  dx: Float32Array,
  dgamma: Float32Array,
  dbeta: Float32Array,
): void {
  const rows = dy.length / h;
  dgamma.fill(0);
  dbeta.fill(0);
  for (let r = 0; r < rows; r++) {
    const o = r * h;
    let m1 = 0;
    let m2 = 0;
    for (let j = 0; j < h; j++) {
      const g = dy[o + j]!;
      const xh = xhat[o + j]!;
      const dxh = g * gamma[j]!;
      m1 += dxh;
      m2 += dxh * xh;
      dgamma[j]! += g * xh;
      dbeta[j]! += g;
    }
    m1 /= h;
    m2 /= h;
    const rs = rstd[r]!;
    for (let j = 0; j < h; j++) {
      dx[o + j] = (dy[o + j]! * gamma[j]! - m1 - xhat[o + j]! * m2) * rs;
    }
  }
}

/** Column sums of `[rows, cols]`. */
export function colSumLoop(x: Float32Array, cols: number, out: Float32Array): void {
  out.fill(0);
  const rows = x.length / cols;
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let j = 0; j < cols; j++) out[j]! += x[o + j]!;
  }
}

/**
 * The fused query/key/value projection `[B * T, 3 * nh * d]` as three `[B, nh, T, d]` tensors
 * (`merge` false), or back (`merge` true): one pass instead of a transpose and a split.
 */
export function headsLoop(
  qkv: Float32Array,
  parts: Float32Array[],
  b: number,
  t: number,
  nh: number,
  d: number,
  merge: boolean,
): void {
  const h = nh * d;
  for (let bi = 0; bi < b; bi++) {
    for (let ti = 0; ti < t; ti++) {
      const row = (bi * t + ti) * 3 * h;
      for (let p = 0; p < 3; p++) {
        const part = parts[p]!;
        for (let hi = 0; hi < nh; hi++) {
          const src = row + p * h + hi * d;
          const dst = ((bi * nh + hi) * t + ti) * d;
          if (merge) qkv.set(part.subarray(dst, dst + d), src);
          else part.set(qkv.subarray(src, src + d), dst);
        }
      }
    }
  }
}

/** A shape's rows (the product of all but its last size) and their width (its last size). */
function rowsOf(shape: readonly number[]): [number, number] {
  return [shape.slice(0, -1).reduce((a, c) => a * c, 1), shape[shape.length - 1]!];
}

/** `y = gelu(u)`: SIMD over the multiples of 4 where the kernels run, the loop for the rest. */
export function geluValues(simd: SimdKernels | null, u: Float32Array, y: Float32Array): void {
  const done = simd ? u.length - (u.length % 4) : 0;
  if (done) simd!.gelu(u.byteOffset, y.byteOffset, done);
  geluValueLoop(u, y, done);
}

/**
 * LayerNorm of `rows` rows of `h` values: SIMD where the kernels run and `h` is a multiple of 4,
 * the loop otherwise; in place when `y` is `x`; `xhat` and `rstd` written when given.
 */
export function layerNorm(
  simd: SimdKernels | null,
  x: Float32Array,
  g: Float32Array,
  b: Float32Array,
  [rows, h]: [number, number],
  eps: number,
  y: Float32Array,
  xhat: Float32Array | null,
  rstd: Float32Array | null,
): void {
  if (simd && h % 4 === 0 && rows > 0) {
    const [xo, go, bo, yo] = [x.byteOffset, g.byteOffset, b.byteOffset, y.byteOffset];
    simd.layer_norm(xo, go, bo, rows, h, eps, yo, xhat?.byteOffset ?? 0, rstd?.byteOffset ?? 0);
  } else layerNormLoop(x, g, b, h, eps, y, xhat, rstd);
}

/** `y = (x + b) + r` (`r` given) or `x + b`: SIMD where the kernels run and `h` allows, the loop otherwise. */
export function addBias(
  simd: SimdKernels | null,
  x: Float32Array,
  b: Float32Array,
  r: Float32Array | null,
  [rows, h]: [number, number],
  y: Float32Array,
): void {
  if (simd && h % 4 === 0 && rows > 0) {
    simd.add_bias(x.byteOffset, b.byteOffset, r?.byteOffset ?? 0, rows, h, y.byteOffset);
  } else addBiasLoop(x, b, r, h, y);
}

/** Access to host memory of a backend's tensors. */
interface HostAccess {
  /** Allocates outputs, then returns views of the inputs and outputs (in that order). */
  run(
    backend: unknown,
    inputs: tf.TensorInfo[],
    outShapes: number[][],
  ): { ins: Float32Array[]; outs: Float32Array[]; infos: tf.TensorInfo[] };
  /** The SIMD kernels on the backend's memory, when its tensors live in one that they can use. */
  simd(backend: unknown): SimdKernels | null;
}

interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  wasm: { asm?: { memory?: unknown } };
}

interface CpuLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

const wasmAccess: HostAccess = {
  run(backend, inputs, outShapes) {
    const b = backend as WasmLike;
    // Allocate first: heap growth would detach views taken earlier.
    const infos = outShapes.map((s) => b.makeOutput(s, "float32"));
    return {
      ins: inputs.map((t) => b.typedArrayFromHeap(t)),
      outs: infos.map((t) => b.typedArrayFromHeap(t)),
      infos,
    };
  },
  simd(backend) {
    const memory = (backend as WasmLike).wasm.asm?.memory;
    return memory instanceof WebAssembly.Memory ? simdKernels(memory) : null;
  },
};

const cpuAccess: HostAccess = {
  run(backend, inputs, outShapes) {
    const b = backend as CpuLike;
    const outs = outShapes.map((s) => new Float32Array(s.reduce((a, c) => a * c, 1)));
    return {
      ins: inputs.map((t) => b.data.get(t.dataId).values as Float32Array),
      outs,
      infos: outs.map((o, i) => b.makeTensorInfo(outShapes[i]!, "float32", o)),
    };
  },
  simd: () => null,
};

const registered = new Set<string>();

/**
 * Registers the fused kernels for `wasm` or `cpu` (idempotent).
 *
 * @param backendName The backend whose tensors are host memory.
 */
export function registerJsKernels(backendName: "wasm" | "cpu"): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  const access = backendName === "wasm" ? wasmAccess : cpuAccess;
  const reg = (name: string, fn: tf.KernelFunc) =>
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: fn });
  // `keep: 0` (a pass with no backward pass to follow) returns the output alone.
  const keeps = (attrs: unknown) => (attrs as { keep?: number }).keep !== 0;
  reg(GELU_KERNEL, ({ inputs, backend, attrs }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const keep = keeps(attrs);
    const { ins, outs, infos } = access.run(backend, [x], keep ? [x.shape, x.shape] : [x.shape]);
    const [u, y] = [ins[0]!, outs[0]!];
    const simd = access.simd(backend);
    if (keep) {
      const slope = outs[1]!;
      const done = simd ? u.length - (u.length % 4) : 0;
      if (done) simd!.gelu_slope(u.byteOffset, y.byteOffset, slope.byteOffset, done);
      geluLoop(u, y, slope, done);
    } else geluValues(simd, u, y);
    return infos;
  });
  reg(LAYER_NORM_KERNEL, ({ inputs, backend, attrs }) => {
    const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
    const eps = (attrs as unknown as { eps: number }).eps;
    const rows = rowsOf(x!.shape);
    const keep = keeps(attrs);
    const { ins, outs, infos } = access.run(
      backend,
      [x!, gamma!, beta!],
      keep ? [x!.shape, x!.shape, [rows[0], 1]] : [x!.shape],
    );
    const [xs, g, b] = ins as [Float32Array, Float32Array, Float32Array];
    const [y, xhat, rstd] = [outs[0]!, outs[1] ?? null, outs[2] ?? null];
    layerNorm(access.simd(backend), xs, g, b, rows, eps, y, xhat, rstd);
    return infos;
  });
  // The fused kernels of a pass with no backward pass: their outputs alone, the same bits as
  // the kernels they replace (an Add, then GELU or LayerNorm; an Add for the residual).
  reg(BIAS_GELU_KERNEL, ({ inputs, backend }) => {
    const { x, bias } = inputs as Record<string, tf.TensorInfo>;
    const { ins, outs, infos } = access.run(backend, [x!, bias!], [x!.shape]);
    const [xs, b, y] = [ins[0]!, ins[1]!, outs[0]!];
    const simd = access.simd(backend);
    addBias(simd, xs, b, null, rowsOf(x!.shape), y);
    geluValues(simd, y, y);
    return infos[0]!;
  });
  reg(ADD_LAYER_NORM_KERNEL, ({ inputs, backend, attrs }) => {
    const { x, bias, residual, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
    const eps = (attrs as unknown as { eps: number }).eps;
    const rows = rowsOf(x!.shape);
    const { ins, outs, infos } = access.run(
      backend,
      [x!, bias!, residual!, gamma!, beta!],
      [x!.shape],
    );
    const [xs, b, r, g, be] = ins as [
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
      Float32Array,
    ];
    const y = outs[0]!;
    const simd = access.simd(backend);
    addBias(simd, xs, b, r, rows, y);
    layerNorm(simd, y, g, be, rows, eps, y, null, null);
    return infos[0]!;
  });
  reg(LAYER_NORM_GRAD_KERNEL, ({ inputs, backend }) => {
    const { dy, xhat, rstd, gamma } = inputs as Record<string, tf.TensorInfo>;
    const [, h] = rowsOf(dy!.shape);
    const { ins, outs, infos } = access.run(backend, [dy!, xhat!, rstd!, gamma!], [dy!.shape, [h], [
      h,
    ]]);
    layerNormGradLoop(ins[0]!, ins[1]!, ins[2]!, ins[3]!, h, outs[0]!, outs[1]!, outs[2]!);
    return infos;
  });
  reg(DROPOUT_MASK_KERNEL, ({ backend, attrs }) => {
    const a = attrs as unknown as DropoutMaskAttrs;
    const { outs, infos } = access.run(backend, [], [a.shape]);
    fillDropoutMask(outs[0]!, a);
    return infos[0]!;
  });
  reg(SPLIT_HEADS_KERNEL, ({ inputs, backend, attrs }) => {
    const { qkv } = inputs as { qkv: tf.TensorInfo };
    const { batch, heads } = attrs as unknown as { batch: number; heads: number };
    const [n, h3] = qkv.shape as [number, number];
    const t = n / batch;
    const d = h3 / 3 / heads;
    const shape = [batch, heads, t, d];
    const { ins, outs, infos } = access.run(backend, [qkv], [shape, shape, shape]);
    headsLoop(ins[0]!, outs, batch, t, heads, d, false);
    return infos;
  });
  reg(MERGE_HEADS_KERNEL, ({ inputs, backend }) => {
    const { q, k, v } = inputs as Record<string, tf.TensorInfo>;
    const [batch, heads, t, d] = q!.shape as [number, number, number, number];
    const { ins, outs, infos } = access.run(backend, [q!, k!, v!], [[batch * t, 3 * heads * d]]);
    headsLoop(outs[0]!, ins, batch, t, heads, d, true);
    return infos[0]!;
  });
  reg(COL_SUM_KERNEL, ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const cols = x.shape[x.shape.length - 1]!;
    const { ins, outs, infos } = access.run(backend, [x], [[cols]]);
    colSumLoop(ins[0]!, cols, outs[0]!);
    return infos[0]!;
  });
}

/** Whether the active backend has a kernel. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
