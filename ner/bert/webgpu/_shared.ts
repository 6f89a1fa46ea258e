/**
 * What the WebGPU kernels of this folder share. Programs follow tfjs-backend-webgpu's program
 * contract: inputs are bound as `array<f32>` by their `variableNames`, the output is `result`,
 * `uniforms` declares per-call values (the compiled pipeline is cached by `shaderKey`,
 * so nothing that varies between calls may be baked into the code).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The parts of tfjs-backend-webgpu's program interface these kernels use. */
export interface Program {
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

/** A per-call value of a program (its `uniforms`). */
export type Uniform = { type: "int32" | "uint32" | "float32"; data: number[] };

/** The parts of tfjs-backend-webgpu's backend these kernels use. */
export interface WebGpuBackendLike {
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

/** Threads of a workgroup of {@link elementwise}. */
export const ELEMENTWISE_GROUP = 128;
/** Threads that share one row (or column) of a reduction. */
export const ROW_GROUP = 64;

/** A program with one thread per output element. */
export function elementwise(
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
export function perRow(
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

/** WGSL `erfApprox(x)`, for GELU and its gradient. */
export const ERF_WGSL = `
  // erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7).
  fn erfApprox(x : f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t +
      0.254829592) * t;
    let y = 1.0 - poly * exp(-a * a);
    return select(-y, y, x >= 0.0);
  }`;

/** What a kernel function receives (the parameter of `tf.KernelFunc`, on the webgpu backend). */
export type KernelArgs = Omit<Parameters<tf.KernelFunc>[0], "backend"> & {
  backend: WebGpuBackendLike;
};

/** The config registering `kernelFunc` as `kernelName` for the `webgpu` backend. */
export function webgpuKernel(
  kernelName: string,
  kernelFunc: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[],
): tf.KernelConfig {
  // tfjs calls a kernel registered for `webgpu` with the webgpu backend.
  return { kernelName, backendName: "webgpu", kernelFunc: kernelFunc as tf.KernelFunc };
}
