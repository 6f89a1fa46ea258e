/**
 * Where a stage that must run runs: the interface the run schedules against
 * ({@link StageExecutor}: the local one runs a stage in this process, a batch one submits it as
 * a job), and what opening one takes ({@link ExecutorModule}). Executors are found by name in
 * registry.ts.
 *
 * @module
 */

import type { Pipeline, ResolvedStage } from "../core/pipeline.ts";
import type { StoredOutput } from "../core/result.ts";
import type { Reporter } from "../report.ts";
import type { Cache } from "../store/cache.ts";

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
 * (slurm.ts, on batch.ts) as a job on a cluster, which stores its result in the same (shared) cache.
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

/**
 * What an executor is opened with for a run: what a job needs to load the same pipeline
 * elsewhere, the cache it shares, and where the executor's own lines go.
 */
export interface ExecutorContext {
  /** The pipeline file (absolute). */
  file: string;
  /** `--set` values. */
  sets: string[];
  /** `--allow-outside` values. */
  allowOutside: string[];
  /** The cache directory (a batch executor's jobs share it). */
  cacheDir: string;
  /** Where the executor's own lines go. */
  reporter: Reporter;
  /** Interrupts the run: an executor cancels what it started. */
  signal?: AbortSignal;
  /** The CLI module that a job runs (`run-stage`): default, this process's main module. */
  entry?: string;
  /** Milliseconds between two looks at a batch queue (default 250). */
  pollMs?: number;
}

/** A job of a run in progress, with its state in the queue, as `status` shows it. */
export interface QueuedJob {
  /** Its id in the batch system. */
  job: string;
  /** The stage it runs. */
  stage: string;
  /** Its state there, e.g. `PENDING (Dependency)`. */
  state: string;
}

/** What an executor's module exports (see registry.ts). */
export interface ExecutorModule {
  /**
   * Opens the executor for a run, after checking that it can work here.
   *
   * @throws {UserError} When it cannot (no `sbatch` on PATH, say), with a hint.
   */
  open(context: ExecutorContext): Promise<StageExecutor>;
  /**
   * A batch executor: the jobs of a pipeline's runs in progress still in its queue (`status`).
   *
   * @param cacheDir The cache directory (the executor keeps its jobs in a folder of it).
   * @param pipeline The pipeline's name.
   */
  queued?(cacheDir: string, pipeline: string): Promise<QueuedJob[]>;
  /** A batch executor, inside one of its jobs: the job's id (`SLURM_JOB_ID`), if it is one. */
  jobId?(): string | undefined;
}
