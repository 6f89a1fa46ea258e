/**
 * `run <pipeline.yaml> ...`: runs a pipeline (or a sweep's variants) on the executor it names,
 * with Ctrl-C stopping it cleanly; after each variant, records it in the history and writes its
 * report; prints the summary (or `--json`) and the failures, and gives the exit code.
 *
 * @module
 */

import type { Sweep, SweepVariant } from "../config/sweep.ts";
import { stackFrames } from "../core/failure.ts";
import type { Pipeline } from "../core/pipeline.ts";
import type { RunSummary, StageResult } from "../core/result.ts";
import { UserError } from "../errors.ts";
import type { StageExecutor } from "../exec/executor.ts";
import { DEFAULT_EXECUTOR, openExecutor } from "../exec/registry.ts";
import { guardExits } from "../exec/stage_exit.ts";
import { recordPipelineRun } from "../history/record.ts";
import { treeDir } from "../materialise/out_paths.ts";
import { relative, resolve } from "../paths.ts";
import { type RemoteOptions, remoteUrl } from "../remote/schemes.ts";
import { formatSeconds, type Reporter } from "../report.ts";
import { consoleReporter } from "../report/console.ts";
import { reportIsCurrent, sweepReportPath, sweepStamp } from "../report/stamp.ts";
import type { RunOptions } from "../run/options.ts";
import { runVariants } from "../run/variants.ts";
import type { Flags } from "./flags.ts";

/** The report, unless it is current: then the report's modules are not even loaded. */
const writePipelineReport = async (
  ...a: Parameters<typeof import("../report/write.ts").writePipelineReport>
): Promise<string> => {
  const [pipeline, summary, options] = a;
  const path = `${treeDir(options?.outDir ?? `${pipeline.root}/out`, pipeline.name)}/report.html`;
  if (await reportIsCurrent(path, pipeline, summary)) return path;
  const report = await import(
    new URL("../report/write.ts", import.meta.url).href
  ) as typeof import("../report/write.ts");
  return report.writePipelineReport(...a);
};

/** A sweep's page, unless it is current: then its modules are not even loaded. */
const writeSweepReport = async (
  ...a: Parameters<typeof import("../report/sweep.ts").writeSweepReport>
): Promise<string> => {
  const [pipeline, variants, options] = a;
  const path = sweepReportPath(options?.outDir ?? `${pipeline.root}/out`, pipeline.name);
  const stamped = sweepStamp(pipeline, variants);
  if (await reportIsCurrent(path, stamped.pipeline, stamped.summary)) return path;
  const report = await import(
    new URL("../report/sweep.ts", import.meta.url).href
  ) as typeof import("../report/sweep.ts");
  return report.writeSweepReport(...a);
};

/**
 * Runs a pipeline, or a sweep's variants, and prints what happened.
 *
 * @param sweep The pipeline file, loaded: its base and a sweep's variants (none for a plain run).
 * @param flags The command's flags.
 * @returns The exit code: 0, 1 when a stage's code failed or out/ could not be written, 2 when
 *   every failure was the user's, 130 when interrupted.
 */
export async function runCommand(sweep: Sweep, flags: Flags & { file: string }): Promise<number> {
  const pipeline = sweep.base;
  const swept = sweep.variants.length > 0;
  const variants: SweepVariant[] = swept ? sweep.variants : [{ pipeline, overrides: [] }];
  const reporter: Reporter = consoleReporter({ quiet: flags.quiet });
  let releaseExits: (() => void) | undefined;
  try {
    const controller = new AbortController();
    // First Ctrl-C: abort the run (running stages see the signal; nothing partial is cached).
    // Second: end the process now, for a stage that ignores its signal. Every cache file is
    // written by rename, so none is left half-written, and the OS releases the lock's flock.
    const onInterrupt = () => {
      if (controller.signal.aborted) {
        reporter.line("interrupted again: exiting now (exit code 130)");
        Deno.exit(130);
      }
      reporter.line(
        "interrupted: stopping the running stages; nothing partial is cached " +
          "(Ctrl-C again to exit at once)",
      );
      controller.abort();
    };
    // --executor (or executor:): where stages that must run run (exec/registry.ts); local, in
    // this process, by default.
    let executor: StageExecutor | undefined;
    const executorName = flags.executor ?? pipeline.executor ?? DEFAULT_EXECUTOR;
    if (!flags.dryRun) {
      executor = await openExecutor(executorName, {
        file: resolve(flags.file),
        sets: flags.sets,
        allowOutside: flags.allowOutside,
        cacheDir: `${pipeline.root}/.pipeline`,
        reporter,
        signal: controller.signal,
      });
      if (swept && !executor.inProcess) {
        throw new UserError(
          `--executor ${executorName} runs one configuration at a time, and ${flags.file} is a ` +
            `sweep of ${variants.length}: run each variant with --set, or run the sweep locally`,
        );
      }
    }
    Deno.addSignalListener("SIGINT", onInterrupt);
    const options: RunOptions = {
      only: flags.only,
      force: flags.force,
      dryRun: flags.dryRun,
      reporter,
      signal: controller.signal,
      ...(flags.from ? { from: flags.from } : {}),
      ...(flags.jobs ? { jobs: flags.jobs } : {}),
      ...(executor ? { executor } : {}),
      remote: remoteOptions(pipeline, flags),
    };
    if (!flags.json) {
      reporter.line(
        `pipeline ${pipeline.name} (${flags.file})` +
          (swept
            ? `, ${variants.length} variants: ${variants.map((v) => v.label).join(" | ")}`
            : ""),
      );
    }
    // Until the command returns, a stage (or what it left running) cannot end the process.
    releaseExits = guardExits();
    let done;
    try {
      done = await runVariants(variants, options);
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
    const seconds = Math.max(...done.map((d) => d.seconds));
    if (!flags.dryRun) {
      // A variant's time is what its stages ran for: variants share the machine and the
      // stages they have in common, so the sweep's wall time is no one variant's.
      const own = (d: RunSummary) => d.stages.reduce((t, r) => t + r.seconds, 0);
      for (const [i, d] of done.entries()) {
        await afterRun(variants[i]!, d, swept ? own(d) : seconds, reporter, flags);
      }
      if (swept) {
        const runs = done.map((d, i) => ({
          label: d.label!,
          pipeline: variants[i]!.pipeline,
          summary: d,
          seconds: own(d),
        }));
        await afterSweep(pipeline, runs, reporter, flags);
      }
    }
    const all = done.flatMap((d) => d.stages.map((stage) => ({ stage, label: d.label })));
    const stopped = all.filter(({ stage: s }) =>
      s.reason === "interrupted" && s.status === "failed"
    );
    const failed = all.filter((r) => r.stage.status === "failed" && !stopped.includes(r));
    const problems = done.flatMap((d) => d.materialisation ?? []);
    if (flags.json) {
      if (!swept) {
        printJson({
          pipeline: done[0]!.pipeline,
          stages: done[0]!.stages.map((s) => jsonStage(s, flags.verbose)),
        });
      } else {
        printJson({
          pipeline: pipeline.name,
          variants: done.map((d, i) => ({
            variant: d.label,
            overrides: variants[i]!.overrides,
            stages: d.stages.map((s) => jsonStage(s, flags.verbose)),
          })),
        });
      }
    } else {
      const count = (s: string) => all.filter((r) => r.stage.status === s).length;
      const sweptCount = swept ? `${variants.length} variants: ` : "";
      reporter.line(
        flags.dryRun
          ? `${sweptCount}${count("would-run")} would run, ${count("cached")} cached, ` +
            `${count("skipped")} skipped (dry run: nothing ran)`
          : `${sweptCount}${count("ran")} ran, ${count("cached")} cached, ` +
            `${count("skipped")} skipped, ${failed.length} failed` +
            `${stopped.length ? `, ${stopped.length} interrupted` : ""} in ${
              formatSeconds(seconds)
            }`,
      );
      for (const { stage: f, label } of failed) {
        console.error(`error: stage "${f.id}"${label ? ` [${label}]` : ""} failed: ${f.error}`);
        if (flags.verbose && f.stack) console.error(stackFrames(f.stack).join("\n"));
      }
      if (!flags.verbose && failed.some((f) => f.stage.stack)) {
        reporter.line("note: run with --verbose to see where in its code a stage failed");
      }
    }
    if (controller.signal.aborted) return 130;
    // Outputs that could not be written to out/ (the results are cached all the same).
    for (const p of problems) {
      console.error(
        `error: could not write ${p.path} (output "${p.output}" of ${p.stage}): ${p.message}`,
      );
    }
    if (failed.length) return failed.every((f) => f.stage.reason === "user error") ? 2 : 1;
    if (problems.length) return 1;
    return 0;
  } finally {
    releaseExits?.();
  }
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

/** A stage's result as `--json` prints it (its stack only with `--verbose`). */
function jsonStage(r: StageResult, verbose: boolean) {
  const out: Record<string, unknown> = {
    id: r.id,
    kind: r.kind,
    status: r.status,
    seconds: Math.round(r.seconds * 1000) / 1000,
    key: r.key,
    outputs: r.outputs,
  };
  if (r.error) out.error = r.error;
  if (verbose && r.stack) out.stack = r.stack;
  if (r.reason) out.reason = r.reason;
  return out;
}

/**
 * The remote cache options of a run, without loading the remote client (`NERPIPE_REMOTE` was
 * checked when the command started, the pipeline's `remote:` where it is written).
 */
function remoteOptions(pipeline: Pipeline, flags: Flags): RemoteOptions {
  if (flags.requireRemote && !remoteUrl(pipeline.remote, undefined)) {
    throw new UserError(
      "--require-remote is given but there is no remote cache: add remote: " +
        "s3://<bucket>/<prefix> (or file:///shared/cache) to the pipeline file, or set " +
        "NERPIPE_REMOTE",
    );
  }
  return { pull: !flags.noPull, push: !flags.noPush, require: flags.requireRemote };
}

/**
 * After a run (or a sweep's variant) that was not a dry run: records it in the history, then
 * writes `out/<pipeline>/report.html` (a variant's in `out/<pipeline>/<variant>/`). Neither
 * failing fails the run: each is a warning.
 */
async function afterRun(
  variant: SweepVariant,
  summary: RunSummary,
  seconds: number,
  reporter: Reporter,
  flags: Flags,
): Promise<void> {
  const { pipeline, label } = variant;
  const why = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
  const of = label ? ` (variant ${label})` : "";
  try {
    await recordPipelineRun(pipeline, summary, seconds, undefined, variant.overrides);
  } catch (error) {
    reporter.line(`warning: the run${of} was not recorded in the history: ${why(error)}`);
  }
  try {
    // The report goes to `out/<name>/report.html`: a variant's name is `<pipeline>/<label>`.
    const named = label ? { ...pipeline, name: `${pipeline.name}/${label}` } : pipeline;
    const path = await writePipelineReport(named, summary, {
      seconds,
      warn: (message) => reporter.line(`warning: ${message}`),
    });
    if (!flags.json && !flags.quiet) reporter.line(`report ${relative(Deno.cwd(), path)}`);
  } catch (error) {
    reporter.line(`warning: the report${of} was not written: ${why(error)}`);
  }
}

/** After a sweep: writes `out/<pipeline>/sweep.html`, its variants overlaid (a warning if not). */
async function afterSweep(
  pipeline: Pipeline,
  runs: Parameters<typeof writeSweepReport>[1],
  reporter: Reporter,
  flags: Flags,
): Promise<void> {
  try {
    const path = await writeSweepReport(pipeline, runs, {
      warn: (message) => reporter.line(`warning: ${message}`),
    });
    if (!flags.json && !flags.quiet) reporter.line(`sweep report ${relative(Deno.cwd(), path)}`);
  } catch (error) {
    const why = (error instanceof Error ? error.message : String(error)).split("\n")[0];
    reporter.line(`warning: the sweep's report was not written: ${why}`);
  }
}
