/**
 * The LayerNorm gradient kernel for WebGPU.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { LAYER_NORM_GRAD_KERNEL } from "../_kernel_names.ts";
import {
  elementwise,
  type KernelArgs,
  perRow,
  ROW_GROUP,
  type Uniform,
  webgpuKernel,
} from "./_shared.ts";

function layerNormGrad({ inputs, backend: b }: KernelArgs): tf.TensorInfo[] {
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
}

/** `LAYER_NORM_GRAD_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const layerNormGradConfig: tf.KernelConfig = webgpuKernel(
  LAYER_NORM_GRAD_KERNEL,
  layerNormGrad,
);
