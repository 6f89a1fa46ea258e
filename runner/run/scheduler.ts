/**
 * The scheduling loop: when each stage of a pipeline runs (after its upstream stages), what a
 * sweep's variants share (`--jobs` slots, exclusive resources, the keys one of them is
 * computing), and what a stage is when it cannot run. What happens to one stage once it is keyed
 * is its task (task.ts).
 *
 * @module
 */

import type { Pipeline, ResolvedStage } from "../core/pipeline.ts";
import { describeFailure } from "../core/failure.ts";
import type { RunSummary, StageResult, StageStatus, StoredOutput } from "../core/result.ts";
import { localExecutor } from "../exec/local.ts";
import { selectStages } from "../graph/select.ts";
import { KeyChain } from "../keys/chain.ts";
import type { CodeIndex } from "../keys/code_index.ts";
import { lastKeyParts } from "../keys/state.ts";
import { Semaphore } from "../lib/semaphore.ts";
import type { OutTree } from "../materialise/out_tree.ts";
import type { LazyRemote } from "../remote/lazy.ts";
import type { Cache } from "../store/cache.ts";
import type { RunOptions } from "./options.ts";
import { explain, materialise, runTask, type TaskContext } from "./task.ts";

/** What the variants of one sweep share. */
export interface Shared {
  /** `--jobs` over every variant's stages. */
  semaphore: Semaphore;
  /** Code files and deno.lock, read once. */
  imports: CodeIndex;
  /**
   * Each stage key being computed, by the variant that computes it: another variant that needs
   * the same key waits for it instead of running it again.
   */
  claims: Map<string, Claim>;
  /** One lock per process-wide resource that stage kinds declare `exclusive` (e.g. `tfjs`). */
  exclusive: Map<string, Semaphore>;
  /** The remote cache, imported and contacted only on a local miss. */
  remote: LazyRemote;
}

/** A key one variant computes; `done` gives its outputs, or none when it failed or stopped. */
export interface Claim {
  label: string | undefined;
  done: Promise<{ outputs?: Record<string, StoredOutput>; status: StageStatus }>;
}

/**
 * Runs the stages of one pipeline (one variant of a sweep) as soon as their upstream stages
 * have given their outputs: a stage that is not selected is skipped, one whose upstream stage
 * failed or would run is skipped (or, in a dry run, would run), a stage whose key another variant
 * is computing waits for it; every other stage is keyed and handed to its task (task.ts).
 * Executors that start stages ahead (a batch executor) get each stage as soon as the stages it
 * runs after are submitted, and a stage started ahead whose upstream stage failed is cancelled.
 *
 * @param pipeline The pipeline.
 * @param options What to run and how.
 * @param cache The cache, locked for the run (unless it is a dry run).
 * @param out The variant's tree under `out/`.
 * @param run What the variants of the run share, and this variant's label.
 * @returns One result per stage, in the pipeline's order.
 */
export async function scheduleVariant(
  pipeline: Pipeline,
  options: RunOptions,
  cache: Cache,
  out: OutTree,
  { shared, label }: { shared: Shared; label: string | undefined },
): Promise<RunSummary> {
  const reporter = options.reporter;
  const needed = selectStages(pipeline, options.only, options.from);
  const { claims } = shared;
  // In a sweep, each stage line names its variant: `ran     train [learning_rate=0.001] in 3 s`.
  const name = (id: string) => label === undefined ? id : `${id} [${label}]`;
  // The outputs of this variant's stages so far: what the stages below them are keyed on.
  const chain = new KeyChain(pipeline, cache, shared.imports);
  const outputs = chain.outputs;
  // Dry run: what a would-run stage produced last time, to explain what follows it.
  const provisional = new Map<string, Record<string, StoredOutput>>();
  const results = new Map<string, Promise<StageResult>>();
  const forced = (id: string) =>
    options.force === true || (Array.isArray(options.force) && options.force.includes(id));
  const executor = options.executor ?? localExecutor;
  // Executors that start stages ahead (Slurm): each stage's handle (job id) once it is
  // started, or undefined once it is known that it will not be; and the stages started ahead.
  const launched = new Map<
    string,
    { handle: Promise<string | undefined>; set(h?: string): void }
  >();
  for (const id of pipeline.order) {
    let set!: (h?: string) => void;
    const handle = new Promise<string | undefined>((resolve) => set = resolve);
    launched.set(id, { handle, set });
  }
  const aheadOf = new Map<string, string>();
  const task: TaskContext = {
    pipeline,
    options,
    cache,
    out,
    chain,
    provisional,
    results,
    executor,
    remote: shared.remote,
    reporter,
    slots: shared.semaphore,
    exclusive(resource) {
      if (resource === undefined) return undefined;
      let lock = shared.exclusive.get(resource);
      if (!lock) shared.exclusive.set(resource, lock = new Semaphore(1));
      return lock;
    },
    name,
    forced,
    ahead: (id) => aheadOf.get(id),
    submitted: (id, handle) => launched.get(id)!.set(handle),
  };

  const runOne = async (stage: ResolvedStage): Promise<StageResult> => {
    const base = {
      id: stage.id,
      kind: stage.definition.name,
      seconds: 0,
      key: null,
      outputs: {},
    };
    if (!needed.has(stage.id)) return { ...base, status: "skipped", reason: "not selected" };
    if (executor.ahead && !options.dryRun) {
      // A stage downstream of one that is being run elsewhere is started now, after it: the
      // cluster gets the whole DAG at once. Its key is computed where it runs.
      const after = (await Promise.all(stage.upstream.map((u) => launched.get(u)!.handle)))
        .filter((h): h is string => h !== undefined);
      if (after.length && !options.signal?.aborted) {
        try {
          const handle = await executor.ahead(pipeline, stage, after, forced(stage.id));
          aheadOf.set(stage.id, handle);
          launched.get(stage.id)!.set(handle);
        } catch (error) {
          const { message } = describeFailure(error);
          reporter.line(`  failed  ${name(stage.id)}: ${message}`);
          return { ...base, status: "failed", error: message, reason: "not submitted" };
        }
      }
    }
    const ups = await Promise.all(stage.upstream.map((u) => results.get(u)!));
    const blocked = ups.find((r) => !outputs.has(r.id));
    if (
      blocked && !(options.dryRun && ups.every((r) => outputs.has(r.id) || provisional.has(r.id)))
    ) {
      const reason = blocked.status === "would-run"
        ? `upstream "${blocked.id}" would run first`
        : `upstream "${blocked.id}" ${blocked.status === "failed" ? "failed" : "has no outputs"}`;
      const handle = aheadOf.get(stage.id);
      if (handle !== undefined) {
        // Started ahead: its upstream stage will never give it its inputs.
        await executor.cancel?.(handle);
        reporter.line(`  cancelled ${name(stage.id)} (${executor.name} ${handle}): ${reason}`);
      }
      if (options.dryRun) {
        // Its upstream stage has no outputs to key it by (it never ran): it runs after it.
        const never = await lastKeyParts(cache, pipeline.name, stage.id) ? [] : ["never run"];
        const why = [...never, reason].join("; ");
        reporter.line(`  would run  ${name(stage.id)}: ${why}`);
        return { ...base, status: "would-run", reason: why };
      }
      return { ...base, status: "skipped", reason };
    }
    if (blocked) {
      // Dry run: explain this stage's own changes, assuming upstream outputs stay as last time.
      const assumed = new Map([...provisional, ...outputs]);
      const { key, parts } = await chain.key(stage, assumed);
      const last = await lastKeyParts(cache, pipeline.name, stage.id);
      const own = last?.key === key ? [] : await explain(parts, last);
      const record = await cache.record(key);
      if (record) provisional.set(stage.id, record.outputs);
      const reason = [...own, `upstream "${blocked.id}" would run first`].join("; ");
      reporter.line(`  would run  ${name(stage.id)}: ${reason}`);
      return { ...base, key: null, status: "would-run", reason };
    }
    const { key, parts } = await chain.key(stage);
    if (options.dryRun) return await runTask(task, stage, base, key, parts);
    // Claimed (synchronously, right after the key) by the first variant that needs the key.
    const claim = claims.get(key);
    if (claim) {
      const got = await claim.done;
      if (!got.outputs) {
        const reason = `${got.status} in variant ${claim.label ?? "(plain run)"}`;
        reporter.line(`  skipped ${name(stage.id)}: ${reason}`);
        return { ...base, key, status: "skipped", reason };
      }
      chain.set(stage.id, got.outputs);
      const paths = await materialise(out, stage, got.outputs, forced(stage.id));
      const shared = got.status === "ran" ? ` (ran for ${claim.label ?? "the plain run"})` : "";
      reporter.line(`  cached  ${name(stage.id)}${shared}`);
      return { ...base, key, status: "cached", outputs: paths };
    }
    let settle!: (got: Awaited<Claim["done"]>) => void;
    claims.set(key, { label, done: new Promise((resolve) => settle = resolve) });
    let result: StageResult | undefined;
    try {
      result = await runTask(task, stage, base, key, parts);
      return result;
    } finally {
      const produced = outputs.get(stage.id);
      settle({ status: result?.status ?? "failed", ...(produced ? { outputs: produced } : {}) });
    }
  };

  for (const id of pipeline.order) {
    results.set(id, runOne(pipeline.stages.get(id)!).finally(() => launched.get(id)!.set()));
  }
  const stages = await Promise.all(pipeline.order.map((id) => results.get(id)!));
  return { pipeline: pipeline.name, stages };
}
