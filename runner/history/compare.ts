/**
 * Two recorded runs side by side (`compare`): their metrics with deltas, headline ones first, and
 * the parameters that differ.
 *
 * @module
 */

import { stableJson } from "../lib/digest.ts";
import type { PipelineRun } from "./record.ts";

/** Parameters whose values differ between runs (by stable JSON), sorted. */
export function differingParams(runs: PipelineRun[]): string[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.params)));
  return [...keys].filter((k) => new Set(runs.map((r) => stableJson(r.params[k]))).size > 1)
    .sort();
}

/** A comparison of two runs, as `compare --json` prints it. */
export interface Comparison {
  a: { id: string; finished: string; seconds: number };
  b: { id: string; finished: string; seconds: number };
  metrics: { name: string; a: number | null; b: number | null; delta: number | null }[];
  params: { name: string; a: unknown; b: unknown }[];
}

/** Metrics side by side with deltas (`b - a`), headline ones first; the parameters that differ. */
export function compareRuns(a: PipelineRun, b: PipelineRun): Comparison {
  // The headline metrics first, then the others by name.
  const headline = [...new Set([...a.headline, ...b.headline])];
  const rest = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])].sort();
  const names = [...headline, ...rest.filter((n) => !headline.includes(n))];
  return {
    a: { id: a.id, finished: a.finished, seconds: a.seconds },
    b: { id: b.id, finished: b.finished, seconds: b.seconds },
    metrics: names.map((name) => {
      const x = a.metrics[name] ?? null;
      const y = b.metrics[name] ?? null;
      return { name, a: x, b: y, delta: x !== null && y !== null ? y - x : null };
    }),
    params: differingParams([a, b]).map((name) => ({
      name,
      a: a.params[name] ?? null,
      b: b.params[name] ?? null,
    })),
  };
}
