/**
 * The word-embedding gradient kernel for WebGPU.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { EMBEDDING_GRAD_KERNEL } from "../_kernel_names.ts";
import {
  elementwise,
  ELEMENTWISE_GROUP,
  type KernelArgs,
  type Program,
  webgpuKernel,
} from "./_shared.ts";

/**
 * Embedding gradient: a zeroed table, then each row element added at its token's row with a
 * compare-and-swap loop (WGSL has no atomic float add). The order of additions to one entry
 * varies, so repeated tokens may differ in the last bits between runs.
 */
function embeddingGrad({ inputs, backend: b, attrs }: KernelArgs): tf.TensorInfo {
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
}

/** `EMBEDDING_GRAD_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const embeddingGradConfig: tf.KernelConfig = webgpuKernel(
  EMBEDDING_GRAD_KERNEL,
  embeddingGrad,
);
