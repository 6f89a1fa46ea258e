/**
 * The most probable valid BIO sequence for one window (Viterbi over the pieces' class
 * probabilities). Taking each piece's most probable tag on its own can give `I-X` after `O` or
 * after another type; chunking then splits or retypes entities (`이순` PS + `신` OG for one name).
 * Here `I-X` may only follow `B-X` or `I-X`, and the sequence maximises the sum of the units' log
 * probabilities under that rule. `O`, `B-X` may follow anything.
 *
 * With {@link UnitBoundaries}, the decode also keeps entities on allowed boundaries (see
 * ner/boundaries.ts): `B-X` only where an entity may start, and after a unit where an entity may
 * not end, a `B-X` or `I-X` must be followed by `I-X` of the same type. The most probable
 * sequence under all of these rules is chosen, not a sequence filtered afterwards.
 *
 * Pure logic: no tensors.
 *
 * @module
 */

/** Where entities may start and end, per piece of the window (see ner/boundaries.ts). */
export interface UnitBoundaries {
  /** `start[k]`: an entity may start at piece `k`. */
  readonly start: readonly boolean[];
  /** `end[k]`: an entity may end with piece `k` (the next unit is then not inside it). */
  readonly end: readonly boolean[];
}

/** Options of {@link decodeBio}. */
export interface DecodeOptions {
  /** Where entities may start and end; without it, at any unit. */
  boundaries?: UnitBoundaries;
}

/**
 * Decodes the tags of one window.
 *
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @param units Which pieces carry a tag (true); others get null and are skipped (special tokens,
 *   padding, continuation pieces of a first-piece model).
 * @param options Boundary constraints.
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
 * // The same pieces when the last may not start an entity and the first two may not end one:
 * // the person must take all three.
 * const boundaries = { start: [true, false, false], end: [false, false, true] };
 * assert.deepEqual(
 *   decodeBio(probs, labels, [true, true, true], { boundaries }).tags,
 *   ["B-PS", "I-PS", "I-PS"],
 * );
 * ```
 */
export function decodeBio(
  probs: ArrayLike<number>,
  labels: readonly string[],
  units: readonly boolean[],
  options: DecodeOptions = {},
): { tags: (string | null)[]; scores: Float64Array } {
  const n = labels.length;
  const pieces = units.length;
  const tags: (string | null)[] = new Array(pieces).fill(null);
  const scores = new Float64Array(pieces);
  // For each class: its prefix (B, I or O) and type.
  const prefix = labels.map((l) => (l.startsWith("I-") ? "I" : l.startsWith("B-") ? "B" : "O"));
  const type = labels.map((l) => (l.length > 2 && l[1] === "-" ? l.slice(2) : ""));
  const inside = prefix.map((p) => p !== "O");
  const follows = (prev: number, cur: number) =>
    prefix[cur] !== "I" || (prev >= 0 && inside[prev]! && type[prev] === type[cur]);
  const b = options.boundaries;
  const positions: number[] = [];
  for (let k = 0; k < pieces; k++) if (units[k]) positions.push(k);
  if (positions.length === 0) return { tags, scores };
  const m = positions.length;
  /** Whether class `cur` may stand at unit `t` after class `prev` (-1 before the first unit). */
  const allowed = (t: number, prev: number, cur: number): boolean => {
    if (!follows(prev, cur)) return false;
    if (!b) return true;
    const k = positions[t]!;
    if (prefix[cur] === "B" && !b.start[k]) return false;
    // An open entity that may not end after the previous unit goes on.
    if (prev >= 0 && inside[prev]! && !b.end[positions[t - 1]!] && prefix[cur] !== "I") {
      return false;
    }
    return true;
  };
  const score = new Float64Array(m * n);
  const back = new Int32Array(m * n);
  const logp = (k: number, c: number) => Math.log(Math.max(probs[k * n + c]!, 1e-30));
  for (let c = 0; c < n; c++) {
    score[c] = allowed(0, -1, c) ? logp(positions[0]!, c) : -Infinity;
  }
  for (let t = 1; t < m; t++) {
    const k = positions[t]!;
    for (let c = 0; c < n; c++) {
      let best = -Infinity;
      let arg = 0;
      for (let p = 0; p < n; p++) {
        const s = score[(t - 1) * n + p]!;
        if (s > best && allowed(t, p, c)) {
          best = s;
          arg = p;
        }
      }
      score[t * n + c] = best + logp(k, c);
      back[t * n + c] = arg;
    }
  }
  // The last unit closes any open entity: it must be allowed to end there.
  const last = positions[m - 1]!;
  const closes = (c: number) => !b || !inside[c]! || b.end[last]!;
  let c = -1;
  for (let d = 0; d < n; d++) {
    if (!closes(d) || score[(m - 1) * n + d] === -Infinity) continue;
    if (c < 0 || score[(m - 1) * n + d]! > score[(m - 1) * n + c]!) c = d;
  }
  // `O` everywhere is always allowed, so some class closes the window.
  if (c < 0) c = prefix.indexOf("O");
  for (let t = m - 1; t >= 0; t--) {
    const k = positions[t]!;
    tags[k] = labels[c] ?? "O";
    scores[k] = probs[k * n + c]!;
    c = back[t * n + c]!;
  }
  return { tags, scores };
}
