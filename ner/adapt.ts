/**
 * Fitting a loaded checkpoint to a token-classification task, with a load report like
 * Hugging Face's: missing keys (newly initialised), unexpected keys (ignored), and a new
 * classifier when the label count differs.
 *
 * @module
 */

import { type HostTensor, initWeights, paramSpecs } from "./bert/init.ts";
import type { ModelDir } from "./checkpoint.ts";

/** Result of {@link adaptCheckpoint}. */
export interface AdaptedWeights {
  /** Every weight the model needs, HF names and layout. */
  weights: Map<string, HostTensor>;
  /** Human-readable report lines. */
  report: string[];
  missing: string[];
  unexpected: string[];
  /** True when the classifier was initialised anew. */
  newClassifier: boolean;
}

/**
 * Takes the checkpoint's weights where names and shapes match, and initialises the rest.
 * Names without the `bert.` prefix (as a bare `BertModel` saves them) are accepted.
 *
 * @param checkpoint A loaded model directory.
 * @param labels The task's labels (their count sizes the classifier).
 * @param seed Seed for newly initialised weights.
 */
export function adaptCheckpoint(
  checkpoint: ModelDir,
  labels: readonly string[],
  seed: number,
): AdaptedWeights {
  const fresh = initWeights(checkpoint.config, labels.length, seed);
  const weights = new Map<string, HostTensor>();
  const used = new Set<string>();
  const missing: string[] = [];
  let newClassifier = false;
  for (const spec of paramSpecs(checkpoint.config, labels.length)) {
    const bare = spec.name.startsWith("bert.") ? spec.name.slice(5) : spec.name;
    const name = checkpoint.weights.has(spec.name) ? spec.name : bare;
    const found = checkpoint.weights.get(name);
    if (found && found.shape.join() === spec.shape.join()) {
      weights.set(spec.name, found);
      used.add(name);
      continue;
    }
    if (found) used.add(name);
    if (spec.name.startsWith("classifier.")) newClassifier = true;
    else missing.push(spec.name);
    weights.set(spec.name, fresh.get(spec.name)!);
  }
  const unexpected = [...checkpoint.weights.keys()].filter((k) => !used.has(k)).sort();
  const report: string[] = [];
  const before = checkpoint.labels.length;
  if (newClassifier) {
    report.push(
      `classifier newly initialised: the checkpoint has ${
        before || "no"
      } labels, the task has ${labels.length}`,
    );
  } else if (before && checkpoint.labels.join() !== labels.join()) {
    report.push(`classifier kept, but the checkpoint's labels differ from the task's labels`);
  }
  if (missing.length) {
    report.push(`missing keys, newly initialised: ${missing.join(", ")}`);
  }
  if (unexpected.length) {
    report.push(`unexpected keys, ignored: ${unexpected.join(", ")}`);
  }
  if (!report.length) report.push("all checkpoint weights loaded");
  return { weights, report, missing, unexpected, newClassifier };
}
