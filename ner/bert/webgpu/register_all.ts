/**
 * Fused WGSL kernels for training on WebGPU: dropout masks made on the device,
 * GELU and its gradient, LayerNorm and its gradient, and the AdamW update. On
 * a GPU every tfjs op is a dispatch with its own bind group and uniform
 * buffer, so the composite versions in `../_ops.ts` and `../adamw.ts` (9 to 14 ops
 * each) cost more in dispatches than in arithmetic; these run 1 to 4.
 *
 * One kernel a file in this folder (as in tfjs-backend-webgpu), their shared program
 * helpers in `_shared.ts`, their names in `../_kernel_names.ts`; this module registers them all.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { adamwConfig } from "./adamw.ts";
import { dropoutMaskConfig } from "./dropout_mask.ts";
import { embeddingGradConfig } from "./embedding_grad.ts";
import { geluConfig } from "./gelu.ts";
import { geluGradConfig } from "./gelu_grad.ts";
import { layerNormConfig } from "./layer_norm.ts";
import { layerNormGradConfig } from "./layer_norm_grad.ts";
import { sumSquaresConfig } from "./sum_squares.ts";

/** Every fused kernel, in the order they are registered. */
const KERNEL_CONFIGS: tf.KernelConfig[] = [
  dropoutMaskConfig,
  geluConfig,
  geluGradConfig,
  layerNormConfig,
  layerNormGradConfig,
  embeddingGradConfig,
  sumSquaresConfig,
  adamwConfig,
];

let registered = false;

/** Registers the fused kernels for the `webgpu` backend (idempotent). */
export function registerWebGpuKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of KERNEL_CONFIGS) tf.registerKernel(config);
}
