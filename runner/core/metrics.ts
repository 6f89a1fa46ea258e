/**
 * A stage's metrics: what its outputs of type `metrics` hold, as `runs`, `compare` and the run
 * report read them. The engine knows no metric by name; a stage kind says which to read first
 * (`headline`) and which `runs` shows (`columns`), in its output's declaration.
 *
 * @module
 */

import type { OutputSpec } from "../stage.ts";

/** What one `metrics` output holds. */
export interface StageMetrics {
  /** Its top-level finite numbers by name, in the file's order. */
  values: Record<string, number>;
  /** The number to read first, when there is one: one of `values`. */
  headline?: string;
  /** The numbers `runs` shows, the headline first: each one of `values`. */
  columns: string[];
}

/**
 * Reads a parsed `metrics` output: its top-level numbers (nested objects, strings and
 * non-finite numbers are left out), its headline (the file's own string field `headline`, else
 * the declared one), and the columns `runs` shows (the headline, then the declared `columns`,
 * or every number when none are declared). Names that are not numbers of the file are dropped.
 *
 * @param spec The output's declaration.
 * @param parsed The output's content, parsed as JSON.
 * @returns Its metrics, or undefined when it is not a JSON object.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMetrics } from "./metrics.ts";
 *
 * const spec = { type: "metrics", description: "Scores", headline: "f1", columns: ["loss"] };
 * const m = readMetrics(spec, { f1: 0.9, loss: 0.2, count: 12, note: "x" })!;
 * assert.deepEqual(m.values, { f1: 0.9, loss: 0.2, count: 12 });
 * assert.equal(m.headline, "f1");
 * assert.deepEqual(m.columns, ["f1", "loss"]);
 * ```
 */
export function readMetrics(spec: OutputSpec, parsed: unknown): StageMetrics | undefined {
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return undefined;
  const values: Record<string, number> = {};
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value === "number" && Number.isFinite(value)) values[name] = value;
  }
  const own = (parsed as Record<string, unknown>).headline;
  const headline = [typeof own === "string" ? own : undefined, spec.headline]
    .find((name) => name !== undefined && name in values);
  const columns: string[] = headline === undefined ? [] : [headline];
  for (const name of spec.columns ?? Object.keys(values)) {
    if (name in values && !columns.includes(name)) columns.push(name);
  }
  return { values, ...(headline === undefined ? {} : { headline }), columns };
}

/**
 * The metrics of a stage's outputs of type `metrics` that are files, by output name: each read
 * with {@link readMetrics} (a file that is missing or not JSON gives none).
 *
 * @param outputs The stage kind's declared outputs.
 * @param path Where an output's file is (in the cache), or undefined when it has none.
 * @returns The metrics, in the order the outputs are declared.
 */
export function stageMetrics(
  outputs: Record<string, OutputSpec>,
  path: (name: string) => string | undefined,
): Map<string, StageMetrics> {
  const found = new Map<string, StageMetrics>();
  for (const [name, spec] of Object.entries(outputs)) {
    if (spec.type !== "metrics" || (spec.kind ?? "file") !== "file") continue;
    const file = path(name);
    if (file === undefined) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Deno.readTextFileSync(file));
    } catch {
      continue; // not there, or not JSON: no metrics from it
    }
    const metrics = readMetrics(spec, parsed);
    if (metrics) found.set(name, metrics);
  }
  return found;
}
