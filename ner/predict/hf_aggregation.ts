/**
 * Hugging Face's aggregation strategies: what `transformers`' `TokenClassificationPipeline`
 * (`pipeline("ner", aggregation_strategy=...)`) returns for `"simple"`, `"first"`,
 * `"average"` and `"max"`, written from its definitions, on one window's class probabilities.
 *
 * 1. **Pieces.** Every piece but the special tokens (those without offsets here) is kept with
 *    its probabilities. A piece is a _subword_ when its token and the text it covers differ in
 *    length (`##son` covers `son`): the rule transformers applies to tokenizers with a
 *    continuing-subword prefix, such as BERT's WordPiece. `[UNK]` is never a subword.
 * 2. **Tags.** `simple`: each piece takes its most probable class, scored by that probability.
 *    `first`, `average`, `max`: a piece that is not a subword starts a word, the subwords
 *    after it join it, and the word takes one class: the first piece's most probable class
 *    (`first`); the most probable class of the mean of its pieces' probability vectors, scored
 *    by that mean (`average`); the most probable class of the piece whose top probability is
 *    highest (`max`). Ties go to the first class, and to the first piece.
 * 3. **Grouping.** Consecutive tagged units join while the type stays the same and the new tag
 *    is not `B-`: an `I-PER` after `O` (or after another type) starts an entity, and `B-PER
 *    B-PER` is two. A tag without a `B-`/`I-` prefix counts as `I-` of itself. A group's label
 *    is its first tag after the first `-`, its score the mean of its units' scores, and groups
 *    labelled `O` are dropped.
 *
 * An entity spans from its first piece's start to its last piece's end, and its `text` is that
 * slice of the original text; transformers' `word` is rebuilt from the tokens instead (`Qi -
 * Xu` for `Qi-Xu`, `##e in Na` for a group that starts inside a word, the original text for
 * `[UNK]`). Probabilities are those of the model's softmax: finite numbers, so transformers'
 * NaN-ignoring means are plain means here.
 *
 * Pure logic: no tensors here.
 *
 * @module
 */

import type { AggregationStrategy, PredictedEntity } from "./entities.ts";

/** The strategies of Hugging Face `transformers` (every one but our `exact`). */
export type HfAggregationStrategy = Exclude<AggregationStrategy, "exact">;

/** The pieces of one window: offsets (null for [CLS], [SEP] and padding) and tokens. */
export interface HfPieceWindow {
  /** Character span of each piece in the text, null for special tokens and padding. */
  offsets: readonly ([number, number] | null)[];
  /** Each piece's vocabulary entry (`Smith`, `##son`, `[UNK]`). */
  tokens: readonly string[];
}

/** Options of {@link hfAggregate}. */
export interface HfAggregateOptions {
  /** The unknown token of the vocabulary (default `[UNK]`). */
  unkToken?: string;
}

/** A piece, or a word of pieces, with its class and score: what the grouping step reads. */
interface Tagged {
  tag: string;
  score: number;
  start: number;
  end: number;
}

/** Length in code points, as Python's `len` counts. */
function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Index of the largest value of `row[0..n)`, the first one on ties (NumPy's `argmax`). */
function argmax(row: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (row[c]! > row[best]!) best = c;
  return best;
}

/** `B` or `I`, and the type: transformers' `get_tag` (no prefix counts as `I-` of itself). */
function bioOf(tag: string): [string, string] {
  if (tag.startsWith("B-")) return ["B", tag.slice(2)];
  if (tag.startsWith("I-")) return ["I", tag.slice(2)];
  return ["I", tag];
}

/**
 * Aggregates one window's predictions into entities with a Hugging Face strategy.
 *
 * @param text The original text the offsets point into.
 * @param window Offsets and tokens of the window's pieces.
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PER`, `I-PER`, ...).
 * @param strategy `simple`, `first`, `average` or `max`.
 * @param options The unknown token.
 * @returns The entities, in text order.
 * @throws {RangeError} When `probs` is shorter than the window's pieces need, or the strategy
 *   is not one of the four.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfAggregate } from "./hf_aggregation.ts";
 * const labels = ["O", "B-PER", "I-PER"];
 * // "the" is most likely I-PER after an O: with "simple" it starts an entity.
 * const window = {
 *   offsets: [null, [0, 2], [3, 6], null] as ([number, number] | null)[],
 *   tokens: ["[CLS]", "in", "the", "[SEP]"],
 * };
 * const probs = [[1, 0, 0], [0.7, 0.1, 0.2], [0.3, 0.1, 0.6], [1, 0, 0]].flat();
 * const [e] = hfAggregate("in the", window, probs, labels, "simple");
 * assert.deepEqual([e!.label, e!.text, e!.start, e!.end], ["PER", "the", 3, 6]);
 * assert.ok(Math.abs(e!.score - 0.6) < 1e-12);
 *
 * // A word of two pieces that disagree: each strategy decides differently.
 * const word = {
 *   offsets: [[0, 2], [2, 5]] as [number, number][],
 *   tokens: ["La", "##gos"],
 * };
 * const two = [[0.6, 0.4, 0], [0, 0.1, 0.9]].flat();
 * const labelOf = (s: "first" | "average" | "max") =>
 *   hfAggregate("Lagos", word, two, labels, s).map((x) => `${x.label} ${x.text}`);
 * assert.deepEqual(labelOf("first"), []); // "La" is O
 * assert.deepEqual(labelOf("average"), ["PER Lagos"]); // mean [0.3, 0.25, 0.45]
 * assert.deepEqual(labelOf("max"), ["PER Lagos"]); // "##gos" is surer (0.9)
 * ```
 */
export function hfAggregate(
  text: string,
  window: HfPieceWindow,
  probs: ArrayLike<number>,
  labels: readonly string[],
  strategy: HfAggregationStrategy,
  options: HfAggregateOptions = {},
): PredictedEntity[] {
  const n = labels.length;
  const { offsets, tokens } = window;
  if (probs.length < offsets.length * n) {
    throw new RangeError(
      `Probabilities hold ${probs.length} values: ${offsets.length} pieces of ${n} classes need ${
        offsets.length * n
      }`,
    );
  }
  if (!["simple", "first", "average", "max"].includes(strategy)) {
    throw new RangeError(
      `Unknown Hugging Face aggregation "${strategy}": expected "simple", "first", "average" or "max"`,
    );
  }
  const unk = options.unkToken ?? "[UNK]";
  const row = (k: number): number[] => {
    const r = new Array<number>(n);
    for (let c = 0; c < n; c++) r[c] = probs[k * n + c]!;
    return r;
  };

  // 1. Pieces: the non-special ones, and whether each is a subword.
  const pieces: { k: number; start: number; end: number; subword: boolean }[] = [];
  offsets.forEach((off, k) => {
    if (off === null) return;
    const token = tokens[k] ?? unk;
    const subword = token !== unk && codePoints(token) !== codePoints(text.slice(off[0], off[1]));
    pieces.push({ k, start: off[0], end: off[1], subword });
  });

  // 2. Tags: per piece (simple), or per word.
  const tagged: Tagged[] = [];
  if (strategy === "simple") {
    for (const p of pieces) {
      const r = row(p.k);
      const c = argmax(r, n);
      tagged.push({ tag: labels[c]!, score: r[c]!, start: p.start, end: p.end });
    }
  } else {
    const words: (typeof pieces)[] = [];
    for (const p of pieces) {
      if (words.length > 0 && p.subword) words[words.length - 1]!.push(p);
      else words.push([p]);
    }
    for (const word of words) {
      let scores: ArrayLike<number>;
      if (strategy === "first") {
        scores = row(word[0]!.k);
      } else if (strategy === "max") {
        let best = row(word[0]!.k);
        let top = best[argmax(best, n)]!;
        for (const p of word.slice(1)) {
          const r = row(p.k);
          const t = r[argmax(r, n)]!;
          if (t > top) [best, top] = [r, t];
        }
        scores = best;
      } else {
        const mean = new Float64Array(n);
        for (const p of word) {
          const r = row(p.k);
          for (let c = 0; c < n; c++) mean[c]! += r[c]!;
        }
        for (let c = 0; c < n; c++) mean[c]! /= word.length;
        scores = mean;
      }
      const c = argmax(scores, n);
      tagged.push({
        tag: labels[c]!,
        score: scores[c]!,
        start: word[0]!.start,
        end: word[word.length - 1]!.end,
      });
    }
  }

  // 3. Grouping, then the O groups dropped.
  const entities: PredictedEntity[] = [];
  const close = (group: Tagged[]) => {
    const first = group[0]!.tag;
    const dash = first.indexOf("-");
    const label = dash < 0 ? first : first.slice(dash + 1);
    if (label === "O") return;
    const start = group[0]!.start;
    const end = group[group.length - 1]!.end;
    const score = group.reduce((s, u) => s + u.score, 0) / group.length;
    entities.push({ start, end, label, text: text.slice(start, end), score });
  };
  let group: Tagged[] = [];
  for (const unit of tagged) {
    if (group.length > 0) {
      const [bi, type] = bioOf(unit.tag);
      const [, lastType] = bioOf(group[group.length - 1]!.tag);
      if (type === lastType && bi !== "B") {
        group.push(unit);
        continue;
      }
      close(group);
    }
    group = [unit];
  }
  if (group.length > 0) close(group);
  return entities;
}
