/**
 * The history as text: the `runs` table and the `compare` table.
 *
 * @module
 */

import { type Comparison, differingParams } from "./compare.ts";
import type { PipelineRun } from "./record.ts";

/** A metric: 4 decimals (exponent form when tiny or huge), integers as they are. */
function show(value: unknown): string {
  if (value === undefined) return "-";
  if (typeof value === "number") return formatNumber(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A parameter: exactly as set (a learning rate of 5e-4 is `0.0005`, not `5.00e-4`). */
function showParam(value: unknown): string {
  if (value === undefined) return "-";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? n.toExponential(2) : n.toFixed(4);
}

function when(iso: string): string {
  return iso.slice(0, 16).replace("T", " ");
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

/**
 * The metric columns of a runs table: the columns each stage kind declares for its metrics
 * outputs (the headline first), in the order the runs give them.
 */
function metricColumns(runs: PipelineRun[]): string[] {
  const out: string[] = [];
  for (const r of runs) for (const c of r.columns ?? r.headline) if (!out.includes(c)) out.push(c);
  return out;
}

function status(r: PipelineRun): string {
  const failed = r.stages.filter((s) => s.status === "failed").length;
  if (failed) return `${failed} failed`;
  return r.stages.some((s) => s.status === "ran") ? "ran" : "cached";
}

/**
 * The `runs` table: one row per run, the parameters that differ and the metrics the stage kinds
 * show (the pipeline column only when the runs are of several pipelines; times are UTC).
 */
export function formatRuns(runs: PipelineRun[]): string {
  if (!runs.length) return "no runs recorded yet: deno task run <pipeline.yaml> records one";
  const params = differingParams(runs);
  const metrics = metricColumns(runs);
  const several = new Set(runs.map((r) => r.pipeline)).size > 1;
  const rows = [
    [
      "run",
      ...(several ? ["pipeline"] : []),
      "finished (UTC)",
      "time",
      "status",
      ...params,
      ...metrics,
    ],
    ...runs.map((r) => [
      r.id.slice(0, 8),
      ...(several ? [r.pipeline] : []),
      when(r.finished),
      `${r.seconds.toFixed(1)} s`,
      status(r),
      ...params.map((p) => showParam(r.params[p])),
      ...metrics.map((m) => show(r.metrics[m])),
    ]),
  ];
  return table(rows);
}

/** A change of seconds, to a tenth: `+1.5`, `-0.3`, `±0.0`. */
function secondsDelta(d: number): string {
  const t = Math.round(10 * d) / 10;
  return `${t > 0 ? "+" : t < 0 ? "" : "±"}${Math.abs(t) === 0 ? "0.0" : t.toFixed(1)}`;
}

/** The `compare` text: metrics with deltas, then parameter differences. */
export function formatComparison(c: Comparison): string {
  const ida = c.a.id.slice(0, 8);
  const idb = c.b.id.slice(0, 8);
  const signed = (d: number | null) =>
    d === null ? "-" : `${d > 0 ? "+" : d < 0 ? "" : "±"}${formatNumber(d)}`;
  const lines = [
    table([
      ["metric", ida, idb, "change"],
      ...c.metrics.map((
        m,
      ) => [m.name, show(m.a ?? undefined), show(m.b ?? undefined), signed(m.delta)]),
      [
        "time (s)",
        c.a.seconds.toFixed(1),
        c.b.seconds.toFixed(1),
        secondsDelta(c.b.seconds - c.a.seconds),
      ],
    ]),
    "",
  ];
  lines.push(
    c.params.length
      ? table([
        ["parameter", ida, idb],
        ...c.params.map((p) => [p.name, showParam(p.a), showParam(p.b)]),
      ])
      : "parameters: the same",
  );
  return lines.join("\n");
}
