/**
 * The flags of `run`, `status` and `dag`, checked: a flag of the wrong form, an unknown executor
 * or format, a stage id that the pipeline does not have.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import { EXECUTOR_NAMES } from "../exec/registry.ts";
import { type FlagSpecs, parseArgs } from "../lib/args.ts";
import { didYouMean } from "../lib/suggest.ts";
import { helpOf, usageOf } from "./help.ts";

/** How `dag` draws the graph: a tree for the terminal (the default), Mermaid or Graphviz dot. */
export type DagFormat = "tree" | "mermaid" | "dot";

const FORMATS: readonly DagFormat[] = ["tree", "mermaid", "dot"];

/** The flags of `run`, `status` and `dag`, read. */
export interface Flags {
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
  format: DagFormat;
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

/**
 * Reads the flags of `run`, `status` and `dag`.
 *
 * @param args The arguments after the command.
 * @param command `run`, `status` or `dag`: whose usage a mistake shows, and `--help` prints.
 * @throws {HelpRequested} For `--help`.
 * @throws {UserError} For a flag of the wrong form, an unknown executor or format.
 */
export function parseFlags(args: string[], command: "run" | "status" | "dag"): Flags {
  const usage = usageOf(command);
  const { values: v, positionals } = parseArgs(args, FLAGS, {
    usage,
    help: () => helpOf(command),
  });
  if (positionals.length > 1) {
    throw new UserError(
      `Unexpected argument "${positionals[1]}": give one pipeline file\n${usage}`,
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
    format: "tree",
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
    if (!(FORMATS as readonly string[]).includes(f)) {
      throw new UserError(
        `Unknown format "${f}": expected ${FORMATS.map((x) => `"${x}"`).join(", ")}`,
      );
    }
    flags.format = f as DagFormat;
  }
  return flags;
}

/**
 * Checks that a flag names stages of the pipeline.
 *
 * @throws {UserError} Naming the flag and the unknown stage, with the closest id.
 */
export function checkIds(pipeline: Pipeline, ids: string[], flag: string): void {
  const known = [...pipeline.stages.keys()];
  for (const id of ids) {
    if (!pipeline.stages.has(id)) {
      throw new UserError(`${flag} names unknown stage "${id}": ${didYouMean(id, known)}`);
    }
  }
}
