/**
 * The history of pipeline runs, for `runs` and `compare` (like `dvc exp show` and
 * `dvc metrics diff`):
 *
 * ```
 * .pipeline/history/<pipeline>/<run id>.json   one configuration of a pipeline and how it ended
 * ```
 *
 * A run's id is the hash of its stages' keys, so the same configuration keeps one entry however
 * often it is run: a rerun that finds everything cached only updates `last_seen`, while the
 * entry keeps the time and figures of the run that did the work. Runs are named on the command
 * line by a prefix of their id (8 characters are shown).
 *
 * @module
 */

import { UserError } from "./errors.ts";
import { sha256, stableJson } from "./lib/digest.ts";

/** One stage of a recorded pipeline run. */
export interface HistoryStage {
  /** Stage id. */
  id: string;
  /** Stage kind. */
  kind: string;
  /** `ran`, `cached`, `failed`, `skipped`, ... */
  status: string;
  /** Seconds it ran (0 when cached). */
  seconds: number;
  /** Its cache key, or null when it did not get one. */
  key: string | null;
}

/** One recorded configuration of a pipeline. */
export interface PipelineRun {
  /** sha256 over the pipeline name and the stage keys. */
  id: string;
  /** Pipeline name. */
  pipeline: string;
  /** The pipeline file as given. */
  file: string;
  /** When the run that did the work finished (ISO 8601). */
  finished: string;
  /** When this configuration was last run (ISO 8601). */
  last_seen: string;
  /** Wall seconds of the run that did the work. */
  seconds: number;
  /** Parameters by `<stage>.<param path>`, after defaults and overrides. */
  params: Record<string, unknown>;
  /** Numeric metrics by `<stage>.<name>` from the run's `metrics` outputs. */
  metrics: Record<string, number>;
  /** The headline metric of each metrics output, as `<stage>.<name>`. */
  headline: string[];
  /** The stages. */
  stages: HistoryStage[];
  /** The `--set` overrides of a sweep variant, when the run was one. */
  variant?: string[];
}

/** What {@link pipelineRun} needs of a finished run. */
export interface FinishedRun {
  pipeline: string;
  file: string;
  seconds: number;
  /** Parameters of each stage, by stage id. */
  params: Record<string, Record<string, unknown>>;
  stages: HistoryStage[];
  /** Parsed JSON of each `metrics` output, by `<stage>.<output>`. */
  metricsFiles: Record<string, unknown>;
  variant?: string[];
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Flattens nested parameters to `prefix.a.b` keys (arrays are kept whole). */
export function flattenParams(value: unknown, prefix: string, out: Record<string, unknown> = {}) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (!entries.length) out[prefix] = {};
    for (const [k, v] of entries) flattenParams(v, `${prefix}.${k}`, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

/** Builds the history entry of a finished run. */
export async function pipelineRun(run: FinishedRun, now = new Date()): Promise<PipelineRun> {
  const id = await sha256(
    stableJson({ pipeline: run.pipeline, keys: run.stages.map((s) => [s.id, s.key]) }),
  );
  const params: Record<string, unknown> = {};
  for (const [stage, p] of Object.entries(run.params)) flattenParams(p, stage, params);
  const metrics: Record<string, number> = {};
  const headline: string[] = [];
  for (const [name, parsed] of Object.entries(run.metricsFiles)) {
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) continue;
    const stage = name.split(".")[0]!;
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v === "number" && Number.isFinite(v)) metrics[`${stage}.${k}`] = v;
    }
    const h = (parsed as Record<string, unknown>).headline;
    if (typeof h === "string" && `${stage}.${h}` in metrics) headline.push(`${stage}.${h}`);
  }
  const finished = now.toISOString();
  return {
    id,
    pipeline: run.pipeline,
    file: run.file,
    finished,
    last_seen: finished,
    seconds: run.seconds,
    params,
    metrics,
    headline,
    stages: run.stages,
    ...(run.variant ? { variant: run.variant } : {}),
  };
}

function isRun(value: unknown): value is PipelineRun {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  const plain = (x: unknown) => x !== null && typeof x === "object" && !Array.isArray(x);
  return typeof r.id === "string" && HEX64.test(r.id) && typeof r.pipeline === "string" &&
    typeof r.file === "string" && typeof r.finished === "string" &&
    typeof r.last_seen === "string" && typeof r.seconds === "number" && plain(r.params) &&
    plain(r.metrics) && Array.isArray(r.headline) && Array.isArray(r.stages) &&
    Object.values(r.metrics as object).every((v) => typeof v === "number");
}

function historyDir(cacheDir: string, pipeline: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(pipeline) || pipeline.startsWith(".")) {
    throw new UserError(`Pipeline name "${pipeline}" cannot name a history directory`);
  }
  return `${cacheDir}/history/${pipeline}`;
}

/**
 * Records a run. A configuration seen before keeps its figures when this run did no work (every
 * stage cached); otherwise the new run replaces them.
 *
 * @param cacheDir The cache directory (`.pipeline`).
 * @param run The entry from {@link pipelineRun}.
 */
export async function recordRun(cacheDir: string, run: PipelineRun): Promise<void> {
  const dir = historyDir(cacheDir, run.pipeline);
  const path = `${dir}/${run.id}.json`;
  let entry = run;
  const worked = run.stages.some((s) => s.status === "ran" || s.status === "failed");
  if (!worked) {
    const old = await readRun(path);
    if (old) entry = { ...old, last_seen: run.last_seen };
  }
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, JSON.stringify(entry, null, 1));
  await Deno.rename(tmp, path);
}

async function readRun(path: string): Promise<PipelineRun | undefined> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(path));
    return isRun(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The recorded runs, oldest first (by when they did their work).
 *
 * @param cacheDir The cache directory.
 * @param pipeline A pipeline name, or every pipeline when left out.
 */
export async function listRuns(cacheDir: string, pipeline?: string): Promise<PipelineRun[]> {
  const names: string[] = [];
  if (pipeline !== undefined) {
    names.push(pipeline);
  } else {
    try {
      for await (const e of Deno.readDir(`${cacheDir}/history`)) {
        if (e.isDirectory) names.push(e.name);
      }
    } catch { /* no history yet */ }
  }
  const runs: PipelineRun[] = [];
  for (const name of names) {
    const dir = historyDir(cacheDir, name);
    let entries: Deno.DirEntry[] = [];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch { /* none */ }
    for (const e of entries) {
      if (!e.isFile || !/^[0-9a-f]{64}\.json$/.test(e.name)) continue;
      const run = await readRun(`${dir}/${e.name}`);
      // A file named for one id but holding another is not ours to trust.
      if (run && `${run.id}.json` === e.name && run.pipeline === name) runs.push(run);
    }
  }
  return runs.sort((a, b) => a.finished.localeCompare(b.finished) || a.id.localeCompare(b.id));
}

/**
 * The run a prefix names.
 *
 * @throws {UserError} When no run or several runs match.
 */
export function findRun(runs: PipelineRun[], prefix: string): PipelineRun {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(p)) {
    throw new UserError(`"${prefix}" is not a run id: give a prefix of one (see deno task runs)`);
  }
  const found = runs.filter((r) => r.id.startsWith(p));
  if (found.length === 1) return found[0]!;
  if (!found.length) {
    throw new UserError(`No run "${prefix}" in the history: deno task runs lists them`);
  }
  throw new UserError(
    `Run prefix "${prefix}" is ambiguous (${found.map((r) => r.id.slice(0, 12)).join(", ")}): ` +
      "give more characters",
  );
}

/** Parameters whose values differ between runs (by stable JSON), sorted. */
export function differingParams(runs: PipelineRun[]): string[] {
  const keys = new Set(runs.flatMap((r) => Object.keys(r.params)));
  return [...keys].filter((k) => new Set(runs.map((r) => stableJson(r.params[k]))).size > 1)
    .sort();
}

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

/** The metric columns of a runs table: the headline metrics, then the other F1s. */
function metricColumns(runs: PipelineRun[]): string[] {
  const out: string[] = [];
  for (const r of runs) for (const h of r.headline) if (!out.includes(h)) out.push(h);
  for (const r of runs) {
    for (const k of Object.keys(r.metrics)) {
      if (/(^|\.)(f1|span_f1|char_macro_f1)$/.test(k) && !out.includes(k)) out.push(k);
    }
  }
  return out;
}

function status(r: PipelineRun): string {
  const failed = r.stages.filter((s) => s.status === "failed").length;
  if (failed) return `${failed} failed`;
  return r.stages.some((s) => s.status === "ran") ? "ran" : "cached";
}

/**
 * The `runs` table: one row per run, the parameters that differ and the headline metrics (the
 * pipeline column only when the runs are of several pipelines; times are UTC).
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
