/**
 * Learning-rate schedule: linear warm-up then linear decay to zero, as
 * Hugging Face `get_linear_schedule_with_warmup`.
 *
 * @module
 */

/**
 * Number of warm-up steps for a ratio, as Hugging Face `TrainingArguments`
 * computes it: `ceil(warmupRatio * totalSteps)`.
 *
 * @param warmupRatio Fraction of all steps spent warming up, in [0, 1].
 * @param totalSteps Number of optimiser steps.
 * @returns The warm-up step count.
 */
export function warmupSteps(warmupRatio: number, totalSteps: number): number {
  return Math.ceil(warmupRatio * totalSteps);
}

/**
 * Learning rate of optimiser step `step` (0-based; the first update uses step 0).
 *
 * @param step 0-based index of the optimiser step.
 * @param baseLr Peak learning rate.
 * @param warmup Number of warm-up steps.
 * @param totalSteps Number of optimiser steps.
 * @returns The learning rate for that step.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearWarmupDecay } from "./schedule.ts";
 *
 * assert.equal(linearWarmupDecay(5, 1, 10, 110), 0.5); // half-way through the warm-up
 * assert.equal(linearWarmupDecay(10, 1, 10, 110), 1); // the peak
 * assert.equal(linearWarmupDecay(60, 1, 10, 110), 0.5); // half-way through the decay
 * assert.equal(linearWarmupDecay(110, 1, 10, 110), 0); // the end
 * ```
 */
export function linearWarmupDecay(
  step: number,
  baseLr: number,
  warmup: number,
  totalSteps: number,
): number {
  if (step < warmup) return baseLr * (step / Math.max(1, warmup));
  return baseLr * Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmup));
}
