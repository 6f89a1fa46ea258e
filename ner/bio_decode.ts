/**
 * The most probable valid BIO sequence for one window (Viterbi over the pieces' class
 * probabilities). Taking each piece's most probable tag on its own can give `I-X` after `O` or
 * after another type; chunking then splits or retypes entities (`이순` PS + `신` OG for one name).
 * Here `I-X` may only follow `B-X` or `I-X`, and the sequence maximises the sum of the units' log
 * probabilities under that rule. `O`, `B-X` may follow anything.
 *
 * Pure logic: no tensors.
 *
 * @module
 */

/**
 * Decodes the tags of one window.
 *
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @param units Which pieces carry a tag (true); others get null and are skipped (special tokens,
 *   padding, continuation pieces of a first-piece model).
 * @returns A tag per piece (null where `units` is false) and each unit's probability of its tag.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBio } from "./bio_decode.ts";
 * const labels = ["O", "B-PS", "I-PS", "B-OG", "I-OG"];
 * // Argmax alone would give B-PS I-PS I-OG: a person, then an organisation of one piece.
 * const probs = [
 *   [0.1, 0.8, 0.05, 0.05, 0], [0.1, 0, 0.6, 0.1, 0.2], [0.1, 0, 0.35, 0.15, 0.4],
 * ].flat();
 * assert.deepEqual(decodeBio(probs, labels, [true, true, true]).tags, ["B-PS", "I-PS", "I-PS"]);
 * ```
 */
export function decodeBio(
  probs: ArrayLike<number>,
  labels: readonly string[],
  units: readonly boolean[],
): { tags: (string | null)[]; scores: Float64Array } {
  const n = labels.length;
  const pieces = units.length;
  const tags: (string | null)[] = new Array(pieces).fill(null);
  const scores = new Float64Array(pieces);
  // For each class: the type it continues (I-X), or -1 for O and B-X.
  const prefix = labels.map((l) => (l.startsWith("I-") ? "I" : l.startsWith("B-") ? "B" : "O"));
  const type = labels.map((l) => (l.length > 2 && l[1] === "-" ? l.slice(2) : ""));
  const allowed = (prev: number, cur: number) =>
    prefix[cur] !== "I" || (prev >= 0 && prefix[prev] !== "O" && type[prev] === type[cur]);
  const positions: number[] = [];
  for (let k = 0; k < pieces; k++) if (units[k]) positions.push(k);
  if (positions.length === 0) return { tags, scores };
  const m = positions.length;
  const score = new Float64Array(m * n);
  const back = new Int32Array(m * n);
  const logp = (k: number, c: number) => Math.log(Math.max(probs[k * n + c]!, 1e-30));
  for (let c = 0; c < n; c++) {
    score[c] = allowed(-1, c) ? logp(positions[0]!, c) : -Infinity;
  }
  for (let t = 1; t < m; t++) {
    const k = positions[t]!;
    for (let c = 0; c < n; c++) {
      let best = -Infinity;
      let arg = 0;
      for (let p = 0; p < n; p++) {
        const s = score[(t - 1) * n + p]!;
        if (s > best && allowed(p, c)) {
          best = s;
          arg = p;
        }
      }
      score[t * n + c] = best + logp(k, c);
      back[t * n + c] = arg;
    }
  }
  let c = 0;
  for (let d = 1; d < n; d++) if (score[(m - 1) * n + d]! > score[(m - 1) * n + c]!) c = d;
  for (let t = m - 1; t >= 0; t--) {
    const k = positions[t]!;
    tags[k] = labels[c] ?? "O";
    scores[k] = probs[k * n + c]!;
    c = back[t * n + c]!;
  }
  return { tags, scores };
}
