/**
 * The history of a pipeline file (history/record.ts) as the commands find it: where it is, and
 * an output of one of its recorded runs (`predict <pipeline.yaml> --run <id prefix>|last`).
 *
 * @module
 */

import { projectRoot } from "../config/load.ts";
import { UserError } from "../errors.ts";
import { findRun, listRuns, type PipelineRun } from "../history/record.ts";
import { resolve } from "../paths.ts";
import type { Registry } from "../registry.ts";
import { Cache } from "../store/cache.ts";
import { objectState } from "../store/hit.ts";

/** Where the history of a pipeline file is: its cache directory and its pipeline's name. */
export interface HistoryPlace {
  /** The cache directory of the file's project (`.pipeline`). */
  cacheDir: string;
  /** The pipeline's name; absent without a file (the history of every pipeline). */
  name?: string;
}

/**
 * The cache directory and pipeline name of a pipeline file, or of the project of the working
 * directory without one. Only the file's `name:` is read: the full check is `run`'s job, and a
 * file that would need `--set` or `--allow-outside` to check still has a history.
 *
 * @param file A pipeline file, or undefined.
 * @throws {UserError} When the file cannot be read or has no top-level `name:`.
 */
export async function historyOf(file: string | undefined): Promise<HistoryPlace> {
  if (file === undefined) {
    return { cacheDir: `${projectRoot(resolve("deno.json"))}/.pipeline` };
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    throw new UserError(`Pipeline file "${file}" cannot be read: check the path`);
  }
  const m = /^name:\s*["']?([A-Za-z0-9_.-]+)["']?\s*(#.*)?$/m.exec(text);
  if (!m) {
    throw new UserError(
      `Pipeline file "${file}" has no top-level "name:": add name: <pipeline name>`,
    );
  }
  return { cacheDir: `${projectRoot(file)}/.pipeline`, name: m[1]! };
}

/**
 * The run a `--run` value names among recorded runs: `last`, the configuration run last (a rerun
 * that found everything cached counts), or a prefix of a run's id.
 *
 * @param runs The recorded runs.
 * @param which `last` or an id prefix.
 * @param what What the runs are, for the message when there are none.
 * @throws {UserError} When there is no run, or the prefix names none or several.
 */
export function pickRun(runs: PipelineRun[], which: string, what: string): PipelineRun {
  if (which !== "last") return findRun(runs, which);
  const last = runs.reduce<PipelineRun | undefined>(
    (best, r) =>
      !best || r.last_seen > best.last_seen ||
        (r.last_seen === best.last_seen && r.finished > best.finished)
        ? r
        : best,
    undefined,
  );
  if (!last) throw new UserError(`No run of ${what} is recorded: run it first (deno task run)`);
  return last;
}

/** An output that {@link runOutput} found. */
export interface RunOutput {
  /** The run. */
  run: PipelineRun;
  /** The stage that made the output. */
  stage: string;
  /** The stage's cache key in that run. */
  key: string;
  /** The output's name. */
  output: string;
  /** Its object in the cache (a file or a directory). */
  path: string;
}

/**
 * The output of a given type of a recorded run of a pipeline file: the object of the key its
 * stage had in that run, whatever the file or `out/` says now. The stage kinds are looked up by
 * the names the history recorded.
 *
 * @param file The pipeline file.
 * @param which `last` or a prefix of a run's id ({@link pickRun}).
 * @param options The registry of stage kinds, the output type (`model`), and the stage when
 *   several of the run make one.
 * @throws {UserError} When there is no such run, no stage of it (or several) made that type of
 *   output, the stage did not finish in that run, or its result is no longer in the cache.
 */
export async function runOutput(
  file: string,
  which: string,
  options: { registry: Registry; type: string; stage?: string },
): Promise<RunOutput> {
  const { cacheDir, name } = await historyOf(file);
  const run = pickRun(await listRuns(cacheDir, name), which, `"${name}"`);
  const short = run.id.slice(0, 8);
  const found = run.stages.flatMap((s) =>
    Object.entries(options.registry.get(s.kind)?.outputs ?? {})
      .filter(([, spec]) => spec.type === options.type)
      .map(([output]) => ({ stage: s, output }))
  );
  const pick = options.stage ? found.filter((f) => f.stage.id === options.stage) : found;
  const ids = found.map((f) => `"${f.stage.id}"`).join(", ");
  if (pick.length !== 1) {
    throw new UserError(
      pick.length
        ? `Several stages of run ${short} output a ${options.type} (${ids}): choose one with --stage`
        : options.stage
        ? `Stage "${options.stage}" of run ${short} has no output of type "${options.type}": ` +
          `choose one of ${ids || "none"}`
        : `No stage of run ${short} of "${name}" outputs a ${options.type}`,
    );
  }
  const { stage, output } = pick[0]!;
  const runs = `deno task runs ${file} lists the runs`;
  if ((stage.status !== "ran" && stage.status !== "cached") || !stage.key) {
    throw new UserError(
      `Stage "${stage.id}" did not finish in run ${short} (${stage.status}): pick another run: ` +
        runs,
    );
  }
  const cache = await Cache.open(cacheDir);
  const stored = (await cache.record(stage.key))?.outputs[output];
  if (!stored || await objectState(cache, stored, "hit") !== "ok") {
    throw new UserError(
      `The ${options.type} of run ${short} is no longer in the cache (removed since it ran): ` +
        `run that configuration again (its parameters: deno task runs ${file})`,
    );
  }
  return { run, stage: stage.id, key: stage.key, output, path: cache.objectPath(stored) };
}
