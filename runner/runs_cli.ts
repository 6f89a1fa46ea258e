/**
 * `runs` and `compare`: the history of pipeline runs on the command line, and the hook that
 * records a run when it ends.
 *
 * @module
 */

import { Cache } from "./store/cache.ts";
import { resolve } from "./paths.ts";
import { projectRoot } from "./config/load.ts";
import type { Pipeline } from "./core/pipeline.ts";
import { UserError } from "./errors.ts";
import { type FlagSpecs, parseArgs } from "./lib/args.ts";
import {
  compareRuns,
  findRun,
  formatComparison,
  formatRuns,
  listRuns,
  pipelineRun,
  recordRun,
} from "./history.ts";
import type { RunSummary } from "./core/result.ts";

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
  const cache = await Cache.open(cacheDir);
  const metricsFiles: Record<string, unknown> = {};
  for (const s of summary.stages) {
    if ((s.status !== "ran" && s.status !== "cached") || !s.key) continue;
    const stage = pipeline.stages.get(s.id)!;
    const record = await cache.record(s.key);
    if (!record) continue;
    for (const [name, spec] of Object.entries(stage.definition.outputs)) {
      const out = record.outputs[name];
      if (spec.type !== "metrics" || !out || out.kind !== "file") continue;
      try {
        metricsFiles[`${s.id}.${name}`] = JSON.parse(
          await Deno.readTextFile(cache.objectPath(out)),
        );
      } catch { /* not JSON: no metrics from it */ }
    }
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
    metricsFiles,
    ...(variant?.length ? { variant } : {}),
  });
  await recordRun(cacheDir, run);
}

const RUNS_USAGE = `usage:
  runs [<pipeline.yaml>] [--json]
  compare <run> <run> [--json]       runs named by a prefix of their id (see runs)
  compare --last 2 [<pipeline.yaml>] [--json]`;

function parse<S extends FlagSpecs>(args: string[], options: S) {
  return parseArgs(args, options, { usage: RUNS_USAGE });
}

/** The cache directory and pipeline name for a pipeline file (or the project of `cwd`). */
async function where(file: string | undefined): Promise<{ cacheDir: string; name?: string }> {
  if (file === undefined) {
    return { cacheDir: `${projectRoot(resolve("deno.json"))}/.pipeline` };
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    throw new UserError(`Pipeline file "${file}" cannot be read: check the path`);
  }
  // Only the name is needed; the full check is `run`'s job.
  const m = /^name:\s*["']?([A-Za-z0-9_.-]+)["']?\s*(#.*)?$/m.exec(text);
  if (!m) {
    throw new UserError(
      `Pipeline file "${file}" has no top-level \"name:\": add name: <pipeline name>`,
    );
  }
  return { cacheDir: `${projectRoot(file)}/.pipeline`, name: m[1]! };
}

/** `runs [pipeline.yaml] [--json]`: a table of the recorded runs. */
export async function runsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: "boolean" } });
  if (positionals.length > 1) throw new UserError(`Give at most one pipeline file\n${RUNS_USAGE}`);
  const { cacheDir, name } = await where(positionals[0]);
  const runs = await listRuns(cacheDir, name);
  console.log(values.json ? JSON.stringify(runs, null, 2) : formatRuns(runs));
  return 0;
}

/** `compare <run> <run>` or `compare --last 2 [pipeline.yaml]`: metrics and parameters side by side. */
export async function compareCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: "boolean" },
    last: { type: "string" },
  });
  let pair;
  if (values.last !== undefined) {
    if (values.last !== "2") throw new UserError(`--last takes 2 (two runs are compared)`);
    if (positionals.length > 1) {
      throw new UserError(`Give at most one pipeline file\n${RUNS_USAGE}`);
    }
    const { cacheDir, name } = await where(positionals[0]);
    const runs = await listRuns(cacheDir, name);
    if (runs.length < 2) {
      throw new UserError(
        `Only ${runs.length} run(s) recorded: run the pipeline with other parameters first`,
      );
    }
    pair = runs.slice(-2);
  } else {
    if (positionals.length !== 2) throw new UserError(`Give two runs\n${RUNS_USAGE}`);
    const runs = await listRuns((await where(undefined)).cacheDir);
    pair = positionals.map((p) => findRun(runs, p));
  }
  const c = compareRuns(pair[0]!, pair[1]!);
  console.log(values.json ? JSON.stringify(c, null, 2) : formatComparison(c));
  return 0;
}
