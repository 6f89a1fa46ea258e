/**
 * `verify [<pipeline.yaml>] [--set k=v]... [--repair] [--json]`: the cache's objects reread
 * (ops/verify.ts), and what was found printed.
 *
 * @module
 */

import { loadPipeline } from "../config/load.ts";
import { UserError } from "../errors.ts";
import { parseArgs } from "../lib/args.ts";
import { lastKeys, verifyCache, type VerifyProblem } from "../ops/verify.ts";
import type { Registry } from "../registry.ts";
import { helpOf, usageOf } from "./help.ts";

const VERIFY_USAGE = usageOf("verify");

/**
 * The `verify` command: `verify [<pipeline.yaml>] [--repair] [--json]`. Without a pipeline it
 * verifies every record of `./.pipeline`; with one, the records of that pipeline's last runs.
 *
 * @param args Arguments after the command.
 * @param registry Stage kinds (to load a pipeline file).
 * @returns 1 when something was damaged, missing or unreadable (repaired or not), else 0.
 */
export async function verifyCommand(args: string[], registry: Registry): Promise<number> {
  const { values, positionals } = parseArgs(args, {
    repair: { type: "boolean" },
    json: { type: "boolean" },
    set: { type: "strings" },
  }, { usage: VERIFY_USAGE, help: () => helpOf("verify") });
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give at most one pipeline file\n${VERIFY_USAGE}`,
    );
  }
  const file = positionals[0];
  const repair = values.repair ?? false;
  const json = values.json ?? false;
  const sets = values.set ?? [];
  let dir = `${Deno.cwd()}/.pipeline`;
  let keys: string[] | undefined;
  if (file !== undefined) {
    const pipeline = await loadPipeline(file, { registry, sets });
    dir = `${pipeline.root}/.pipeline`;
    keys = await lastKeys(pipeline, dir);
  } else {
    try {
      await Deno.stat(dir);
    } catch {
      throw new UserError(
        `There is no cache at ${dir}: run verify in the project directory, or name a pipeline file`,
      );
    }
  }
  const report = await verifyCache(dir, {
    ...(keys ? { keys } : {}),
    repair,
    onWait: (holder) => console.error(`waiting for the cache lock held by ${holder}`),
  });
  if (json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    for (const p of report.problems) {
      const what = p.stage ? `  output "${p.output}" of stage "${p.stage}"` : "";
      console.log(`${p.problem.padEnd(10)} ${p.path}${what}`);
    }
    const count = (k: VerifyProblem["problem"]) =>
      report.problems.filter((p) => p.problem === k).length;
    const found = report.problems.length
      ? `: ${count("damaged")} damaged, ${count("missing")} missing, ` +
        `${count("bad record")} unreadable record${count("bad record") === 1 ? "" : "s"}` +
        (report.repaired
          ? "; removed them and the records that refer to them: the next run recomputes them"
          : "; run verify --repair to remove them, so that the next run recomputes them")
      : ": all intact";
    console.log(`verified ${report.objects} objects of ${report.records} run records${found}`);
  }
  return report.problems.length ? 1 : 0;
}
