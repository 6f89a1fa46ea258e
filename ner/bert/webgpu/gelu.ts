/**
 * The GELU kernel for WebGPU, one thread per element.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { GELU_KERNEL } from "../_kernel_names.ts";
import { elementwise, ERF_WGSL, type KernelArgs, webgpuKernel } from "./_shared.ts";

function gelu({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const { x } = inputs as { x: tf.TensorInfo };
  const program = elementwise(
    "gelu",
    ["X"],
    x.shape,
    "let u = X[index]; result[index] = 0.5 * u * (1.0 + erfApprox(u * 0.70710678118654752));",
    "",
    ERF_WGSL,
  );
  return backend.runWebGPUProgram(program, [x], "float32");
}

/** `GELU_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const geluConfig: tf.KernelConfig = webgpuKernel(GELU_KERNEL, gelu);
