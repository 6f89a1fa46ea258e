/**
 * The command line: `run`, `status` and `dag`.
 *
 * @module
 */

import type { Pipeline } from "./core/pipeline.ts";
import { diskFullError, isDiskFull } from "./lib/disk_full.ts";
import { formatDiagnostic, isUserError, PipelineValidationError, UserError } from "./errors.ts";
import type { Registry } from "./registry.ts";
import { formatSeconds, type Reporter } from "./report.ts";
import { consoleReporter } from "./report/console.ts";
import { compareCommand, recordPipelineRun, runsCommand } from "./runs_cli.ts";
import { expandSweep, type SweepVariant } from "./config/sweep.ts";
import { didYouMean } from "./lib/suggest.ts";
import { type FlagSpecs, parseArgs } from "./lib/args.ts";
import { checkEnv, type EnvVar } from "./env.ts";
import type { StageExecutor } from "./exec/executor.ts";
import { EXECUTOR_NAMES, openExecutor, queuedJobs } from "./exec/registry.ts";
import { relative, resolve } from "./paths.ts";
import { reportIsCurrent } from "./report/stamp.ts";
import { treeDir } from "./materialise/out_paths.ts";
import { own } from "./lib/own.ts";
import { guardExits } from "./exec/stage_exit.ts";
import { stackFrames } from "./core/failure.ts";
import type { RunSummary, StageResult } from "./core/result.ts";
import { REMOTE_ENV_VAR, type RemoteOptions, remoteUrl } from "./remote/schemes.ts";
import type { RunOptions } from "./run/options.ts";
import { runPipeline, runVariants } from "./run/variants.ts";

// Loaded where they are used, by URL (see main.ts): a cached run needs none of them, and each
// module loaded at start-up costs it time.
const lazy = <T>(path: string) => (): Promise<T> => import(new URL(path, import.meta.url).href);
const renderDag = async (...a: Parameters<typeof import("./graph/draw.ts").renderDag>) =>
  (await lazy<typeof import("./graph/draw.ts")>("./graph/draw.ts")()).renderDag(...a);
const verifyCommand = async (...a: Parameters<typeof import("./verify.ts").verifyCommand>) =>
  (await lazy<typeof import("./verify.ts")>("./verify.ts")()).verifyCommand(...a);
const runStageCommand = async (
  ...a: Parameters<typeof import("./cli/run_stage.ts").runStageCommand>
) =>
  (await lazy<typeof import("./cli/run_stage.ts")>("./cli/run_stage.ts")()).runStageCommand(...a);
/** The report, unless it is current: then the report's modules are not even loaded. */
const writePipelineReport = async (
  ...a: Parameters<typeof import("./report/write.ts").writePipelineReport>
): Promise<string> => {
  const [pipeline, summary, options] = a;
  const path = `${treeDir(options?.outDir ?? `${pipeline.root}/out`, pipeline.name)}/report.html`;
  if (await reportIsCurrent(path, pipeline, summary)) return path;
  const report = await lazy<typeof import("./report/write.ts")>("./report/write.ts")();
  return report.writePipelineReport(...a);
};

/** Extra commands a program adds to the CLI (for example `predict`). */
export type ExtraCommand = (args: string[]) => Promise<number>;

const USAGE = `usage:
  run <pipeline.yaml> [--set k=v]... [--only <id>]... [--from <id>] [--force [<id>]]
                      [--dry-run] [--jobs N] [--json] [--quiet] [--verbose]
                      [--allow-outside <path>]...
                      [--executor ${EXECUTOR_NAMES.join("|")}] [--no-pull] [--no-push]
                      [--require-remote]
  status <pipeline.yaml> [--set k=v]... [--json]
  dag <pipeline.yaml> [--format mermaid|dot]
  verify [<pipeline.yaml>] [--set k=v]... [--repair] [--json]
  runs [<pipeline.yaml>] [--json]
  compare <run> <run> [--json] | compare --last 2 [<pipeline.yaml>] [--json]
  pull <pipeline.yaml> [--set k=v]...   push [<pipeline.yaml>] [--set k=v]...
a --set value with commas (k=a,b,c) is a sweep: one variant per value ('k="a,b"' for a comma)`;

interface Flags {
  file?: string;
  sets: string[];
  allowOutside: string[];
  only: string[];
  from?: string;
  force: boolean | string[];
  dryRun: boolean;
  jobs?: number;
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  format: "mermaid" | "dot";
  executor?: string;
  noPull: boolean;
  noPush: boolean;
  requireRemote: boolean;
}

const FLAGS = {
  set: { type: "strings" },
  "allow-outside": { type: "strings" },
  only: { type: "strings" },
  from: { type: "string" },
  // `--force` alone forces every stage; `--force <id>` after the pipeline file (or
  // `--force=<id>`) forces that stage.
  force: { type: "strings", optionalValue: (positionals) => positionals.length > 0 },
  "dry-run": { type: "boolean" },
  jobs: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean" },
  // A failed stage's stack (where in its code it threw); without it, one message per stage.
  verbose: { type: "boolean" },
  format: { type: "string" },
  executor: { type: "string" },
  "no-pull": { type: "boolean" },
  "no-push": { type: "boolean" },
  "require-remote": { type: "boolean" },
} satisfies FlagSpecs;

function parseFlags(args: string[]): Flags {
  const { values: v, positionals } = parseArgs(args, FLAGS, { usage: USAGE });
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give one pipeline file\n${USAGE}`,
    );
  }
  const flags: Flags = {
    sets: v.set ?? [],
    allowOutside: v["allow-outside"] ?? [],
    only: v.only ?? [],
    force: v.force === undefined ? false : v.force.length ? v.force : true,
    dryRun: v["dry-run"] ?? false,
    json: v.json ?? false,
    quiet: v.quiet ?? false,
    verbose: v.verbose ?? false,
    format: "mermaid",
    noPull: v["no-pull"] ?? false,
    noPush: v["no-push"] ?? false,
    requireRemote: v["require-remote"] ?? false,
  };
  if (positionals[0] !== undefined) flags.file = positionals[0];
  if (v.from !== undefined) flags.from = v.from;
  if (v.jobs !== undefined) {
    const n = Number(v.jobs);
    if (!Number.isInteger(n) || n < 1) throw new UserError(`--jobs needs a positive integer`);
    flags.jobs = n;
  }
  if (v.executor !== undefined) {
    const e = v.executor;
    if (!EXECUTOR_NAMES.includes(e)) {
      throw new UserError(`Unknown executor "${e}": ${didYouMean(e, [...EXECUTOR_NAMES])}`);
    }
    flags.executor = e;
  }
  if (v.format !== undefined) {
    const f = v.format;
    if (f !== "mermaid" && f !== "dot") {
      throw new UserError(`Unknown format "${f}": expected "mermaid" or "dot"`);
    }
    flags.format = f;
  }
  return flags;
}

function checkIds(pipeline: Pipeline, ids: string[], flag: string): void {
  const known = [...pipeline.stages.keys()];
  for (const id of ids) {
    if (!pipeline.stages.has(id)) {
      throw new UserError(`${flag} names unknown stage "${id}": ${didYouMean(id, known)}`);
    }
  }
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

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
 * Runs the CLI.
 *
 * @param args Command-line arguments, the command first.
 * @param registry Stage kinds.
 * @param extra Additional commands by name.
 * @param env Environment variables the program's stages and libraries read (the engine's own,
 *   `NERPIPE_REMOTE`, is always checked): one not allowed is exit code 2.
 * @returns The exit code: 0, 1 for a failure in our code, 2 for a user error.
 */
export async function main(
  args: string[],
  registry: Registry,
  extra: Record<string, ExtraCommand> = {},
  env: readonly EnvVar[] = [],
): Promise<number> {
  const [command, ...rest] = args;
  let releaseExits: (() => void) | undefined;
  try {
    // Every NERPIPE_* variable, in one place, before any command reads one.
    checkEnv([REMOTE_ENV_VAR, ...env]);
    // Own keys only: `toString` is no command.
    const extraCommand = command === undefined ? undefined : own(extra, command);
    if (extraCommand) return await extraCommand(rest);
    if (command === "verify") return await verifyCommand(rest, registry);
    if (command === "runs") return await runsCommand(rest);
    if (command === "compare") return await compareCommand(rest);
    if (command === "push" || command === "pull") {
      const { transferCommand } = await import(
        new URL("./remote_cli.ts", import.meta.url).href
      ) as typeof import("./remote_cli.ts");
      return await transferCommand(command, rest, registry);
    }
    if (command === "run-stage") return await runStageCommand(rest, registry);
    if (command !== "run" && command !== "status" && command !== "dag") {
      const known = ["run", "status", "dag", "verify", "runs", "compare", "push", "pull"];
      known.push(...Object.keys(extra));
      const hint = command ? didYouMean(command, known, "a command among") : "give a command";
      throw new UserError(`Unknown command "${command ?? ""}": ${hint}\n${USAGE}`);
    }
    const flags = parseFlags(rest);
    if (!flags.file) throw new UserError(`Missing pipeline file\n${USAGE}`);
    // `dag` only reads (its task grants no write permission), so it remembers no check.
    const load = { registry, allowOutside: flags.allowOutside };
    const sweep = await expandSweep(flags.file, flags.sets, {
      ...load,
      ...(command === "dag" ? { cacheDir: false as const } : {}),
    });
    const pipeline = sweep.base;
    checkIds(pipeline, flags.only, "--only");
    if (flags.from) checkIds(pipeline, [flags.from], "--from");
    if (Array.isArray(flags.force)) checkIds(pipeline, flags.force, "--force");

    if (command === "dag") {
      console.log(await renderDag(pipeline, flags.format));
      return 0;
    }
    const reporter: Reporter = consoleReporter({ quiet: flags.quiet || command === "status" });
    if (command === "status") {
      return await status(
        sweep.variants.length ? sweep.variants : [{ pipeline, overrides: [] }],
        flags,
      );
    }

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
    const variants: SweepVariant[] = sweep.variants.length
      ? sweep.variants
      : [{ pipeline, overrides: [] }];
    const swept = sweep.variants.length > 0;
    // --executor (or executor:): where stages that must run run (exec/registry.ts); local, in
    // this process, by default.
    let executor: StageExecutor | undefined;
    const executorName = flags.executor ?? pipeline.executor ?? "local";
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
      for (const [i, d] of done.entries()) {
        // A variant's time is what its stages ran for: variants share the machine and the
        // stages they have in common, so the sweep's wall time is no one variant's.
        const own = d.stages.reduce((t, r) => t + r.seconds, 0);
        await afterRun(variants[i]!, d, swept ? own : seconds, reporter, flags);
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
  } catch (error) {
    if (error instanceof PipelineValidationError) {
      for (const d of error.diagnostics) console.error(`error: ${formatDiagnostic(d)}`);
      return 2;
    }
    if (isUserError(error)) {
      console.error(`error: ${(error as Error).message}`);
      return 2;
    }
    if (isDiskFull(error)) {
      // Whatever was writing: one line, the file and the space left (exit 1).
      console.error(`error: ${(await diskFullError(error, Deno.cwd())).message}`);
      return 1;
    }
    throw error;
  } finally {
    releaseExits?.();
  }
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

async function status(variants: SweepVariant[], flags: Flags): Promise<number> {
  const shown = [];
  for (const { pipeline, label } of variants) {
    const summary = await runPipeline(pipeline, {
      dryRun: true,
      reporter: {
        line() {},
        logger: () => ({ info() {}, warn() {} }),
        progress: () => ({ update() {} }),
        done() {},
      },
      only: flags.only,
      ...(flags.from ? { from: flags.from } : {}),
    });
    const rows = summary.stages.map((s) => ({
      id: s.id,
      kind: s.kind,
      state: s.status === "cached" ? "fresh" : s.status === "skipped" ? "skipped" : "stale",
      reasons: s.status === "would-run" ? (s.reason ?? "").split("; ") : [],
      key: s.key,
    }));
    shown.push({ label, rows });
  }
  const name = variants[0]!.pipeline.name;
  // The jobs of a run in progress on a batch executor (--executor slurm), queued or running.
  const queued = await queuedJobs(`${variants[0]!.pipeline.root}/.pipeline`, name);
  const jobs = queued.map(({ job, stage, state }) => ({ job, stage, state }));
  if (flags.json) {
    const [one] = shown;
    if (shown.length === 1 && one!.label === undefined) {
      printJson({ pipeline: name, stages: one!.rows, ...(jobs.length ? { jobs } : {}) });
    } else {printJson({
        pipeline: name,
        variants: shown.map((v) => ({ variant: v.label, stages: v.rows })),
      });}
    return 0;
  }
  for (const { label, rows } of shown) {
    if (label !== undefined) console.log(`variant ${label}:`);
    const pad = label !== undefined ? "  " : "";
    const width = Math.max(...rows.map((r) => r.id.length));
    for (const r of rows) {
      const why = r.reasons.length ? `  ${r.reasons.join("; ")}` : "";
      console.log(`${pad}${r.state.padEnd(6)} ${r.id.padEnd(width)}${why}`);
    }
  }
  for (const executor of new Set(queued.map((j) => j.executor))) {
    console.log(`${executor} jobs of a run in progress:`);
    for (const j of queued.filter((q) => q.executor === executor)) {
      console.log(`  job ${j.job}  ${j.stage}  ${j.state}`);
    }
  }
  return 0;
}
