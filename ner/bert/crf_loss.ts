/**
 * The CRF head's loss over a batch, on the host: each row's units (its positions whose label is
 * not -100, in order) form one sequence whose emissions are their logits; the loss is the sum of
 * the rows' CRF negative log-likelihoods divided by the batch's unit count (as the softmax head's
 * cross-entropy is a mean over the same units: losses compare, the same learning rate and
 * clipping threshold fit, and a part of a batch on a replica divides by the whole batch's count
 * as the softmax head does).
 *
 * Pure logic: no tensors.
 *
 * @module
 */
import { crfGradients, type CrfParams } from "../crf.ts";
import { IGNORE_INDEX } from "../types.ts";

/** What {@link crfBatchLoss} returns; the gradients are float32, ready to upload. */
export interface CrfBatchLoss {
  /** The rows' summed NLL divided by the denominator. */
  loss: number;
  /** Gradient of the loss for every logit, `[batchSize * seqLen * numLabels]` (0 off units). */
  dlogits: Float32Array;
  /** Gradient of `crf.transitions`, `[numLabels * numLabels]`. */
  transitions: Float32Array;
  /** Gradient of `crf.start_transitions`, `[numLabels]`. */
  start: Float32Array;
  /** Gradient of `crf.end_transitions`, `[numLabels]`. */
  end: Float32Array;
  /** Labelled positions (units) in the batch. */
  count: number;
}

/**
 * Computes the CRF loss of a batch and its gradients.
 *
 * @param logits The classifier's logits, `[batchSize * seqLen * numLabels]` row-major.
 * @param labels Gold class per position, or -100 where the position is not a unit.
 * @param seqLen Positions per row.
 * @param params The CRF's scores (their size gives the class count).
 * @param denominator Divisor of the summed NLL (default: the units here); a part of a larger
 *   batch passes the whole batch's count.
 * @returns The loss and its gradients (all 0 without units).
 * @throws {RangeError} On a label outside `[0, numLabels)` other than -100, or sizes that do not
 *   agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crfBatchLoss } from "./crf_loss.ts";
 * // Zero transitions: the CRF's NLL is each unit's softmax cross-entropy (here ln 2), summed.
 * const params = { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] };
 * const out = crfBatchLoss(new Float32Array(6), new Int32Array([-100, 0, 1]), 3, params);
 * assert.equal(out.count, 2);
 * assert.ok(Math.abs(out.loss - Math.LN2) < 1e-12);
 * ```
 */
export function crfBatchLoss(
  logits: ArrayLike<number>,
  labels: Int32Array,
  seqLen: number,
  params: CrfParams,
  denominator?: number,
): CrfBatchLoss {
  const n = params.start.length;
  if (labels.length % seqLen !== 0 || logits.length !== labels.length * n) {
    throw new RangeError(
      `Logits hold ${logits.length} values and labels ${labels.length}: rows of ${seqLen} ` +
        `positions of ${n} classes need labels * ${n} logits`,
    );
  }
  let count = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    if (y === IGNORE_INDEX) continue;
    if (y < 0 || y >= n || !Number.isInteger(y)) {
      throw new RangeError(
        `Label ${y} at position ${i} is outside [0, ${n}) and is not ${IGNORE_INDEX}`,
      );
    }
    count++;
  }
  const dlogits = new Float32Array(logits.length);
  const transitions = new Float64Array(n * n);
  const start = new Float64Array(n);
  const end = new Float64Array(n);
  const denom = denominator ?? count;
  let sum = 0;
  if (count > 0 && denom > 0) {
    const w = 1 / denom;
    for (let row = 0; row < labels.length / seqLen; row++) {
      const positions: number[] = [];
      for (let t = 0; t < seqLen; t++) {
        if (labels[row * seqLen + t] !== IGNORE_INDEX) positions.push(row * seqLen + t);
      }
      if (positions.length === 0) continue;
      const emissions = new Float64Array(positions.length * n);
      positions.forEach((p, u) => {
        for (let c = 0; c < n; c++) emissions[u * n + c] = logits[p * n + c]!;
      });
      const g = crfGradients(emissions, positions.map((p) => labels[p]!), params);
      sum += g.nll;
      positions.forEach((p, u) => {
        for (let c = 0; c < n; c++) dlogits[p * n + c] = g.emissions[u * n + c]! * w;
      });
      for (let k = 0; k < n * n; k++) transitions[k]! += g.transitions[k]!;
      for (let c = 0; c < n; c++) {
        start[c]! += g.start[c]!;
        end[c]! += g.end[c]!;
      }
    }
    for (let k = 0; k < n * n; k++) transitions[k]! *= w;
    for (let c = 0; c < n; c++) {
      start[c]! *= w;
      end[c]! *= w;
    }
    sum *= w;
  }
  return {
    loss: sum,
    dlogits,
    transitions: Float32Array.from(transitions),
    start: Float32Array.from(start),
    end: Float32Array.from(end),
    count,
  };
}
