/**
 * `run-stage <pipeline.yaml> --stage <id> [--cache-dir <dir>] [--executor <name>] [--set k=v]...
 * [--allow-outside <path>]... [--force]`: what a job of a batch executor runs (exec/job.ts). Exit
 * code 0 when the stage ran or was cached, 1 when it failed (2 for a user error), so that the
 * jobs that run after it (`afterok`) are held back.
 *
 * @module
 */

import { expandSweep } from "../config/sweep.ts";
import { UserError } from "../errors.ts";
import { runStageJob } from "../exec/job.ts";
import { executorModule } from "../exec/registry.ts";
import { parseArgs } from "../lib/args.ts";
import { isAbsolute, resolve } from "../paths.ts";
import type { Registry } from "../registry.ts";
import { consoleReporter } from "../report/console.ts";

const USAGE = "usage: run-stage <pipeline.yaml> --stage <id> [--cache-dir <dir>] [--set k=v]... " +
  "(what a job of a batch executor, such as --executor slurm, runs)";

/**
 * Runs `run-stage`.
 *
 * @param args Its arguments.
 * @param registry Stage kinds.
 * @returns The exit code.
 */
export async function runStageCommand(args: string[], registry: Registry): Promise<number> {
  const { values, positionals } = parseArgs(args, {
    stage: { type: "string" },
    "cache-dir": { type: "string" },
    executor: { type: "string" },
    set: { type: "strings" },
    "allow-outside": { type: "strings" },
    force: { type: "boolean" },
  }, { command: "run-stage", usage: USAGE });
  if (positionals.length > 1) {
    throw new UserError(`run-stage: unexpected argument "${positionals[1]}"`);
  }
  const file = positionals[0];
  const id = values.stage;
  const cacheDir = values["cache-dir"];
  const forced = values.force ?? false;
  const sets = values.set ?? [];
  const allowOutside = values["allow-outside"] ?? [];
  if (!file || !id) {
    throw new UserError(USAGE);
  }
  // The executor that submitted the job (a job of an older nerpipe names none: Slurm).
  const executor = values.executor ?? "slurm";
  const module = await executorModule(executor);
  if (!module) throw new UserError(`run-stage: unknown executor "${executor}"`);
  const sweep = await expandSweep(file, sets, { registry, allowOutside, cacheDir: false });
  const pipeline = sweep.base;
  if (!pipeline.stages.has(id)) {
    throw new UserError(`run-stage: ${file} has no stage "${id}": check the pipeline file`);
  }
  const dir = cacheDir ?? `${pipeline.root}/.pipeline`;
  const controller = new AbortController();
  // scancel sends SIGTERM: the stage sees the abort, and nothing partial is stored.
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const job = module.jobId?.();
    const result = await runStageJob(pipeline, id, {
      cacheDir: isAbsolute(dir) ? dir : resolve(dir),
      executor,
      ...(job ? { job } : {}),
      forced,
      reporter: consoleReporter({ quiet: true }),
      signal: controller.signal,
    });
    return result.status === "failed" ? (result.user ? 2 : 1) : 0;
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
  }
}
