/**
 * Entity prediction with a trained model directory: tokenizes texts into windows, runs the
 * BERT token classifier in batches, reads the probabilities asynchronously and aggregates
 * word-pieces into whole entities, with our decoder (`exact`, see `entities.ts`) or one of
 * Hugging Face's strategies (see `hf_aggregation.ts`), then drops those scored under the
 * minimum score.
 *
 * @module
 */

import type { BackendName } from "../bert/backend.ts";
import type { BertModel } from "../bert/model.ts";
import type { NerTokenizer } from "../tokenizer/encode.ts";
import { padBatch } from "../batches.ts";
import { CheckpointError, loadModelDir } from "../bert/checkpoint.ts";
import {
  aggregateEntities,
  AGGREGATION_STRATEGIES,
  type AggregationStrategy,
  type DecodeUnit,
  type PredictedEntity,
} from "./entities.ts";
import { hfAggregate } from "./hf_aggregation.ts";
import type { Boundaries, BoundaryMode } from "../boundaries.ts";

export type { BackendName } from "../bert/backend.ts";
export type { AggregationStrategy, DecodeUnit, PredictedEntity } from "./entities.ts";
export type { Boundaries, BoundaryMode } from "../boundaries.ts";
export { AGGREGATION_STRATEGIES } from "./entities.ts";

/** The strategy of {@link PredictorOptions.aggregation} when none is given: our decoder. */
export const DEFAULT_AGGREGATION: AggregationStrategy = "exact";

/**
 * The score under which predicted entities are dropped when {@link PredictorOptions.minScore}
 * is not given: 0, every entity is kept.
 */
export const DEFAULT_MIN_SCORE = 0;

/** Options of {@link loadPredictor}. */
export interface PredictorOptions {
  /** The tfjs backend (default `auto`). */
  backend?: BackendName;
  /** Windows per forward pass (default 16). */
  batchSize?: number;
  /**
   * How pieces become entities (default {@link DEFAULT_AGGREGATION}, `exact`): `exact` is our
   * decoder, the most probable valid BIO sequence over the units the model was trained on
   * (every piece when its `config.json` says `label_all_tokens: true`, else words, each with its
   * first piece's tag); `simple`, `first`, `average` and `max` are Hugging Face
   * `transformers`' `aggregation_strategy` values, with their meaning.
   */
  aggregation?: AggregationStrategy;
  /**
   * Where entities may start and end (see ner/boundaries.ts). Default: the rules stored with
   * the model (`span_boundaries` in its `config.json`, learned by train), or `pieces` for a
   * model without them. `words+learned-tails` on a model without tails keeps entities on whole
   * words.
   */
  boundaries?: BoundaryMode;
  /**
   * Entities whose score is under this are dropped, whatever the strategy (default
   * {@link DEFAULT_MIN_SCORE}); a number from 0 to 1.
   */
  minScore?: number;
}

/**
 * How one call of {@link Predictor.predict} turns pieces into entities, over the predictor's
 * own choice (what {@link loadPredictor} was given): a server answers each request with its own.
 */
export interface DecodeOptions {
  /** See {@link PredictorOptions.aggregation}. */
  aggregation?: AggregationStrategy;
  /** See {@link PredictorOptions.minScore}. */
  minScore?: number;
}

/** A loaded model with its tokenizer and labels. */
export interface Predictor {
  /** Tag of each class id. */
  readonly labels: readonly string[];
  /** The active tfjs backend and why it was chosen. */
  readonly backend: { backend: string; reason: string };
  /** Longest window in pieces, [CLS] and [SEP] included. */
  readonly maxLength: number;
  /** How pieces become entities (see {@link PredictorOptions.aggregation}). */
  readonly aggregation: AggregationStrategy;
  /** Where entities may start and end (see {@link PredictorOptions.boundaries}). */
  readonly boundaries: Boundaries;
  /** The units of the `exact` decode, from the model's `label_all_tokens`. */
  readonly units: DecodeUnit;
  /** Entities scored under this are dropped (see {@link PredictorOptions.minScore}). */
  readonly minScore: number;
  /**
   * Predicts the entities of each text; texts longer than one window are split into
   * windows that never cut a word, and each window's entities are found on its own.
   *
   * @param texts The texts.
   * @param decode The aggregation and minimum score of this call over the predictor's: one
   *   for every text, or one per text (the texts of several requests share a forward pass).
   * @throws {RangeError} When a strategy is unknown or a minimum score is not from 0 to 1, or
   *   `decode` is an array of another length than `texts`.
   */
  predict(
    texts: readonly string[],
    decode?: DecodeOptions | readonly DecodeOptions[],
  ): Promise<PredictedEntity[][]>;
  /** Frees the model's tensors. */
  dispose(): void;
}

/** The strategy and minimum score, checked: a RangeError names what is wrong. */
function checkDecode(d: Required<DecodeOptions>): Required<DecodeOptions> {
  if (!(AGGREGATION_STRATEGIES as readonly string[]).includes(d.aggregation)) {
    throw new RangeError(
      `Unknown aggregation "${d.aggregation}": expected one of ${
        AGGREGATION_STRATEGIES.map((s) => `"${s}"`).join(", ")
      }`,
    );
  }
  if (!(d.minScore >= 0 && d.minScore <= 1)) {
    throw new RangeError(`Invalid minimum score ${d.minScore}: expected a number from 0 to 1`);
  }
  return d;
}

/**
 * Loads a model directory written by the train stage (or any Hugging Face BERT token
 * classifier directory with `model.safetensors` and tokenizer files).
 *
 * @param dir The model directory.
 * @param opts Backend, batch size, aggregation strategy and minimum score.
 * @returns The predictor; dispose it when done.
 * @throws {RangeError} When the aggregation strategy is unknown or the minimum score is not a
 *   number from 0 to 1.
 * @throws {CheckpointError} When the directory has no usable model or labels.
 * @throws {TokenizerFileError} When it has no usable tokenizer.
 * @throws {BackendUnavailableError} When the requested backend cannot start.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadPredictor } from "./mod.ts";
 * const p = await loadPredictor("tests/testdata/hf_tiny", { backend: "cpu" });
 * const [entities] = await p.predict(["Leo Smith flew to Lagos."]);
 * assert.ok(Array.isArray(entities));
 * p.dispose();
 * ```
 */
export async function loadPredictor(dir: string, opts: PredictorOptions = {}): Promise<Predictor> {
  const { aggregation: strategy, minScore } = checkDecode({
    aggregation: opts.aggregation ?? DEFAULT_AGGREGATION,
    minScore: opts.minScore ?? DEFAULT_MIN_SCORE,
  });
  const { setupBackend } = await import("../bert/backend.ts");
  const { BertModel } = await import("../bert/model.ts");
  const { encodeDocument, loadTokenizer } = await import("../tokenizer/mod.ts");
  const backend = await setupBackend(opts.backend ?? "auto");
  // Checked against the weights' shapes before any of them is read (see loadModelDir).
  const ckpt = await loadModelDir(dir, { complete: true });
  const labels = ckpt.labels;
  const tok: NerTokenizer = await loadTokenizer(dir, { transformers: false });
  if (tok.vocab.length > ckpt.config.vocab_size) {
    throw new CheckpointError(
      `The tokenizer of "${dir}" has ${tok.vocab.length} pieces, but "${dir}/config.json" ` +
        `gives ${ckpt.config.vocab_size} embeddings (vocab_size): the tokenizer files must ` +
        `be those the model was trained with`,
    );
  }
  const maxLength = Math.min(ckpt.config.max_position_embeddings, tok.modelMaxLength, 512);
  const model: BertModel = BertModel.fromWeights(ckpt.config, labels.length, ckpt.weights);
  const batchSize = opts.batchSize ?? 16;
  const units: DecodeUnit = ckpt.labelAllTokens ? "piece" : "word";
  const unkToken = tok.vocab[tok.unkId] ?? "[UNK]";
  const boundaries: Boundaries = opts.boundaries
    ? { mode: opts.boundaries, tails: ckpt.boundaries?.tails ?? new Set() }
    : ckpt.boundaries ?? { mode: "pieces", tails: new Set() };

  const predict = async (
    texts: readonly string[],
    decode: DecodeOptions | readonly DecodeOptions[] = {},
  ): Promise<PredictedEntity[][]> => {
    if (Array.isArray(decode) && decode.length !== texts.length) {
      throw new RangeError(`${decode.length} decode options for ${texts.length} texts`);
    }
    const own = (d: DecodeOptions) =>
      checkDecode({ aggregation: d.aggregation ?? strategy, minScore: d.minScore ?? minScore });
    const shared = Array.isArray(decode) ? undefined : own(decode as DecodeOptions);
    const choices = texts.map((_, i) => shared ?? own((decode as readonly DecodeOptions[])[i]!));
    const windows = texts.flatMap((text, doc) =>
      encodeDocument(tok, text, { maxLength, stride: "window" }).windows.map((w) => ({ doc, w }))
    );
    const out: PredictedEntity[][] = texts.map(() => []);
    for (let b = 0; b < windows.length; b += batchSize) {
      const rows = windows.slice(b, b + batchSize);
      const seqLen = Math.max(...rows.map((r) => r.w.ids.length));
      const { ids, mask } = padBatch(rows.map((r) => r.w), seqLen, tok.padId);
      const probs = await model.predictProbabilities({
        ids,
        mask,
        batchSize: rows.length,
        seqLen,
      });
      const width = seqLen * labels.length;
      rows.forEach((r, i) => {
        const text = texts[r.doc]!;
        const { aggregation, minScore } = choices[r.doc]!;
        const rowProbs = probs.subarray(i * width, (i + 1) * width);
        const entities = aggregation === "exact"
          ? aggregateEntities(text, r.w, rowProbs, labels, units, boundaries, ckpt.crf)
          : hfAggregate(text, r.w, rowProbs, labels, aggregation, { unkToken });
        for (const e of entities) if (e.score >= minScore) out[r.doc]!.push(e);
      });
    }
    return out;
  };

  return {
    labels,
    backend,
    maxLength,
    aggregation: strategy,
    boundaries,
    units,
    minScore,
    predict,
    dispose: () => model.dispose(),
  };
}
