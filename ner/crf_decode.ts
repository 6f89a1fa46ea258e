/**
 * Decoding one window with a CRF head: the best valid BIO labelling of its units under the CRF
 * (Viterbi over emissions + learned transitions), with the same rule as `decodeBio` (`I-X` only
 * after `B-X` or `I-X`, never first) and the same shape of result, so that a caller picks one or
 * the other by the model's head. With {@link UnitBoundaries} it keeps entities on the allowed
 * boundaries as `decodeBio` does (`B-X` only where an entity may start; after a unit where an
 * entity may not end, an open entity goes on with `I-X`), and the marginals are taken over the
 * labellings these rules allow.
 *
 * The emissions are the log-probabilities of the classes: they differ from the logits by one
 * constant per unit, which changes neither the best labelling nor the marginals.
 *
 * Pure logic: no tensors.
 *
 * @module
 */
import type { UnitBoundaries } from "./bio_decode.ts";
import { type CrfConstraints, crfMarginals, type CrfParams, crfViterbi } from "./crf.ts";

/**
 * The BIO rule as CRF constraints over `labels`: `I-X` may follow only `B-X` or `I-X`, and may not
 * start a sequence; `O` and `B-X` may follow anything.
 *
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @returns The allowed transitions and first classes.
 */
export function bioConstraints(labels: readonly string[]): CrfConstraints {
  const n = labels.length;
  const prefix = labels.map((l) => (l.startsWith("I-") ? "I" : l.startsWith("B-") ? "B" : "O"));
  const type = labels.map((l) => (l.length > 2 && l[1] === "-" ? l.slice(2) : ""));
  const transitions = new Array<boolean>(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      transitions[i * n + j] = prefix[j] !== "I" || (prefix[i] !== "O" && type[i] === type[j]);
    }
  }
  return { transitions, start: prefix.map((p) => p !== "I") };
}

/**
 * Decodes the tags of one window with a CRF head.
 *
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @param units Which pieces carry a tag (true); others get null and are skipped.
 * @param crf The CRF's transition, start and end scores.
 * @param boundaries Where entities may start and end, per piece; without it, at any unit.
 * @returns A tag per piece (null where `units` is false) and each unit's probability of its tag
 *   under the CRF: its marginal over the valid labellings.
 * @throws {RangeError} When the CRF's class count is not the labels'.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCrf } from "./crf_decode.ts";
 * const labels = ["O", "B-PS", "I-PS"];
 * // The second piece leans to O on its own, but the CRF has learned that B-PS is followed by
 * // I-PS far more often than by O.
 * const probs = [[0.1, 0.8, 0.1], [0.5, 0.1, 0.4]].flat();
 * const transitions = [0, 0, -5, 0, -1, 1, 0, 0, 0];
 * const crf = { transitions, start: [0, 0, 0], end: [0, 0, 0] };
 * const { tags } = decodeCrf(probs, labels, [true, true], crf);
 * assert.deepEqual(tags, ["B-PS", "I-PS"]);
 * ```
 */
export function decodeCrf(
  probs: ArrayLike<number>,
  labels: readonly string[],
  units: readonly boolean[],
  crf: CrfParams,
  boundaries?: UnitBoundaries,
): { tags: (string | null)[]; scores: Float64Array } {
  const n = labels.length;
  if (crf.start.length !== n) {
    throw new RangeError(`The CRF has ${crf.start.length} classes, the labels ${n}`);
  }
  const pieces = units.length;
  const tags: (string | null)[] = new Array(pieces).fill(null);
  const scores = new Float64Array(pieces);
  const positions: number[] = [];
  for (let k = 0; k < pieces; k++) if (units[k]) positions.push(k);
  if (positions.length === 0) return { tags, scores };
  const emissions = new Float64Array(positions.length * n);
  positions.forEach((k, t) => {
    for (let c = 0; c < n; c++) {
      emissions[t * n + c] = Math.log(Math.max(probs[k * n + c]!, 1e-45));
    }
  });
  const constraints = boundaries
    ? boundaryConstraints(labels, positions, boundaries)
    : bioConstraints(labels);
  const best = crfViterbi(emissions, crf, constraints);
  const marginals = crfMarginals(emissions, crf, constraints).units;
  positions.forEach((k, t) => {
    const c = best.tags[t]!;
    tags[k] = labels[c] ?? "O";
    scores[k] = marginals[t * n + c]!;
  });
  return { tags, scores };
}

/**
 * The BIO rule and boundary rules as CRF constraints over the units at `positions`: `B-X` only
 * where an entity may start, an open entity that may not end after a unit goes on with `I-X`,
 * and the last unit closes an entity only where one may end.
 */
function boundaryConstraints(
  labels: readonly string[],
  positions: readonly number[],
  b: UnitBoundaries,
): CrfConstraints {
  const bio = bioConstraints(labels);
  const n = labels.length;
  const m = positions.length;
  const prefix = labels.map((l) => (l.startsWith("I-") ? "I" : l.startsWith("B-") ? "B" : "O"));
  const units = new Array<boolean>(m * n);
  for (let t = 0; t < m; t++) {
    for (let c = 0; c < n; c++) units[t * n + c] = prefix[c] !== "B" || b.start[positions[t]!]!;
  }
  const last = positions[m - 1]!;
  const end = prefix.map((p) => p === "O" || b.end[last]!);
  return {
    ...bio,
    units,
    end,
    step: (t, prev, cur) =>
      prefix[prev] === "O" || b.end[positions[t - 1]!]! || prefix[cur] === "I",
  };
}
