/**
 * The command line: which command runs, and how what went wrong becomes an exit code. Each
 * command is a module of this folder that parses its flags, calls its operation and prints what
 * it returns; all but `run` (the one a cached rerun is) are imported when they are the command,
 * by URL (see main.ts), so that a no-op rerun loads none of them.
 *
 * @module
 */

import { expandSweep } from "../config/sweep.ts";
import { checkEnv, type EnvVar } from "../env.ts";
import { formatDiagnostic, isUserError, PipelineValidationError, UserError } from "../errors.ts";
import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import { own } from "../lib/own.ts";
import { HelpRequested } from "../lib/args.ts";
import { didYouMean } from "../lib/suggest.ts";
import type { Registry } from "../registry.ts";
import { REMOTE_ENV_VAR } from "../remote/schemes.ts";
import { checkIds, parseFlags } from "./flags.ts";
import { allUsage, COMMAND_NAMES, overview, usageOf } from "./help.ts";
import { runCommand } from "./run.ts";

/** Extra commands a program adds to the CLI (for example `predict`). */
export type ExtraCommand = (args: string[]) => Promise<number>;

/** A module of the CLI, imported when its command runs. */
const lazy = <T>(path: string): Promise<T> => import(new URL(path, import.meta.url).href);

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
  try {
    // Every NERPIPE_* variable, in one place, before any command reads one.
    checkEnv([REMOTE_ENV_VAR, ...env]);
    if (command === "help" || command === "--help" || command === "-h") {
      // `help <command>` is `<command> --help`.
      if (rest[0] !== undefined) return await main([rest[0], "--help"], registry, extra, env);
      console.log(overview(Object.keys(extra)));
      return 0;
    }
    // Own keys only: `toString` is no command.
    const extraCommand = command === undefined ? undefined : own(extra, command);
    if (extraCommand) return await extraCommand(rest);
    if (command === "verify") {
      const { verifyCommand } = await lazy<typeof import("./verify.ts")>("./verify.ts");
      return await verifyCommand(rest, registry);
    }
    if (command === "runs" || command === "compare") {
      const runs = await lazy<typeof import("./runs.ts")>("./runs.ts");
      return await (command === "runs" ? runs.runsCommand(rest) : runs.compareCommand(rest));
    }
    if (command === "push" || command === "pull") {
      const { transferCommand } = await lazy<typeof import("./transfer.ts")>("./transfer.ts");
      return await transferCommand(command, rest, registry);
    }
    if (command === "stages") {
      const { stagesCommand } = await lazy<typeof import("./stages.ts")>("./stages.ts");
      return await stagesCommand(rest, registry);
    }
    if (command === "gc") {
      const { gcCommand } = await lazy<typeof import("./gc.ts")>("./gc.ts");
      return await gcCommand(rest, registry);
    }
    if (command === "run-stage") {
      const { runStageCommand } = await lazy<typeof import("./run_stage.ts")>("./run_stage.ts");
      return await runStageCommand(rest, registry);
    }
    if (command !== "run" && command !== "status" && command !== "dag") {
      const known = [...COMMAND_NAMES, ...Object.keys(extra), "help"];
      const hint = command ? didYouMean(command, known, "a command among") : "give a command";
      throw new UserError(
        `Unknown command "${command ?? ""}": ${hint}\n${allUsage()}\n` +
          "(help prints what each command does)",
      );
    }
    const flags = parseFlags(rest, command);
    const file = flags.file;
    if (!file) throw new UserError(`Missing pipeline file\n${usageOf(command)}`);
    // `dag` only reads (its task grants no write permission), so it remembers no check.
    const sweep = await expandSweep(file, flags.sets, {
      registry,
      allowOutside: flags.allowOutside,
      ...(command === "dag" ? { cacheDir: false as const } : {}),
    });
    const pipeline = sweep.base;
    checkIds(pipeline, flags.only, "--only");
    if (flags.from) checkIds(pipeline, [flags.from], "--from");
    if (Array.isArray(flags.force)) checkIds(pipeline, flags.force, "--force");
    if (command === "dag") {
      const { renderDag } = await lazy<typeof import("../graph/draw.ts")>("../graph/draw.ts");
      console.log(renderDag(pipeline, flags.format));
      return 0;
    }
    if (command === "status") {
      const { statusCommand } = await lazy<typeof import("./status.ts")>("./status.ts");
      const variants = sweep.variants.length ? sweep.variants : [{ pipeline, overrides: [] }];
      return await statusCommand(variants, flags);
    }
    return await runCommand(sweep, { ...flags, file });
  } catch (error) {
    if (error instanceof HelpRequested) {
      // `--help` is asked for, not a mistake: the command's help on stdout, exit 0.
      console.log(error.text);
      return 0;
    }
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
  }
}
