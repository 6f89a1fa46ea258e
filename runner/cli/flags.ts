/**
 * The usage of the command line, and the flags of `run`, `status` and `dag`, checked: a flag of
 * the wrong form, an unknown executor or format, a stage id that the pipeline does not have.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import { EXECUTOR_NAMES } from "../exec/registry.ts";
import { type FlagSpecs, parseArgs } from "../lib/args.ts";
import { didYouMean } from "../lib/suggest.ts";

/** The usage of every command, shown with a mistake in how one is called. */
export const USAGE = `usage:
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

/**
 * Reads the flags of `run`, `status` and `dag`.
 *
 * @throws {UserError} For a flag of the wrong form, an unknown executor or format.
 */
export function parseFlags(args: string[]): Flags {
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
