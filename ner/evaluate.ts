/**
 * Scoring predictions of the validation split: the one place where class probabilities become
 * tags, character spans and metrics. `validate` writes these metrics, and `train` scores every
 * epoch with the same function, so the epoch `train` keeps is the best by the very figure
 * `validate` reports for it.
 *
 * Each labelled unit (the pieces whose label is not ignored: every piece with
 * `label_all_tokens`, the first piece of each word otherwise) gets the most probable valid BIO
 * tag under the model's boundary rules (ner/bio_decode.ts, ner/boundaries.ts; with a CRF head,
 * Viterbi with its transitions, ner/crf_decode.ts); tags are scored
 * on pieces (conlleval/seqeval chunks) and decoded into character spans of the original text
 * (ner/align.ts), scored by exact span and by KLUE's character macro F1 (ner/metrics.ts).
 *
 * Pure logic: no tensors.
 *
 * @module
 */

import { spansFromTags } from "./align.ts";
import { decodeBio } from "./bio_decode.ts";
import { type Boundaries, type BoundaryFit, boundaryFit, unitBoundaries } from "./boundaries.ts";
import { crfNll, type CrfParams } from "./crf.ts";
import { decodeCrf } from "./crf_decode.ts";
import { IGNORE_INDEX } from "./labels.ts";
import {
  type CharacterMetrics,
  characterMetrics,
  type EntityMetrics,
  entityMetrics,
  tokenAccuracy,
} from "./metrics.ts";
import type { EncodedWindow, EntitySpan, LabelledBatch } from "./types.ts";

/** Corpus formats scored at the character level first (Korean: KLUE's convention). */
const CHARACTER_FORMATS: ReadonlySet<string> = new Set(["kmou", "klue"]);

/** The figure to read first: exact character spans for Korean formats, word-pieces otherwise. */
export type Headline = "span_f1" | "f1";

/**
 * The headline metric of a corpus format: `span_f1` for the Korean formats (kmou, klue), whose
 * entities are scored by exact character span as KLUE does; `f1` otherwise.
 *
 * @param format The dataset's format (`kmou`, `klue`, `conll`, `jsonl`).
 * @returns The metric's key.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headlineMetric } from "./evaluate.ts";
 * assert.equal(headlineMetric("klue"), "span_f1");
 * assert.equal(headlineMetric("conll"), "f1");
 * ```
 */
export function headlineMetric(format: string): Headline {
  return CHARACTER_FORMATS.has(format) ? "span_f1" : "f1";
}

/** A validation batch: its labels, and which window each row holds. */
export type ScoredBatch = Pick<LabelledBatch, "labels" | "batchSize" | "seqLen"> & {
  readonly rows: readonly number[];
};

/** What spans are scored against: the validation windows and documents. */
export interface SpanInputs {
  /** Validation windows, indexed by the batches' `rows`. */
  windows: readonly Pick<EncodedWindow, "doc" | "ids" | "offsets" | "wordStart">[];
  /** Validation documents, indexed by the windows' `doc`. */
  docs: readonly { text: string; entities: readonly EntitySpan[] }[];
}

/** Everything one decode of the validation split gives. */
export interface DecodedValidation {
  /** Gold tags of the labelled units, one array per window row. */
  gold: string[][];
  /** Decoded tags of the same units. */
  pred: string[][];
  /** The text of each unit (a piece and the unlabelled pieces after it); empty without spans. */
  tokens: string[][];
  /** Predicted character spans per document; empty without spans. */
  spans: EntitySpan[][];
  /** Whether continuation pieces carry labels (`label_all_tokens`). */
  continuationsLabelled: boolean;
  /**
   * The loss training minimises, summed, and the number of labelled units: the cross-entropy of
   * the gold classes, or with a CRF head each row's CRF negative log-likelihood.
   */
  loss: { sum: number; count: number };
}

/**
 * Decodes validation batches one at a time (so that a caller can look at an abort signal or
 * report progress between them): tags of the labelled units and, with the windows and
 * documents, character spans.
 */
export class ValidationDecoder {
  readonly #labels: readonly string[];
  readonly #boundaries: Boundaries;
  readonly #spans: SpanInputs | undefined;
  readonly #crf: CrfParams | undefined;
  readonly #out: DecodedValidation;

  /**
   * @param labels Tag of each class id.
   * @param boundaries Where entities may start and end.
   * @param spans The windows and documents, to decode character spans (optional).
   * @param crf The CRF's scores, for a model with a CRF head.
   */
  constructor(
    labels: readonly string[],
    boundaries: Boundaries,
    spans?: SpanInputs,
    crf?: CrfParams,
  ) {
    this.#labels = labels;
    this.#boundaries = boundaries;
    this.#spans = spans;
    this.#crf = crf;
    this.#out = {
      gold: [],
      pred: [],
      tokens: [],
      spans: spans ? spans.docs.map(() => []) : [],
      continuationsLabelled: false,
      loss: { sum: 0, count: 0 },
    };
  }

  /**
   * Decodes one batch.
   *
   * @param batch The batch.
   * @param probs Its class probabilities `[batchSize * seqLen * labels]`.
   */
  add(batch: ScoredBatch, probs: Float32Array): void {
    if (this.#crf) {
      const loss = crfProbabilityLoss(batch, probs, this.#crf);
      this.#out.loss.sum += loss.sum;
      this.#out.loss.count += loss.count;
    }
    const labels = this.#labels;
    const spans = this.#spans;
    const out = this.#out;
    const n = labels.length;
    const T = batch.seqLen;
    for (let r = 0; r < batch.batchSize; r++) {
      const w = spans?.windows[batch.rows[r]!];
      const len = w ? Math.min(w.ids.length, T) : T;
      const units: boolean[] = [];
      for (let k = 0; k < len; k++) units.push(batch.labels[r * T + k] !== IGNORE_INDEX);
      const row = probs.subarray(r * T * n, (r * T + len) * n);
      const text = w ? spans!.docs[w.doc]!.text : "";
      const rules = w ? unitBoundaries(text, w, units, this.#boundaries) : undefined;
      const { tags } = this.#crf
        ? decodeCrf(row, labels, units, this.#crf, rules)
        : decodeBio(row, labels, units, rules ? { boundaries: rules } : {});
      const g: string[] = [];
      const q: string[] = [];
      const t: string[] = [];
      for (let k = 0; k < len; k++) {
        if (!units[k]) continue;
        const y = batch.labels[r * T + k]!;
        g.push(labels[y]!);
        q.push(tags[k] ?? "O");
        if (!this.#crf) {
          out.loss.sum -= Math.log(Math.max(row[k * n + y]!, 1e-30));
          out.loss.count++;
        }
        if (!w) continue;
        if (!w.wordStart[k]) out.continuationsLabelled = true;
        // The unit's text: the piece with the unlabelled pieces that follow it.
        let end = k + 1;
        while (end < len && w.offsets[end] && !units[end]) end++;
        t.push(text.slice(w.offsets[k]![0], w.offsets[end - 1]![1]));
      }
      out.gold.push(g);
      out.pred.push(q);
      if (w) {
        out.tokens.push(t);
        out.spans[w.doc]!.push(...spansFromTags(w.offsets, tags, units));
      }
    }
  }

  /** What the batches added so far give. */
  get result(): DecodedValidation {
    return this.#out;
  }
}

/**
 * Decodes the validation batches' probabilities (see {@link ValidationDecoder}).
 *
 * @param batches The validation batches.
 * @param probs Per batch, class probabilities `[batchSize * seqLen * labels]`.
 * @param labels Tag of each class id.
 * @param boundaries Where entities may start and end.
 * @param spans The windows and documents, to decode character spans (optional).
 * @param crf The CRF's scores, for a model with a CRF head.
 * @returns The tags, spans and loss.
 */
export function decodeValidation(
  batches: readonly ScoredBatch[],
  probs: readonly Float32Array[],
  labels: readonly string[],
  boundaries: Boundaries,
  spans?: SpanInputs,
  crf?: CrfParams,
): DecodedValidation {
  const decoder = new ValidationDecoder(labels, boundaries, spans, crf);
  batches.forEach((batch, b) => decoder.add(batch, probs[b]!));
  return decoder.result;
}

/**
 * The CRF head's validation loss from class probabilities: each row's CRF negative
 * log-likelihood over its labelled positions, summed on the host. The log-probabilities stand
 * for the logits: they differ by one constant per position, which the NLL does not see.
 *
 * @param batch The batch (its labels).
 * @param probs Softmax per position, `[batchSize * seqLen * numLabels]`.
 * @param crf The CRF's scores.
 * @returns The summed loss and the number of labelled positions (the loss is a mean over them,
 *   as in training).
 */
export function crfProbabilityLoss(
  batch: Pick<ScoredBatch, "labels" | "batchSize" | "seqLen">,
  probs: Float32Array,
  crf: CrfParams,
): { sum: number; count: number } {
  const n = crf.start.length;
  let sum = 0;
  let count = 0;
  for (let r = 0; r < batch.batchSize; r++) {
    const emissions: number[] = [];
    const tags: number[] = [];
    for (let t = 0; t < batch.seqLen; t++) {
      const i = r * batch.seqLen + t;
      if (batch.labels[i] === IGNORE_INDEX) continue;
      tags.push(batch.labels[i]!);
      for (let c = 0; c < n; c++) emissions.push(Math.log(Math.max(probs[i * n + c]!, 1e-45)));
    }
    sum += crfNll(emissions, tags, crf);
    count += tags.length;
  }
  return { sum, count };
}

/**
 * How many gold entities of the validation split the boundary rules cannot give, whatever the
 * model says ({@link boundaryFit}), with each window's units read from the batches' labels as
 * {@link ValidationDecoder} reads them.
 *
 * @param batches The validation batches.
 * @param spans The windows and documents.
 * @param boundaries The rules.
 * @returns The gold entities counted, and those the rules cannot give.
 */
export function validationFit(
  batches: readonly ScoredBatch[],
  spans: SpanInputs,
  boundaries: Boundaries,
): BoundaryFit {
  const byDoc = spans.docs.map((d) => ({
    text: d.text,
    entities: d.entities,
    windows: [] as (SpanInputs["windows"][number] & { units: boolean[] })[],
  }));
  for (const batch of batches) {
    const T = batch.seqLen;
    batch.rows.forEach((row, r) => {
      const w = spans.windows[row]!;
      const units = w.ids.map((_, k) => k < T && batch.labels[r * T + k] !== IGNORE_INDEX);
      byDoc[w.doc]!.windows.push({ ...w, units });
    });
  }
  return boundaryFit(byDoc, boundaries);
}

/** The metrics of a decoded validation split (see {@link validationMetrics}). */
export interface ValidationMetrics {
  /** The key of the figure to read first. */
  headline: Headline;
  /** Word-piece entity scores (conlleval/seqeval chunks of the labelled units). */
  pieces: EntityMetrics;
  /** Token accuracy of the labelled units. */
  accuracy: number;
  /** Mean cross-entropy of the gold classes over the labelled units. */
  loss: number;
  /** Exact character-span and character-level scores (with spans only). */
  characters?: CharacterMetrics;
}

/**
 * Scores a decoded validation split.
 *
 * @param decoded The decode.
 * @param format The dataset's format, which decides the headline.
 * @param labels Tag of each class id (the entity types are read from them).
 * @param spans The documents, when spans were decoded.
 * @returns Piece-level and (with spans) character-level metrics.
 */
export function validationMetrics(
  decoded: DecodedValidation,
  format: string,
  labels: readonly string[],
  spans?: SpanInputs,
): ValidationMetrics {
  const types = [...new Set(labels.filter((l) => l !== "O").map((l) => l.slice(2)))].sort();
  const metrics: ValidationMetrics = {
    headline: spans ? headlineMetric(format) : "f1",
    pieces: entityMetrics(decoded.gold, decoded.pred),
    accuracy: tokenAccuracy(decoded.gold, decoded.pred),
    loss: decoded.loss.count ? decoded.loss.sum / decoded.loss.count : 0,
  };
  if (spans) {
    metrics.characters = characterMetrics(
      spans.docs.map((d) => d.text),
      spans.docs.map((d) => d.entities),
      decoded.spans,
      types,
    );
  }
  return metrics;
}
