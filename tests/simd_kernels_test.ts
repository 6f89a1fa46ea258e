import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { setupBackend } from "../ner/bert/backend.ts";
import { addBiasLoop, geluLoop, geluValueLoop, layerNormLoop } from "../ner/bert/_js_kernels.ts";
import { geluForward, layerNormForward } from "../ner/bert/_ops.ts";
import { simdKernels } from "../ner/bert/_simd.ts";
import { compileKernels, kernelsSource } from "../tools/kernels/build.ts";

/** A seeded stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** GELU inputs: typical activations, wide values, and the edge cases. */
function geluInputs(n: number): Float32Array {
  const r = random(7);
  const u = new Float32Array(n).map((_, i) => (r() * 2 - 1) * (i % 5 === 0 ? 40 : 6));
  [0, -0, NaN, Infinity, -Infinity, 1e-30, -1e-30, 5.65, -5.65].forEach((v, i) => u[i] = v);
  return u;
}

/** erf in float64 by its Taylor series (|z| <= 6; error far below float32's). */
function erf(z: number): number {
  let term = z;
  let sum = z;
  for (let n = 1; n < 200; n++) {
    term *= (-z * z) / n;
    sum += term / (2 * n + 1);
    if (Math.abs(term) < 1e-18) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** Memory holding `arrays` one after the other (16-byte aligned), and their views in it. */
function inMemory(
  ...arrays: Float32Array[]
): { memory: WebAssembly.Memory; views: Float32Array[] } {
  const floats = arrays.reduce((n, a) => n + Math.ceil(a.length / 4) * 4, 4);
  const memory = new WebAssembly.Memory({ initial: Math.ceil((floats * 4) / 65536) + 1 });
  let at = 4; // not at 0: 0 means "no xhat" to layer_norm
  const views = arrays.map((a) => {
    const view = new Float32Array(memory.buffer, at * 4, a.length);
    view.set(a);
    at += Math.ceil(a.length / 4) * 4;
    return view;
  });
  return { memory, views };
}

const sameBits = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`element ${i}: ${a[i]} against ${b[i]}`);
  }
};

Deno.test("the committed SIMD module is what kernels/simd.wat compiles to (deno task kernels)", async () => {
  const committed = await Deno.readTextFile(new URL("../ner/bert/_simd_wasm.ts", import.meta.url));
  assert.equal(committed, kernelsSource(await compileKernels()));
});

Deno.test("SIMD GELU gives the JavaScript loop's bits, within 1.3e-6 of the exact GELU", () => {
  const n = 4096;
  const u = geluInputs(n);
  const { memory, views: [x, y] } = inMemory(u, new Float32Array(n));
  const simd = simdKernels(memory);
  assert.ok(simd, "WebAssembly SIMD is available in Deno");
  simd.gelu(x!.byteOffset, y!.byteOffset, n);
  const js = new Float32Array(n);
  geluValueLoop(u, js);
  sameBits(y!, js);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const v = u[i]!;
    if (!Number.isFinite(v)) continue;
    const exact = Math.abs(v) > 6 ? (v > 0 ? v : 0) : v * 0.5 * (1 + erf(v / Math.SQRT2));
    worst = Math.max(worst, Math.abs(js[i]! - exact));
  }
  assert.ok(worst < 1.3e-6, `GELU is ${worst} from the exact values`);
  // Phi is clamped to [0, 1]: GELU(+inf) is +inf, GELU(-inf) is NaN (0 x -inf), never +inf.
  assert.equal(js[3], Infinity);
  assert.ok(Number.isNaN(js[4]!) && Number.isNaN(js[2]!));
});

Deno.test("SIMD GELU with its slope gives the JavaScript loop's bits, the slope within 2e-6 of the exact", () => {
  const n = 4096;
  const u = geluInputs(n);
  const { memory, views: [x, y, slope, y1] } = inMemory(
    u,
    new Float32Array(n),
    new Float32Array(n),
    new Float32Array(n),
  );
  const simd = simdKernels(memory)!;
  simd.gelu_slope(x!.byteOffset, y!.byteOffset, slope!.byteOffset, n);
  simd.gelu(x!.byteOffset, y1!.byteOffset, n);
  sameBits(y!, y1!); // the same values with or without the slope
  const [jy, js] = [new Float32Array(n), new Float32Array(n)];
  geluLoop(u, jy, js);
  sameBits(y!, jy);
  sameBits(slope!, js);
  let worst = 0;
  for (let i = 0; i < n; i++) {
    const v = u[i]!;
    if (!Number.isFinite(v)) continue;
    const exact = Math.abs(v) > 6
      ? (v > 0 ? 1 : 0)
      : 0.5 * (1 + erf(v / Math.SQRT2)) + v * Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI);
    worst = Math.max(worst, Math.abs(js[i]! - exact));
  }
  assert.ok(worst < 2e-6, `the slope is ${worst} from the exact values`);
});

Deno.test("SIMD bias and residual adds give the JavaScript loop's bits, in place too", () => {
  const r = random(11);
  const [rows, h] = [7, 12];
  const x = new Float32Array(rows * h).map(() => (r() * 2 - 1) * 50);
  const b = new Float32Array(h).map(() => (r() * 2 - 1) * 3);
  const res = new Float32Array(rows * h).map(() => (r() * 2 - 1) * 1e-3);
  [NaN, Infinity, -0].forEach((v, i) => x[i * 5] = v);
  const { memory, views } = inMemory(x, b, res, x, x);
  const [vx, vb, vr, y1, y2] = views as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const simd = simdKernels(memory)!;
  const js1 = new Float32Array(x.length);
  const js2 = new Float32Array(x.length);
  simd.add_bias(vx.byteOffset, vb.byteOffset, 0, rows, h, y1.byteOffset);
  addBiasLoop(x, b, null, h, js1);
  sameBits(y1, js1);
  // (x + b) + r, written over x.
  simd.add_bias(y2.byteOffset, vb.byteOffset, vr.byteOffset, rows, h, y2.byteOffset);
  addBiasLoop(x, b, res, h, js2);
  sameBits(y2, js2);
  // Each sum rounds to float32 on its own: the residual is not added to the bias first.
  const i = 13;
  assert.equal(js2[i], Math.fround(Math.fround(x[i]! + b[i % h]!) + res[i]!));
});

Deno.test("SIMD LayerNorm gives the JavaScript loop's bits (y, xhat, rstd), close to float64's", () => {
  const r = random(11);
  for (const [rows, h] of [[37, 128], [5, 4], [3, 768]] as const) {
    const x = new Float32Array(rows * h).map(() => r() * 8 - 2);
    const gamma = new Float32Array(h).map(() => r() + 0.5);
    const beta = new Float32Array(h).map(() => r() - 0.5);
    const { memory, views } = inMemory(
      x,
      gamma,
      beta,
      new Float32Array(rows * h),
      new Float32Array(rows * h),
      new Float32Array(rows),
      new Float32Array(rows * h),
    );
    const [vx, vg, vb, vy, vxh, vrs, vy2] = views as Float32Array[];
    const simd = simdKernels(memory)!;
    const layerNorm = (y: number, xhat: number, rstd: number) =>
      simd.layer_norm(
        vx!.byteOffset,
        vg!.byteOffset,
        vb!.byteOffset,
        rows,
        h,
        1e-12,
        y,
        xhat,
        rstd,
      );
    layerNorm(vy!.byteOffset, vxh!.byteOffset, vrs!.byteOffset);
    layerNorm(vy2!.byteOffset, 0, 0);
    const [y, xhat, rstd] = [
      new Float32Array(rows * h),
      new Float32Array(rows * h),
      new Float32Array(rows),
    ];
    layerNormLoop(x, gamma, beta, h, 1e-12, y, xhat, rstd);
    sameBits(vy!, y);
    sameBits(vy2!, y);
    sameBits(vxh!, xhat);
    sameBits(vrs!, rstd);
    for (let row = 0; row < rows; row++) {
      const xs = [...x.subarray(row * h, (row + 1) * h)];
      const mean = xs.reduce((a, b) => a + b, 0) / h;
      const rs = 1 / Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / h + 1e-12);
      for (let j = 0; j < h; j++) {
        const exact = (xs[j]! - mean) * rs * gamma[j]! + beta[j]!;
        assert.ok(Math.abs(y[row * h + j]! - exact) < 2e-5, `row ${row}, ${j}`);
      }
    }
  }
});

Deno.test("GELU and LayerNorm give the same bits on wasm (SIMD) and cpu (JavaScript), sizes not multiples of 4 included", async () => {
  const out: Record<string, Float32Array[]> = {};
  for (const backend of ["wasm", "cpu"] as const) {
    await setupBackend(backend);
    out[backend] = tf.tidy(() => {
      const u = tf.tensor2d(geluInputs(7 * 9).filter(Number.isFinite).slice(0, 54), [6, 9]);
      const x = tf.tensor2d(Array.from({ length: 6 * 12 }, (_, i) => Math.sin(i) * 3), [6, 12]);
      const x9 = tf.tensor2d(Array.from({ length: 6 * 9 }, (_, i) => Math.cos(i) * 3), [6, 9]);
      const g = (h: number) => tf.tensor1d(Array.from({ length: h }, (_, i) => 1 + i / 10));
      const b = (h: number) => tf.tensor1d(Array.from({ length: h }, (_, i) => i / 20 - 0.2));
      return [
        geluForward(u as tf.Tensor2D, false).y,
        geluForward(u as tf.Tensor2D, true).y,
        geluForward(u as tf.Tensor2D, true).cache.slope!,
        layerNormForward(x as tf.Tensor2D, g(12), b(12), 1e-12, false).y,
        layerNormForward(x as tf.Tensor2D, g(12), b(12), 1e-12, true).y,
        layerNormForward(x9 as tf.Tensor2D, g(9), b(9), 1e-12, false).y,
      ].map((t) => t.dataSync() as Float32Array);
    });
  }
  out.wasm!.forEach((a, i) => sameBits(a, out.cpu![i]!));
  await setupBackend("wasm");
});
