/**
 * `training_summary.json`, which `train` writes into its model directory and `validate` reads
 * for its metrics.json: the kept epoch, its metric, and whether early stopping ended training.
 *
 * @module
 */

/** Name of the summary file in train's model directory. */
export const TRAINING_SUMMARY = "training_summary.json";

/**
 * The summary's format version. 2: `kept_epoch` is counted from 1, as every log and file counts
 * epochs. A summary without `version` (written before it had one) counted it from 0.
 */
export const TRAINING_SUMMARY_VERSION = 2;

/** What train's model directory says of its training (`training_summary.json`). */
export interface TrainingSummary {
  /** {@link TRAINING_SUMMARY_VERSION}. */
  version: number;
  /** The epoch whose weights were kept, counted from 1. */
  kept_epoch: number;
  /** The selection metric at that epoch (null without validation batches). */
  kept_metric: { name: string; value: number } | null;
  stopped_early: boolean;
  /** Why training stopped early. */
  stop_reason?: string;
  /** Epochs trained. */
  epochs_run: number;
}

/**
 * What a model directory's training summary says, for validate's metrics.json: `kept_epoch`
 * (counted from 1, also from a summary of the first format, which counted from 0),
 * `kept_metric` and `stopped_early`, those it has. Empty for a model without a summary (trained
 * elsewhere, or before train wrote one) or with one that is not a JSON object.
 *
 * @param modelDir The model directory.
 * @returns The facts found.
 */
export async function trainingFacts(modelDir: string): Promise<Record<string, unknown>> {
  let summary: unknown;
  try {
    summary = JSON.parse(await Deno.readTextFile(`${modelDir}/${TRAINING_SUMMARY}`));
  } catch {
    return {};
  }
  if (summary === null || typeof summary !== "object" || Array.isArray(summary)) return {};
  const s = summary as Record<string, unknown>;
  const facts: Record<string, unknown> = {};
  for (const field of ["kept_epoch", "kept_metric", "stopped_early"]) {
    if (field in s) facts[field] = s[field];
  }
  if (s.version === undefined && typeof s.kept_epoch === "number") {
    facts.kept_epoch = s.kept_epoch + 1;
  }
  return facts;
}
