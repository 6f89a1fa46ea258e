/**
 * The local executor, the default: a stage runs in this process (run_stage.ts), so `--jobs`
 * and the stage kinds' `exclusive` resources apply to it.
 *
 * @module
 */

import type { ExecutorModule, StageExecutor } from "./executor.ts";
import { runStage } from "./run_stage.ts";

/** Runs stages in this process: `runStage` (run_stage.ts). */
export const localExecutor: StageExecutor = {
  name: "local",
  inProcess: true,
  run: ({ stage, key, upstream, cache, pipeline, reporter, signal }) =>
    runStage(stage, key, upstream, cache, pipeline.root, reporter, signal),
};

/** Opens the local executor (it can always work). */
export const open: ExecutorModule["open"] = () => Promise.resolve(localExecutor);
