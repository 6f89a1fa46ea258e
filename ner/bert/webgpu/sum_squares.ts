/**
 * The sum-of-squares kernel for WebGPU (the global gradient norm of `../adamw.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { SUM_SQUARES_KERNEL } from "../_kernel_names.ts";
import { type KernelArgs, perRow, ROW_GROUP, webgpuKernel } from "./_shared.ts";

/** Workgroups (of {@link ROW_GROUP} threads) that share one tensor of a sum of squares. */
const SUM_GROUPS = 32;

/**
 * Sum of squares: each tensor's workgroups write partial sums into one shared buffer
 * (one dispatch per tensor), then one workgroup adds the partials.
 */
function sumSquares({ inputs, backend: b }: KernelArgs): tf.TensorInfo {
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
}

/** `SUM_SQUARES_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const sumSquaresConfig: tf.KernelConfig = webgpuKernel(SUM_SQUARES_KERNEL, sumSquares);
