/**
 * Training loop of the token classifier: AdamW, linear warm-up and decay,
 * global-norm clipping, per-epoch evaluation and best-epoch selection.
 *
 * Each step runs in `tf.tidy`; the loss and gradient norm leave the device in
 * one asynchronous read, one step late, so that a GPU backend never waits
 * for the host. With a CRF head (`nerpipe_head: "crf"`) the step waits once:
 * its logits are read to compute the CRF's loss on the host (see
 * `crfBatchGradients` in `_step.ts` and docs/crf.md).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { LabelledBatch } from "../types.ts";
import type { CrfParams } from "../crf.ts";
import { AdamW } from "./adamw.ts";
import type { BertConfig } from "./config.ts";
import { type HostTensor, initWeights, paramSpecs } from "./init.ts";
import { BertModel } from "./model.ts";
import { mixSeed, Rng } from "./_random.ts";
import { tidyAsync } from "./_scope.ts";
import { linearWarmupDecay, warmupSteps } from "./schedule.ts";
import { ReplicaPool } from "./_replicas.ts";
import {
  pruneCheckpoints,
  readLatestCheckpoint,
  runFingerprint,
  type TrainCheckpoint,
  writeCheckpoint,
} from "./_train_state.ts";
import {
  applyParts,
  batchGradients,
  clipAndApply,
  crfBatchGradients,
  disposeGradients,
  downloadGradients,
  headPartGradients,
  labelCount,
  type PartGradients,
  splitBatch,
  uploadGradients,
} from "./_step.ts";

/** One padded batch, row-major `[batchSize, seqLen]` (see {@link LabelledBatch}). */
export type Batch = LabelledBatch;

/** Progress of one optimiser step. */
export interface StepInfo {
  /** The epoch, counted from 1. */
  epoch: number;
  /** 1-based step over the whole run. */
  step: number;
  totalSteps: number;
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Global gradient norm after clipping: what the optimiser applied ({@link clippedNorm}). */
  gradNormClipped: number;
  /** Learning rate used by this step. */
  lr: number;
  /** Real (unpadded) tokens per second over this step. */
  tokensPerS: number;
  /** Seconds since training began. */
  seconds: number;
}

/** Metrics from the caller's evaluation; `f1` selects the best epoch. */
export interface EvalMetrics {
  f1: number;
  [k: string]: number;
}

/** Summary of one epoch. */
export interface EpochInfo {
  /** The epoch, counted from 1 (as every log and file of nerpipe counts them). */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  loss: number;
  /** Evaluation metrics, when an `evaluate` callback was given. */
  metrics?: EvalMetrics;
  /** Seconds spent training in this epoch (evaluation excluded). */
  trainSeconds: number;
  /** Seconds since training began. */
  seconds: number;
}

/** Options of {@link trainTokenClassifier}. */
export interface TrainOptions {
  config: BertConfig;
  numLabels: number;
  epochs: number;
  learningRate: number;
  weightDecay: number;
  /** Fraction of steps with linear warm-up. */
  warmupRatio: number;
  /** Global-norm clipping threshold; 0 disables clipping. */
  maxGradNorm: number;
  /** Seeds initialisation, shuffling and dropout. */
  seed: number;
  /** Training batches; their order is shuffled each epoch. */
  train: Batch[];
  /**
   * Called after each epoch (`epoch` counted from 1); `predict` returns the argmax class per
   * position of a batch,
   * `probabilities` the softmax of its logits (`[batchSize * seqLen * numLabels]`), and `crf`
   * the CRF head's scores at that epoch (null for a softmax head), to decode with.
   */
  evaluate?: (
    epoch: number,
    predict: (b: Batch) => Promise<Int32Array>,
    probabilities: (b: Batch) => Promise<Float32Array>,
    crf: CrfParams | null,
  ) => Promise<EvalMetrics>;
  onStep?: (s: StepInfo) => void;
  onEpochEnd?: (e: EpochInfo) => void;
  /** Checked after each batch; training stops with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Starting weights in Hugging Face naming and layout (default: seeded random
   * init). A missing or differently shaped `classifier.*` is initialised
   * randomly; extra names (a pooler) are ignored.
   */
  initialWeights?: Map<string, HostTensor | Float32Array>;
  /**
   * Data-parallel replicas, each a thread with its own copy of the model
   * (default `"auto"`: one per CPU core, at most 4, on wasm and cpu; 1 on
   * WebGPU). Results depend on this number only through dropout masks.
   */
  workers?: number | "auto";
  /** Shuffle the batch order each epoch (default true). */
  shuffle?: boolean;
  /**
   * The evaluation metric that picks the kept epoch (default: `f1`, higher is better); with
   * `earlyStopping`, its metric.
   */
  select?: { metric: string; mode: "max" | "min" };
  /** Stop when the evaluation metric has not improved for a while (needs `evaluate`). */
  earlyStopping?: EarlyStopping;
  /** Write checkpoints, and resume from the newest one found (see {@link CheckpointOptions}). */
  checkpoint?: CheckpointOptions;
}

/** When to stop early: see {@link earlyStoppingDecision}. */
export interface EarlyStopping {
  /** Key of the metric in the evaluation's results. */
  metric: string;
  /** The metric's name in messages (default `metric`). */
  name?: string;
  /** `max`: higher is better (F1); `min`: lower is better (loss). */
  mode: "max" | "min";
  /** Epochs without improvement after which training stops. */
  patience: number;
  /** Least change that counts as an improvement. */
  minDelta: number;
}

/** Where and when {@link trainTokenClassifier} writes checkpoints, and what it says of them. */
export interface CheckpointOptions {
  /**
   * A directory for this run alone: the newest checkpoint of the same run in it (same
   * hyper-parameters, data shapes and replica count) is resumed from.
   */
  dir: string;
  /**
   * A checkpoint every this many steps. Default: at the end of each epoch (after its
   * evaluation), and within an epoch when `maxSeconds` have passed since the last one.
   */
  everySteps?: number;
  /** Without `everySteps`: the longest time between two checkpoints (default 600 s). */
  maxSeconds?: number;
  /** Checkpoints kept while training (default 2: a damaged newest falls back to the one before). */
  retain?: number;
  /** The caller's state to keep with each checkpoint (JSON); `onResume` gets it back. */
  save?: () => unknown;
  /** Called once when a run resumes, before its first step. */
  onResume?: (r: ResumeInfo) => void;
  /** Called when a checkpoint is written: its step, size and the seconds it took. */
  onWrite?: (w: { step: number; bytes: number; seconds: number; path: string }) => void;
  /** Told of checkpoints that could not be used (damaged, or of another run). */
  onSkip?: (path: string, reason: string) => void;
}

/** Where a resumed run starts again. */
export interface ResumeInfo {
  /** The epoch it resumes in, counted from 1 (one past the last when every epoch had ended). */
  epoch: number;
  /** Steps already done over the whole run. */
  step: number;
  /** Batches of that epoch already done. */
  position: number;
  /** The checkpoint's directory. */
  path: string;
  /** What `save` returned when it was written. */
  extra: unknown;
}

/** The outcome of {@link earlyStoppingDecision}. */
export interface StoppingDecision {
  stop: boolean;
  /** Index of the best value (the first of equal ones); -1 for an empty history. */
  best: number;
  /** Epochs since the last one that improved by more than `minDelta`. */
  since: number;
}

/**
 * The early-stopping rule over the metric of the epochs so far: an epoch improves when its value
 * beats the value of the last improving epoch by more than `minDelta` (the first epoch always
 * improves); training stops once `patience` epochs in a row have not. The best epoch is the one
 * with the best value, whatever `minDelta`.
 *
 * @param values The metric after each epoch, in order.
 * @param rule Direction, patience and least improvement.
 * @returns Whether to stop, the best epoch and the epochs since the last improvement.
 */
export function earlyStoppingDecision(
  values: readonly number[],
  rule: Pick<EarlyStopping, "mode" | "patience" | "minDelta">,
): StoppingDecision {
  const better = (a: number, b: number, delta: number) =>
    rule.mode === "max" ? a > b + delta : a < b - delta;
  let reference = NaN;
  let since = 0;
  let best = -1;
  values.forEach((v, i) => {
    if (best < 0 || better(v, values[best]!, 0)) best = i;
    if (i === 0 || better(v, reference, rule.minDelta)) {
      reference = v;
      since = 0;
    } else {
      since++;
    }
  });
  return { stop: values.length > 0 && since >= rule.patience, best, since };
}

/** Result of {@link trainTokenClassifier}. */
export interface TrainResult {
  /** Weights of the best epoch (by evaluation F1; the last epoch without evaluation), Hugging Face layout. */
  weights: Map<string, HostTensor>;
  /** The best epoch, counted from 1 (`history[bestEpoch - 1]`). */
  bestEpoch: number;
  /** The selection metric's value at the best epoch (absent without evaluation). */
  bestMetric?: number;
  /** Why training stopped before its last epoch, when early stopping stopped it. */
  stoppedEarly?: string;
  /** Where the run resumed, when it did (as {@link ResumeInfo}). */
  resumed?: { epoch: number; step: number };
  history: EpochInfo[];
  totalSteps: number;
  seconds: number;
  /** Data-parallel replicas it trained with (the dropout masks, and so the bytes, depend on it). */
  replicas: number;
}

/**
 * Starting weights: the given ones over a seeded random init. A missing or
 * differently shaped classifier or CRF (a checkpoint trained for other labels,
 * or a plain pre-trained BERT) keeps its initial values; any other missing or
 * mis-shaped weight is an error.
 */
function resolveInitial(opts: TrainOptions): Map<string, HostTensor> {
  const out = initWeights(opts.config, opts.numLabels, opts.seed);
  if (!opts.initialWeights) return out;
  for (const spec of paramSpecs(opts.config, opts.numLabels)) {
    const given = opts.initialWeights.get(spec.name);
    const w = given instanceof Float32Array ? { shape: spec.shape, data: given } : given;
    const fits = w !== undefined && w.shape.length === spec.shape.length &&
      w.shape.every((d, i) => d === spec.shape[i]) &&
      w.data.length === spec.shape.reduce((a, b) => a * b, 1);
    if (fits) {
      out.set(spec.name, w);
    } else if (!spec.name.startsWith("classifier.") && !spec.name.startsWith("crf.")) {
      throw new RangeError(
        w
          ? `Initial weight "${spec.name}" has shape [${w.shape}]: expected [${spec.shape}]`
          : `Initial weights lack "${spec.name}"`,
      );
    }
  }
  return out;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("Training aborted", "AbortError");
}

/**
 * Trains a `BertForTokenClassification` on the active tfjs backend.
 *
 * @param opts Data, hyper-parameters and callbacks.
 * @returns Best weights and per-epoch history.
 * @throws The signal's reason when aborted; `RangeError` on inconsistent batches.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "./backend.ts";
 * import { makeBertConfig } from "./config.ts";
 * import { trainTokenClassifier } from "./trainer.ts";
 * await setupBackend("cpu");
 * const batch = {
 *   ids: new Int32Array([2, 3, 4, 5]), mask: new Int32Array([1, 1, 1, 1]),
 *   labels: new Int32Array([0, 1, 0, 1]), batchSize: 1, seqLen: 4,
 * };
 * const { weights, totalSteps, history } = await trainTokenClassifier({
 *   config: makeBertConfig(8, { hidden_size: 8, num_attention_heads: 2, intermediate_size: 16, num_hidden_layers: 1 }),
 *   numLabels: 2, epochs: 1, learningRate: 1e-3, weightDecay: 0.01, warmupRatio: 0,
 *   maxGradNorm: 1, seed: 1, train: [batch],
 * });
 * assert.deepEqual(weights.get("classifier.weight")?.shape, [2, 8]); // [labels, hidden]
 * assert.equal(totalSteps, 1); // one batch, one epoch
 * assert.equal(history.length, 1);
 * ```
 */
export async function trainTokenClassifier(opts: TrainOptions): Promise<TrainResult> {
  if (!(opts.epochs >= 1) || !Number.isInteger(opts.epochs)) {
    throw new RangeError(`Epochs must be a positive integer: got ${opts.epochs}`);
  }
  if (opts.train.length === 0) throw new RangeError("No training batches");
  opts.signal?.throwIfAborted();
  const stepsPerEpoch = opts.train.length;
  const totalSteps = stepsPerEpoch * opts.epochs;
  const replicas = resolveReplicas(opts.workers ?? "auto", tf.getBackend());
  const select = opts.select ??
    (opts.earlyStopping
      ? { metric: opts.earlyStopping.metric, mode: opts.earlyStopping.mode }
      : { metric: "f1", mode: "max" as const });
  const ck = opts.checkpoint;
  const fingerprint = ck ? await runFingerprint(runIdentity(opts, replicas, select)) : "";
  const found = ck ? await readLatestCheckpoint<EpochInfo>(ck.dir, fingerprint, ck.onSkip) : null;
  const restored: TrainCheckpoint<EpochInfo> | null = found?.checkpoint ?? null;
  const model = BertModel.fromWeights(
    opts.config,
    opts.numLabels,
    restored ? restored.weights : resolveInitial(opts),
  );
  const optimizer = new AdamW(model.params, { weightDecay: opts.weightDecay });
  let pool: ReplicaPool | null = null;
  try {
    if (restored) optimizer.importState(restored.optimizer);
    if (replicas > 1) {
      pool = await ReplicaPool.start(replicas - 1, {
        backend: tf.getBackend(),
        config: opts.config,
        numLabels: opts.numLabels,
        weights: await model.exportWeights(),
        weightDecay: opts.weightDecay,
        ...(restored ? { optimizer: restored.optimizer } : {}),
      });
    }
  } catch (e) {
    optimizer.dispose();
    model.dispose();
    throw e;
  }
  // Replicas share the cores: with OpenBLAS, each gets cores / replicas threads.
  const warmup = warmupSteps(opts.warmupRatio, totalSteps);
  const t0 = performance.now() - (restored ? restored.seconds * 1000 : 0);
  const history: EpochInfo[] = restored ? restored.history : [];
  let best: { epoch: number; value: number; weights: Map<string, HostTensor> } | null =
    restored?.best ? { ...restored.best, weights: restored.bestWeights ?? restored.weights } : null;
  /** Whether `best.weights` are the model's weights now (no step since they were taken). */
  let bestIsCurrent = restored?.best ? restored.bestWeights === undefined : false;
  let globalStep = restored ? restored.globalStep : 0;
  const predict = (b: Batch) => model.predictClasses(b);
  const probabilities = (b: Batch) => model.predictProbabilities(b);
  let lastCheckpoint = performance.now();
  let stoppedEarly: string | undefined;

  interface Pending {
    stats: tf.Tensor1D;
    epoch: number;
    step: number;
    lr: number;
    tokens: number;
    started: number;
  }
  let pending: Pending | null = null;
  let epochLossSum = restored ? restored.epochLossSum : 0;
  let epochLossCount = restored ? restored.epochLossCount : 0;
  /** Reports the pending step; `end` is when the next step started (else now). */
  const flush = async (end?: number): Promise<void> => {
    if (!pending) return;
    const p = pending;
    pending = null;
    const [loss, gradNorm] = (await p.stats.data()) as Float32Array;
    p.stats.dispose();
    const now = performance.now();
    epochLossSum += loss!;
    epochLossCount++;
    opts.onStep?.({
      epoch: p.epoch,
      step: p.step,
      totalSteps,
      loss: loss!,
      gradNorm: gradNorm!,
      gradNormClipped: clippedNorm(gradNorm!, opts.maxGradNorm),
      lr: p.lr,
      tokensPerS: p.tokens / Math.max(1e-9, ((end ?? now) - p.started) / 1000),
      seconds: (now - t0) / 1000,
    });
  };
  /**
   * Writes a checkpoint of the state between two steps (every pending step flushed), `ended`
   * epochs and `position` batches of the next one done.
   */
  const save = async (ended: number, position: number, epochSeconds: number) => {
    if (!ck) return;
    const began = performance.now();
    const written = await writeCheckpoint<EpochInfo>(ck.dir, {
      fingerprint,
      globalStep,
      epoch: ended,
      position,
      epochLossSum,
      epochLossCount,
      epochSeconds,
      seconds: (began - t0) / 1000,
      history,
      best: best ? { epoch: best.epoch, value: best.value } : null,
      extra: ck.save?.() ?? null,
      weights: await model.exportWeights(),
      optimizer: await optimizer.exportState(),
      ...(best && !bestIsCurrent ? { bestWeights: best.weights } : {}),
    });
    await pruneCheckpoints(ck.dir, ck.retain ?? 2);
    lastCheckpoint = performance.now();
    ck.onWrite?.({
      step: globalStep,
      bytes: written.bytes,
      seconds: (lastCheckpoint - began) / 1000,
      path: written.path,
    });
  };
  const decide = () => {
    const rule = opts.earlyStopping;
    if (!rule || !opts.evaluate) return;
    const values = history.map((h) => h.metrics?.[rule.metric] ?? NaN);
    const d = earlyStoppingDecision(values, rule);
    if (!d.stop || history.length >= opts.epochs) return;
    const b = history[d.best]!;
    stoppedEarly =
      `early stopping: ${rule.name ?? rule.metric} did not improve by more than ${rule.minDelta} ` +
      `for ${d.since} epoch${d.since === 1 ? "" : "s"} (best ${
        formatMetric(values[d.best]!)
      } at epoch ${b.epoch})`;
  };

  try {
    if (found && restored) {
      ck!.onResume?.({
        epoch: restored.epoch + 1,
        step: restored.globalStep,
        position: restored.position,
        path: found.path,
        extra: restored.extra,
      });
      decide();
    }
    // `done` counts the epochs that have ended (a checkpoint's `epoch`); the epoch in progress
    // is `done + 1` wherever it is shown.
    const startEpoch = restored ? restored.epoch : 0;
    for (let done = startEpoch; done < opts.epochs && !stoppedEarly; done++) {
      const epoch = done + 1;
      const resuming = restored !== null && done === startEpoch;
      const epochStart = performance.now();
      const epochBefore = resuming ? restored.epochSeconds : 0;
      if (!resuming) {
        epochLossSum = 0;
        epochLossCount = 0;
      }
      const order = Array.from({ length: stepsPerEpoch }, (_, i) => i);
      if (opts.shuffle ?? true) {
        const rng = new Rng(mixSeed(opts.seed, 1000 + done));
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(rng.next() * (i + 1));
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
      }
      for (let position = resuming ? restored.position : 0; position < order.length; position++) {
        const batch = opts.train[order[position]!]!;
        const lr = linearWarmupDecay(globalStep, opts.learningRate, warmup, totalSteps);
        const started = performance.now();
        let tokens = 0;
        for (let i = 0; i < batch.mask.length; i++) tokens += batch.mask[i] ? 1 : 0;
        const dropoutSeed = mixSeed(opts.seed, globalStep);
        const stats = pool
          ? await parallelStep(model, optimizer, pool, batch, opts, lr, dropoutSeed)
          : model.head === "crf"
          // The CRF's loss is computed on the host from the logits, read in the middle of the
          // step (see crfBatchGradients).
          ? await tidyAsync(async () => {
            const { loss, grads } = await crfBatchGradients(
              model,
              batch,
              opts.numLabels,
              dropoutSeed,
            );
            const norm = clipAndApply(optimizer, grads, lr, opts.maxGradNorm);
            return tf.stack([loss, norm]) as tf.Tensor1D;
          })
          : tf.tidy(() => {
            const { loss, grads } = batchGradients(model, batch, opts.numLabels, dropoutSeed);
            const norm = clipAndApply(optimizer, grads, lr, opts.maxGradNorm);
            return tf.stack([loss, norm]) as tf.Tensor1D;
          });
        globalStep++;
        bestIsCurrent = false;
        // Read the previous step's numbers while this one runs.
        await flush(started);
        pending = { stats, epoch, step: globalStep, lr, tokens, started };
        if (opts.signal?.aborted) {
          await flush();
          throw abortReason(opts.signal);
        }
        const due = ck &&
          (ck.everySteps
            ? globalStep % ck.everySteps === 0
            : performance.now() - lastCheckpoint >= (ck.maxSeconds ?? 600) * 1000);
        if (due) {
          await flush();
          await save(done, position + 1, epochBefore + (performance.now() - epochStart) / 1000);
        }
      }
      await flush();
      const trainSeconds = epochBefore + (performance.now() - epochStart) / 1000;
      const info: EpochInfo = {
        epoch,
        loss: epochLossCount ? epochLossSum / epochLossCount : 0,
        trainSeconds,
        seconds: 0,
      };
      if (opts.evaluate) {
        const metrics = await opts.evaluate(epoch, predict, probabilities, await model.crfParams());
        info.metrics = metrics;
        const value = metrics[select.metric] ?? NaN;
        if (!best || (select.mode === "max" ? value > best.value : value < best.value)) {
          best = { epoch, value, weights: await model.exportWeights() };
          bestIsCurrent = true;
        }
      }
      info.seconds = (performance.now() - t0) / 1000;
      history.push(info);
      opts.onEpochEnd?.(info);
      decide();
      if (ck && !ck.everySteps) {
        // The next epoch starts its loss sums afresh.
        epochLossSum = 0;
        epochLossCount = 0;
        await save(done + 1, 0, 0);
      }
      if (opts.signal?.aborted) throw abortReason(opts.signal);
    }
    const weights = best ? best.weights : await model.exportWeights();
    return {
      weights,
      bestEpoch: best ? best.epoch : history.length,
      ...(best ? { bestMetric: best.value } : {}),
      ...(stoppedEarly ? { stoppedEarly } : {}),
      ...(restored ? { resumed: { epoch: restored.epoch + 1, step: restored.globalStep } } : {}),
      history,
      totalSteps,
      seconds: (performance.now() - t0) / 1000,
      replicas,
    };
  } finally {
    const p = pending as Pending | null;
    p?.stats.dispose();
    pool?.close();
    optimizer.dispose();
    model.dispose();
  }
}

/** A metric's value for a message: 4 significant digits. */
function formatMetric(v: number): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(4))) : String(v);
}

/**
 * What a run's outcome depends on beyond its initial weights, for the checkpoint fingerprint:
 * hyper-parameters, the model's shape, the batches' shapes and a hash of their contents, and
 * the replica count (dropout masks depend on it).
 */
function runIdentity(
  opts: TrainOptions,
  replicas: number,
  select: { metric: string; mode: string },
): unknown {
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h = Math.imul(h ^ (x | 0), 16777619) >>> 0;
  };
  for (const b of opts.train) {
    mix(b.batchSize);
    mix(b.seqLen);
    for (let i = 0; i < b.ids.length; i++) mix(b.ids[i]!);
    for (let i = 0; i < b.labels.length; i++) mix(b.labels[i]!);
    for (let i = 0; i < b.mask.length; i++) mix(b.mask[i]!);
  }
  return {
    config: opts.config,
    numLabels: opts.numLabels,
    epochs: opts.epochs,
    learningRate: opts.learningRate,
    weightDecay: opts.weightDecay,
    warmupRatio: opts.warmupRatio,
    maxGradNorm: opts.maxGradNorm,
    seed: opts.seed,
    shuffle: opts.shuffle ?? true,
    replicas,
    select,
    earlyStopping: opts.earlyStopping ?? null,
    initialWeights: opts.initialWeights ? [...opts.initialWeights.keys()].sort() : null,
    batches: opts.train.length,
    data: h,
  };
}

/**
 * The global norm of the gradients after clipping, computed on the host from the norm before:
 * the norm times the factor `clipScale` multiplies the gradients by (`min(1, max / (norm +
 * 1e-6))`; 1 when clipping is off).
 *
 * @param norm Global norm before clipping.
 * @param maxNorm The clipping threshold; `<= 0` or non-finite disables clipping.
 * @returns The norm of the clipped gradients.
 */
export function clippedNorm(norm: number, maxNorm: number): number {
  if (!(maxNorm > 0) || !Number.isFinite(maxNorm)) return norm;
  return norm * Math.min(1, maxNorm / (norm + 1e-6));
}

/** Whether `workers` replicas apply to a backend: those whose tensors live in host memory. */
export function replicatesOn(backend: string): boolean {
  return backend === "wasm" || backend === "cpu";
}

/**
 * How many replicas to train with: on the wasm and cpu backends `workers`, or
 * for `auto` one per CPU core (at most 4); 1 on every other backend.
 */
export function resolveReplicas(workers: number | "auto", backend: string): number {
  if (workers !== "auto" && (!Number.isInteger(workers) || workers < 1)) {
    throw new RangeError(`Workers must be a positive integer or "auto": got ${workers}`);
  }
  // Replicas split the CPU cores. On a GPU backend each would open the device again (and on
  // Mesa's llvmpipe that crashed wgpu in a worker), so it trains in one.
  if (!replicatesOn(backend)) return 1;
  if (workers !== "auto") return workers;
  const cores = typeof navigator !== "undefined" ? navigator.hardwareConcurrency ?? 1 : 1;
  return Math.max(1, Math.min(4, cores));
}

/** One data-parallel step; returns `[loss, gradNorm]` on the device. */
async function parallelStep(
  model: BertModel,
  optimizer: AdamW,
  pool: ReplicaPool,
  batch: Batch,
  opts: TrainOptions,
  lr: number,
  seed: number,
): Promise<tf.Tensor1D> {
  const n = pool.size + 1;
  const parts = splitBatch(batch, n);
  const denominator = labelCount(batch.labels);
  const seeds = parts.map((_, r) => mixSeed(seed, r + 1));
  pool.step(parts.slice(1), opts.numLabels, denominator, seeds.slice(1));
  const own = parts[0];
  const local = own
    ? await headPartGradients(model, own, opts.numLabels, denominator, seeds[0]!)
    : null;
  try {
    const localHost = local ? await downloadGradients(local, own!.ids) : null;
    const remote = await pool.gradients();
    const all = [localHost, ...remote];
    pool.update(all, lr, opts.maxGradNorm);
    return tf.tidy(() => {
      const grads: Omit<PartGradients, "loss">[] = [];
      if (local) grads.push(local);
      for (const r of remote) if (r) grads.push(uploadGradients(model, r));
      const norm = applyParts(model, optimizer, grads, lr, opts.maxGradNorm);
      const loss = all.reduce((a, p) => a + (p?.loss ?? 0), 0);
      return tf.stack([tf.scalar(loss), norm]) as tf.Tensor1D;
    });
  } finally {
    if (local) disposeGradients(local);
  }
}
