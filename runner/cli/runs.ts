/**
 * `runs` and `compare`: the history of pipeline runs (history/) on the command line.
 *
 * @module
 */

import { projectRoot } from "../config/load.ts";
import { UserError } from "../errors.ts";
import { compareRuns } from "../history/compare.ts";
import { formatComparison, formatRuns } from "../history/format.ts";
import { findRun, listRuns } from "../history/record.ts";
import { type FlagSpecs, parseArgs } from "../lib/args.ts";
import { resolve } from "../paths.ts";
import { helpOf, usageOf } from "./help.ts";

function parse<S extends FlagSpecs>(args: string[], options: S, command: "runs" | "compare") {
  return parseArgs(args, options, { usage: usageOf(command), help: () => helpOf(command) });
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
  const { values, positionals } = parse(args, { json: { type: "boolean" } }, "runs");
  if (positionals.length > 1) {
    throw new UserError(`Give at most one pipeline file\n${usageOf("runs")}`);
  }
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
  }, "compare");
  let pair;
  if (values.last !== undefined) {
    if (values.last !== "2") throw new UserError(`--last takes 2 (two runs are compared)`);
    if (positionals.length > 1) {
      throw new UserError(`Give at most one pipeline file\n${usageOf("compare")}`);
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
    if (positionals.length !== 2) throw new UserError(`Give two runs\n${usageOf("compare")}`);
    const runs = await listRuns((await where(undefined)).cacheDir);
    pair = positionals.map((p) => findRun(runs, p));
  }
  const c = compareRuns(pair[0]!, pair[1]!);
  console.log(values.json ? JSON.stringify(c, null, 2) : formatComparison(c));
  return 0;
}
