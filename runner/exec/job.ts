/**
 * What a batch job does (`run-stage`): it computes its stage's key from its upstream stages'
 * results (in the shared cache by then, since it ran after their jobs), and is a cache hit if the
 * result is there (early cutoff) or runs the stage in its own process, as a local run does; then
 * it writes how it ended, last, where the submitting run looks for it.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import { describeFailure, stackFrames } from "../core/failure.ts";
import { selectStages } from "../graph/select.ts";
import { KeyChain } from "../keys/chain.ts";
import { CodeIndex } from "../keys/code_index.ts";
import { writeAtomic } from "../lib/atomic.ts";
import { formatSeconds, type Reporter } from "../report.ts";
import { Cache } from "../store/cache.ts";
import { cachedResult } from "../store/hit.ts";
import { cachePath } from "../store/layout.ts";
import { runStage } from "./run_stage.ts";

/** How a job ended, as it writes it to `.pipeline/<executor>/<job id>.json`. */
export interface JobResult {
  /** The job's id. */
  job: string;
  /** Stage id. */
  stage: string;
  /** The key the job computed; absent when it failed before. */
  key?: string;
  /** `ran`, `cached` (its result was in the cache already) or `failed`. */
  status: "ran" | "cached" | "failed";
  /** Seconds the stage itself ran. */
  seconds: number;
  /** When the job's process started and ended (ms since the epoch). */
  started: number;
  finished: number;
  /** Why it failed. */
  error?: string;
  /** Whether the failure was a mistake in user input. */
  user?: boolean;
}

/**
 * Inside a job: computes the stage's key from its upstream results (in the cache), and runs it
 * unless its result is there already. Writes `<cache>/slurm/<job id>.json` last.
 */
export async function runStageJob(
  pipeline: Pipeline,
  id: string,
  options: {
    /** The cache directory (shared with the submitting run). */
    cacheDir: string;
    /** The batch executor that submitted it: its folder of the cache gets `<job id>.json`. */
    executor: string;
    /** The job's id (`local-<pid>` when it is not run by a batch system). */
    job?: string;
    forced: boolean;
    reporter: Reporter;
    signal?: AbortSignal;
  },
): Promise<JobResult> {
  // When this process started: the job's start, before Deno loaded anything.
  const started = Math.round(performance.timeOrigin);
  const job = options.job ?? `local-${Deno.pid}`;
  const stage = pipeline.stages.get(id)!;
  const result: JobResult = { job, stage: id, status: "failed", seconds: 0, started, finished: 0 };
  // The submitting run holds the cache lock: this job writes on its behalf (batch.ts).
  const cache = await Cache.open(options.cacheDir);
  try {
    // Its upstream stages ran before it (afterok): their results are in the shared cache.
    const chain = new KeyChain(pipeline, cache, CodeIndex.of(cache));
    const needed = selectStages(pipeline, [id]);
    const upstream = pipeline.order.filter((up) => up !== id && needed.has(up));
    await chain.walk(upstream, async ({ stage: up, key }) => {
      const record = key && await cache.record(key.key);
      if (!record) {
        throw new Error(`the result of upstream stage "${up.id}" is not in ${cache.dir}`);
      }
      return record.outputs;
    });
    const { key } = await chain.key(stage);
    result.key = key;
    const expected = Object.keys(stage.definition.outputs);
    const record = options.forced
      ? undefined
      : await cachedResult(cache, key, { outputs: expected, reread: "hit" });
    if (record) {
      options.reporter.line(`cached ${id} (key ${key.slice(0, 12)})`);
      result.status = "cached";
    } else {
      options.reporter.line(`running ${id} (key ${key.slice(0, 12)})`);
      const ran = await runStage(
        stage,
        key,
        chain.outputs,
        cache,
        pipeline.root,
        options.reporter,
        options.signal,
      );
      result.seconds = ran.seconds;
      result.status = "ran";
      options.reporter.line(`ran ${id} in ${formatSeconds(ran.seconds)}`);
    }
  } catch (error) {
    const failure = describeFailure(error);
    result.user = failure.user;
    result.error = failure.message;
    // The job's log (<job id>.err) keeps where it failed; the run reports the message.
    console.error(`error: stage "${id}" failed: ${result.error}`);
    if (failure.stack) console.error(stackFrames(failure.stack).join("\n"));
  }
  result.finished = Date.now();
  const dir = cachePath(options.cacheDir, options.executor);
  await Deno.mkdir(dir, { recursive: true });
  await writeAtomic(`${dir}/${job}.json`, JSON.stringify(result, null, 1));
  return result;
}
