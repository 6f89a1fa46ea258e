/**
 * The GELU gradient kernel for WebGPU, one thread per element.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { GELU_GRAD_KERNEL } from "../_kernel_names.ts";
import { elementwise, ERF_WGSL, type KernelArgs, webgpuKernel } from "./_shared.ts";

function geluGrad({ inputs, backend }: KernelArgs): tf.TensorInfo {
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
  return backend.runWebGPUProgram(program, [dy, x], "float32");
}

/** `GELU_GRAD_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const geluGradConfig: tf.KernelConfig = webgpuKernel(GELU_GRAD_KERNEL, geluGrad);
