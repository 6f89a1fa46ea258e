/**
 * The local executor, the default: a stage runs in this process (run_stage.ts), so `--jobs`
 * and the stage kinds' `exclusive` resources apply to it. Running a stage is imported when the
 * first stage runs: a fully cached rerun does without it.
 *
 * @module
 */

import type { ExecutorModule, StageExecutor } from "./executor.ts";

/** Runs stages in this process: `runStage` (run_stage.ts). */
export const localExecutor: StageExecutor = {
  name: "local",
  inProcess: true,
  async run({ stage, key, upstream, cache, pipeline, reporter, signal }) {
    const { runStage } = await import(
      new URL("./run_stage.ts", import.meta.url).href
    ) as typeof import("./run_stage.ts");
    return await runStage(stage, key, upstream, cache, pipeline.root, reporter, signal);
  },
};

/** Opens the local executor (it can always work). */
export const open: ExecutorModule["open"] = () => Promise.resolve(localExecutor);
