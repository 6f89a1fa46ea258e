/**
 * What each command of the engine's CLI takes and does: its usage (shown with a mistake in how
 * it is called) and its help (`<command> --help`, `help <command>`), in one place. The reference
 * is docs/cli.md.
 *
 * @module
 */

import { EXECUTOR_NAMES } from "../exec/registry.ts";
import { wrap } from "../lib/wrap.ts";

/** A command's usage lines, what it does (in a line, then in full), and its flags. */
interface CommandHelp {
  usage: string[];
  summary: string;
  about: string;
  flags: [string, string][];
}

/** The width help is wrapped at. */
const WIDTH = 100;

const SET: [string, string] = ["--set k=v", "override a parameter, an input or a variable"];
const OUTSIDE: [string, string] = [
  "--allow-outside <path>",
  "let the pipeline use this path outside the project (repeatable)",
];
const JSON_FLAG: [string, string] = ["--json", "print the result as JSON"];

const COMMANDS: Record<string, CommandHelp> = {
  run: {
    summary: "run a pipeline's stages that are not cached",
    usage: [
      "run <pipeline.yaml> [--set k=v]... [--only <id>]... [--from <id>] [--force [<id>]]",
      "                    [--dry-run] [--jobs N] [--json] [--quiet] [--verbose]",
      "                    [--allow-outside <path>]...",
      `                    [--executor ${EXECUTOR_NAMES.join("|")}] [--no-pull] [--no-push]`,
      "                    [--require-remote]",
    ],
    about: "Runs the stages of a pipeline whose results are not cached, in dependency order, " +
      "then writes out/<pipeline>/ and its report.",
    flags: [
      ["--set k=v", "override a parameter, an input or a variable; k=a,b,c is a sweep"],
      OUTSIDE,
      ["--only <id>", "run that stage and what it needs upstream (repeatable)"],
      ["--from <id>", "run that stage and everything downstream of it"],
      ["--force [<id>]", "rerun every selected stage, or that one"],
      ["--dry-run", "say what would run and why; run nothing, write nothing"],
      ["--jobs N", "run at most N independent stages at once (default: the cores)"],
      JSON_FLAG,
      ["--quiet", "drop the stages' own log lines and progress"],
      ["--verbose", "also show where in its code a failed stage threw"],
      ["--executor <name>", `where stages run: ${EXECUTOR_NAMES.join(" or ")}`],
      ["--no-pull, --no-push", "do not pull from (push to) the remote cache"],
      ["--require-remote", "fail when the remote cache cannot be used"],
    ],
  },
  status: {
    summary: "say which stages would run, and why",
    usage: ["status <pipeline.yaml> [--set k=v]... [--json] [--allow-outside <path>]..."],
    about: "Says, for each stage, whether a run would use its cached result (fresh) or run it " +
      "(stale), and why. Writes nothing.",
    flags: [SET, JSON_FLAG, OUTSIDE],
  },
  dag: {
    summary: "draw the pipeline's graph",
    usage: ["dag <pipeline.yaml> [--format tree|mermaid|dot] [--allow-outside <path>]..."],
    about: "Draws the pipeline's graph: each stage under the stage whose output it reads, each " +
      "edge named by that output. Writes nothing.",
    flags: [
      ["--format <f>", "tree (the default, for the terminal), mermaid or dot (Graphviz)"],
      SET,
      OUTSIDE,
    ],
  },
  verify: {
    summary: "reread the cached results and find damaged ones",
    usage: ["verify [<pipeline.yaml>] [--set k=v]... [--repair] [--json]"],
    about: "Rereads every object the cache's run records name (or those of one pipeline's last " +
      "runs) and lists the damaged or missing ones. Exit 1 when it found some.",
    flags: [
      ["--repair", "remove them, and the records that name them: the next run makes them again"],
      SET,
      JSON_FLAG,
    ],
  },
  runs: {
    summary: "list the recorded runs, their parameters and metrics",
    usage: ["runs [<pipeline.yaml>] [--json]"],
    about: "Lists the recorded runs of a pipeline (or of all): the parameters that differ and " +
      "the headline metrics.",
    flags: [JSON_FLAG],
  },
  compare: {
    summary: "compare two recorded runs",
    usage: [
      "compare <run> <run> [--json]       runs named by a prefix of their id (see runs)",
      "compare --last 2 [<pipeline.yaml>] [--json]",
    ],
    about: "Compares two recorded runs: every metric with its change, and the parameters " +
      "that differ.",
    flags: [["--last 2", "the last two runs (of the pipeline)"], JSON_FLAG],
  },
  pull: {
    summary: "fetch a pipeline's results from the remote cache",
    usage: ["pull <pipeline.yaml> [--set k=v]... [--allow-outside <path>]..."],
    about: "Fetches from the remote cache each result of the pipeline that the local cache " +
      "lacks.",
    flags: [SET, OUTSIDE],
  },
  push: {
    summary: "upload results to the remote cache",
    usage: ["push [<pipeline.yaml>] [--set k=v]... [--allow-outside <path>]..."],
    about: "Uploads the pipeline's results (without a file: every result of the local cache) " +
      "to the remote cache.",
    flags: [SET, OUTSIDE],
  },
  stages: {
    summary: "list the stage kinds, or describe one",
    usage: ["stages [<kind> | <module.ts>] [--json]"],
    about: "Lists the registered stage kinds; with a kind (or a stage module's path), its " +
      "parameters (types, defaults, bounds), inputs and outputs.",
    flags: [JSON_FLAG],
  },
  gc: {
    summary: "remove the cached results no pipeline references",
    usage: [
      "gc [<pipeline.yaml>]... [--all-variants] [--dry-run] [--json] [--allow-outside <path>]...",
    ],
    about: "Removes the cached results (run records, objects, checkpoints) that no pipeline " +
      "references: those of every pipelines/*.yaml and pipeline run in the project, or of the " +
      "files given, as they are now. The history (runs, compare) is kept.",
    flags: [
      ["--all-variants", "also keep every configuration the history records (--set, sweeps)"],
      ["--dry-run", "say what would be removed; remove nothing"],
      JSON_FLAG,
      OUTSIDE,
    ],
  },
};

/** The commands of the engine, in the order the overview lists them. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

/**
 * A command's usage, `usage:` and its lines.
 *
 * @param command A command of {@link COMMAND_NAMES}.
 */
export function usageOf(command: string): string {
  const lines = COMMANDS[command]!.usage;
  return lines.length === 1 ? `usage: ${lines[0]}` : ["usage:", ...lines.map((l) => `  ${l}`)]
    .join("\n");
}

/** The usage of every command (for a command that is not one). */
export function allUsage(): string {
  return ["usage:", ...COMMAND_NAMES.flatMap((c) => COMMANDS[c]!.usage.map((l) => `  ${l}`))]
    .join("\n");
}

/**
 * A command's help: its usage, what it does, and each flag.
 *
 * @param command A command of {@link COMMAND_NAMES}.
 */
export function helpOf(command: string): string {
  const { about } = COMMANDS[command]!;
  const flags = [...COMMANDS[command]!.flags, ["--help", "print this help"]];
  const width = Math.max(...flags.map(([f]) => f!.length));
  return [
    usageOf(command),
    "",
    wrap(about, WIDTH),
    "",
    "flags:",
    ...flags.map(([f, d]) => `  ${f!.padEnd(width)}  ${d}`),
    "",
    "More: docs/cli.md",
  ].join("\n");
}

/**
 * The CLI's overview (`--help` alone, or `help`): every command with what it does.
 *
 * @param extra The commands a program adds (`predict`), each with its own `--help`.
 */
export function overview(extra: readonly string[]): string {
  const names = [...COMMAND_NAMES, ...extra];
  const width = Math.max(...names.map((n) => n.length));
  return [
    "usage: <command> [<args>] (deno task <command> ..., or nerpipe <command> ...)",
    "",
    "commands:",
    ...COMMAND_NAMES.map((c) => `  ${c.padEnd(width)}  ${COMMANDS[c]!.summary}`),
    ...extra.map((c) => `  ${c.padEnd(width)}  see ${c} --help`),
    "",
    "<command> --help (or help <command>) prints a command's flags. More: docs/cli.md",
  ].join("\n");
}
