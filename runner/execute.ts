/**
 * Running a checked pipeline: keys, cache hits, concurrent stages, early cutoff, failures.
 *
 * @module
 */

import { cachePath } from "./store/layout.ts";
import { cachedResult, damagedOutputs } from "./store/hit.ts";
import { lastKeyParts, saveKeyParts } from "./keys/state.ts";
import { selectStages } from "./graph/select.ts";
import { Semaphore } from "./lib/semaphore.ts";
import type { RunSummary, StageResult, StageStatus } from "./core/result.ts";
import { relative } from "./paths.ts";
import { Cache, type RunRecord } from "./store/cache.ts";
import type { Pipeline, ResolvedStage } from "./core/pipeline.ts";
import { diskFullError, isDiskFull, lastWritten } from "./lib/disk_full.ts";
import { InputError, isUserError, StageError } from "./errors.ts";
import { describeFailure } from "./core/failure.ts";
import { CodeIndex } from "./keys/code_index.ts";
import type { KeyParts } from "./keys/stage_key.ts";
import { KeyChain } from "./keys/chain.ts";
import { formatSeconds, type Reporter } from "./report.ts";
import { outputKind } from "./stage.ts";
import { OutTree } from "./materialise/out_tree.ts";
import { checkOutFolders, treeDir } from "./materialise/out_paths.ts";
import { own } from "./lib/own.ts";
import { guardExits, runGuarded, type StageExitError } from "./stage_exit.ts";
import { listOwned, removeOwned } from "./lib/owned.ts";
import { checkOutput, InputGuard } from "./stage_guard.ts";
import type { StoredOutput } from "./core/result.ts";
import { sha256 } from "./lib/digest.ts";
import { explainChange } from "./keys/explain.ts";
import { type RemoteOptions, remoteUrl } from "./remote/schemes.ts";
import { LazyRemote } from "./remote/lazy.ts";

/** Options of a run. */
export interface RunOptions {
  /** Most stages running at once. */
  jobs?: number;
  /** Run only these stages (and what they need). */
  only?: string[];
  /** Run this stage and everything downstream of it (and what they need). */
  from?: string;
  /** `true` reruns every selected stage; a list reruns those. */
  force?: boolean | string[];
  /** Compute keys and report what would run, without running anything. */
  dryRun?: boolean;
  /** Cache directory, default `<root>/.pipeline`. */
  cacheDir?: string;
  /** Where outputs are materialised, default `<root>/out`. */
  outDir?: string;
  /** Where stage lines, logs and progress go. */
  reporter: Reporter;
  /** Interrupts the run: no further stage runs, and a running one sees the abort and fails. */
  signal?: AbortSignal;
  /**
   * The shared remote cache (`remote:`, `NERPIPE_REMOTE`): a local miss is looked up there,
   * and what a stage makes is pushed there. Loaded only when a stage misses the local cache.
   */
  remote?: RemoteOptions;
  /**
   * Where stages that must run are run: in this process (the default) or elsewhere (Slurm).
   *
   * @internal The executor interface is the engine's own (`--executor`), not yet a public API.
   */
  executor?: StageExecutor;
}

/** A stage that must run, as an executor receives it. */
export interface StageRun {
  /** The pipeline the stage belongs to. */
  pipeline: Pipeline;
  /** The stage. */
  stage: ResolvedStage;
  /** Its cache key. */
  key: string;
  /** Outputs of its upstream stages, by stage id. */
  upstream: Map<string, Record<string, StoredOutput>>;
  /** The run's cache. */
  cache: Cache;
  /** Where its logs and progress go. */
  reporter: Reporter;
  /** The run's interrupt. */
  signal: AbortSignal | undefined;
  /** Whether the stage runs because it was forced (`--force`). */
  forced: boolean;
  /** Why it runs (`parameter "x" changed`), as the `running` line says. */
  reason: string;
  /** For an executor that started the stage ahead ({@link StageExecutor.ahead}), its handle. */
  handle?: string;
  /** Called with a handle as soon as the stage is submitted somewhere else (Slurm: job id). */
  submitted?: (handle: string) => void;
}

/** How a stage that must run ended: its outputs are stored, and recorded under its key. */
export interface StageRan {
  /** Its outputs. */
  outputs: Record<string, StoredOutput>;
  /** Seconds the stage itself ran (0 when it was found in the cache where it ran). */
  seconds: number;
  /** The result was already in the cache when it started (a job started ahead of its key). */
  cached?: boolean;
  /** Said after the stage line, e.g. `(job 12, started 0.4 s after sbatch)`. */
  note?: string;
}

/**
 * Where a stage that must run runs. The local executor runs it in this process; the Slurm one
 * (slurm.ts) as a job on a cluster, which stores its result in the same (shared) cache.
 */
export interface StageExecutor {
  /** Its name, for messages. */
  readonly name: string;
  /** Whether stages run in this process, so that `--jobs` and exclusive resources apply. */
  readonly inProcess: boolean;
  /** Runs (or waits for) a stage; throws when it fails. */
  run(run: StageRun): Promise<StageRan>;
  /**
   * Starts a stage before its upstream stages have finished, after the stages whose handles
   * are given (Slurm: a job with `--dependency=afterok:<ids>`). Its key is computed where it
   * runs, once its upstream results are in the cache. Absent: a stage starts once its upstream
   * stages are done, as in a local run.
   */
  ahead?(pipeline: Pipeline, stage: ResolvedStage, after: string[], forced: boolean): Promise<
    string
  >;
  /** Cancels a stage started ahead whose upstream stage failed. */
  cancel?(handle: string): Promise<void>;
}

/** Runs stages in this process: {@link runStage}. */
export const localExecutor: StageExecutor = {
  name: "local",
  inProcess: true,
  run: ({ stage, key, upstream, cache, pipeline, reporter, signal }) =>
    runStage(stage, key, upstream, cache, pipeline.root, reporter, signal),
};

/** One variant of a sweep: a full pipeline configuration and its label. */
export interface Variant {
  /** The pipeline, with the variant's values. */
  pipeline: Pipeline;
  /**
   * A short, readable label of the swept values (`learning_rate=0.001`): the variant's outputs
   * go to `out/<pipeline>/<label>/`, and its stage lines and logs name it. Absent for a plain
   * run, whose outputs go to `out/<pipeline>/`.
   */
  label?: string;
}

/** What one variant of a sweep did. */
export interface VariantSummary extends RunSummary {
  /** The variant's label (absent for a plain run). */
  label?: string;
  /** Wall seconds from the start of the sweep to the end of this variant. */
  seconds: number;
}

/**
 * Runs a pipeline. Holds the cache lock for the whole run.
 *
 * @param pipeline A checked pipeline.
 * @param options What to run and how.
 * @returns One result per stage, in topological order.
 */
export async function runPipeline(pipeline: Pipeline, options: RunOptions): Promise<RunSummary> {
  const [done] = await runVariants([{ pipeline }], options);
  const { label: _label, seconds: _seconds, ...summary } = done!;
  return summary;
}

/** What the variants of one sweep share. */
interface Shared {
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
interface Claim {
  label: string | undefined;
  done: Promise<{ outputs?: Record<string, StoredOutput>; status: StageStatus }>;
}

/**
 * Runs the variants of a sweep (or one plain run) in one process: the cache lock is held once
 * for all of them, `--jobs` counts every variant's stages, and a stage key that several variants
 * need (their shared upstream stages) is computed once while the others wait for it.
 *
 * @param variants Configurations of one pipeline file.
 * @param options What to run and how (the same for every variant).
 * @returns One summary per variant, in the order given.
 */
export async function runVariants(
  variants: Variant[],
  options: RunOptions,
): Promise<VariantSummary[]> {
  const first = variants[0]?.pipeline;
  if (!first) return [];
  const cacheDir = options.cacheDir ?? `${first.root}/.pipeline`;
  const outDir = options.outDir ?? `${first.root}/out`;
  if (!options.dryRun) {
    // Before anything is written: no folder of out/ leads out of the project (owned.ts); the
    // cache's folders are checked as its lock is taken.
    checkOutFolders(outDir, variants.map((v) => treeDir(outDir, v.pipeline.name, v.label)));
  }
  const cache = await Cache.open(cacheDir);
  const reporter = options.reporter;
  if (!options.dryRun) {
    await cache.lock((holder) => reporter.line(`waiting for the cache lock held by ${holder}`));
    if (cache.readOnly !== undefined) {
      reporter.line(
        `note: the cache ${relative(Deno.cwd(), cacheDir) || cacheDir} cannot be written ` +
          `(${cache.readOnly}): cached results are used, and a stage that must run fails`,
      );
    }
  }
  const shared: Shared = {
    semaphore: new Semaphore(options.jobs ?? navigator.hardwareConcurrency ?? 2),
    // The code files and deno.lock are read once per run, however many stages share them.
    imports: CodeIndex.of(cache),
    claims: new Map(),
    exclusive: new Map(),
    remote: new LazyRemote(
      remoteUrl(first.remote, options.remote),
      options.remote ?? {},
      reporter,
    ),
  };
  const started = performance.now();
  // Until the run ends, an exit asked for by anything a stage left running fails no run.
  const releaseExits = options.dryRun ? undefined : guardExits();
  try {
    const one = async ({ pipeline, label }: Variant): Promise<VariantSummary> => {
      const tagged = label === undefined ? reporter : taggedReporter(reporter, label);
      const manifest = label === undefined
        ? pipeline.name
        : `${pipeline.name}.variant-${(await sha256(label)).slice(0, 12)}`;
      const out = await OutTree.open(
        outDir,
        pipeline.name,
        pipeline.root,
        cache,
        tagged,
        label === undefined ? undefined : { dir: treeDir(outDir, pipeline.name, label), manifest },
      );
      const summary = await runLocked(pipeline, { ...options, reporter: tagged }, cache, out, {
        shared,
        label,
      });
      const done = { ...summary, seconds: (performance.now() - started) / 1000 };
      if (label !== undefined) Object.assign(done, { label });
      if (options.dryRun) return done;
      await checkFailedInputs(pipeline, summary, cache, tagged);
      try {
        await out.save(manifest);
      } catch (error) {
        reporter.line(`  could not save the list of files in out/: ${(error as Error).message}`);
      }
      return out.problems.length ? { ...done, materialisation: out.problems } : done;
    };
    const done = await Promise.all(variants.map(one));
    if (!options.dryRun && cache.writable) {
      await shared.imports.save().catch(diskFull(cachePath(cache.dir, "code.json")));
    }
    return done;
  } finally {
    releaseExits?.();
    if (!options.dryRun) await cache.close().catch(diskFull(`${cache.dir}/stat.json`));
  }
}

/** Rethrows a full disk as one {@link DiskFullError} (`path`: the file being written). */
function diskFull(path: string): (error: unknown) => Promise<never> {
  return async (error) => {
    throw isDiskFull(error) ? await diskFullError(error, path) : error;
  };
}

/** A reporter whose stage logs and progress name the variant: `[train learning_rate=0.001]`. */
function taggedReporter(reporter: Reporter, label: string): Reporter {
  const tag = (id: string) => `${id} ${label}`;
  return {
    line: (text) => reporter.line(text),
    logger: (id) => reporter.logger(tag(id)),
    progress: (id) => reporter.progress(tag(id)),
    done: (id) => reporter.done(tag(id)),
  };
}

/**
 * After a stage failed, rereads the cached outputs it consumed: one whose content no longer
 * matches its hash (damage that kept the file's stat, which the stat cache cannot see) is
 * reported and removed with its run record, so that the next run makes it again instead of
 * feeding the same bad bytes to the stage.
 */
async function checkFailedInputs(
  pipeline: Pipeline,
  summary: RunSummary,
  cache: Cache,
  reporter: Reporter,
): Promise<void> {
  const byId = new Map(summary.stages.map((s) => [s.id, s]));
  const checked = new Set<string>();
  for (const failed of summary.stages) {
    if (failed.status !== "failed" || failed.reason === "interrupted") continue;
    for (const up of pipeline.stages.get(failed.id)?.upstream ?? []) {
      const key = byId.get(up)?.key;
      if (!key || checked.has(key)) continue;
      checked.add(key);
      const record = await cache.record(key);
      for (const { name, output } of record ? await damagedOutputs(cache, record, "all") : []) {
        const fix = cache.writable ? "removed it; the next run makes it again" : "";
        reporter.line(
          `  the cached output "${name}" of ${up}, read by ${failed.id}, is damaged (its ` +
            `content no longer matches its hash)${fix ? `: ${fix}` : ": run deno task verify"}`,
        );
        if (cache.writable) {
          await cache.removeObject(output);
          await cache.removeRecord(key);
        }
      }
    }
  }
}

async function runLocked(
  pipeline: Pipeline,
  options: RunOptions,
  cache: Cache,
  out: OutTree,
  { shared, label }: { shared: Shared; label: string | undefined },
): Promise<RunSummary> {
  const reporter = options.reporter;
  const needed = selectStages(pipeline, options.only, options.from);
  const { semaphore, claims } = shared;
  const exclusiveLock = (resource: string | undefined) => {
    if (resource === undefined) return undefined;
    let lock = shared.exclusive.get(resource);
    if (!lock) shared.exclusive.set(resource, lock = new Semaphore(1));
    return lock;
  };
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
      const own = last?.key === key ? [] : explainChange(parts, last);
      const record = await cache.record(key);
      if (record) provisional.set(stage.id, record.outputs);
      const reason = [...own, `upstream "${blocked.id}" would run first`].join("; ");
      reporter.line(`  would run  ${name(stage.id)}: ${reason}`);
      return { ...base, key: null, status: "would-run", reason };
    }
    const { key, parts } = await chain.key(stage);
    if (options.dryRun) return await compute(stage, base, key, parts);
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
      result = await compute(stage, base, key, parts);
      return result;
    } finally {
      const produced = outputs.get(stage.id);
      settle({ status: result?.status ?? "failed", ...(produced ? { outputs: produced } : {}) });
    }
  };

  const compute = async (
    stage: ResolvedStage,
    base: Omit<StageResult, "status">,
    key: string,
    parts: KeyParts,
  ): Promise<StageResult> => {
    // A stage started ahead may be storing its result right now: its executor says how it ended.
    const handle = aheadOf.get(stage.id);
    const submitted = (h: string) => launched.get(stage.id)!.set(h);
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
        const remote = await shared.remote.get("pull");
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
    const reason = forced(stage.id) ? "forced" : explainChange(parts, last).join("; ");
    if (options.dryRun) {
      const lastRecord = last ? await cache.record(last.key) : undefined;
      if (lastRecord) provisional.set(stage.id, lastRecord.outputs);
      reporter.line(`  would run  ${name(stage.id)}: ${reason}`);
      return { ...base, key, status: "would-run", reason };
    }
    // A stage that needs a process-wide resource alone waits for it before taking a job slot,
    // so that waiting does not hold a slot another stage could use. Stages that run elsewhere
    // (Slurm jobs) take neither: the cluster schedules them.
    const exclusive = executor.inProcess ? exclusiveLock(stage.definition.exclusive) : undefined;
    await exclusive?.acquire();
    const slot = executor.inProcess ? semaphore : undefined;
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
        upstream: outputs,
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
        // Objects first, the record last (remote.ts); a remote that fails warns once.
        const remote = await shared.remote.get("push");
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
        await dropRejected(stage, error).catch((e) =>
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
  };

  /**
   * A stage rejected inputs (an {@link InputError}): each of them that an upstream stage
   * pulled from the remote cache (in this run or an earlier one) is dropped here and not pulled
   * again (RemoteCache.reject), so that the next run makes it instead of failing on it again.
   */
  const dropRejected = async (stage: ResolvedStage, error: InputError) => {
    for (const [inputName, input] of Object.entries(stage.inputs)) {
      if (input.kind !== "stage" || (error.inputs.length && !error.inputs.includes(inputName))) {
        continue;
      }
      const key = (await results.get(input.stage))?.key;
      const record = key ? await cache.record(key) : undefined;
      const remote = record?.pulled ? await shared.remote.get("pull") : undefined;
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
  };

  for (const id of pipeline.order) {
    results.set(id, runOne(pipeline.stages.get(id)!).finally(() => launched.get(id)!.set()));
  }
  const stages = await Promise.all(pipeline.order.map((id) => results.get(id)!));
  return { pipeline: pipeline.name, stages };
}

/** A stage key's checkpoint directory (StageContext.checkpoints); the key is 64 hex digits. */
function checkpointDir(cache: Cache, key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`Not a stage key: ${key}`);
  return `${cache.dir}/checkpoints/${key}`;
}

/**
 * After a success: removes a checkpoint directory but its `kept/` (nothing when there is none).
 * A checkpoint directory that is a link is removed itself: nothing it points to is listed or
 * removed (owned.ts).
 */
async function removeCheckpoints(dir: string, bound: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(dir);
  } catch {
    return;
  }
  let kept = false;
  if (info.isDirectory) {
    for (const entry of listOwned(dir)) {
      if (entry.name === "kept") kept = true;
      else await removeOwned(`${dir}/${entry.name}`, bound).catch(() => {});
    }
  }
  if (!kept) await removeOwned(dir, bound).catch(() => {});
}

/**
 * Runs a stage that must run in this process and stores its result: its outputs in the object
 * store, then its run record (the last thing written: a result is there whole or not at all),
 * and removes its checkpoints. A local run and a Slurm job (slurm.ts) both run stages here.
 *
 * @returns Its outputs and the seconds it ran.
 */
export async function runStage(
  stage: ResolvedStage,
  key: string,
  upstream: Map<string, Record<string, StoredOutput>>,
  cache: Cache,
  root: string,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<StageRan> {
  const started = performance.now();
  const produced = await execute(stage, key, upstream, cache, root, reporter, signal);
  const seconds = (performance.now() - started) / 1000;
  const record: RunRecord = {
    key,
    kind: stage.definition.name,
    stage: stage.id,
    outputs: produced,
    seconds,
    finished: new Date().toISOString(),
  };
  await cache.writeRecord(record);
  await removeCheckpoints(checkpointDir(cache, key), cache.bound);
  await cache.saveStat();
  return { outputs: produced, seconds };
}

async function execute(
  stage: ResolvedStage,
  key: string,
  upstream: Map<string, Record<string, StoredOutput>>,
  cache: Cache,
  root: string,
  reporter: Reporter,
  signal: AbortSignal | undefined,
): Promise<Record<string, StoredOutput>> {
  const staging = await cache.staging(stage.id);
  let guard: InputGuard | undefined;
  try {
    const inputs: Record<string, string> = {};
    for (const [name, input] of Object.entries(stage.inputs)) {
      // Upstream outputs are verified objects; files are read where they are.
      inputs[name] = input.kind === "file"
        ? input.abs
        : cache.objectPath(upstream.get(input.stage)![input.output]!);
    }
    const def = stage.definition;
    const outPath = (name: string) => {
      const spec = own(def.outputs, name);
      if (!spec) {
        throw new StageError(
          `it wrote undeclared output "${name}" (ctx.output("${name}")): declare it in the ` +
            `outputs of stage kind "${def.name}"`,
        );
      }
      return `${staging}/out/${name}${spec.extension ?? ""}`;
    };
    for (const [name, spec] of Object.entries(def.outputs)) {
      if (outputKind(spec) === "dir") await Deno.mkdir(outPath(name), { recursive: true });
    }
    // Path parameters reach the stage as absolute paths; the key holds them as written.
    const params = structuredClone(stage.params);
    for (const p of stage.pathParams) {
      const parts = p.param.split(".").slice(3);
      let node = params as Record<string, unknown>;
      for (const part of parts.slice(0, -1)) node = node[part] as Record<string, unknown>;
      node[parts[parts.length - 1]!] = p.abs;
    }
    // Upstream objects must match their hashes before the stage runs and after (stage_guard.ts).
    guard = await InputGuard.start(stage, upstream, cache);
    // An exit the stage asks for fails it (stage_exit.ts); one from something it left running
    // after it returned is dropped, and said.
    const late = (error: StageExitError) =>
      reporter.line(`  warning: ${stage.id} called ${error.call} after it returned: ignored`);
    await runGuarded(() =>
      def.run({
        id: stage.id,
        params,
        inputs: Object.freeze(inputs),
        output: outPath,
        root,
        scratch: `${staging}/scratch`,
        get checkpoints() {
          const dir = checkpointDir(cache, key);
          Deno.mkdirSync(dir, { recursive: true });
          return dir;
        },
        progress: reporter.progress(stage.id),
        log: reporter.logger(stage.id),
        signal: signal ?? new AbortController().signal,
      }), late);
    reporter.done(stage.id);
    if (signal?.aborted) throw new Error(`Stage "${stage.id}" was interrupted`);
    await guard.finish();
    for (const name of Object.keys(def.outputs)) checkOutput(stage.id, name, outPath(name));
    const produced: Record<string, StoredOutput> = {};
    for (const [name, spec] of Object.entries(def.outputs)) {
      const path = outPath(name);
      await checkWritten(path, name, outputKind(spec));
      produced[name] = await cache.store(path, outputKind(spec));
    }
    return produced;
  } catch (error) {
    // A full disk names the file the stage was writing (when the error does not, the newest
    // under its folders), and the space left once what it wrote is removed.
    if (!isDiskFull(error)) throw error;
    const writing = await lastWritten([staging, checkpointDir(cache, key)]);
    await removeOwned(staging, cache.bound).catch(() => {});
    throw await diskFullError(error, writing ?? staging);
  } finally {
    guard?.release();
    cache.stat.forget(staging);
    await removeOwned(staging, cache.bound).catch(() => {});
  }
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
 * Throws a {@link StageError} (one message naming the output and what was expected) unless the
 * stage wrote output `name` at `path`, of the kind it declared.
 */
async function checkWritten(path: string, name: string, kind: "file" | "dir"): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const what = kind === "dir" ? "a directory" : "a file";
    throw new StageError(
      `it did not write its output "${name}": expected ${what} at ctx.output("${name}")`,
    );
  }
  if (kind === "file" && info.isDirectory) {
    throw new StageError(
      `it wrote a directory as its output "${name}", declared a file: write a file to ` +
        `ctx.output("${name}"), or declare the output with kind: "dir"`,
    );
  }
  if (kind === "dir" && !info.isDirectory) {
    throw new StageError(
      `it wrote a file as its output "${name}", declared a directory (kind: "dir"): write ` +
        `files into the directory ctx.output("${name}")`,
    );
  }
}

/**
 * Writes outputs to `out/<pipeline>/<stage>/<output>` (see materialise.ts: atomic, files the
 * user changed or added are kept). Never throws: a failure is reported on its own and does not
 * change the stage's status.
 */
function materialise(
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
