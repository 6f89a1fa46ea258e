/**
 * Fitting a loaded checkpoint to a token-classification task, with a load report like
 * Hugging Face's: missing keys (newly initialised), unexpected keys (ignored), and a new
 * classifier when the label count differs.
 *
 * @module
 */

import { classifierHead } from "./config.ts";
import { type HostTensor, initWeights, paramSpecs } from "./init.ts";
import { canonicalName, CheckpointError, type ModelDir } from "./checkpoint.ts";

/** Result of {@link adaptCheckpoint}. */
export interface AdaptedWeights {
  /** Every weight the model needs, HF names and layout. */
  weights: Map<string, HostTensor>;
  /** Human-readable report lines. */
  report: string[];
  /** Encoder weights the checkpoint lacks, newly initialised (the classifier is not listed). */
  missing: string[];
  /** Checkpoint tensors the model does not use (a pooler, `cls.*` heads, buffers), sorted. */
  unexpected: string[];
  /** True when the classifier was initialised anew. */
  newClassifier: boolean;
  /** True when the config's head is a CRF whose scores were initialised anew. */
  newCrf: boolean;
}

/**
 * Takes the checkpoint's weights where names and shapes match, and initialises the rest. With a
 * CRF head (`nerpipe_head: "crf"` in `checkpoint.config`), scores the checkpoint lacks or holds
 * for another label count start at 0, as the classifier does; a checkpoint's CRF scores are
 * unexpected keys for a softmax head.
 * Names without the `bert.` prefix (as a bare `BertModel` saves them) and LayerNorm
 * `gamma`/`beta` are accepted.
 *
 * @param checkpoint A loaded model directory.
 * @param labels The task's labels (their count sizes the classifier).
 * @param seed Seed for newly initialised weights.
 * @returns The weights and the load report.
 * @throws {CheckpointError} When an encoder weight has a shape its own config.json does not
 *   give (a checkpoint inconsistent with its config).
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModelDir } from "./checkpoint.ts";
 * import { adaptCheckpoint } from "./adapt.ts";
 *
 * const ckpt = await loadModelDir("tests/testdata/hf_tiny_labels7");
 * const { newClassifier, report, weights } = adaptCheckpoint(ckpt, ["O", "B-PS", "I-PS"], 1);
 * assert.equal(newClassifier, true);
 * assert.deepEqual(report, [
 *   "classifier newly initialised (classifier.weight, classifier.bias): the checkpoint's " +
 *   "classifier has 7 labels (weight [7,16]), the task has 3",
 *   "unexpected keys, ignored: bert.embeddings.position_ids, bert.pooler.dense.bias, " +
 *   "bert.pooler.dense.weight",
 * ]);
 * assert.deepEqual(weights.get("classifier.weight")?.shape, [3, 16]);
 * ```
 */
export function adaptCheckpoint(
  checkpoint: ModelDir,
  labels: readonly string[],
  seed: number,
): AdaptedWeights {
  const byCanonical = new Map<string, string>();
  for (const name of checkpoint.weights.keys()) {
    const c = canonicalName(name);
    // An exact HF name wins over a renamed one.
    if (!byCanonical.has(c) || c === name) byCanonical.set(c, name);
  }
  let fresh: Map<string, HostTensor> | null = null;
  const initial = (name: string): HostTensor => {
    fresh ??= initWeights(checkpoint.config, labels.length, seed);
    return fresh.get(name)!;
  };
  const weights = new Map<string, HostTensor>();
  const used = new Set<string>();
  const missing: string[] = [];
  let newClassifier = false;
  let newCrf = false;
  let classifierShape = "";
  for (const spec of paramSpecs(checkpoint.config, labels.length)) {
    const name = byCanonical.get(spec.name);
    const found = name === undefined ? undefined : checkpoint.weights.get(name);
    if (found && found.shape.join() === spec.shape.join()) {
      weights.set(spec.name, found);
      used.add(name!);
      continue;
    }
    if (spec.name.startsWith("classifier.")) {
      newClassifier = true;
      if (found && spec.name === "classifier.weight") classifierShape = `[${found.shape}]`;
    } else if (spec.name.startsWith("crf.")) {
      newCrf = true;
    } else if (found) {
      throw new CheckpointError(
        `Checkpoint weight "${name}" has shape [${found.shape}]: its config.json gives ` +
          `[${spec.shape}]`,
      );
    } else {
      missing.push(spec.name);
    }
    weights.set(spec.name, initial(spec.name));
  }
  const unexpected = [
    ...[...checkpoint.weights.keys()].filter((k) => !used.has(k)),
    ...(checkpoint.ignored ?? []),
  ].filter((k) =>
    !k.startsWith("classifier.") &&
    !(k.startsWith("crf.") && classifierHead(checkpoint.config) === "crf")
  ).sort();
  const report: string[] = [];
  const before = checkpoint.labels.length;
  if (newClassifier) {
    const had = classifierShape
      ? `the checkpoint's classifier has ${before || "unnamed"} labels (weight ${classifierShape})`
      : `the checkpoint has no classifier`;
    report.push(
      `classifier newly initialised (classifier.weight, classifier.bias): ${had}, ` +
        `the task has ${labels.length}`,
    );
  } else if (before && checkpoint.labels.join() !== labels.join()) {
    report.push(
      `classifier kept, but the checkpoint's labels differ from the task's labels: ` +
        `${checkpoint.labels.join(" ")} vs ${labels.join(" ")}`,
    );
  }
  if (newCrf) {
    report.push(
      `CRF newly initialised (crf.transitions, crf.start_transitions, crf.end_transitions): ` +
        (byCanonical.has("crf.transitions")
          ? `the checkpoint's CRF is for other labels`
          : `the checkpoint has none`),
    );
  }
  if (missing.length) {
    report.push(`missing keys, newly initialised: ${missing.join(", ")}`);
  }
  if (unexpected.length) {
    report.push(`unexpected keys, ignored: ${unexpected.join(", ")}`);
  }
  if (!report.length) report.push("all checkpoint weights loaded");
  return { weights, report, missing, unexpected, newClassifier, newCrf };
}
