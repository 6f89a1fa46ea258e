/**
 * The dropout mask kernel for WebGPU: the mask made on the device from the counter-based hash of
 * `../_dropout.ts` (`DROPOUT_WGSL`), one thread per element.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { DROPOUT_WGSL, type DropoutMaskAttrs } from "../_dropout.ts";
import { DROPOUT_MASK_KERNEL } from "../_kernel_names.ts";
import { elementwise, type KernelArgs, webgpuKernel } from "./_shared.ts";

function dropoutMask({ backend, attrs }: KernelArgs): tf.TensorInfo {
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
  return backend.runWebGPUProgram(program, [], "float32", [
    { type: "uint32", data: [a.key1] },
    { type: "uint32", data: [a.key2] },
    { type: "uint32", data: [a.threshold] },
    { type: "float32", data: [a.scale] },
  ]);
}

/** `DROPOUT_MASK_KERNEL` on `webgpu` (registered by `register_all.ts`). */
export const dropoutMaskConfig: tf.KernelConfig = webgpuKernel(DROPOUT_MASK_KERNEL, dropoutMask);
