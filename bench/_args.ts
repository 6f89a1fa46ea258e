/**
 * The flags of a benchmark script, parsed with the engine's parser (`runner/args.ts`): a bad
 * flag prints `error: …` and exits 2; with a usage text, `--help` prints it and exits 0.
 *
 * @module
 */

import {
  type FlagSpecs,
  parseArgs,
  type ParsedArgs,
  type ParseOptions,
} from "../runner/lib/args.ts";

/**
 * Parses `Deno.args`, or exits.
 *
 * @param specs The script's flags (give `help: { type: "boolean" }` with a usage).
 * @param options Its usage text and name, pass-through.
 * @returns What was parsed.
 */
export function benchArgs<S extends FlagSpecs>(
  specs: S,
  options: ParseOptions = {},
): ParsedArgs<S> {
  let parsed: ParsedArgs<S>;
  try {
    parsed = parseArgs(Deno.args, specs, options);
  } catch (error) {
    console.error(`error: ${(error as Error).message}`);
    Deno.exit(2);
  }
  if (options.usage && (parsed.values as Record<string, unknown>).help === true) {
    console.log(options.usage);
    Deno.exit(0);
  }
  return parsed;
}
