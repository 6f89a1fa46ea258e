/**
 * Early stopping and selection (issue 12, "Early stopping and selection"): the stopping rule as
 * a pure function over a metric history, the trainer stopping by it and keeping the best epoch,
 * and train's `early_stopping` through the engine: the log says why training stopped, and
 * validate's metrics.json names the kept epoch and metric; `span_f1` without train's span
 * inputs is a load-time error.
 */
import assert from "node:assert/strict";
import { setupBackend } from "../ner/bert/backend.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import { type Batch, earlyStoppingDecision, trainTokenClassifier } from "../ner/bert/trainer.ts";
import { Rng } from "../ner/bert/_random.ts";
import { loadPipeline } from "../runner/config/load.ts";
import { builtinStages } from "../stages/mod.ts";
import { memoryReporter, runBuiltinPipeline } from "./_engine_helpers.ts";
import { tinyProject } from "./_tiny_ner_project.ts";

const max = (patience: number, minDelta = 0) => ({ mode: "max" as const, patience, minDelta });

Deno.test("the stopping rule: patience epochs in a row without an improvement above min_delta", () => {
  assert.deepEqual(earlyStoppingDecision([], max(2)), { stop: false, best: -1, since: 0 });
  assert.deepEqual(earlyStoppingDecision([0.5], max(1)), { stop: false, best: 0, since: 0 });
  assert.deepEqual(earlyStoppingDecision([0.5, 0.6, 0.6], max(2)), {
    stop: false,
    best: 1,
    since: 1,
  });
  // A tie is no improvement; the best is the first of equal values.
  assert.deepEqual(earlyStoppingDecision([0.5, 0.6, 0.6, 0.55], max(2)), {
    stop: true,
    best: 1,
    since: 2,
  });
  // An improvement resets the count.
  assert.equal(earlyStoppingDecision([0.5, 0.4, 0.7, 0.6], max(2)).stop, false);
  // min_delta: 0.6 -> 0.605 does not count, and is measured from the last improving epoch
  // (0.6), not from 0.605; the best is still the highest value.
  assert.deepEqual(earlyStoppingDecision([0.5, 0.6, 0.605, 0.609], max(2, 0.01)), {
    stop: true,
    best: 3,
    since: 2,
  });
  assert.equal(earlyStoppingDecision([0.5, 0.6, 0.605, 0.611], max(2, 0.01)).stop, false);
  // Lower is better for a loss.
  const min = { mode: "min" as const, patience: 1, minDelta: 0 };
  assert.deepEqual(earlyStoppingDecision([1.0, 0.8, 0.9], min), { stop: true, best: 1, since: 1 });
  assert.equal(earlyStoppingDecision([1.0, 0.8, 0.7], min).stop, false);
});

function batches(): Batch[] {
  const rng = new Rng(3);
  return Array.from({ length: 3 }, () => {
    const ids = Int32Array.from({ length: 12 }, () => 2 + Math.floor(rng.next() * 28));
    return {
      ids,
      mask: new Int32Array(12).fill(1),
      labels: ids.map((id) => id % 3),
      batchSize: 2,
      seqLen: 6,
    };
  });
}

Deno.test("the trainer stops by the rule, says why, and keeps the best epoch, counting epochs from 1", async () => {
  await setupBackend("cpu");
  const f1 = [0.5, 0.8, 0.79, 0.8, 0.9, 0.95];
  const seen: number[] = [];
  const result = await trainTokenClassifier({
    config: makeBertConfig(30, {
      hidden_size: 16,
      num_attention_heads: 2,
      intermediate_size: 32,
      num_hidden_layers: 1,
      max_position_embeddings: 16,
    }),
    numLabels: 3,
    epochs: 6,
    learningRate: 1e-2,
    weightDecay: 0.01,
    warmupRatio: 0,
    maxGradNorm: 1,
    seed: 5,
    workers: 1,
    train: batches(),
    earlyStopping: { metric: "f1", mode: "max", patience: 2, minDelta: 0.001 },
    evaluate: (epoch) => {
      seen.push(epoch);
      return Promise.resolve({ f1: f1[epoch - 1]! });
    },
  });
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.deepEqual(result.history.map((h) => h.epoch), [1, 2, 3, 4]);
  assert.equal(result.bestEpoch, 2);
  assert.equal(result.bestMetric, 0.8);
  assert.equal(
    result.stoppedEarly,
    "early stopping: f1 did not improve by more than 0.001 for 2 epochs (best 0.8 at epoch 2)",
  );
});

Deno.test("without early stopping every epoch runs and the best F1 is kept", async () => {
  await setupBackend("cpu");
  const result = await trainTokenClassifier({
    config: makeBertConfig(30, {
      hidden_size: 8,
      num_attention_heads: 2,
      intermediate_size: 16,
      num_hidden_layers: 1,
      max_position_embeddings: 16,
    }),
    numLabels: 3,
    epochs: 4,
    learningRate: 1e-2,
    weightDecay: 0.01,
    warmupRatio: 0,
    maxGradNorm: 1,
    seed: 5,
    workers: 1,
    train: batches(),
    evaluate: (epoch) => Promise.resolve({ f1: [0.5, 0.8, 0.7, 0.6][epoch - 1]! }),
  });
  assert.equal(result.history.length, 4);
  assert.equal(result.bestEpoch, 2);
  assert.equal(result.stoppedEarly, undefined);
});

const VALIDATE = `  validate:
    uses: validate
    inputs:
      model: train.model
      batches: tensorize.batches
      encoded: preprocess-input.encoded
      dataset: load.dataset
`;

Deno.test({
  name:
    "early_stopping on the validation loss: the log says why, metrics.json the kept epoch, epochs counted from 1 everywhere",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // A learning rate this high makes the validation loss rise after the first epochs.
    const dir = await tinyProject({
      backend: "cpu",
      workers: 1,
      epochs: 12,
      learning_rate: 0.3,
      warmup_ratio: 0,
      checkpoint_every: "epoch",
      early_stopping: { metric: "loss", patience: 1 },
    }, { after: VALIDATE });
    try {
      const lines: string[] = [];
      const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir, {
        reporter: memoryReporter(lines),
      });
      assert.equal(summary.byId.validate, "ran", JSON.stringify(summary.stages));
      const log = (await Deno.readTextFile(`${dir}/out/tiny/train/log.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      const epochs = log.filter((l) => typeof l.epoch === "number" && typeof l.step !== "number");
      assert.ok(epochs.length < 12, `all ${epochs.length} epochs ran:\n${lines.join("\n")}`);
      // The log's epoch lines, its step lines and its messages count epochs from 1.
      assert.deepEqual(epochs.map((e) => e.epoch), epochs.map((_, i) => i + 1));
      const steps = log.filter((l) => typeof l.step === "number");
      assert.equal(steps[0].epoch, 1);
      assert.equal(steps.at(-1).epoch, epochs.length);
      assert.ok(
        lines.some((l) => l.startsWith("[train] epoch 1: training loss")),
        lines.join("\n"),
      );
      const losses = epochs.map((e) => e.validation_loss as number);
      const best = losses.indexOf(Math.min(...losses)) + 1;
      assert.ok(
        lines.includes(`[train] kept epoch ${best} of 12 (loss ${losses[best - 1]!.toFixed(4)})`),
        lines.join("\n"),
      );
      const why = lines.find((l) => l.includes("early stopping:"));
      assert.match(
        why ?? "",
        new RegExp(
          `^\\[train\\] early stopping: loss did not improve by more than 0 for 1 epoch ` +
            `\\(best [0-9.]+ at epoch ${best}\\)$`,
        ),
        lines.join("\n"),
      );
      const metrics = JSON.parse(await Deno.readTextFile(`${dir}/out/tiny/validate/metrics.json`));
      assert.equal(metrics.kept_epoch, best);
      assert.deepEqual(metrics.kept_metric, { name: "loss", value: losses[best - 1] });
      assert.equal(metrics.stopped_early, true);
      const last = log[log.length - 1];
      assert.equal(last.kept_epoch, best);
      const written = JSON.parse(
        await Deno.readTextFile(`${dir}/out/tiny/train/model/training_summary.json`),
      );
      assert.equal(written.kept_epoch, best);
      assert.equal(written.version, 2);
      assert.equal(last.stopped_early, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "early_stopping on span_f1 scores exact spans when train has the span inputs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tinyProject({
      backend: "cpu",
      workers: 1,
      epochs: 2,
      early_stopping: { metric: "span_f1", patience: 5 },
    }, { trainInputs: ", encoded: preprocess-input.encoded, dataset: load.dataset" });
    try {
      const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir);
      assert.equal(summary.byId.train, "ran", JSON.stringify(summary.stages));
      const log = (await Deno.readTextFile(`${dir}/out/tiny/train/log.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      const epochs = log.filter((l) => typeof l.epoch === "number" && typeof l.step !== "number");
      assert.equal(epochs.length, 2);
      for (const e of epochs) assert.ok(e.span_f1 >= 0 && e.span_f1 <= 1, JSON.stringify(e));
      const kept = log[log.length - 1];
      assert.equal(kept.kept_metric.name, "span_f1");
      assert.equal(kept.kept_metric.value, Math.max(...epochs.map((e) => e.span_f1)));
      assert.equal(kept.stopped_early, false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("early_stopping on span_f1 without train's span inputs is a load-time error", async () => {
  const dir = await tinyProject({ early_stopping: { metric: "span_f1" } });
  try {
    const error = await loadPipeline(`${dir}/pipeline.yaml`, {
      registry: builtinStages(),
      cacheDir: false,
    }).then(() => null, (e) => e as Error);
    assert.ok(error, "the pipeline loaded");
    assert.match(error.message, /pipeline\.yaml:\d+:\d+/);
    assert.match(error.message, /stages\.train\.with\.early_stopping\.metric/);
    assert.match(error.message, /encoded and dataset are not given/);
    assert.match(error.message, /encoded: <preprocess-input>\.encoded/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
