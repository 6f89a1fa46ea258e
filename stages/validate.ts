/**
 * Stage `validate`: predicts the validation set and scores it twice (ner/evaluate.ts, which
 * `train` also scores each epoch with). On word-pieces: entity-level micro precision/recall/F1
 * overall and per type (conlleval/seqeval chunk semantics over the labelled pieces) and token
 * accuracy; predictions are written in CoNLL form (`token gold pred`), from which conlleval
 * gives the same figures. The pieces' tags are the most probable valid BIO sequence under the
 * model's boundary rules (`decodeBio`, ner/boundaries.ts); on characters, they are decoded into
 * character spans of the original text (`spansFromTags`), exactly as `predict` does, and scored
 * by exact span (micro, per type, macro) and by KLUE's character-level macro F1. `headline`
 * names the figure to read first: `span_f1` for the Korean formats (kmou, klue), `f1`
 * otherwise.
 *
 * @module
 */

import { defineStage, type ParamsOf } from "../runner/stage.ts";
import type { EntitySpan } from "../ner/types.ts";
import schema from "../schemas/validate.schema.ts";
import {
  checkAbort,
  mismatchedInputs,
  readArtifact,
  readBatches,
  readInputDir,
} from "./_artifacts.ts";
import { IGNORE_INDEX as IGNORE } from "../ner/labels.ts";
import type { ReportContext, ReportSection } from "../runner/stage.ts";
import { trainingFacts } from "./_training_summary.ts";

/**
 * The report's code, imported by a computed specifier so that it is not part of this stage's
 * code hash: how the report looks must not rerun validation (see `report` below).
 */
const REPORT_MODULE = "./_report.ts";

/** Batches scored between two looks at the abort signal. */
const BATCHES_PER_CHECK = 16;

/** A confusion matrix of entity types over the validation spans. */
export interface SpanConfusion {
  /** Row and column labels: the entity types, sorted. */
  types: string[];
  /**
   * `counts[g][p]`: gold spans of type `types[g]` paired with a predicted span of type
   * `types[p]`; column `types.length` counts gold spans paired with none ("missed"), row
   * `types.length` predicted spans paired with none ("spurious").
   */
  counts: number[][];
}

/** One validation sentence with its gold and predicted spans, for the report. */
export interface ExampleSentence {
  /** Index of the document in the validation split. */
  doc: number;
  text: string;
  gold: EntitySpan[];
  pred: EntitySpan[];
  /** Gold spans not predicted exactly plus predicted spans not in the gold. */
  errors: number;
}

/** The `analysis` output: what the report shows beyond metrics.json. */
export interface ValidationAnalysis {
  confusion: SpanConfusion;
  /** Up to 20 validation sentences, those with errors first (most errors first). */
  sentences: ExampleSentence[];
}

const sameSpan = (a: EntitySpan, b: EntitySpan) => a.start === b.start && a.end === b.end;

/**
 * Pairs each gold span with a predicted span: first one with the same boundaries, then, of
 * those left, the one overlapping it most; the pair counts at (gold type, predicted type).
 * Gold spans left unpaired are "missed", predicted ones "spurious".
 *
 * @param gold Gold spans per document.
 * @param pred Predicted spans per document.
 * @param types The entity types (others found in the spans are added).
 * @returns The matrix.
 */
export function spanConfusion(
  gold: readonly (readonly EntitySpan[])[],
  pred: readonly (readonly EntitySpan[])[],
  types: readonly string[],
): SpanConfusion {
  const all = new Set(types);
  for (const doc of [...gold, ...pred]) for (const s of doc) all.add(s.label);
  const sorted = [...all].sort();
  const index = new Map(sorted.map((t, i) => [t, i]));
  const n = sorted.length;
  const counts = Array.from({ length: n + 1 }, () => new Array<number>(n + 1).fill(0));
  gold.forEach((g, d) => {
    const p = pred[d] ?? [];
    const used = new Array<boolean>(p.length).fill(false);
    const partner = new Array<number>(g.length).fill(-1);
    g.forEach((s, i) => {
      const j = p.findIndex((q, k) => !used[k] && sameSpan(s, q));
      if (j >= 0) [used[j], partner[i]] = [true, j];
    });
    g.forEach((s, i) => {
      if (partner[i]! >= 0) return;
      let best = -1;
      let most = 0;
      p.forEach((q, k) => {
        const overlap = Math.min(s.end, q.end) - Math.max(s.start, q.start);
        if (!used[k] && overlap > most) [best, most] = [k, overlap];
      });
      if (best >= 0) [used[best], partner[i]] = [true, best];
    });
    g.forEach((s, i) => {
      const j = partner[i]!;
      counts[index.get(s.label)!]![j >= 0 ? index.get(p[j]!.label)! : n]!++;
    });
    p.forEach((q, k) => {
      if (!used[k]) counts[n]![index.get(q.label)!]!++;
    });
  });
  return { types: sorted, counts };
}

/**
 * Picks sentences for the report: those with errors first (most first), then correct ones,
 * each group in corpus order.
 *
 * @param texts Validation texts.
 * @param gold Gold spans per document.
 * @param pred Predicted spans per document.
 * @param count How many to pick.
 * @returns The sentences.
 */
export function exampleSentences(
  texts: readonly string[],
  gold: readonly (readonly EntitySpan[])[],
  pred: readonly (readonly EntitySpan[])[],
  count = 20,
): ExampleSentence[] {
  const key = (s: EntitySpan) => `${s.start}:${s.end}:${s.label}`;
  const all = texts.map((text, doc) => {
    const g = [...(gold[doc] ?? [])].sort((a, b) => a.start - b.start || a.end - b.end);
    const p = [...(pred[doc] ?? [])].sort((a, b) => a.start - b.start || a.end - b.end);
    const gk = new Set(g.map(key));
    const pk = new Set(p.map(key));
    const errors = g.filter((s) => !pk.has(key(s))).length +
      p.filter((s) => !gk.has(key(s))).length;
    return { doc, text, gold: g, pred: p, errors };
  });
  // Array.prototype.sort is stable: ties keep corpus order.
  return all.sort((a, b) => b.errors - a.errors).slice(0, count);
}

/** Parameters of `validate`, typed from its schema (schemas/validate.schema.ts). */
export type ValidateParams = ParamsOf<typeof schema>;

/** The `validate` stage kind. */
export const validate = defineStage({
  name: "validate",
  version: 1,
  description: schema.description,
  schema,
  inputs: {
    model: { type: "model", description: "Model directory of train" },
    batches: { type: "ner-batches", description: "Output of tensorize (its validation batches)" },
    encoded: { type: "ner-encoded", description: "Output of preprocess-input (offsets)" },
    dataset: { type: "ner-dataset", description: "Output of load (gold spans)" },
  },
  outputs: {
    metrics: {
      type: "metrics",
      description: "metrics.json",
      extension: ".json",
      // Its headline (span_f1, or f1 where the corpus has no character offsets) is in the file.
      columns: ["span_f1", "f1", "char_macro_f1"],
    },
    predictions: {
      type: "predictions",
      description: "CoNLL lines `token gold pred`, a blank line between sentences",
      extension: ".txt",
    },
    analysis: {
      type: "ner-analysis",
      description: "A confusion matrix of entity types and 20 sentences, errors first",
      extension: ".json",
    },
  },
  module: import.meta.url,
  exclusive: "tfjs",
  async report(ctx) {
    const m: { validateSections(c: ReportContext): Promise<ReportSection[]> } = await import(
      REPORT_MODULE
    );
    return await m.validateSections(ctx as unknown as ReportContext);
  },
  async run(ctx) {
    const { setupBackend } = await import(
      new URL("../ner/bert/backend.ts", import.meta.url).href
    ) as typeof import("../ner/bert/backend.ts");
    const { BertModel } = await import(
      new URL("../ner/bert/model.ts", import.meta.url).href
    ) as typeof import("../ner/bert/model.ts");
    const { loadModelDir } = await import("../ner/bert/checkpoint.ts");
    const { conllLines } = await import("../ner/metrics.ts");
    const { ValidationDecoder, validationFit, validationMetrics } = await import(
      "../ner/evaluate.ts"
    );

    // Inputs first: a file of the wrong kind fails before the backend is set up.
    const set = await readBatches(ctx.inputs, "batches");
    const encoded = await readArtifact(ctx.inputs, "encoded", "ner-encoded", {
      split: "validation",
    });
    const dataset = await readArtifact(ctx.inputs, "dataset", "ner-dataset", {
      split: "validation",
    });
    const windows = encoded.splits.validation;
    for (const batch of set.validation ?? []) {
      const row = batch.rows.find((r) => r >= windows.length);
      if (row !== undefined) {
        throw mismatchedInputs(
          ctx.inputs,
          "batches",
          "encoded",
          `a validation batch holds window ${row}, but the encoding has ${windows.length}`,
        );
      }
    }
    const doc = windows.find((w) => w.doc >= dataset.validation.length)?.doc;
    if (doc !== undefined) {
      throw mismatchedInputs(
        ctx.inputs,
        "encoded",
        "dataset",
        `a validation window is of document ${doc}, but the dataset has ${dataset.validation.length}`,
      );
    }
    const checkpoint = await readInputDir(ctx.inputs, "model", "model", loadModelDir);
    const labels = checkpoint.labels;
    for (const batch of set.validation ?? []) {
      if (batch.seqLen > checkpoint.config.max_position_embeddings) {
        throw mismatchedInputs(
          ctx.inputs,
          "batches",
          "model",
          `a validation batch has windows of ${batch.seqLen} pieces, the model ` +
            `${checkpoint.config.max_position_embeddings} positions`,
        );
      }
      const label = batch.labels.find((l) => l !== IGNORE && (l < 0 || l >= labels.length));
      if (label !== undefined) {
        throw mismatchedInputs(
          ctx.inputs,
          "batches",
          "model",
          `a validation batch has label id ${label}, the model ${labels.length} labels`,
        );
      }
    }
    await checkAbort(ctx.signal);
    const choice = await setupBackend(ctx.params.backend);
    ctx.log.info(`backend ${choice.backend}: ${choice.reason}`);
    const model = BertModel.fromWeights(checkpoint.config, labels.length, checkpoint.weights);

    const stored = checkpoint.boundaries ?? { mode: "pieces" as const, tails: new Set<string>() };
    const boundaries = ctx.params.boundaries === "model"
      ? stored
      : { mode: ctx.params.boundaries, tails: stored.tails };
    const batches = set.validation ?? [];
    const spanInputs = { windows, docs: dataset.validation };
    let decoded;
    try {
      // Every batch is queued before any result is read (one host round trip on a GPU).
      const allProbs = await Promise.all(
        batches.map((batch) => model.predictProbabilities(batch)),
      );
      // A CRF head decodes with Viterbi over the units' scores and its transitions.
      const decoder = new ValidationDecoder(labels, boundaries, spanInputs, checkpoint.crf);
      for (const [b, batch] of batches.entries()) {
        if (b % BATCHES_PER_CHECK === 0) await checkAbort(ctx.signal);
        decoder.add(batch, allProbs[b]!);
        ctx.progress.update(b + 1, batches.length, "scoring");
      }
      decoded = decoder.result;
    } finally {
      model.dispose();
    }
    const v = validationMetrics(decoded, dataset.format, labels, spanInputs);
    const m = v.pieces;
    const spans = v.characters!;
    const headline = v.headline;
    // What the boundary rules cannot give, whatever the model says.
    const fit = validationFit(batches, spanInputs, boundaries);
    const predictedSpans = decoded.spans;
    const types = [...new Set(labels.filter((l) => l !== "O").map((l) => l.slice(2)))].sort();
    const metrics = {
      headline,
      // Word-piece level (conlleval/seqeval on the labelled pieces; predictions.txt).
      precision: m.precision,
      recall: m.recall,
      f1: m.f1,
      accuracy: v.accuracy,
      per_type: m.per_type,
      // Character level: exact spans of the original text, and KLUE's character F1.
      span_f1: spans.f1,
      span_precision: spans.precision,
      span_recall: spans.recall,
      span_macro_f1: spans.macro_f1,
      span_per_type: spans.per_type,
      char_macro_f1: spans.char_macro_f1,
      validation_loss: v.loss,
      labelled_pieces: decoded.continuationsLabelled ? "every piece" : "first pieces",
      boundaries: {
        mode: boundaries.mode,
        tails: boundaries.tails.size,
        gold_entities: fit.entities,
        gold_inexpressible: fit.inexpressible,
      },
      sentences: decoded.gold.length,
      backend: choice.backend,
      ...(await trainingFacts(ctx.inputs.model)),
    };
    ctx.log.info(
      `exact character-span F1 ${spans.f1.toFixed(4)} (P ${spans.precision.toFixed(4)}, R ${
        spans.recall.toFixed(4)
      }, macro ${spans.macro_f1.toFixed(4)}), character macro F1 ${
        spans.char_macro_f1.toFixed(4)
      }; word-piece entity F1 ${m.f1.toFixed(4)} (P ${m.precision.toFixed(4)}, R ${
        m.recall.toFixed(4)
      }), token accuracy ${metrics.accuracy.toFixed(4)}; headline ${headline}`,
    );
    ctx.log.info(
      `boundaries ${boundaries.mode}${
        boundaries.mode === "pieces" ? "" : ` (${boundaries.tails.size} tails)`
      }: ${fit.inexpressible} of ${fit.entities} gold entities cannot be given under them`,
    );
    await Deno.writeTextFile(ctx.output("metrics"), JSON.stringify(metrics, null, 2) + "\n");
    await Deno.writeTextFile(
      ctx.output("predictions"),
      conllLines(decoded.tokens, decoded.gold, decoded.pred),
    );
    const goldSpans = dataset.validation.map((d) => d.entities);
    const analysis: ValidationAnalysis = {
      confusion: spanConfusion(goldSpans, predictedSpans, types),
      sentences: exampleSentences(
        dataset.validation.map((d) => d.text),
        goldSpans,
        predictedSpans,
      ),
    };
    await Deno.writeTextFile(ctx.output("analysis"), JSON.stringify(analysis) + "\n");
  },
});
