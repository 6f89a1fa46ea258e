/**
 * Token-classification loss: mean cross-entropy over labelled positions, as
 * PyTorch `CrossEntropyLoss(ignore_index=-100)`.
 *
 * @module
 */
import { IGNORE_INDEX } from "../types.ts";

export { IGNORE_INDEX };

/**
 * Builds the target matrix `[n, numLabels]`: `1 / count` at each labelled
 * position's class, 0 elsewhere, so that `-sum(target * logSoftmax)` is the
 * mean cross-entropy.
 *
 * @param labels Class per position, or {@link IGNORE_INDEX}.
 * @param numLabels Number of classes.
 * @param denominator Divisor of the summed loss (default: the number of labelled
 *   positions here); a part of a larger batch passes the whole batch's count.
 * @returns The target values and the number of labelled positions.
 * @throws {RangeError} On a label outside `[0, numLabels)` other than -100.
 */
export function lossTarget(
  labels: Int32Array,
  numLabels: number,
  denominator?: number,
): { target: Float32Array; count: number } {
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y === IGNORE_INDEX) continue;
    if (y < 0 || y >= numLabels || !Number.isInteger(y)) {
      throw new RangeError(
        `Label ${y} at position ${i} is outside [0, ${numLabels}) and is not ${IGNORE_INDEX}`,
      );
    }
    count++;
  }
  const target = new Float32Array(labels.length * numLabels);
  const denom = denominator ?? count;
  if (count === 0 || denom <= 0) return { target, count };
  const w = 1 / denom;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y !== IGNORE_INDEX) target[i * numLabels + y] = w;
  }
  return { target, count };
}
