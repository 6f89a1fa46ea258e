/**
 * Stage `train`: a BERT token classifier trained with TensorFlow.js (AdamW, warm-up + linear
 * decay, global-norm clipping, dropout), evaluated on the validation batches after each epoch;
 * the epoch with the best entity F1 is kept.
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
  readArtifact,
  readBatches,
  readInputDir,
} from "./_artifacts.ts";
import { IGNORE_INDEX as IGNORE } from "../ner/labels.ts";
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
): ParamProblem[] {
  if (p.from !== undefined) return [];
  const problems: ParamProblem[] = [];
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

/** The `train` stage kind. */
export const train = defineStage<TrainParams>({
  name: "train",
  version: 1,
  description: schema.description,
  schema,
  inputs: {
    batches: { type: "ner-batches", description: "Output of tensorize" },
    labels: { type: "label-dictionary", description: "Label dictionary of embed-pad" },
    tokenizer: { type: "tokenizer", description: "Tokenizer of preprocess-input" },
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
  check: (p, context) => trainProblems(p, context.upstream("preprocess-input")),
  module: import.meta.url,
  async report(ctx) {
    const m: { trainSections(c: ReportContext): Promise<ReportSection[]> } = await import(
      REPORT_MODULE
    );
    return await m.trainSections(ctx as unknown as ReportContext);
  },
  async run(ctx) {
    const p = ctx.params;
    const { setupBackend } = await import("../ner/bert/backend.ts");
    const { makeBertConfig } = await import("../ner/bert/config.ts");
    const { replicatesOn, trainTokenClassifier } = await import("../ner/bert/trainer.ts");
    const { entityMetrics, tokenAccuracy } = await import("../ner/metrics.ts");
    const { CheckpointError, loadModelDir, saveModelDir } = await import("../ner/checkpoint.ts");
    const { adaptCheckpoint } = await import("../ner/adapt.ts");

    // Inputs first: a file of the wrong kind fails before the backend is set up.
    const set = await readBatches(ctx.inputs, "batches");
    const { labels, label_all_tokens } = await readArtifact(
      ctx.inputs,
      "labels",
      "label-dictionary",
    );
    const { loadTokenizer } = await import("../ner/tokenizer/files.ts");
    const tokenizer = await readInputDir(
      ctx.inputs,
      "tokenizer",
      "tokenizer",
      (dir) => loadTokenizer(dir, { transformers: false }),
    );
    const vocabSize = tokenizer.vocab.length;
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
    const result = await trainTokenClassifier({
      config,
      numLabels: labels.length,
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
      ...(set.validation?.length
        ? {
          evaluate: async (_epoch: number, predict: (b: TensorBatch) => Promise<Int32Array>) => {
            const gold: string[][] = [];
            const pred: string[][] = [];
            // Every batch is queued before any result is read: on a GPU one host round trip
            // per epoch, not one per batch.
            const classes = await Promise.all(set.validation!.map((batch) => predict(batch)));
            for (const [i, batch] of set.validation!.entries()) {
              const tags = batchTags(batch, classes[i]!, labels);
              gold.push(...tags.gold);
              pred.push(...tags.pred);
            }
            const m = entityMetrics(gold, pred);
            return {
              f1: m.f1,
              precision: m.precision,
              recall: m.recall,
              accuracy: tokenAccuracy(gold, pred),
            };
          },
        }
        : {}),
      onStep(s) {
        const done = (performance.now() - started) / 1000;
        const eta = s.step > 0 ? (done / s.step) * (s.totalSteps - s.step) : 0;
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
              ? `, validation entity F1 ${m.f1.toFixed(4)}, token accuracy ${
                m.accuracy?.toFixed(4)
              }`
              : "") +
            ` (${formatSeconds(e.trainSeconds)} training)`,
        );
        logLines.push(
          JSON.stringify({ epoch: e.epoch, loss: e.loss, ...m, backend: choice.backend }),
        );
      },
    });
    ctx.log.info(`kept epoch ${result.bestEpoch} of ${p.epochs}`);
    await saveModelDir(ctx.output("model"), config, labels, result.weights, ctx.inputs.tokenizer, {
      labelAllTokens: label_all_tokens,
    });
    await Deno.writeTextFile(ctx.output("log"), logLines.join("\n") + "\n");
  },
});
