/**
 * A stage's task, once the scheduler has keyed it: a cache hit, a pull from the remote cache, or
 * a run on the executor (its result pushed to the remote), then its outputs placed under `out/`.
 * A failure is described here, in one message (its stack for `--verbose`). What the task needs
 * of its run is a {@link TaskContext}, which the scheduler (scheduler.ts) makes for each variant.
 *
 * @module
 */

import type { Pipeline, ResolvedStage } from "../core/pipeline.ts";
import { describeFailure } from "../core/failure.ts";
import type { StageResult, StoredOutput } from "../core/result.ts";
import { InputError, isUserError } from "../errors.ts";
import type { StageExecutor } from "../exec/executor.ts";
import type { KeyChain, OutputsById } from "../keys/chain.ts";
import type { KeyParts } from "../keys/stage_key.ts";
import { lastKeyParts, saveKeyParts } from "../keys/state.ts";
import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import type { Semaphore } from "../lib/semaphore.ts";
import type { OutTree } from "../materialise/out_tree.ts";
import type { LazyRemote } from "../remote/lazy.ts";
import { formatSeconds, type Reporter } from "../report.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import { cachedResult } from "../store/hit.ts";
import type { RunOptions } from "./options.ts";

/** What a stage's task needs of the run (one variant of it) it belongs to. */
export interface TaskContext {
  readonly pipeline: Pipeline;
  readonly options: RunOptions;
  readonly cache: Cache;
  /** The variant's tree under `out/`. */
  readonly out: OutTree;
  /** The outputs of the stages so far (what the stages below them are keyed on). */
  readonly chain: KeyChain;
  /** Dry run: what a would-run stage produced last time, to explain what follows it. */
  readonly provisional: OutputsById;
  /** Each stage's result, as it comes (a stage that rejects its inputs asks its upstream's). */
  readonly results: Map<string, Promise<StageResult>>;
  readonly executor: StageExecutor;
  /** The remote cache, imported and contacted only on a local miss. */
  readonly remote: LazyRemote;
  /** The variant's reporter (its lines and logs name the variant). */
  readonly reporter: Reporter;
  /** `--jobs`: the run's slots for stages running in this process. */
  readonly slots: Semaphore;
  /** The lock of a process-wide resource that a stage kind declares `exclusive`. */
  exclusive(resource: string | undefined): Semaphore | undefined;
  /** A stage as its lines name it: its id, and in a sweep its variant. */
  name(id: string): string;
  /** Whether a stage runs because it is forced (`--force`). */
  forced(id: string): boolean;
  /** The handle of a stage started ahead by its executor, if it was. */
  ahead(id: string): string | undefined;
  /** Tells the scheduler that a stage was submitted (its handle), for the stages after it. */
  submitted(id: string, handle: string): void;
}

/**
 * Runs a keyed stage's task.
 *
 * @param ctx The run it belongs to.
 * @param stage The stage.
 * @param base Its result so far (id, kind).
 * @param key Its key.
 * @param parts What the key was computed from.
 * @returns How it ended.
 */
export async function runTask(
  ctx: TaskContext,
  stage: ResolvedStage,
  base: Omit<StageResult, "status">,
  key: string,
  parts: KeyParts,
): Promise<StageResult> {
  const { pipeline, options, cache, out, chain, reporter, executor } = ctx;
  const { name, forced } = ctx;
  // A stage started ahead may be storing its result right now: its executor says how it ended.
  const handle = ctx.ahead(stage.id);
  const submitted = (h: string) => ctx.submitted(stage.id, h);
  if (!forced(stage.id) && handle === undefined) {
    const declared = Object.keys(stage.definition.outputs);
    const record = await cachedResult(cache, key, { outputs: declared, reread: "hit" });
    if (record) {
      chain.set(stage.id, record.outputs);
      const paths = options.dryRun ? {} : await materialise(out, stage, record.outputs, false);
      if (!options.dryRun && (await lastKeyParts(cache, pipeline.name, stage.id))?.key !== key) {
        await saveKeyParts(cache, pipeline.name, stage.id, { ...parts, key });
      }
      reporter.line(`  cached  ${name(stage.id)}`);
      return { ...base, key, status: "cached", outputs: paths };
    }
  }
  if (!forced(stage.id) && handle === undefined && !options.dryRun && cache.writable) {
    // A local miss: the remote cache may have it (verified as it is stored here).
    let pulled: RunRecord | undefined;
    try {
      const remote = await ctx.remote.get("pull");
      pulled = await remote?.pull(key, stage.definition, cache, stage.id);
      if (pulled && remote) {
        chain.set(stage.id, pulled.outputs);
        const paths = await materialise(out, stage, pulled.outputs, false);
        await saveKeyParts(cache, pipeline.name, stage.id, { ...parts, key });
        await cache.saveStat();
        reporter.line(`  cached  ${name(stage.id)} (pulled from ${remote.display})`);
        return { ...base, key, status: "cached", outputs: paths };
      }
    } catch (error) {
      if (!isUserError(error)) throw error;
      // --require-remote and the remote cannot be used.
      reporter.line(`  failed  ${name(stage.id)}: ${error.message}`);
      return { ...base, key, status: "failed", error: error.message, reason: "user error" };
    }
  }
  const last = await lastKeyParts(cache, pipeline.name, stage.id);
  const reason = forced(stage.id) ? "forced" : (await explain(parts, last)).join("; ");
  if (options.dryRun) {
    const lastRecord = last ? await cache.record(last.key) : undefined;
    if (lastRecord) ctx.provisional.set(stage.id, lastRecord.outputs);
    reporter.line(`  would run  ${name(stage.id)}: ${reason}`);
    return { ...base, key, status: "would-run", reason };
  }
  // A stage that needs a process-wide resource alone waits for it before taking a job slot,
  // so that waiting does not hold a slot another stage could use. Stages that run elsewhere
  // (Slurm jobs) take neither: the cluster schedules them.
  const exclusive = executor.inProcess ? ctx.exclusive(stage.definition.exclusive) : undefined;
  await exclusive?.acquire();
  const slot = executor.inProcess ? ctx.slots : undefined;
  await slot?.acquire();
  // Seconds count from here: waiting for a slot (other stages, other variants) is not running.
  const started = performance.now();
  try {
    if (options.signal?.aborted) {
      return { ...base, key, status: "skipped", reason: "interrupted" };
    }
    if (executor.inProcess) reporter.line(`  running ${name(stage.id)} (${reason})`);
    const ran = await executor.run({
      pipeline,
      stage,
      key,
      upstream: chain.outputs,
      cache,
      reporter,
      signal: options.signal,
      forced: forced(stage.id),
      reason,
      ...(handle === undefined ? { submitted } : { handle }),
    });
    const produced = ran.outputs;
    const seconds = executor.inProcess ? (performance.now() - started) / 1000 : ran.seconds;
    await saveKeyParts(cache, pipeline.name, stage.id, { ...parts, key });
    if (!ran.cached) {
      // Objects first, the record last (remote/push.ts); a remote that fails warns once.
      const remote = await ctx.remote.get("push");
      const record = remote ? await cache.record(key) : undefined;
      if (remote && record) await remote.push(record, cache);
    }
    chain.set(stage.id, produced);
    const paths = await materialise(out, stage, produced, forced(stage.id));
    const note = ran.note ? ` ${ran.note}` : "";
    if (ran.cached) {
      reporter.line(`  cached  ${name(stage.id)}${note}`);
      return { ...base, key, status: "cached", outputs: paths };
    }
    reporter.line(`  ran     ${name(stage.id)} in ${formatSeconds(seconds)}${note}`);
    return { ...base, key, status: "ran", seconds, outputs: paths };
  } catch (error) {
    reporter.done(stage.id);
    const seconds = (performance.now() - started) / 1000;
    if (options.signal?.aborted) {
      // Failing once the run is interrupted is the abort's doing (an AbortError, or the
      // stage's own reaction to it): say so, without the stack of an error nobody made.
      reporter.line(`  interrupted ${name(stage.id)} after ${formatSeconds(seconds)}`);
      return {
        ...base,
        key,
        status: "failed",
        seconds,
        error: "interrupted",
        reason: "interrupted",
      };
    }
    // Stage code can throw anything, a revoked Proxy too: even instanceof may throw.
    if (isInputError(error)) {
      await dropRejected(ctx, stage, error).catch((e) =>
        reporter.line(`  the pulled inputs ${name(stage.id)} rejected stay cached: ${e}`)
      );
    }
    // A full disk is one line (exit 1): the file and the space left, no stack. Anything else
    // is one message, whatever was thrown; the stack only for --verbose.
    const full = isDiskFull(error) ? await diskFullError(error, cache.dir) : undefined;
    const { message, stack, user } = full
      ? { message: full.message, stack: undefined, user: false }
      : describeFailure(error);
    reporter.line(`  failed  ${name(stage.id)} after ${formatSeconds(seconds)}: ${message}`);
    return {
      ...base,
      key,
      status: "failed",
      seconds,
      error: message,
      ...(stack ? { stack } : {}),
      ...(user ? { reason: "user error" } : {}),
    };
  } finally {
    slot?.release();
    exclusive?.release();
  }
}

/**
 * A stage rejected inputs (an {@link InputError}): each of them that an upstream stage
 * pulled from the remote cache (in this run or an earlier one) is dropped here and not pulled
 * again (RemoteCache.reject), so that the next run makes it instead of failing on it again.
 */
async function dropRejected(
  ctx: TaskContext,
  stage: ResolvedStage,
  error: InputError,
): Promise<void> {
  const { cache, reporter, name } = ctx;
  for (const [inputName, input] of Object.entries(stage.inputs)) {
    if (input.kind !== "stage" || (error.inputs.length && !error.inputs.includes(inputName))) {
      continue;
    }
    const key = (await ctx.results.get(input.stage))?.key;
    const record = key ? await cache.record(key) : undefined;
    const remote = record?.pulled ? await ctx.remote.get("pull") : undefined;
    if (!record || !remote || !cache.writable) continue;
    await remote.reject(record, cache);
    reporter.line(
      `  the result of ${name(input.stage)} pulled from ${record.pulled} was rejected by ` +
        `${
          name(stage.id)
        } as its input "${inputName}": it is removed here and will not be pulled ` +
        "again; the next run makes it, and its push replaces the remote's",
    );
  }
}

/**
 * Why a stage's key differs from its last run's (keys/explain.ts, imported for the first stage
 * that is not cached: a fully cached rerun has none).
 */
export async function explain(
  now: KeyParts,
  last: KeyParts | undefined,
): Promise<string[]> {
  const { explainChange } = await import(
    new URL("../keys/explain.ts", import.meta.url).href
  ) as typeof import("../keys/explain.ts");
  return explainChange(now, last);
}

/** Whether a stage threw an {@link InputError}; false when even asking throws. */
function isInputError(error: unknown): error is InputError {
  try {
    return error instanceof InputError;
  } catch {
    return false;
  }
}

/**
 * Writes outputs to `out/<pipeline>/<stage>/<output>` (materialise/out_tree.ts: atomic, files the
 * user changed or added are kept). Never throws: a failure is reported on its own and does not
 * change the stage's status.
 */
export function materialise(
  out: OutTree,
  stage: ResolvedStage,
  produced: Record<string, StoredOutput>,
  force: boolean,
): Promise<Record<string, string>> {
  return out.place(
    stage.id,
    Object.entries(produced).map(([name, output]) => ({
      name,
      extension: stage.definition.outputs[name]?.extension ?? "",
      output,
    })),
    force,
  );
}
