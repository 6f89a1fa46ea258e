/**
 * The history of pipeline runs, for `runs` and `compare` (like `dvc exp show` and
 * `dvc metrics diff`; compare.ts and format.ts):
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

import type { Pipeline } from "../core/pipeline.ts";
import { type StageMetrics, stageMetrics } from "../core/metrics.ts";
import type { RunSummary } from "../core/result.ts";
import { UserError } from "../errors.ts";
import { writeAtomicSync } from "../lib/atomic.ts";
import { sha256, stableJson } from "../lib/digest.ts";
import { Cache } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";

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
  /**
   * The metrics `runs` shows, as `<stage>.<name>`: each metrics output's headline and columns
   * (absent from entries recorded before there were columns: their headlines are shown).
   */
  columns?: string[];
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
  /** Each `metrics` output's metrics, by `<stage>.<output>`. */
  metrics: Record<string, StageMetrics>;
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
  const columns: string[] = [];
  for (const [name, m] of Object.entries(run.metrics)) {
    const stage = name.split(".")[0]!;
    for (const [k, v] of Object.entries(m.values)) metrics[`${stage}.${k}`] = v;
    if (m.headline !== undefined) headline.push(`${stage}.${m.headline}`);
    for (const c of m.columns) {
      if (!columns.includes(`${stage}.${c}`)) columns.push(`${stage}.${c}`);
    }
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
    columns,
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
    (r.columns === undefined || Array.isArray(r.columns)) &&
    Object.values(r.metrics as object).every((v) => typeof v === "number");
}

function historyDir(cacheDir: string, pipeline: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(pipeline) || pipeline.startsWith(".")) {
    throw new UserError(`Pipeline name "${pipeline}" cannot name a history directory`);
  }
  return `${cachePath(cacheDir, "history")}/${pipeline}`;
}

/**
 * Records a run. A configuration seen before keeps its figures when this run did no work (every
 * stage cached); otherwise the new run replaces them.
 *
 * @param cacheDir The cache directory (`.pipeline`).
 * @param run The entry from {@link pipelineRun}.
 */
export function recordRun(cacheDir: string, run: PipelineRun): void {
  const dir = historyDir(cacheDir, run.pipeline);
  const path = `${dir}/${run.id}.json`;
  let entry = run;
  const worked = run.stages.some((s) => s.status === "ran" || s.status === "failed");
  if (!worked) {
    const old = readRun(path);
    if (old) entry = { ...old, last_seen: run.last_seen };
  }
  Deno.mkdirSync(dir, { recursive: true });
  writeAtomicSync(path, JSON.stringify(entry, null, 1));
}

function readRun(path: string): PipelineRun | undefined {
  try {
    const parsed = JSON.parse(Deno.readTextFileSync(path));
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
      for await (const e of Deno.readDir(cachePath(cacheDir, "history"))) {
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
      const run = readRun(`${dir}/${e.name}`);
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

/**
 * Records a finished run in the history (`.pipeline/history/`), with the metrics of its
 * `metrics` outputs read from the cache.
 *
 * @param pipeline The pipeline that ran.
 * @param summary What the run did.
 * @param seconds Wall seconds of the run.
 * @param cacheDir The cache directory.
 * @param variant The `--set` overrides of a sweep variant.
 */
export async function recordPipelineRun(
  pipeline: Pipeline,
  summary: RunSummary,
  seconds: number,
  cacheDir = `${pipeline.root}/.pipeline`,
  variant?: string[],
): Promise<void> {
  const cache = await Cache.open(cacheDir, { hashes: false });
  const metrics: Record<string, StageMetrics> = {};
  for (const s of summary.stages) {
    if ((s.status !== "ran" && s.status !== "cached") || !s.key) continue;
    const stage = pipeline.stages.get(s.id)!;
    const record = await cache.record(s.key);
    if (!record) continue;
    const found = stageMetrics(stage.definition.outputs, (name) => {
      const out = record.outputs[name];
      return out?.kind === "file" ? cache.objectPath(out) : undefined;
    });
    for (const [name, m] of found) metrics[`${s.id}.${name}`] = m;
  }
  const params: Record<string, Record<string, unknown>> = {};
  for (const stage of pipeline.stages.values()) params[stage.id] = stage.params;
  const run = await pipelineRun({
    pipeline: pipeline.name,
    file: pipeline.file,
    seconds,
    params,
    stages: summary.stages.map((s) => ({
      id: s.id,
      kind: s.kind,
      status: s.status,
      seconds: Math.round(s.seconds * 1000) / 1000,
      key: s.key,
    })),
    metrics,
    ...(variant?.length ? { variant } : {}),
  });
  recordRun(cacheDir, run);
}
