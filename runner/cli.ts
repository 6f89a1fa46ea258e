/**
 * The command line: `run`, `status` and `dag`.
 *
 * @module
 */

import { loadPipeline, type Pipeline } from "./config.ts";
import { renderDag } from "./dag.ts";
import { formatDiagnostic, isUserError, PipelineValidationError, UserError } from "./errors.ts";
import { type RunOptions, runPipeline, type RunSummary, type StageResult } from "./execute.ts";
import { writePipelineReport } from "./html_report.ts";
import type { Registry } from "./registry.ts";
import { consoleReporter, formatSeconds, type Reporter } from "./report.ts";
import { recordPipelineRun } from "./runs_cli.ts";
import { didYouMean } from "./suggest.ts";
import { verifyCommand } from "./verify.ts";
import { relative } from "node:path";

/** Extra commands a program adds to the CLI (for example `predict`). */
export type ExtraCommand = (args: string[]) => Promise<number>;

const USAGE = `usage:
  run <pipeline.yaml> [--set k=v]... [--only <id>]... [--from <id>] [--force [<id>]]
                      [--dry-run] [--jobs N] [--json] [--quiet] [--allow-outside <path>]...
  status <pipeline.yaml> [--set k=v]... [--json]
  dag <pipeline.yaml> [--format mermaid|dot]
  verify [<pipeline.yaml>] [--set k=v]... [--repair] [--json]`;

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
  format: "mermaid" | "dot";
}

const FLAGS = [
  "--set",
  "--allow-outside",
  "--only",
  "--from",
  "--force",
  "--dry-run",
  "--jobs",
  "--json",
  "--quiet",
  "--format",
];

function parseFlags(args: string[]): Flags {
  const flags: Flags = {
    sets: [],
    allowOutside: [],
    only: [],
    force: false,
    dryRun: false,
    json: false,
    quiet: false,
    format: "mermaid",
  };
  const value = (i: number, flag: string): string => {
    const v = args[i];
    if (v === undefined || v.startsWith("--")) {
      throw new UserError(`Flag ${flag} needs a value: see the usage below\n${USAGE}`);
    }
    return v;
  };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]!;
    let inline: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = () => inline ?? value(++i, arg);
    switch (arg) {
      case "--allow-outside":
        flags.allowOutside.push(take());
        break;
      case "--set":
        flags.sets.push(take());
        break;
      case "--only":
        flags.only.push(take());
        break;
      case "--from":
        flags.from = take();
        break;
      case "--force": {
        const next = inline ?? args[i + 1];
        if (next !== undefined && !next.startsWith("--") && (inline !== undefined || flags.file)) {
          if (inline === undefined) i++;
          flags.force = [...(Array.isArray(flags.force) ? flags.force : []), next];
        } else if (flags.force === false) {
          flags.force = true;
        }
        break;
      }
      case "--dry-run":
        flags.dryRun = true;
        break;
      case "--json":
        flags.json = true;
        break;
      case "--quiet":
        flags.quiet = true;
        break;
      case "--jobs": {
        const n = Number(take());
        if (!Number.isInteger(n) || n < 1) throw new UserError(`--jobs needs a positive integer`);
        flags.jobs = n;
        break;
      }
      case "--format": {
        const f = take();
        if (f !== "mermaid" && f !== "dot") {
          throw new UserError(`Unknown format "${f}": expected "mermaid" or "dot"`);
        }
        flags.format = f;
        break;
      }
      default:
        if (arg.startsWith("-")) {
          const hint = didYouMean(arg, FLAGS, "a flag among");
          throw new UserError(`Unknown flag "${arg}": ${hint}`);
        }
        if (flags.file !== undefined) {
          throw new UserError(`Unexpected argument "${arg}": give one pipeline file\n${USAGE}`);
        }
        flags.file = arg;
    }
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

function jsonStage(r: StageResult) {
  const out: Record<string, unknown> = {
    id: r.id,
    kind: r.kind,
    status: r.status,
    seconds: Math.round(r.seconds * 1000) / 1000,
    key: r.key,
    outputs: r.outputs,
  };
  if (r.error) out.error = r.error;
  if (r.reason) out.reason = r.reason;
  return out;
}

/**
 * Runs the CLI.
 *
 * @param args Command-line arguments, the command first.
 * @param registry Stage kinds.
 * @param extra Additional commands by name.
 * @returns The exit code: 0, 1 for a failure in our code, 2 for a user error.
 */
export async function main(
  args: string[],
  registry: Registry,
  extra: Record<string, ExtraCommand> = {},
): Promise<number> {
  const [command, ...rest] = args;
  try {
    if (command !== undefined && extra[command]) return await extra[command](rest);
    if (command === "verify") return await verifyCommand(rest, registry);
    if (command !== "run" && command !== "status" && command !== "dag") {
      const known = ["run", "status", "dag", "verify", ...Object.keys(extra)];
      const hint = command ? didYouMean(command, known, "a command among") : "give a command";
      throw new UserError(`Unknown command "${command ?? ""}": ${hint}\n${USAGE}`);
    }
    const flags = parseFlags(rest);
    if (!flags.file) throw new UserError(`Missing pipeline file\n${USAGE}`);
    // `dag` only reads (its task grants no write permission), so it remembers no check.
    const pipeline = await loadPipeline(flags.file, {
      registry,
      sets: flags.sets,
      allowOutside: flags.allowOutside,
      ...(command === "dag" ? { cacheDir: false as const } : {}),
    });
    checkIds(pipeline, flags.only, "--only");
    if (flags.from) checkIds(pipeline, [flags.from], "--from");
    if (Array.isArray(flags.force)) checkIds(pipeline, flags.force, "--force");

    if (command === "dag") {
      console.log(renderDag(pipeline, flags.format));
      return 0;
    }
    const reporter: Reporter = consoleReporter({ quiet: flags.quiet || command === "status" });
    if (command === "status") return await status(pipeline, flags);

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
    Deno.addSignalListener("SIGINT", onInterrupt);
    const options: RunOptions = {
      only: flags.only,
      force: flags.force,
      dryRun: flags.dryRun,
      reporter,
      signal: controller.signal,
      ...(flags.from ? { from: flags.from } : {}),
      ...(flags.jobs ? { jobs: flags.jobs } : {}),
    };
    if (!flags.json) reporter.line(`pipeline ${pipeline.name} (${flags.file})`);
    const started = performance.now();
    let summary;
    try {
      summary = await runPipeline(pipeline, options);
    } finally {
      Deno.removeSignalListener("SIGINT", onInterrupt);
    }
    const seconds = (performance.now() - started) / 1000;
    if (!flags.dryRun) await afterRun(pipeline, summary, seconds, reporter, flags);
    const stopped = summary.stages.filter((s) =>
      s.reason === "interrupted" && s.status === "failed"
    );
    const failed = summary.stages.filter((s) => s.status === "failed" && !stopped.includes(s));
    if (flags.json) {
      printJson({ pipeline: summary.pipeline, stages: summary.stages.map(jsonStage) });
    } else {
      const count = (s: string) => summary.stages.filter((r) => r.status === s).length;
      reporter.line(
        `${count("ran")} ran, ${count("cached")} cached, ${count("skipped")} skipped, ` +
          `${failed.length} failed${stopped.length ? `, ${stopped.length} interrupted` : ""} ` +
          `in ${formatSeconds(seconds)}`,
      );
      for (const f of failed) console.error(`error: stage "${f.id}" failed: ${f.error}`);
    }
    if (controller.signal.aborted) return 130;
    // Outputs that could not be written to out/ (the results are cached all the same).
    for (const p of summary.materialisation ?? []) {
      console.error(
        `error: could not write ${p.path} (output "${p.output}" of ${p.stage}): ${p.message}`,
      );
    }
    if (failed.length) return failed.every((f) => f.reason === "user error") ? 2 : 1;
    if (summary.materialisation?.length) return 1;
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
    throw error;
  }
}

/**
 * After a run that was not a dry run: records it in the history, then writes
 * `out/<pipeline>/report.html`. Neither failing fails the run: each is a warning.
 */
async function afterRun(
  pipeline: Pipeline,
  summary: RunSummary,
  seconds: number,
  reporter: Reporter,
  flags: Flags,
): Promise<void> {
  const why = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
  try {
    await recordPipelineRun(pipeline, summary, seconds);
  } catch (error) {
    reporter.line(`warning: the run was not recorded in the history: ${why(error)}`);
  }
  try {
    const path = await writePipelineReport(pipeline, summary, {
      seconds,
      warn: (message) => reporter.line(`warning: ${message}`),
    });
    if (!flags.json && !flags.quiet) reporter.line(`report ${relative(Deno.cwd(), path)}`);
  } catch (error) {
    reporter.line(`warning: the report was not written: ${why(error)}`);
  }
}

async function status(pipeline: Pipeline, flags: Flags): Promise<number> {
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
  if (flags.json) {
    printJson({ pipeline: pipeline.name, stages: rows });
    return 0;
  }
  const width = Math.max(...rows.map((r) => r.id.length));
  for (const r of rows) {
    const why = r.reasons.length ? `  ${r.reasons.join("; ")}` : "";
    console.log(`${r.state.padEnd(6)} ${r.id.padEnd(width)}${why}`);
  }
  return 0;
}
