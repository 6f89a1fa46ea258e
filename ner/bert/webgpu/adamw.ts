/**
 * The fused AdamW kernel for WebGPU.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { AdamWAttrs } from "../_adamw_kernel.ts";
import { ADAMW_KERNEL } from "../_kernel_names.ts";
import { elementwise, type KernelArgs, type Uniform, webgpuKernel } from "./_shared.ts";

/**
 * AdamW: new m, then new v, then the parameter from both (three dispatches, no temporaries).
 */
function adamw({ inputs, backend: b, attrs }: KernelArgs): tf.TensorInfo[] {
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
}

/** `ADAMW_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const adamwConfig: tf.KernelConfig = webgpuKernel(ADAMW_KERNEL, adamw);
