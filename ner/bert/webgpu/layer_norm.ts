/**
 * The LayerNorm kernel for WebGPU.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { LAYER_NORM_KERNEL } from "../_kernel_names.ts";
import {
  elementwise,
  type KernelArgs,
  perRow,
  ROW_GROUP,
  type Uniform,
  webgpuKernel,
} from "./_shared.ts";

/**
 * LayerNorm: row statistics [rows, 2] = (mean, 1/std), then xhat, then y. The third
 * output (what the gradient kernel reads as `rstd`) is those statistics.
 */
function layerNorm({ inputs, backend: b, attrs }: KernelArgs): tf.TensorInfo[] {
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
}

/** `LAYER_NORM_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const layerNormConfig: tf.KernelConfig = webgpuKernel(LAYER_NORM_KERNEL, layerNorm);
