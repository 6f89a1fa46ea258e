/**
 * The command-line entry point: the engine's CLI with the built-in stage kinds, `predict` and
 * `serve`.
 *
 * `deno task run pipelines/ner.yaml`, `deno task status ...`, `deno task dag ...`,
 * `deno task predict <model dir | pipeline.yaml> "text"`, `deno task serve pipelines/ner.yaml`.
 *
 * @module
 */

import { main } from "./runner/cli/main.ts";
import { builtinEnvVars, builtinStages } from "./stages/mod.ts";
import { SERVE_TOKEN_ENV_VAR } from "./serve/auth.ts";

/** `predict`, loaded when it is the command (a cached run does without its modules). */
const predict = async (args: string[]) =>
  (await import(new URL("./predict.ts", import.meta.url).href) as typeof import("./predict.ts"))
    .predictCommand(args);

/** `serve`, loaded when it is the command. */
const serve = async (args: string[]) =>
  (await import(
    new URL("./serve/command.ts", import.meta.url).href
  ) as typeof import("./serve/command.ts")).serveCommand(args);

if (import.meta.main) {
  Deno.exit(
    await main(Deno.args, builtinStages(), { predict, serve }, [
      ...builtinEnvVars(),
      SERVE_TOKEN_ENV_VAR,
    ]),
  );
}
