/**
 * From per-piece class probabilities to whole entities with character spans, with our own
 * decoder (the `exact` strategy): the units take the most probable valid BIO sequence under the
 * model's boundary rules (`decodeBio`, or `decodeCrf` for a CRF head; ner/boundaries.ts), and
 * `spansFromTags` (ner/align.ts, the decoder `validate` scores) groups units into entities. The
 * units are those the model was trained on: every piece for models trained with
 * `label_all_tokens` (an entity can end inside a word, before a learned tail), else words, each
 * taking its first piece's tag. An entity's score is the mean of its units' probabilities of
 * their decoded tags (CRF marginals with a CRF head).
 * Hugging Face's strategies are in `hf_aggregation.ts`.
 *
 * Pure logic: no tensors here.
 *
 * @module
 */

import { spansFromTags } from "../align.ts";
import { decodeBio } from "../bio_decode.ts";
import { type Boundaries, unitBoundaries } from "../boundaries.ts";
import type { CrfParams } from "../crf.ts";
import { decodeCrf } from "../crf_decode.ts";

/** One predicted entity. Offsets are JavaScript string (UTF-16) indices into the text. */
export interface PredictedEntity {
  /** Index of the entity's first character in the text. */
  start: number;
  /** Index just past the entity's last character. */
  end: number;
  /** Entity type, such as `PS` (the tag without its `B-`/`I-` prefix). */
  label: string;
  /** `text.slice(start, end)`. */
  text: string;
  /**
   * With `exact`, the mean over the entity's units of their decoded tag's probability; with
   * Hugging Face's strategies, the score transformers reports (see `hf_aggregation.ts`).
   */
  score: number;
}

/** The strategies, ours first: see {@link AggregationStrategy}. */
export const AGGREGATION_STRATEGIES = ["exact", "simple", "first", "average", "max"] as const;

/**
 * How pieces' predictions become entities. `exact` (the default) is our decoder: the most
 * probable valid BIO sequence over the units the model was trained on ({@link aggregateEntities}).
 * `simple`, `first`, `average` and `max` are Hugging Face `transformers`' strategies, with the
 * same meaning (`hfAggregate` in `hf_aggregation.ts`).
 */
export type AggregationStrategy = (typeof AGGREGATION_STRATEGIES)[number];

/**
 * The units of the `exact` decode: `piece` for models trained with `label_all_tokens: true`
 * (every piece tagged on its own: an entity may end inside a word, `서울` of `서울에서`),
 * `word` for models trained with labels on first pieces only (a word takes its first piece's
 * tag).
 */
export type DecodeUnit = "piece" | "word";

/** The pieces of one window: offsets (null for [CLS], [SEP] and padding) and word starts. */
export interface PieceWindow {
  offsets: readonly ([number, number] | null)[];
  wordStart: readonly boolean[];
}

/**
 * Aggregates one window's predictions into entities with our decoder (`exact`).
 *
 * @param text The original text the offsets point into.
 * @param window Offsets and word-start flags of the window's pieces.
 * @param probs Class probabilities, row-major: row `k` (of `labels.length` values) for piece `k`.
 * @param labels Tag of each class id (`O`, `B-PS`, `I-PS`, ...).
 * @param unit Word-level (`word`, default) or piece-level (`piece`) units.
 * @param boundaries Where entities may start and end (the model's rules, see
 *   ner/boundaries.ts); default: at any unit.
 * @param crf The CRF's scores of a model with a CRF head: the units are then decoded with
 *   `decodeCrf` (Viterbi with its transitions), and a unit's probability is its CRF marginal.
 * @returns The entities, in text order.
 * @throws {RangeError} When `probs` is shorter than the window's pieces need.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aggregateEntities } from "./entities.ts";
 * const text = "Leo Smithson flew";
 * const window = {
 *   offsets: [null, [0, 3], [4, 9], [9, 12], [13, 17], null] as ([number, number] | null)[],
 *   wordStart: [false, true, true, false, true, false],
 * };
 * const probs = [
 *   [1, 0, 0], [0.1, 0.9, 0], [0.2, 0, 0.8], [0.5, 0.5, 0], [1, 0, 0], [1, 0, 0],
 * ].flat();
 * const [e] = aggregateEntities(text, window, probs, ["O", "B-PS", "I-PS"]);
 * assert.equal(e!.text, "Leo Smithson");
 * assert.equal(e!.label, "PS");
 * assert.ok(Math.abs(e!.score - 0.85) < 1e-9);
 * ```
 */
export function aggregateEntities(
  text: string,
  window: PieceWindow,
  probs: ArrayLike<number>,
  labels: readonly string[],
  unit: DecodeUnit = "word",
  boundaries?: Boundaries,
  crf?: CrfParams,
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
  // Units: every piece with an offset, or each word's first piece.
  const units = offsets.map((off, k) => off !== null && (unit === "piece" || wordStart[k]!));
  const rules = boundaries ? unitBoundaries(text, window, units, boundaries) : undefined;
  const { tags, scores } = crf
    ? decodeCrf(probs, labels, units, crf, rules)
    : decodeBio(probs, labels, units, rules ? { boundaries: rules } : {});
  return spansFromTags(offsets, tags, unit === "word" ? wordStart : undefined, scores).map((
    e,
  ) => ({
    start: e.start,
    end: e.end,
    label: e.label,
    text: text.slice(e.start, e.end),
    score: e.score!,
  }));
}
