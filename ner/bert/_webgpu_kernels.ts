/**
 * Fused WGSL kernels for training on WebGPU: dropout masks made on the device,
 * GELU and its gradient, LayerNorm and its gradient, and the AdamW update. On
 * a GPU every tfjs op is a dispatch with its own bind group and uniform
 * buffer, so the composite versions in `_ops.ts` and `adamw.ts` (9 to 14 ops
 * each) cost more in dispatches than in arithmetic; these run 1 to 4.
 *
 * Programs follow tfjs-backend-webgpu's program contract: inputs are bound as
 * `array<f32>` by their `variableNames`, the output is `result`, `uniforms`
 * declares per-call values (the compiled pipeline is cached by `shaderKey`,
 * so nothing that varies between calls may be baked into the code).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { AdamWAttrs } from "./_adamw_kernel.ts";
import { DROPOUT_WGSL, type DropoutMaskAttrs } from "./_dropout.ts";
import {
  ADAMW_KERNEL,
  DROPOUT_MASK_KERNEL,
  EMBEDDING_GRAD_KERNEL,
  GELU_GRAD_KERNEL,
  GELU_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  SUM_SQUARES_KERNEL,
} from "./_kernel_names.ts";

/** The parts of tfjs-backend-webgpu's program interface these kernels use. */
interface Program {
  atomic?: boolean;
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  size: boolean;
  uniforms?: string;
  getUserCode(): string;
}

type Uniform = { type: "int32" | "uint32" | "float32"; data: number[] };

interface WebGpuBackendLike {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: Uniform[],
    output?: tf.TensorInfo,
  ): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  disposeData(id: object): void;
}

/** Workgroups (of {@link ROW_GROUP} threads) that share one tensor of a sum of squares. */
const SUM_GROUPS = 32;

const ELEMENTWISE_GROUP = 128;
/** Threads that share one row (or column) of a reduction. */
const ROW_GROUP = 64;

/** A program with one thread per output element. */
function elementwise(
  key: string,
  inputs: string[],
  shape: number[],
  body: string,
  uniforms = "",
  helpers = "",
): Program {
  const n = tf.util.sizeFromShape(shape);
  return {
    variableNames: inputs,
    outputShape: shape,
    shaderKey: `bert_${key}`,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [Math.ceil(n / ELEMENTWISE_GROUP), 1, 1],
    workgroupSize: [ELEMENTWISE_GROUP, 1, 1],
    size: true,
    ...(uniforms ? { uniforms } : {}),
    getUserCode: () => `
      ${helpers}
      fn main(index : i32) {
        if (index < uniforms.size) {
          ${body}
        }
      }`,
  };
}

/**
 * A program with one workgroup of {@link ROW_GROUP} threads per output row:
 * `body` runs with `row` (the workgroup's row, possibly past the end), `lid`
 * (the thread), and `groupSum(x)` adds `x` over the
 * workgroup (every thread must call it: it holds barriers).
 */
function perRow(
  key: string,
  inputs: string[],
  shape: number[],
  rows: number,
  body: string,
  uniforms: string,
): Program {
  return {
    variableNames: inputs,
    outputShape: shape,
    shaderKey: `bert_${key}`,
    dispatchLayout: { x: shape.map((_, i) => i) },
    dispatch: [rows, 1, 1],
    workgroupSize: [ROW_GROUP, 1, 1],
    size: false,
    uniforms,
    getUserCode: () => `
      var<workgroup> bertRed : array<f32, ${ROW_GROUP}>;
      fn groupSum(x : f32) -> f32 {
        let lid = i32(localId.x);
        bertRed[lid] = x;
        workgroupBarrier();
        for (var k = ${ROW_GROUP / 2}; k > 0; k = k / 2) {
          if (lid < k) {
            bertRed[lid] = bertRed[lid] + bertRed[lid + k];
          }
          workgroupBarrier();
        }
        let total = bertRed[0];
        workgroupBarrier();
        return total;
      }
      fn main(index : i32) {
        let row = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
        let lid = i32(localId.x);
        ${body}
      }`,
  };
}

const ERF_WGSL = `
  // erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
  fn erfApprox(x : f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
      0.254829592) * t;
    let y = 1.0 - poly * exp(-a * a);
    return select(-y, y, x >= 0.0);
  }`;

let registered = false;

/** Registers the fused kernels for the `webgpu` backend (idempotent). */
export function registerWebGpuKernels(): void {
  if (registered) return;
  registered = true;
  const reg = (name: string, fn: tf.KernelFunc) =>
    tf.registerKernel({ kernelName: name, backendName: "webgpu", kernelFunc: fn });

  reg(DROPOUT_MASK_KERNEL, ({ backend, attrs }) => {
    const a = attrs as unknown as DropoutMaskAttrs;
    const program = elementwise(
      "dropout_mask",
      [],
      a.shape,
      `result[index] = select(0.0, uniforms.scale,
        dropoutKeep(u32(index), uniforms.key1, uniforms.key2, uniforms.threshold));`,
      "key1 : u32, key2 : u32, threshold : u32, scale : f32,",
      DROPOUT_WGSL,
    );
    return (backend as WebGpuBackendLike).runWebGPUProgram(program, [], "float32", [
      { type: "uint32", data: [a.key1] },
      { type: "uint32", data: [a.key2] },
      { type: "uint32", data: [a.threshold] },
      { type: "float32", data: [a.scale] },
    ]);
  });

  reg(GELU_KERNEL, ({ inputs, backend }) => {
    const { x } = inputs as { x: tf.TensorInfo };
    const program = elementwise(
      "gelu",
      ["X"],
      x.shape,
      "let u = X[index]; result[index] = 0.5 * u * (1.0 + erfApprox(u * 0.70710678118654752));",
      "",
      ERF_WGSL,
    );
    return (backend as WebGpuBackendLike).runWebGPUProgram(program, [x], "float32");
  });

  reg(GELU_GRAD_KERNEL, ({ inputs, backend }) => {
    const { dy, x } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo };
    const program = elementwise(
      "gelu_grad",
      ["DY", "X"],
      x.shape,
      `let u = X[index];
       let cdf = 0.5 * (1.0 + erfApprox(u * 0.70710678118654752));
       let pdf = 0.39894228040143268 * exp(-0.5 * u * u);
       result[index] = DY[index] * (cdf + u * pdf);`,
      "",
      ERF_WGSL,
    );
    return (backend as WebGpuBackendLike).runWebGPUProgram(program, [dy, x], "float32");
  });

  // LayerNorm: row statistics [rows, 2] = (mean, 1/std), then xhat, then y. The third
  // output (what the gradient kernel reads as `rstd`) is those statistics.
  reg(LAYER_NORM_KERNEL, ({ inputs, backend, attrs }) => {
    const b = backend as WebGpuBackendLike;
    const { x, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
    const eps = (attrs as unknown as { eps: number }).eps;
    const h = x!.shape[x!.shape.length - 1]!;
    const rows = tf.util.sizeFromShape(x!.shape) / h;
    const dims: Uniform[] = [{ type: "int32", data: [h] }, { type: "int32", data: [rows] }];
    const stats = b.runWebGPUProgram(
      perRow(
        "ln_stats",
        ["X"],
        [rows, 2],
        rows,
        `let valid = row < uniforms.rows;
         let h = uniforms.h;
         var s = 0.0;
         if (valid) {
           for (var j = lid; j < h; j = j + ${ROW_GROUP}) { s = s + X[row * h + j]; }
         }
         let mean = groupSum(s) / f32(h);
         var q = 0.0;
         if (valid) {
           for (var j = lid; j < h; j = j + ${ROW_GROUP}) {
             let d = X[row * h + j] - mean;
             q = q + d * d;
           }
         }
         let variance = groupSum(q) / f32(h);
         if (valid && lid == 0) {
           result[row * 2] = mean;
           result[row * 2 + 1] = 1.0 / sqrt(variance + uniforms.eps);
         }`,
        "h : i32, rows : i32, eps : f32,",
      ),
      [x!],
      "float32",
      [...dims, { type: "float32", data: [eps] }],
    );
    const xhat = b.runWebGPUProgram(
      elementwise(
        "ln_xhat",
        ["X", "S"],
        x!.shape,
        "let r = index / uniforms.h; result[index] = (X[index] - S[2 * r]) * S[2 * r + 1];",
        "h : i32,",
      ),
      [x!, stats],
      "float32",
      [dims[0]!],
    );
    const y = b.runWebGPUProgram(
      elementwise(
        "ln_affine",
        ["XH", "G", "B"],
        x!.shape,
        "let j = index % uniforms.h; result[index] = XH[index] * G[j] + B[j];",
        "h : i32,",
      ),
      [xhat, gamma!, beta!],
      "float32",
      [dims[0]!],
    );
    return [y, xhat, stats];
  });

  reg(LAYER_NORM_GRAD_KERNEL, ({ inputs, backend }) => {
    const b = backend as WebGpuBackendLike;
    const { dy, xhat, rstd, gamma } = inputs as Record<string, tf.TensorInfo>;
    const h = dy!.shape[dy!.shape.length - 1]!;
    const rows = tf.util.sizeFromShape(dy!.shape) / h;
    // `rstd` is [rows, k] with 1/std in its last column (k = 2 from the kernel above).
    const k = rstd!.shape[rstd!.shape.length - 1]!;
    const dims: Uniform[] = [
      { type: "int32", data: [h] },
      { type: "int32", data: [rows] },
      { type: "int32", data: [k] },
    ];
    const means = b.runWebGPUProgram(
      perRow(
        "ln_grad_means",
        ["DY", "XH", "G"],
        [rows, 2],
        rows,
        `let valid = row < uniforms.rows;
         let h = uniforms.h;
         var s1 = 0.0;
         var s2 = 0.0;
         if (valid) {
           for (var j = lid; j < h; j = j + ${ROW_GROUP}) {
             let g = DY[row * h + j] * G[j];
             s1 = s1 + g;
             s2 = s2 + g * XH[row * h + j];
           }
         }
         let m1 = groupSum(s1) / f32(h);
         let m2 = groupSum(s2) / f32(h);
         if (valid && lid == 0) {
           result[row * 2] = m1;
           result[row * 2 + 1] = m2;
         }`,
        "h : i32, rows : i32, k : i32,",
      ),
      [dy!, xhat!, gamma!],
      "float32",
      dims,
    );
    const dx = b.runWebGPUProgram(
      elementwise(
        "ln_grad_dx",
        ["DY", "XH", "RS", "G", "M"],
        dy!.shape,
        `let r = index / uniforms.h;
         let j = index % uniforms.h;
         result[index] = (DY[index] * G[j] - M[2 * r] - XH[index] * M[2 * r + 1]) *
           RS[r * uniforms.k + uniforms.k - 1];`,
        "h : i32, rows : i32, k : i32,",
      ),
      [dy!, xhat!, rstd!, gamma!, means],
      "float32",
      dims,
    );
    b.disposeData(means.dataId);
    // Column sums: one thread per column, rows in order.
    const columnSum = (key: string, expr: string, ins: tf.TensorInfo[], names: string[]) =>
      b.runWebGPUProgram(
        elementwise(
          key,
          names,
          [h],
          `var s = 0.0;
           for (var r = 0; r < uniforms.rows; r = r + 1) {
             let i = r * uniforms.h + index;
             s = s + ${expr};
           }
           result[index] = s;`,
          "h : i32, rows : i32, k : i32,",
        ),
        ins,
        "float32",
        dims,
      );
    const dgamma = columnSum("ln_grad_dgamma", "DY[i] * XH[i]", [dy!, xhat!], ["DY", "XH"]);
    const dbeta = columnSum("ln_grad_dbeta", "DY[i]", [dy!], ["DY"]);
    return [dx, dgamma, dbeta];
  });

  // Embedding gradient: a zeroed table, then each row element added at its token's row with a
  // compare-and-swap loop (WGSL has no atomic float add). The order of additions to one entry
  // varies, so repeated tokens may differ in the last bits between runs.
  reg(EMBEDDING_GRAD_KERNEL, ({ inputs, backend, attrs }) => {
    const b = backend as WebGpuBackendLike;
    const { x, segmentIds } = inputs as Record<string, tf.TensorInfo>;
    const { numSegments } = attrs as unknown as { numSegments: number };
    const h = x!.shape[1]!;
    const n = tf.util.sizeFromShape(x!.shape);
    const table = b.runWebGPUProgram(
      elementwise("zeros", [], [numSegments, h], "result[index] = 0.0;"),
      [],
      "float32",
    );
    const program: Program = {
      ...elementwise(
        "embedding_grad",
        ["X", "IDS"],
        [numSegments, h],
        "",
      ),
      atomic: true,
      size: false,
      dispatch: [Math.ceil(n / ELEMENTWISE_GROUP), 1, 1],
      uniforms: "n : i32, h : i32,",
      getUserCode: () => `
        fn main(index : i32) {
          if (index < uniforms.n) {
            let row = IDS[index / uniforms.h];
            let at = row * uniforms.h + index % uniforms.h;
            let value = X[index];
            var old = atomicLoad(&result[at]);
            loop {
              let next = bitcast<i32>(bitcast<f32>(old) + value);
              let swap = atomicCompareExchangeWeak(&result[at], old, next);
              if (swap.exchanged) { break; }
              old = swap.old_value;
            }
          }
        }`,
    };
    b.runWebGPUProgram(program, [x!, segmentIds!], "float32", [
      { type: "int32", data: [n] },
      { type: "int32", data: [h] },
    ], table);
    return table;
  });

  // Sum of squares: each tensor's workgroups write partial sums into one shared buffer
  // (one dispatch per tensor), then one workgroup adds the partials.
  reg(SUM_SQUARES_KERNEL, ({ inputs, backend }) => {
    const b = backend as WebGpuBackendLike;
    const tensors = Object.keys(inputs).sort((x, y) => Number(x) - Number(y))
      .map((k) => (inputs as Record<string, tf.TensorInfo>)[k]!);
    const partials = b.makeTensorInfo([tensors.length * SUM_GROUPS], "float32");
    tensors.forEach((t, i) => {
      const program = perRow(
        "sum_squares_part",
        ["X"],
        partials.shape,
        SUM_GROUPS,
        `let n = uniforms.n;
         var s = 0.0;
         for (var j = row * ${ROW_GROUP} + lid; j < n; j = j + ${SUM_GROUPS * ROW_GROUP}) {
           let x = X[j];
           s = s + x * x;
         }
         let total = groupSum(s);
         if (lid == 0 && row < ${SUM_GROUPS}) {
           result[uniforms.offset + row] = total;
         }`,
        "n : i32, offset : i32,",
      );
      b.runWebGPUProgram(program, [t], "float32", [
        { type: "int32", data: [tf.util.sizeFromShape(t.shape)] },
        { type: "int32", data: [i * SUM_GROUPS] },
      ], partials);
    });
    const total = b.runWebGPUProgram(
      perRow(
        "sum_partials",
        ["P"],
        [1],
        1,
        `var s = 0.0;
         for (var j = lid; j < uniforms.n; j = j + ${ROW_GROUP}) { s = s + P[j]; }
         let total = groupSum(s);
         if (lid == 0) { result[0] = total; }`,
        "n : i32,",
      ),
      [partials],
      "float32",
      [{ type: "int32", data: [tf.util.sizeFromShape(partials.shape)] }],
    );
    b.disposeData(partials.dataId);
    return { dataId: total.dataId, shape: [], dtype: "float32" };
  });

  // AdamW: new m, then new v, then the parameter from both (three dispatches, no temporaries).
  reg(ADAMW_KERNEL, ({ inputs, backend, attrs }) => {
    const b = backend as WebGpuBackendLike;
    const { param, grad, m, v, scale } = inputs as Record<string, tf.TensorInfo>;
    const a = attrs as unknown as AdamWAttrs;
    const shape = param!.shape;
    const f = (x: number): Uniform => ({ type: "float32", data: [x] });
    const m1 = b.runWebGPUProgram(
      elementwise(
        "adamw_m",
        ["M", "G", "SC"],
        shape,
        "result[index] = uniforms.beta1 * M[index] + (1.0 - uniforms.beta1) * (G[index] * SC[0]);",
        "beta1 : f32,",
      ),
      [m!, grad!, scale!],
      "float32",
      [f(a.beta1)],
    );
    const v1 = b.runWebGPUProgram(
      elementwise(
        "adamw_v",
        ["V", "G", "SC"],
        shape,
        `let g = G[index] * SC[0];
         result[index] = uniforms.beta2 * V[index] + (1.0 - uniforms.beta2) * g * g;`,
        "beta2 : f32,",
      ),
      [v!, grad!, scale!],
      "float32",
      [f(a.beta2)],
    );
    const p1 = b.runWebGPUProgram(
      elementwise(
        "adamw_p",
        ["P", "M", "V"],
        shape,
        `result[index] = P[index] * uniforms.decay - uniforms.stepSize * M[index] /
           (sqrt(V[index]) * uniforms.invSqrtBc2 + uniforms.epsilon);`,
        "decay : f32, stepSize : f32, invSqrtBc2 : f32, epsilon : f32,",
      ),
      [param!, m1, v1],
      "float32",
      [f(a.decayFactor), f(a.stepSize), f(1 / a.sqrtBc2), f(a.epsilon)],
    );
    return [p1, m1, v1];
  });
}
