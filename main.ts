/**
 * The command-line entry point: the engine's CLI with the built-in stage kinds.
 *
 * `deno task run pipelines/ner.yaml`, `deno task status ...`, `deno task dag ...`.
 *
 * @module
 */

import { main } from "./runner/cli.ts";
import { builtinStages } from "./stages/mod.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, builtinStages()));
}
