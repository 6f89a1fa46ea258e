/**
 * Seeded randomness for data handling (splits, shuffles, generated corpora): mulberry32, the
 * same sequence on every platform.
 *
 * @module
 */

/**
 * A seeded generator of floats in [0, 1) (mulberry32).
 *
 * @param seed Any integer; equal seeds give equal sequences.
 * @returns The generator.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./random.ts";
 *
 * const random = mulberry32(42);
 * assert.equal(random(), 0.6011037519201636);
 * assert.equal(random(), 0.44829055899754167);
 * // The same seed gives the same sequence.
 * const again = mulberry32(42);
 * assert.deepEqual([again(), again()], [0.6011037519201636, 0.44829055899754167]);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A shuffled copy (Fisher–Yates), driven by `random`.
 *
 * @param items What to shuffle; left unchanged.
 * @param random A generator of floats in [0, 1).
 * @returns The items in a new order.
 */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
