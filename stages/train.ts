/**
 * Stage `train`: a BERT token classifier trained with TensorFlow.js (AdamW, warm-up + linear
 * decay, global-norm clipping, dropout), evaluated on the validation batches after each epoch;
 * the epoch with the best entity F1 is kept (or the best by `early_stopping`'s metric, which can
 * also end training early).
 *
 * Long runs write checkpoints into the stage's checkpoint directory (`ctx.checkpoints`,
 * `.pipeline/checkpoints/<key>/`): a rerun of the same key after a kill resumes from the newest
 * one and ends with the same weights, bit for bit, as a run that was never interrupted.
 *
 * @module
 */

import { defineStage, type ParamProblem } from "../runner/stage.ts";
import type { TensorBatch } from "../ner/batches.ts";
import { formatSeconds } from "../runner/report.ts";
import schema from "../schemas/train.schema.json" with { type: "json" };
import {
  ArtifactError,
  checkAbort,
  type EncodedArtifact,
  mismatchedInputs,
  readArtifact,
  readBatches,
  readInputDir,
} from "./_artifacts.ts";
import { IGNORE_INDEX as IGNORE } from "../ner/labels.ts";
import type { Dataset, EntitySpan } from "../ner/types.ts";
import type { ReportContext, ReportSection } from "../runner/stage.ts";

/**
 * The report's code, imported by a computed specifier so that it is not part of this stage's
 * code hash: how the report looks must not retrain (see `report` below).
 */
const REPORT_MODULE = "./_report.ts";

/** Parameters of `train` (defaults in schemas/train.schema.json). */
export interface TrainParams {
  epochs: number;
  learning_rate: number;
  weight_decay: number;
  warmup_ratio: number;
  max_grad_norm: number;
  seed: number;
  backend: "auto" | "wasm" | "cpu" | "webgpu" | "tensorflow";
  workers: number | "auto";
  from?: string;
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  max_positions: number;
  dropout: number;
  /** Steps between checkpoints, or `epoch`: after each epoch and at least every 10 minutes. */
  checkpoint_every: number | "epoch";
  /** Checkpoints kept (in `.pipeline/checkpoints/<key>/kept/`) after the stage succeeded. */
  keep_checkpoints: number;
  early_stopping?: { metric: StoppingMetric; patience: number; min_delta: number };
}

/** Metrics `early_stopping` can watch. */
export type StoppingMetric = "f1" | "span_f1" | "loss";

/** The key of each stopping metric in the evaluation's results, and whether higher is better. */
const STOPPING_METRICS: Record<StoppingMetric, { key: string; mode: "max" | "min" }> = {
  f1: { key: "f1", mode: "max" },
  span_f1: { key: "span_f1", mode: "max" },
  loss: { key: "validation_loss", mode: "min" },
};

/** What train's model directory says of its training, for validate (`training_summary.json`). */
export interface TrainingSummary {
  /** 0-based epoch whose weights were kept. */
  kept_epoch: number;
  /** The selection metric at that epoch (null without validation batches). */
  kept_metric: { name: string; value: number } | null;
  stopped_early: boolean;
  /** Why training stopped early. */
  stop_reason?: string;
  /** Epochs trained. */
  epochs_run: number;
}

/** Name of the summary file in train's model directory. */
export const TRAINING_SUMMARY = "training_summary.json";

/**
 * Mean cross-entropy over labelled positions from class probabilities, summed on the host.
 *
 * @param batch The batch (its labels).
 * @param probs Softmax per position, `[batchSize * seqLen * numLabels]`.
 * @param numLabels Classes per position.
 * @returns The summed loss and the number of labelled positions.
 */
export function probabilityLoss(
  batch: TensorBatch,
  probs: Float32Array,
  numLabels: number,
): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < batch.labels.length; i++) {
    const y = batch.labels[i]!;
    if (y === IGNORE) continue;
    sum -= Math.log(Math.max(probs[i * numLabels + y]!, 1e-30));
    count++;
  }
  return { sum, count };
}

/** The most probable class per position (the first of equal ones). */
function argmaxRows(probs: Float32Array, numLabels: number): Int32Array {
  const out = new Int32Array(probs.length / numLabels);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < numLabels; c++) {
      if (probs[i * numLabels + c]! > probs[i * numLabels + best]!) best = c;
    }
    out[i] = best;
  }
  return out;
}

/**
 * Gold and predicted tag sequences of a batch, over positions whose label is not ignored.
 *
 * @param batch The batch.
 * @param predicted Argmax class id per position.
 * @param labels Label of each class id.
 * @returns One gold and one predicted sequence per row.
 */
export function batchTags(
  batch: TensorBatch,
  predicted: Int32Array,
  labels: readonly string[],
): { gold: string[][]; pred: string[][] } {
  const gold: string[][] = [];
  const pred: string[][] = [];
  for (let r = 0; r < batch.batchSize; r++) {
    const g: string[] = [];
    const p: string[] = [];
    for (let t = 0; t < batch.seqLen; t++) {
      const i = r * batch.seqLen + t;
      if (batch.labels[i] === IGNORE) continue;
      g.push(labels[batch.labels[i]!]!);
      p.push(labels[predicted[i]!] ?? "O");
    }
    gold.push(g);
    pred.push(p);
  }
  return { gold, pred };
}

/**
 * The number of data-parallel replicas to ask for: `workers` lowered to the machine's core
 * count (more replicas than cores only contend for them), with the warning to show then.
 *
 * @param workers The `workers` parameter.
 * @param cores The core count, `navigator.hardwareConcurrency`.
 * @returns The workers to train with, and a warning when lowered.
 */
export function capWorkers(
  workers: number | "auto",
  cores: number,
): { workers: number | "auto"; warning?: string } {
  const most = Math.max(1, Math.floor(cores) || 1);
  if (workers === "auto" || workers <= most) return { workers };
  return {
    workers: most,
    warning: `workers: ${workers} is more than the ${most} CPU cores of this machine: ` +
      `training with ${most} replicas (set workers to ${most} or less, or "auto", to silence this)`,
  };
}

/**
 * What `train`'s parameters cannot be, beyond its schema: a hidden size that the heads do not
 * divide, fewer positions than the longest window of the preprocess-input stage upstream. With
 * `from`, the architecture is the checkpoint's and these parameters are unused; the windows are
 * checked against its positions when the stage runs.
 */
function trainProblems(
  p: TrainParams,
  upstream: { id: string; params: Record<string, unknown> }[],
  inputs: readonly string[] | undefined,
): ParamProblem[] {
  const problems: ParamProblem[] = [];
  const missing = ["encoded", "dataset"].filter((name) => inputs && !inputs.includes(name));
  if (p.early_stopping?.metric === "span_f1" && missing.length) {
    problems.push({
      param: "early_stopping.metric",
      message: `early_stopping on span_f1 scores exact character spans, which needs the inputs ` +
        `encoded and dataset; ${missing.join(" and ")} ${missing.length === 1 ? "is" : "are"} ` +
        `not given`,
      hint: `add to the inputs of train what validate takes: encoded: <preprocess-input>.encoded ` +
        `and dataset: <load>.dataset, or watch metric f1 or loss`,
    });
  }
  if (p.from !== undefined) return problems;
  if (p.hidden % p.heads !== 0) {
    const below = Math.floor(p.hidden / p.heads) * p.heads;
    const above = below + p.heads;
    problems.push({
      param: "hidden",
      message: `hidden (${p.hidden}) is not a multiple of heads (${p.heads})`,
      hint: `each head gets hidden / heads dimensions: use hidden ${
        below >= 8 ? `${below} or ${above}` : above
      }, or heads that divide ${p.hidden}`,
    });
  }
  for (const up of upstream) {
    const maxLength = up.params.max_length;
    if (typeof maxLength === "number" && maxLength > p.max_positions) {
      problems.push({
        param: "max_positions",
        message: `max_positions (${p.max_positions}) is less than max_length (${maxLength}) of ` +
          `stage "${up.id}", the length of its longest windows`,
        hint: `raise max_positions to ${maxLength} or more, or lower max_length of "${up.id}" ` +
          `to ${p.max_positions} or less`,
      });
    }
  }
  return problems;
}

/** The optional span inputs read and checked against the validation batches. */
async function spanInputs(
  inputs: Record<string, string>,
  validation: readonly TensorBatch[],
): Promise<{ windows: EncodedArtifact["splits"]["validation"]; dataset: Dataset } | null> {
  if (!inputs.encoded || !inputs.dataset) return null;
  const encoded = await readArtifact(inputs, "encoded", "ner-encoded");
  const dataset = await readArtifact(inputs, "dataset", "ner-dataset");
  const windows = encoded.splits.validation;
  for (const batch of validation) {
    const row = batch.rows.find((r) => r >= windows.length);
    if (row !== undefined) {
      throw mismatchedInputs(
        inputs,
        "batches",
        "encoded",
        `a validation batch holds window ${row}, but the encoding has ${windows.length}`,
      );
    }
  }
  const doc = windows.find((w) => w.doc >= dataset.validation.length)?.doc;
  if (doc !== undefined) {
    throw mismatchedInputs(
      inputs,
      "encoded",
      "dataset",
      `a validation window is of document ${doc}, but the dataset has ${dataset.validation.length}`,
    );
  }
  return { windows, dataset };
}

/** The `train` stage kind. */
export const train = defineStage<TrainParams>({
  name: "train",
  version: 1,
  description: schema.description,
  schema,
  inputs: {
    batches: { type: "ner-batches", description: "Output of tensorize" },
    labels: { type: "label-dictionary", description: "Label dictionary of label-ids" },
    tokenizer: { type: "tokenizer", description: "Tokenizer of preprocess-input" },
    encoded: {
      type: "ner-encoded",
      description: "Output of preprocess-input (offsets): scores exact spans (span_f1) per epoch",
      optional: true,
    },
    dataset: {
      type: "ner-dataset",
      description: "Output of load (gold spans): scores exact spans (span_f1) per epoch",
      optional: true,
    },
  },
  outputs: {
    model: {
      type: "model",
      description: "Hugging Face model directory (config.json, model.safetensors, tokenizer)",
      kind: "dir",
    },
    log: {
      type: "train-log",
      description: "Training log, one JSON object per line",
      extension: ".jsonl",
    },
  },
  check: (p, context) => trainProblems(p, context.upstream("preprocess-input"), context.inputs),
  module: import.meta.url,
  exclusive: "tfjs",
  async report(ctx) {
    const m: { trainSections(c: ReportContext): Promise<ReportSection[]> } = await import(
      REPORT_MODULE
    );
    return await m.trainSections(ctx as unknown as ReportContext);
  },
  async run(ctx) {
    const p = ctx.params;
    const { setupBackend } = await import(
      new URL("../ner/bert/backend.ts", import.meta.url).href
    ) as typeof import("../ner/bert/backend.ts");
    const { makeBertConfig } = await import("../ner/bert/config.ts");
    const { replicatesOn, trainTokenClassifier } = await import(
      new URL("../ner/bert/trainer.ts", import.meta.url).href
    ) as typeof import("../ner/bert/trainer.ts");
    const { characterMetrics, entityMetrics, tokenAccuracy } = await import("../ner/metrics.ts");
    const { spansFromTags } = await import("../ner/align.ts");
    const { decodeBio } = await import("../ner/bio_decode.ts");
    const { finishCheckpoints } = await import("../ner/bert/_train_state.ts");
    const { CheckpointError, loadModelDir, saveModelDir } = await import(
      "../ner/bert/checkpoint.ts"
    );
    const { adaptCheckpoint } = await import("../ner/bert/adapt.ts");

    // Inputs first: a file of the wrong kind fails before the backend is set up.
    const set = await readBatches(ctx.inputs, "batches", { stream: true });
    const { labels, label_all_tokens } = await readArtifact(
      ctx.inputs,
      "labels",
      "label-dictionary",
    );
    const { loadTokenizer } = await import(
      new URL("../ner/tokenizer/files.ts", import.meta.url).href
    ) as typeof import("../ner/tokenizer/files.ts");
    const tokenizer = await readInputDir(
      ctx.inputs,
      "tokenizer",
      "tokenizer",
      (dir) => loadTokenizer(dir, { transformers: false }),
    );
    const vocabSize = tokenizer.vocab.length;
    const spans = await spanInputs(ctx.inputs, set.validation ?? []);
    await checkAbort(ctx.signal);
    const choice = await setupBackend(p.backend);
    ctx.log.info(`backend ${choice.backend}: ${choice.reason}`);

    let config;
    let initialWeights;
    if (p.from) {
      const checkpoint = await loadModelDir(p.from!);
      config = checkpoint.config;
      const adapted = adaptCheckpoint(checkpoint, labels, p.seed);
      for (const line of adapted.report) ctx.log.info(line);
      initialWeights = adapted.weights;
      if (config.vocab_size < vocabSize) {
        throw new CheckpointError(
          `The tokenizer has ${vocabSize} pieces but the checkpoint "${p.from}" only ${config.vocab_size} ` +
            `embeddings: use the checkpoint's tokenizer (preprocess-input tokenizer.from)`,
        );
      }
    } else {
      config = makeBertConfig(vocabSize, {
        num_hidden_layers: p.layers,
        hidden_size: p.hidden,
        num_attention_heads: p.heads,
        intermediate_size: p.intermediate,
        max_position_embeddings: p.max_positions,
        hidden_dropout_prob: p.dropout,
        attention_probs_dropout_prob: p.dropout,
      });
    }
    ctx.log.info(
      `BERT L${config.num_hidden_layers} H${config.hidden_size} A${config.num_attention_heads} ` +
        `I${config.intermediate_size}, ${labels.length} labels, vocabulary ${config.vocab_size}`,
    );
    const longest = Math.max(
      0,
      ...Object.values(set).flatMap((batches) => batches.map((b) => b.seqLen)),
    );
    if (longest > config.max_position_embeddings) {
      throw new ArtifactError(
        `Input "batches" (${ctx.inputs.batches}) holds windows of ${longest} pieces, more than ` +
          `the model's ${config.max_position_embeddings} positions (${
            p.from ? `max_position_embeddings of the checkpoint "${p.from}"` : "max_positions"
          }): lower max_length of preprocess-input to ${config.max_position_embeddings} or less` +
          (p.from ? "" : `, or raise max_positions to ${longest} or more`),
      );
    }
    let workers = p.workers;
    if (typeof p.workers === "number" && p.workers > 1 && !replicatesOn(choice.backend)) {
      ctx.log.info(
        `workers: ${p.workers} applies to wasm and cpu; ${choice.backend} trains in one replica`,
      );
    } else {
      const capped = capWorkers(p.workers, navigator.hardwareConcurrency);
      if (capped.warning) ctx.log.warn(capped.warning);
      workers = capped.workers;
    }
    // The first line says which backend trained and why it was chosen.
    const logLines: string[] = [
      JSON.stringify({ backend: choice.backend, backend_reason: choice.reason }),
    ];
    const started = performance.now();
    let resumedStep = 0;
    const es = p.early_stopping;
    const watched = es ? STOPPING_METRICS[es.metric] : undefined;
    const validation = set.validation ?? [];
    if (es && !validation.length) {
      ctx.log.warn(
        `early_stopping needs validation batches, and there are none: training runs all ` +
          `${p.epochs} epochs (give load a validation split, or drop early_stopping)`,
      );
    }
    const checkpointDir = ctx.checkpoints;
    const n = labels.length;
    const result = await trainTokenClassifier({
      config,
      numLabels: n,
      epochs: p.epochs,
      learningRate: p.learning_rate,
      weightDecay: p.weight_decay,
      warmupRatio: p.warmup_ratio,
      maxGradNorm: p.max_grad_norm,
      seed: p.seed,
      workers,
      train: set.train ?? [],
      signal: ctx.signal,
      ...(initialWeights ? { initialWeights } : {}),
      ...(watched && validation.length
        ? {
          earlyStopping: {
            metric: watched.key,
            name: es!.metric,
            mode: watched.mode,
            patience: es!.patience,
            minDelta: es!.min_delta,
          },
        }
        : {}),
      ...(checkpointDir
        ? {
          checkpoint: {
            dir: checkpointDir,
            ...(p.checkpoint_every === "epoch" ? {} : { everySteps: p.checkpoint_every }),
            save: () => logLines,
            onResume(r) {
              resumedStep = r.step;
              const saved = r.extra;
              if (Array.isArray(saved) && saved.every((l) => typeof l === "string")) {
                logLines.splice(0, logLines.length, ...saved);
              }
              logLines.push(JSON.stringify({ resumed_at_epoch: r.epoch, resumed_at_step: r.step }));
              ctx.log.info(`resumed at epoch ${r.epoch} step ${r.step}`);
            },
            onSkip(path, reason) {
              ctx.log.warn(`checkpoint ${path} not used: ${reason}`);
            },
          },
        }
        : {}),
      ...(validation.length
        ? {
          evaluate: async (
            _epoch: number,
            _predict: (b: TensorBatch) => Promise<Int32Array>,
            probabilities: (b: TensorBatch) => Promise<Float32Array>,
          ) => {
            const gold: string[][] = [];
            const pred: string[][] = [];
            // Every batch is queued before any result is read: on a GPU one host round trip
            // per epoch, not one per batch.
            const probs = await Promise.all(validation.map((batch) => probabilities(batch)));
            let lossSum = 0;
            let lossCount = 0;
            const predicted: EntitySpan[][] | undefined = spans?.dataset.validation.map(() => []);
            for (const [i, batch] of validation.entries()) {
              const tags = batchTags(batch, argmaxRows(probs[i]!, n), labels);
              gold.push(...tags.gold);
              pred.push(...tags.pred);
              const loss = probabilityLoss(batch, probs[i]!, n);
              lossSum += loss.sum;
              lossCount += loss.count;
              if (spans && predicted) {
                // Exact spans as validate scores them: the most probable valid BIO sequence
                // over the labelled pieces, chunked into character spans.
                for (let r = 0; r < batch.batchSize; r++) {
                  const w = spans.windows[batch.rows[r]!]!;
                  const len = Math.min(w.ids.length, batch.seqLen);
                  const units = w.ids.map((_, k) =>
                    k < len && batch.labels[r * batch.seqLen + k] !== IGNORE
                  );
                  const row = probs[i]!.subarray(
                    r * batch.seqLen * n,
                    (r * batch.seqLen + len) * n,
                  );
                  const { tags: pieceTags } = decodeBio(row, labels, units.slice(0, len));
                  predicted[w.doc]!.push(...spansFromTags(w.offsets, pieceTags, units));
                }
              }
            }
            const m = entityMetrics(gold, pred);
            const metrics: { f1: number; [k: string]: number } = {
              f1: m.f1,
              precision: m.precision,
              recall: m.recall,
              accuracy: tokenAccuracy(gold, pred),
              validation_loss: lossCount ? lossSum / lossCount : 0,
            };
            if (spans && predicted) {
              const docs = spans.dataset.validation;
              metrics.span_f1 = characterMetrics(
                docs.map((d) => d.text),
                docs.map((d) => d.entities),
                predicted,
                [...new Set(labels.filter((l) => l !== "O").map((l) => l.slice(2)))].sort(),
              ).f1;
            }
            return metrics;
          },
        }
        : {}),
      onStep(s) {
        const done = (performance.now() - started) / 1000;
        const ran = s.step - resumedStep;
        const eta = ran > 0 ? (done / ran) * (s.totalSteps - s.step) : 0;
        ctx.progress.update(
          s.step,
          s.totalSteps,
          `epoch ${s.epoch} loss ${s.loss.toFixed(4)} grad ${s.gradNorm.toFixed(2)} ` +
            `${Math.round(s.tokensPerS)} tok/s ETA ${formatSeconds(eta)}`,
        );
        logLines.push(JSON.stringify({
          step: s.step,
          epoch: s.epoch,
          loss: s.loss,
          grad_norm: s.gradNorm,
          grad_norm_clipped: s.gradNormClipped,
          lr: s.lr,
          tokens_per_s: s.tokensPerS,
          seconds: s.seconds,
          backend: choice.backend,
        }));
      },
      onEpochEnd(e) {
        const m = e.metrics;
        ctx.log.info(
          `epoch ${e.epoch}: loss ${e.loss.toFixed(4)}` +
            (m
              ? `, validation entity F1 ${m.f1.toFixed(4)}` +
                (m.span_f1 !== undefined ? `, exact-span F1 ${m.span_f1.toFixed(4)}` : "") +
                `, token accuracy ${m.accuracy?.toFixed(4)}, loss ${m.validation_loss?.toFixed(4)}`
              : "") +
            ` (${formatSeconds(e.trainSeconds)} training)`,
        );
        logLines.push(
          JSON.stringify({ epoch: e.epoch, loss: e.loss, ...m, backend: choice.backend }),
        );
      },
    });
    if (result.stoppedEarly) ctx.log.info(result.stoppedEarly);
    const metricName = es && validation.length ? es.metric : "f1";
    const summary: TrainingSummary = {
      kept_epoch: result.bestEpoch,
      kept_metric: result.bestMetric !== undefined
        ? { name: metricName, value: result.bestMetric }
        : null,
      stopped_early: result.stoppedEarly !== undefined,
      ...(result.stoppedEarly ? { stop_reason: result.stoppedEarly } : {}),
      epochs_run: result.history.length,
    };
    ctx.log.info(
      `kept epoch ${result.bestEpoch} of ${p.epochs}` +
        (summary.kept_metric ? ` (${metricName} ${summary.kept_metric.value.toFixed(4)})` : ""),
    );
    logLines.push(JSON.stringify(summary));
    await saveModelDir(ctx.output("model"), config, labels, result.weights, ctx.inputs.tokenizer, {
      labelAllTokens: label_all_tokens,
    });
    await Deno.writeTextFile(
      `${ctx.output("model")}/${TRAINING_SUMMARY}`,
      JSON.stringify(summary, null, 2) + "\n",
    );
    await Deno.writeTextFile(ctx.output("log"), logLines.join("\n") + "\n");
    if (checkpointDir) {
      const kept = await finishCheckpoints(checkpointDir, p.keep_checkpoints);
      if (kept.length) ctx.log.info(`kept ${kept.length} checkpoint(s) in ${checkpointDir}/kept`);
    }
  },
});
