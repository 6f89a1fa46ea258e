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
import { workerThreadsEnded } from "./runner/lib/workers.ts";

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
  const code = await main(Deno.args, builtinStages(), { predict, serve }, [
    ...builtinEnvVars(),
    SERVE_TOKEN_ENV_VAR,
  ]);
  // Training replicas, corpus parts and serve's model run in workers: an exit racing a
  // terminated worker's teardown can crash the process.
  await workerThreadsEnded();
  Deno.exit(code);
}
