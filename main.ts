/**
 * The command-line entry point: the engine's CLI with the built-in stage kinds and `predict`.
 *
 * `deno task run pipelines/ner.yaml`, `deno task status ...`, `deno task dag ...`,
 * `deno task predict <model dir | pipeline.yaml> "text"`.
 *
 * @module
 */

import { main } from "./runner/cli/main.ts";
import { builtinEnvVars, builtinStages } from "./stages/mod.ts";

/** `predict`, loaded when it is the command (a cached run does without its modules). */
const predict = async (args: string[]) =>
  (await import(new URL("./predict.ts", import.meta.url).href) as typeof import("./predict.ts"))
    .predictCommand(args);

if (import.meta.main) {
  Deno.exit(await main(Deno.args, builtinStages(), { predict }, builtinEnvVars()));
}
