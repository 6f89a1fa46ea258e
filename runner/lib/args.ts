/**
 * The one argument parser of every command (`run`, `status`, `dag`, `verify`, `runs`,
 * `compare`, `push`, `pull`, `predict`, the benches), with one set of rules:
 *
 * - `--flag value` and `--flag=value` are the same; a value of the first form cannot start
 *   with `--` (write `--flag=--value`).
 * - A flag of one value given twice takes its last value; a repeatable flag (`--set`) keeps
 *   every value, in order.
 * - A flag without a value given `=value` is a mistake, as is an unknown flag, which is
 *   answered with the nearest known one.
 * - `--` ends the flags: every word after it is a positional argument, as is `-` alone.
 * - `--help` (or `-h`) before `--` asks for the command's help, whatever else is given: the
 *   parser throws {@link HelpRequested}, which the CLI prints (exit 0). A command whose flags
 *   include `help` reads it as a flag instead.
 *
 * It imports no `node:` module (`node:util`'s `parseArgs` would start Node compatibility on
 * the path of a fully cached rerun).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArgs } from "./args.ts";
 *
 * const { values, positionals } = parseArgs(
 *   ["p.yaml", "--set", "a=1", "--set=b=2", "--jobs", "2", "--jobs", "4", "--json"],
 *   { set: { type: "strings" }, jobs: { type: "string" }, json: { type: "boolean" } },
 * );
 * assert.deepEqual(positionals, ["p.yaml"]);
 * assert.deepEqual(values, { set: ["a=1", "b=2"], jobs: "4", json: true });
 * ```
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { didYouMean } from "./suggest.ts";

/** What a flag takes. */
export interface FlagSpec {
  /**
   * `boolean`: no value (`true` when given); `string`: one value, the last one given wins;
   * `strings`: a value each time it is given, all kept in order.
   */
  type: "boolean" | "string" | "strings";
  /**
   * For a `strings` flag whose value may be left out (`--force` alone, or `--force <id>`):
   * whether the next word, when it is not a flag, is its value, given the positional
   * arguments read so far. A flag given without a value is present with no value added.
   */
  optionalValue?: (positionals: readonly string[]) => boolean;
}

/** The flags of a command, by name without the leading `--`. */
export type FlagSpecs = Record<string, FlagSpec>;

/** The value of each flag given: `true`, the last string, or every string in order. */
export type FlagValues<S extends FlagSpecs> = {
  [K in keyof S]?: S[K]["type"] extends "boolean" ? boolean
    : S[K]["type"] extends "strings" ? string[]
    : string;
};

/**
 * `--help` (or `-h`) was given: not an error, but the end of parsing. The CLI prints
 * {@link HelpRequested.text} on stdout and exits 0.
 */
export class HelpRequested extends Error {
  /** The command's help (its usage when it has no longer text); empty when it has neither. */
  readonly text: string;
  /** The command, when the parser was told it. */
  readonly command: string | undefined;
  /**
   * Creates the request.
   *
   * @param text What `--help` prints.
   * @param command The command.
   */
  constructor(text: string, command?: string) {
    super(`Help of ${command ?? "the command"} requested`);
    this.name = "HelpRequested";
    this.text = text;
    this.command = command;
  }
}

/** Options of {@link parseArgs}. */
export interface ParseOptions {
  /** Text added to each error on a line of its own (the command's usage). */
  usage?: string;
  /** What `--help` prints (default: {@link usage}), or a function that makes it. */
  help?: string | (() => string);
  /** The command's name, for messages (`Unknown flag "--x" of pull`). */
  command?: string;
  /**
   * Keep unknown flags instead of rejecting them: each unknown flag and every word up to the
   * next flag go, in order, to {@link ParsedArgs.rest} (for a command that passes them on).
   */
  passThrough?: boolean;
}

/** What {@link parseArgs} found. */
export interface ParsedArgs<S extends FlagSpecs> {
  /** The flags given, by name. */
  values: FlagValues<S>;
  /** The words that are not flags or flag values, in order. */
  positionals: string[];
  /** With {@link ParseOptions.passThrough}: the unknown flags and their words, in order. */
  rest: string[];
}

/**
 * Parses command-line arguments.
 *
 * @param args The arguments (without the command's name).
 * @param specs The flags the command takes.
 * @param options The usage text for errors, the command's name, pass-through.
 * @returns The flags' values, the positional arguments and the words passed through.
 * @throws {HelpRequested} When `--help` or `-h` is given before `--` (and `help` is not one of
 *   `specs`), even after a mistake in other flags.
 * @throws {UserError} For an unknown flag, a flag without its value, or a value given to a
 *   flag that takes none.
 */
export function parseArgs<S extends FlagSpecs>(
  args: readonly string[],
  specs: S,
  options: ParseOptions = {},
): ParsedArgs<S> {
  const helpFlag = !Object.hasOwn(specs, "help");
  const help = () => {
    const text = typeof options.help === "function" ? options.help() : options.help;
    return new HelpRequested(text ?? options.usage ?? "", options.command);
  };
  try {
    return parse(args, specs, options, helpFlag ? help : undefined);
  } catch (error) {
    // Asking for help wins over a mistake elsewhere on the line (`run --jbos 2 --help`).
    if (!helpFlag || error instanceof HelpRequested) throw error;
    const end = args.indexOf("--");
    if ((end < 0 ? args : args.slice(0, end)).some(isHelp)) throw help();
    throw error;
  }
}

function isHelp(arg: string): boolean {
  return arg === "--help" || arg === "-h";
}

function parse<S extends FlagSpecs>(
  args: readonly string[],
  specs: S,
  options: ParseOptions,
  help: (() => HelpRequested) | undefined,
): ParsedArgs<S> {
  const values: Record<string, boolean | string | string[]> = {};
  const positionals: string[] = [];
  const rest: string[] = [];
  const usage = options.usage ? `\n${options.usage}` : "";
  const of = options.command ? ` of ${options.command}` : "";
  let passing = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      (passing ? rest : positionals).push(arg);
      continue;
    }
    if (help && isHelp(arg)) throw help();
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(2, eq) : arg.replace(/^--?/, "");
    const inline = arg.startsWith("--") && eq > 0 ? arg.slice(eq + 1) : undefined;
    const spec = arg.startsWith("--") && Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) {
      if (options.passThrough) {
        rest.push(arg);
        passing = true;
        continue;
      }
      const known = Object.keys(specs).map((k) => `--${k}`);
      const flag = inline === undefined ? arg : arg.slice(0, eq);
      throw new UserError(
        `Unknown flag "${flag}"${of}: ${
          didYouMean(flag, known, "a flag among") || "it takes no flags"
        }${usage}`,
      );
    }
    passing = false;
    if (spec.type === "boolean") {
      if (inline !== undefined) {
        throw new UserError(`Flag --${name} takes no value: write --${name} alone${usage}`);
      }
      values[name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = args[i + 1];
      const isValue = next !== undefined && !next.startsWith("--");
      if (spec.optionalValue) {
        if (isValue && spec.optionalValue(positionals)) value = args[++i];
      } else if (isValue) {
        value = args[++i];
      } else {
        throw new UserError(`Flag --${name} needs a value: see the usage below${usage}`);
      }
    }
    if (spec.type === "string") {
      if (value !== undefined) values[name] = value;
      continue;
    }
    const list = (values[name] ??= []) as string[];
    if (value !== undefined) list.push(value);
  }
  return { values: values as FlagValues<S>, positionals, rest };
}

/**
 * A flag's value, checked against the values it may take.
 *
 * @param flag The flag's name, without `--`.
 * @param value What was given.
 * @param allowed The values it may take.
 * @returns `value`, typed as one of `allowed`.
 * @throws {UserError} `Unknown <flag> "<value>": expected one of "a", "b"`.
 */
export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UserError(
    `Unknown ${flag} "${value}": expected one of ${allowed.map((a) => `"${a}"`).join(", ")}`,
  );
}

/**
 * A flag's value as a number from 0 to 1 (a share, a score).
 *
 * @param flag The flag's name, without `--`.
 * @param value What was given.
 * @returns The number.
 * @throws {UserError} `Invalid --<flag> "<value>": expected a number from 0 to 1`, for anything
 *   else (an empty value included).
 */
export function fraction(flag: string, value: string): number {
  const n = value.trim() === "" ? NaN : Number(value);
  if (!(n >= 0 && n <= 1)) {
    throw new UserError(`Invalid --${flag} "${value}": expected a number from 0 to 1`);
  }
  return n;
}
