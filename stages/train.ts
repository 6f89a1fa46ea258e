/**
 * Stage `train`: a BERT token classifier trained with TensorFlow.js (AdamW, warm-up + linear
 * decay, global-norm clipping, dropout), evaluated on the validation batches after each epoch
 * with the decoder and metrics `validate` uses (ner/evaluate.ts); the epoch with the best
 * `select` figure is kept (by default the one `validate` reports first), or the best by
 * `early_stopping`'s metric, which can also end training early.
 *
 * With the inputs `encoded` and `dataset`, it also learns where entities may end inside a word
 * (the tails after training entities, ner/boundaries.ts) and stores these rules with the model,
 * so that `validate` and `predict` decode under the same rules.
 *
 * Long runs write checkpoints into the stage's checkpoint directory (`ctx.checkpoints`,
 * `.pipeline/checkpoints/<key>/`): a rerun of the same key after a kill resumes from the newest
 * one and ends with the same weights, bit for bit, as a run that was never interrupted.
 *
 * @module
 */

import { defineStage, type ParamProblem, type ParamsOf } from "../runner/stage.ts";
import type { TensorBatch } from "../ner/batches.ts";
import { formatSeconds } from "../runner/report.ts";
import schema from "../schemas/train.schema.ts";
import {
  ArtifactError,
  checkAbort,
  type EncodedArtifact,
  mismatchedInputs,
  openStream,
  readArtifact,
  readBatches,
  readInputDir,
} from "./_artifacts.ts";
import type { Dataset, EncodedWindow } from "../ner/types.ts";
import type { BoundaryMode } from "../ner/boundaries.ts";
import type { CrfParams } from "../ner/crf.ts";
import type { ReportContext, ReportSection } from "../runner/stage.ts";
import {
  TRAINING_SUMMARY,
  TRAINING_SUMMARY_VERSION,
  type TrainingSummary,
} from "./_training_summary.ts";

/**
 * The report's code, imported by a computed specifier so that it is not part of this stage's
 * code hash: how the report looks must not retrain (see `report` below).
 */
const REPORT_MODULE = "./_report.ts";

/** Parameters of `train`, typed from its schema (schemas/train.schema.ts). */
export type TrainParams = ParamsOf<typeof schema>;

/** Where a model's entities may start and end: learned here, stored with the model. */
interface LearnedBoundaries {
  mode: BoundaryMode;
  tails: Map<string, number>;
}

/** Metrics that can choose the kept epoch (`select`). */
export type SelectMetric = TrainParams["select"];

/** Metrics `early_stopping` can watch (they also choose the kept epoch then). */
export type StoppingMetric = SelectMetric;

/**
 * The key of a metric in the evaluation's results, and whether higher is better: `headline` is
 * `span_f1` or `f1`, as `validate` reports it for this dataset.
 */
function metricKey(
  metric: SelectMetric,
  headline: "span_f1" | "f1",
): { key: string; mode: "max" | "min" } {
  if (metric === "loss") return { key: "validation_loss", mode: "min" };
  return { key: metric === "headline" ? headline : metric, mode: "max" };
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
  const needSpans = (param: string, what: string, instead: string) => {
    if (!missing.length) return;
    problems.push({
      param,
      message: `${what}, which needs the inputs encoded and dataset; ${missing.join(" and ")} ${
        missing.length === 1 ? "is" : "are"
      } not given`,
      hint: `add to the inputs of train what validate takes: encoded: <preprocess-input>.encoded ` +
        `and dataset: <load>.dataset, or ${instead}`,
    });
  };
  if (p.early_stopping?.metric === "span_f1") {
    needSpans(
      "early_stopping.metric",
      "early_stopping on span_f1 scores exact character spans",
      "watch metric f1 or loss",
    );
  } else if (!p.early_stopping && p.select === "span_f1") {
    needSpans("select", "select span_f1 scores exact character spans", "select f1 or loss");
  }
  if (p.boundaries === "words+learned-tails") {
    needSpans(
      "boundaries",
      "boundaries words+learned-tails learns the tails after the training entities",
      "use boundaries auto or pieces",
    );
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
  const encoded = await readArtifact(inputs, "encoded", "ner-encoded", { split: "validation" });
  const dataset = await readArtifact(inputs, "dataset", "ner-dataset", { split: "validation" });
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

/**
 * Counts the tails after the training entities (see ner/boundaries.ts `learnTails`), reading the
 * training documents and their windows side by side, one document at a time.
 */
async function trainingTails(
  inputs: Record<string, string>,
  signal: AbortSignal,
): Promise<{ tails: Map<string, number>; entities: number }> {
  const { learnTails } = await import("../ner/boundaries.ts");
  const docs = await openStream(inputs, "dataset", "ner-dataset");
  const encoded = await openStream(inputs, "encoded", "ner-encoded");
  const tails = new Map<string, number>();
  let entities = 0;
  let index = 0;
  const windows = encoded.records[Symbol.asyncIterator]();
  let pending = await windows.next();
  try {
    for await (const doc of docs.records) {
      if (doc.split !== "train") continue;
      if (index % 1000 === 0) await checkAbort(signal);
      entities += doc.entities.length;
      const mine: EncodedWindow[] = [];
      while (!pending.done && pending.value.split === "train" && pending.value.doc <= index) {
        if (pending.value.doc === index) mine.push(pending.value);
        pending = await windows.next();
      }
      learnTails([{ text: doc.text, entities: doc.entities, windows: mine }], tails);
      index++;
    }
  } finally {
    await windows.return?.(undefined);
  }
  return { tails, entities };
}

/** The `train` stage kind. */
export const train = defineStage({
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
    const { numericSetup, setupBackend } = await import(
      new URL("../ner/bert/backend.ts", import.meta.url).href
    ) as typeof import("../ner/bert/backend.ts");
    const { makeBertConfig, withClassifierHead } = await import("../ner/bert/config.ts");
    const { replicatesOn, trainTokenClassifier } = await import(
      new URL("../ner/bert/trainer.ts", import.meta.url).href
    ) as typeof import("../ner/bert/trainer.ts");
    const { decodeValidation, headlineMetric, validationFit, validationMetrics } = await import(
      "../ner/evaluate.ts"
    );
    const { boundariesJson } = await import("../ner/boundaries.ts");
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
    const learned: LearnedBoundaries = { mode: "pieces", tails: new Map() };
    if (p.boundaries === "words+learned-tails" || (p.boundaries === "auto" && spans)) {
      const { tails, entities } = await trainingTails(ctx.inputs, ctx.signal);
      learned.mode = "words+learned-tails";
      learned.tails = tails;
      let inside = 0;
      for (const count of tails.values()) inside += count;
      ctx.log.info(
        `boundaries words+learned-tails: ${tails.size} tails after the ${inside} of ${entities} ` +
          `training entities that end inside a word`,
      );
    } else if (p.boundaries === "auto") {
      ctx.log.info(
        "boundaries pieces: entities may start and end at any piece (give train the inputs " +
          "encoded and dataset to learn word boundaries and tails)",
      );
    }
    const rules = { mode: learned.mode, tails: new Set(learned.tails.keys()) };
    const spanDocs = spans ? { windows: spans.windows, docs: spans.dataset.validation } : undefined;
    const headline = spans ? headlineMetric(spans.dataset.format) : "f1";
    if (spans && set.validation?.length) {
      // What the rules cannot give, whatever the model learns: the gold entities of the
      // validation split that start or end where they do not allow.
      const fit = validationFit(set.validation, spanDocs!, rules);
      ctx.log.info(
        `boundaries ${rules.mode}: ${fit.inexpressible} of ${fit.entities} validation entities ` +
          `cannot be given under them`,
      );
    }
    await checkAbort(ctx.signal);
    const choice = await setupBackend(p.backend);
    ctx.log.info(`backend ${choice.backend}: ${choice.reason}`);

    let config;
    let initialWeights;
    if (p.from) {
      const checkpoint = await loadModelDir(p.from!);
      // The head is train's: the checkpoint's CRF scores are kept only for a CRF head.
      config = withClassifierHead(checkpoint.config, p.head);
      const adapted = adaptCheckpoint({ ...checkpoint, config }, labels, p.seed);
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
        ...(p.head === "crf" ? { nerpipe_head: "crf" as const } : {}),
      });
    }
    ctx.log.info(
      `BERT L${config.num_hidden_layers} H${config.hidden_size} A${config.num_attention_heads} ` +
        `I${config.intermediate_size}, ${labels.length} labels, vocabulary ${config.vocab_size}` +
        (p.head === "crf" ? ", CRF head" : ""),
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
    const watched = es ? metricKey(es.metric, headline) : undefined;
    const selected = metricKey(es ? es.metric : p.select, headline);
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
      select: { metric: selected.key, mode: selected.mode },
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
              ctx.log.info(
                r.epoch > p.epochs
                  ? `resumed after epoch ${p.epochs} step ${r.step}`
                  : `resumed at epoch ${r.epoch} step ${r.step}`,
              );
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
            crf: CrfParams | null,
          ) => {
            // Every batch is queued before any result is read: on a GPU one host round trip
            // per epoch, not one per batch.
            const probs = await Promise.all(validation.map((batch) => probabilities(batch)));
            // Scored exactly as validate scores the same weights (ner/evaluate.ts).
            const decoded = decodeValidation(
              validation,
              probs,
              labels,
              rules,
              spanDocs,
              crf ?? undefined,
            );
            const v = validationMetrics(
              decoded,
              spans?.dataset.format ?? "",
              labels,
              spanDocs,
            );
            const metrics: { f1: number; [k: string]: number } = {
              f1: v.pieces.f1,
              precision: v.pieces.precision,
              recall: v.pieces.recall,
              accuracy: v.accuracy,
              validation_loss: v.loss,
            };
            if (v.characters) {
              metrics.span_f1 = v.characters.f1;
              metrics.span_precision = v.characters.precision;
              metrics.span_recall = v.characters.recall;
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
          `epoch ${e.epoch}: training loss ${e.loss.toFixed(4)}` +
            (m
              ? `, validation loss ${m.validation_loss?.toFixed(4)}` +
                (m.span_f1 !== undefined ? `, exact-span F1 ${m.span_f1.toFixed(4)}` : "") +
                `, word-piece entity F1 ${m.f1.toFixed(4)}, token accuracy ${
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
    if (result.stoppedEarly) ctx.log.info(result.stoppedEarly);
    const metricName = selected.key === "validation_loss" ? "loss" : selected.key;
    const summary: TrainingSummary = {
      version: TRAINING_SUMMARY_VERSION,
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
      boundaries: boundariesJson(learned.mode, learned.tails),
      numerics: await numericSetup(result.replicas),
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
