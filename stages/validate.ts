/**
 * Stage `validate`: predicts the validation set and scores it: entity-level micro
 * precision/recall/F1 overall and per type (conlleval/seqeval chunk semantics), token accuracy
 * over non-ignored labels, and span F1 on character spans of the original text. Predictions
 * are written in CoNLL form (`token gold pred`), from which conlleval gives the same figures.
 *
 * @module
 */

import { defineStage } from "../runner/stage.ts";
import { decodeBatches } from "../ner/batches.ts";
import type { Dataset, EntitySpan } from "../ner/types.ts";
import schema from "../schemas/validate.schema.json" with { type: "json" };
import { type EncodedArtifact, readJson, userErrors } from "./_artifacts.ts";
import { IGNORE } from "./embed_pad.ts";

/** Parameters of `validate`. */
export interface ValidateParams {
  backend: "auto" | "wasm" | "cpu" | "webgpu" | "tensorflow";
}

/** The `validate` stage kind. */
export const validate = defineStage<ValidateParams>({
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
    metrics: { type: "metrics", description: "metrics.json", extension: ".json" },
    predictions: {
      type: "predictions",
      description: "CoNLL lines `token gold pred`, a blank line between sentences",
      extension: ".txt",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const { setupBackend, BackendUnavailableError } = await import("../ner/bert/backend.ts");
    const { BertModel } = await import("../ner/bert/model.ts");
    const { predictBatch } = await import("../ner/bert/predict.ts");
    const { CheckpointError, loadModelDir } = await import("../ner/checkpoint.ts");
    const { conllLines, entityMetrics, spanF1, tokenAccuracy } = await import("../ner/metrics.ts");
    const { spansFromTags } = await import("../ner/align.ts");

    const choice = await userErrors(
      () => setupBackend(ctx.params.backend),
      (e) => e instanceof BackendUnavailableError,
    );
    ctx.log.info(`backend ${choice.backend}: ${choice.reason}`);
    const checkpoint = await userErrors(
      () => loadModelDir(ctx.inputs.model!),
      (e) => e instanceof CheckpointError,
    );
    const labels = checkpoint.labels;
    const model = BertModel.fromWeights(checkpoint.config, labels.length, checkpoint.weights);
    const set = decodeBatches(await Deno.readFile(ctx.inputs.batches!));
    const encoded = await readJson<EncodedArtifact>(ctx.inputs.encoded!);
    const dataset = await readJson<Dataset>(ctx.inputs.dataset!);
    const windows = encoded.splits.validation;

    const gold: string[][] = [];
    const pred: string[][] = [];
    const tokens: string[][] = [];
    const predictedSpans: EntitySpan[][] = dataset.validation.map(() => []);
    try {
      const batches = set.validation ?? [];
      // Every batch is queued before any result is read (one host round trip on a GPU).
      const allClasses = await Promise.all(batches.map((batch) => predictBatch(model, batch)));
      for (const [b, batch] of batches.entries()) {
        const classes = allClasses[b]!;
        for (let r = 0; r < batch.batchSize; r++) {
          const w = windows[batch.rows[r]!]!;
          const text = dataset.validation[w.doc]!.text;
          const g: string[] = [];
          const p: string[] = [];
          const t: string[] = [];
          const pieceTags: (string | null)[] = w.ids.map(() => null);
          for (let k = 0; k < w.ids.length && k < batch.seqLen; k++) {
            const i = r * batch.seqLen + k;
            if (batch.labels[i] === IGNORE) continue;
            const tag = labels[classes[i]!] ?? "O";
            g.push(labels[batch.labels[i]!]!);
            p.push(tag);
            pieceTags[k] = tag;
            // The token shown is the piece with the unlabelled pieces that follow it.
            let end = k + 1;
            while (
              end < w.ids.length && w.offsets[end] &&
              batch.labels[r * batch.seqLen + end] === IGNORE
            ) {
              end++;
            }
            t.push(text.slice(w.offsets[k]![0], w.offsets[end - 1]![1]));
          }
          gold.push(g);
          pred.push(p);
          tokens.push(t);
          predictedSpans[w.doc]!.push(...spansFromTags(w.offsets, pieceTags, w.wordStart));
        }
        ctx.progress.update(b + 1, batches.length, "scoring");
      }
    } finally {
      model.dispose();
    }
    const m = entityMetrics(gold, pred);
    const spans = spanF1(dataset.validation.map((d) => d.entities), predictedSpans);
    const metrics = {
      precision: m.precision,
      recall: m.recall,
      f1: m.f1,
      accuracy: tokenAccuracy(gold, pred),
      span_f1: spans.f1,
      span_precision: spans.precision,
      span_recall: spans.recall,
      per_type: m.per_type,
      sentences: gold.length,
      backend: choice.backend,
    };
    ctx.log.info(
      `entity F1 ${m.f1.toFixed(4)} (P ${m.precision.toFixed(4)}, R ${m.recall.toFixed(4)}), ` +
        `token accuracy ${metrics.accuracy.toFixed(4)}, span F1 ${spans.f1.toFixed(4)}`,
    );
    await Deno.writeTextFile(ctx.output("metrics"), JSON.stringify(metrics, null, 2) + "\n");
    await Deno.writeTextFile(ctx.output("predictions"), conllLines(tokens, gold, pred));
  },
});
