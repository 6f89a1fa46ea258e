/**
 * From per-piece class probabilities to whole entities with character spans, as Hugging Face's
 * token-classification pipeline does with `aggregation_strategy="first"` (the word-level
 * variant of `"simple"`, and the one that fits a model trained on first pieces only): each
 * word takes the tag its first piece predicts, consecutive words are grouped into entities by
 * their B-/I- tags (conlleval rules, as in evaluation), an entity spans from its first word's
 * start to its last word's end (continuation pieces included), and its score is the mean of
 * its words' probabilities.
 *
 * Pure logic: no tensors here.
 *
 * @module
 */

import { bioChunks } from "./labels.ts";

/** One predicted entity. Offsets are JavaScript string (UTF-16) indices into the text. */
export interface PredictedEntity {
  start: number;
  end: number;
  /** Entity type, such as `PS` (the tag without its `B-`/`I-` prefix). */
  label: string;
  /** `text.slice(start, end)`. */
  text: string;
  /** Mean over the entity's units (words, or pieces with `simple`) of their tag's probability. */
  score: number;
}

/**
 * How pieces become units: `first` (default) gives each word the tag of its first piece, for
 * models trained with labels on first pieces only (preprocess-target's default); `simple`
 * tags every piece on its own, as Hugging Face's `"simple"` does, for models trained with
 * `label_all_tokens: true`: an entity may then end inside a word (`서울` of `서울에서`).
 */
export type AggregationStrategy = "first" | "simple";

/** The pieces of one window: offsets (null for [CLS], [SEP] and padding) and word starts. */
export interface PieceWindow {
  offsets: readonly ([number, number] | null)[];
  wordStart: readonly boolean[];
}

/**
 * Aggregates one window's predictions into entities.
 *
 * @param text The original text the offsets point into.
 * @param window Offsets and word-start flags of the window's pieces.
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @param strategy Word-level (`first`, default) or piece-level (`simple`) units.
 * @returns The entities, in text order.
 * @throws {RangeError} When `probs` is shorter than the window's pieces need.
 * @example
 * ```ts
 * import { aggregateEntities } from "./predict_entities.ts";
 * const text = "Leo Smithson flew";
 * const window = {
 *   offsets: [null, [0, 3], [4, 9], [9, 12], [13, 17], null] as ([number, number] | null)[],
 *   wordStart: [false, true, true, false, true, false],
 * };
 * const probs = [
 *   [1, 0, 0], [0.1, 0.9, 0], [0.2, 0, 0.8], [0.5, 0.5, 0], [1, 0, 0], [1, 0, 0],
 * ].flat();
 * const [e] = aggregateEntities(text, window, probs, ["O", "B-PS", "I-PS"]);
 * console.assert(e!.text === "Leo Smithson" && e!.label === "PS" && Math.abs(e!.score - 0.85) < 1e-9);
 * ```
 */
export function aggregateEntities(
  text: string,
  window: PieceWindow,
  probs: ArrayLike<number>,
  labels: readonly string[],
  strategy: AggregationStrategy = "first",
): PredictedEntity[] {
  const n = labels.length;
  const { offsets, wordStart } = window;
  if (probs.length < offsets.length * n) {
    throw new RangeError(
      `Probabilities hold ${probs.length} values: ${offsets.length} pieces of ${n} classes need ${
        offsets.length * n
      }`,
    );
  }
  const words: { start: number; end: number; tag: string; score: number }[] = [];
  let last: (typeof words)[number] | null = null;
  for (let k = 0; k < offsets.length; k++) {
    const off = offsets[k];
    if (!off) {
      last = null;
      continue;
    }
    if (wordStart[k] || !last || strategy === "simple") {
      let best = 0;
      for (let c = 1; c < n; c++) if (probs[k * n + c]! > probs[k * n + best]!) best = c;
      last = { start: off[0], end: off[1], tag: labels[best] ?? "O", score: probs[k * n + best]! };
      words.push(last);
    } else {
      last.end = Math.max(last.end, off[1]);
    }
  }
  return bioChunks(words.map((w) => w.tag)).map((c) => {
    const group = words.slice(c.start, c.end);
    const start = group[0]!.start;
    const end = group[group.length - 1]!.end;
    const score = group.reduce((s, w) => s + w.score, 0) / group.length;
    return { start, end, label: c.type, text: text.slice(start, end), score };
  });
}
