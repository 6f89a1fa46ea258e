/**
 * `runs` and `compare`: the history of pipeline runs (history/) on the command line.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { compareRuns } from "../history/compare.ts";
import { formatComparison, formatRuns } from "../history/format.ts";
import { findRun, listRuns } from "../history/record.ts";
import { type FlagSpecs, parseArgs } from "../lib/args.ts";
import { historyOf } from "../ops/history.ts";
import { helpOf, usageOf } from "./help.ts";

function parse<S extends FlagSpecs>(args: string[], options: S, command: "runs" | "compare") {
  return parseArgs(args, options, { usage: usageOf(command), help: () => helpOf(command) });
}

/** `runs [pipeline.yaml] [--json]`: a table of the recorded runs. */
export async function runsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: "boolean" } }, "runs");
  if (positionals.length > 1) {
    throw new UserError(`Give at most one pipeline file\n${usageOf("runs")}`);
  }
  const { cacheDir, name } = await historyOf(positionals[0]);
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
    const { cacheDir, name } = await historyOf(positionals[0]);
    const runs = await listRuns(cacheDir, name);
    if (runs.length < 2) {
      throw new UserError(
        `Only ${runs.length} run(s) recorded: run the pipeline with other parameters first`,
      );
    }
    pair = runs.slice(-2);
  } else {
    if (positionals.length !== 2) throw new UserError(`Give two runs\n${usageOf("compare")}`);
    const runs = await listRuns((await historyOf(undefined)).cacheDir);
    pair = positionals.map((p) => findRun(runs, p));
  }
  const c = compareRuns(pair[0]!, pair[1]!);
  console.log(values.json ? JSON.stringify(c, null, 2) : formatComparison(c));
  return 0;
}
