/**
 * Counter-based dropout masks: element `i` of a mask is a pure function of
 * (key, i), so every backend computes the same mask where its tensors live
 * (a WGSL shader on WebGPU, a loop on the host for wasm and cpu) and no mask
 * crosses between host and device. The integer hash is the PCG output
 * permutation used as a stateless hash (Jarzynski and Olano, "Hash Functions
 * for GPU Rendering", JCGT 2020), applied twice with two keys.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
import { DROPOUT_MASK_KERNEL } from "./_kernel_names.ts";

/** What a mask kernel needs. */
export interface DropoutMaskAttrs {
  shape: number[];
  /** First key, mixed into the index. */
  key1: number;
  /** Second key, mixed into the first hash. */
  key2: number;
  /**
   * An element is dropped when its 16 bits of the hash are below `threshold`, `rate` as a
   * fraction of 65536 (one hash serves two neighbouring elements: low half, then high half).
   */
  threshold: number;
  /** The value of kept elements, `1 / (1 - rate)` in float32. */
  scale: number;
}

/** The PCG-style 32-bit integer hash (unsigned result). */
export function hash32(x: number): number {
  const s = (Math.imul(x >>> 0, 747796405) + 2891336453) >>> 0;
  const w = Math.imul((s >>> ((s >>> 28) + 4)) ^ s, 277803737) >>> 0;
  return ((w >>> 22) ^ w) >>> 0;
}

/** The same hash and mask element in WGSL. */
export const DROPOUT_WGSL = `
fn dropoutHash(x : u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn dropoutKeep(i : u32, key1 : u32, key2 : u32, threshold : u32) -> bool {
  let h = dropoutHash(dropoutHash((i >> 1u) ^ key1) ^ key2);
  return select(h & 0xffffu, h >> 16u, (i & 1u) == 1u) >= threshold;
}
`;

/**
 * The attributes of mask number `stream` of a forward pass seeded with `seed`.
 *
 * @param rate Drop probability in (0, 1).
 */
export function dropoutMaskAttrs(
  shape: number[],
  seed: number,
  stream: number,
  rate: number,
): DropoutMaskAttrs {
  const key1 = hash32((seed >>> 0) ^ hash32(stream + 0x632be5ab));
  return {
    shape,
    key1,
    key2: hash32(key1 + 0x9e3779b9),
    threshold: Math.round(rate * 65536),
    scale: Math.fround(1 / (1 - rate)),
  };
}

/**
 * Fills `out` with the mask: 0 where dropped, `scale` where kept.
 *
 * @param offset Index of `out[0]` within the whole mask.
 */
export function fillDropoutMask(out: Float32Array, a: DropoutMaskAttrs, offset = 0): Float32Array {
  const { key1, key2, threshold, scale } = a;
  let h = 0;
  for (let k = 0; k < out.length; k++) {
    const g = offset + k;
    if (k === 0 || (g & 1) === 0) h = hash32(hash32((g >>> 1) ^ key1) ^ key2);
    out[k] = ((g & 1) === 1 ? h >>> 16 : h & 0xffff) >= threshold ? scale : 0;
  }
  return out;
}

/**
 * A mask tensor, made by the backend's kernel where one is registered (wasm, cpu, webgpu),
 * else on the host and uploaded (the same values either way).
 */
export function dropoutMask(a: DropoutMaskAttrs): tf.Tensor {
  if (tf.getKernel(DROPOUT_MASK_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(
      DROPOUT_MASK_KERNEL,
      {},
      a as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
  }
  const n = tf.util.sizeFromShape(a.shape);
  return tf.tensor(fillDropoutMask(new Float32Array(n), a), a.shape, "float32");
}
