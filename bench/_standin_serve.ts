/**
 * `deno task serve` with bench/_standin_worker.ts in the pool instead of the model's predictor
 * (bench/serve.ts starts it with `NERPIPE_BENCH_BATCH_MS`): the same flags, server, batcher and
 * workers.
 *
 * @module
 */
import { serveCommand } from "../serve/command.ts";

try {
  Deno.exit(
    await serveCommand(Deno.args, {
      workerModule: new URL("./_standin_worker.ts", import.meta.url),
    }),
  );
} catch (error) {
  console.error(`error: ${(error as Error).message}`);
  Deno.exit(2);
}
