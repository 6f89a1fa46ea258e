/**
 * What every batch executor shares (Slurm's, and any other queue of jobs): each stage that must
 * run is a job, submitted after the jobs of its upstream stages, so that the queue gets the whole
 * DAG at once. A job runs `run-stage` (job.ts): it loads the same pipeline, computes the stage's
 * key from its upstream results (in the shared cache by then), and is a cache hit if the result
 * is there (early cutoff) or runs the stage as a local run does.
 *
 * This base owns the jobs of a run: it submits them (what a job runs is the same everywhere),
 * keeps the list of those that have not ended (`jobs.json`, for `status`), polls the queue until
 * each awaited job has ended, reads how the job ended (`<job id>.json`, which the job writes
 * last), and cancels what it submitted when the run is interrupted. A batch system supplies four
 * things ({@link BatchExecutor}): submitting, the states of its queue, the state of a job that
 * has left it, and cancelling.
 *
 * The cache lock: the submitting run holds `.pipeline/lock` for the whole run, as a local run
 * does, and its jobs write the cache on its behalf without taking it (objects and run records
 * are written by rename, so nothing torn is ever seen). A batch executor's files are in
 * `.pipeline/<its name>/`: `<job id>.out` / `.err` (the jobs' stdout and stderr), `<job id>.json`
 * and `jobs.json`.
 *
 * @module
 */

import type { Pipeline, ResolvedStage } from "../core/pipeline.ts";
import type { StoredOutput } from "../core/result.ts";
import { UserError } from "../errors.ts";
import { writeAtomic } from "../lib/atomic.ts";
import { fileURLToPath } from "../paths.ts";
import { formatSeconds } from "../report.ts";
import { cachePath } from "../store/layout.ts";
import type { ExecutorContext, QueuedJob, StageExecutor, StageRan, StageRun } from "./executor.ts";
import type { JobResult } from "./job.ts";

/** A submitted job, as `jobs.json` lists it. */
export interface SubmittedJob {
  job: string;
  pipeline: string;
  stage: string;
  /** When the submission returned (ms since the epoch). */
  submitted: number;
  /** Jobs it runs after. */
  after: string[];
}

/** What a batch system is asked to submit. */
export interface JobRequest {
  pipeline: Pipeline;
  stage: ResolvedStage;
  /** Jobs it must run after (only once they succeeded). */
  after: string[];
  /** The command the job runs, word by word (`deno run ... run-stage ...`). */
  command: string[];
  /** Where its stdout and stderr go: `<dir>/<job id>.out` and `.err`. */
  dir: string;
}

/** The last `lines` lines of a file ("" when it cannot be read). */
async function tail(path: string, lines = 20): Promise<string> {
  try {
    const text = (await Deno.readTextFile(path)).trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function readJob(path: string): Promise<JobResult | undefined> {
  try {
    const raw = JSON.parse(await Deno.readTextFile(path));
    return raw && typeof raw.status === "string" ? raw as JobResult : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The jobs of a pipeline's runs in progress (as `jobs.json` in a batch executor's folder lists
 * them) that are still in the queue, for `status`.
 *
 * @param dir The executor's folder, `.pipeline/<executor>/`.
 * @param pipeline The pipeline's name.
 * @param states The queue's states of jobs, with why they wait; undefined when it cannot say.
 */
export async function queuedJobs(
  dir: string,
  pipeline: string,
  states: (ids: string[]) => Promise<Map<string, string> | undefined>,
): Promise<QueuedJob[]> {
  let jobs: SubmittedJob[];
  try {
    jobs = (JSON.parse(await Deno.readTextFile(`${dir}/jobs.json`)) as SubmittedJob[])
      .filter((j) => j.pipeline === pipeline && /^\d+$/.test(j.job));
  } catch {
    return [];
  }
  if (!jobs.length) return [];
  const now = await states(jobs.map((j) => j.job)) ?? new Map<string, string>();
  return jobs.filter((j) => now.has(j.job))
    .map(({ job, stage }) => ({ job, stage, state: now.get(job)! }));
}

interface Waiter {
  resolve(done: { result?: JobResult; state: string }): void;
  reject(error: Error): void;
}

/** An error whose message is all there is to say (no stack of this process). */
class JobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JobError";
    this.stack = message;
  }
}

/** Runs stages as jobs of a batch system; see the module's documentation. */
export abstract class BatchExecutor implements StageExecutor {
  /** What a started stage is called in messages (`job 12`). */
  readonly name: string = "job";
  readonly inProcess = false;
  /** The executor's folder in the cache: `.pipeline/<executor>/`. */
  readonly dir: string;
  /** What the run opened it with. */
  protected readonly context: ExecutorContext;
  #executor: string;
  #jobs = new Map<string, SubmittedJob>();
  #waiting = new Map<string, Waiter>();
  #ended = new Map<string, number>();
  /** When each job's process ended, as it wrote it (more exact than when a poll saw it). */
  #finished = new Map<string, number>();
  #polling: Promise<void> | undefined;

  /**
   * @param executor Its registered name (exec/registry.ts), which names its folder and is
   *   passed to the jobs' `run-stage`.
   * @param context What the run opened it with.
   */
  constructor(executor: string, context: ExecutorContext) {
    this.#executor = executor;
    this.context = context;
    this.dir = cachePath(context.cacheDir, executor);
    context.signal?.addEventListener("abort", () => void this.#interrupt(), { once: true });
  }

  /** Submits a job; its id. A refusal is a {@link UserError} naming the stage. */
  protected abstract submitJob(request: JobRequest): Promise<string>;

  /**
   * The states of jobs in the queue, by id (a job that has left the queue is not there), or
   * undefined when the queue could not be asked.
   */
  protected abstract queueStates(ids: string[]): Promise<Map<string, string> | undefined>;

  /** Whether a job in this state will not run (any more). */
  protected abstract hasEnded(state: string): boolean;

  /** How a job that has left the queue ended (`FAILED`, `CANCELLED (...)`), or `UNKNOWN`. */
  protected abstract endState(job: string): Promise<string>;

  /** Cancels jobs (never throws). */
  protected abstract cancelJobs(jobs: string[]): Promise<void>;

  /** The command that cancels jobs, for the line that says so. */
  protected abstract readonly canceller: string;

  /** The jobs submitted so far. */
  get jobs(): SubmittedJob[] {
    return [...this.#jobs.values()];
  }

  ahead(pipeline: Pipeline, stage: ResolvedStage, after: string[], forced: boolean) {
    return this.#submit(pipeline, stage, after, forced, "its key is computed when it starts");
  }

  async run(run: StageRun): Promise<StageRan> {
    let job = run.handle;
    if (job === undefined) {
      job = await this.#submit(run.pipeline, run.stage, [], run.forced, run.reason);
      run.submitted?.(job);
    }
    const done = await this.#wait(job);
    const info = this.#jobs.get(job)!;
    const result = done.result;
    const err = `${this.dir}/${job}.err`;
    if (!result || result.status === "failed") {
      // The job printed the whole error to its stderr: its first line, then the stderr's end.
      const why = result?.error?.split("\n")[0] ?? `the job ended ${done.state} without a result`;
      const stderr = await tail(err);
      const message = `${why} (job ${job})` +
        (stderr ? `; the end of its stderr (${err}):\n${stderr.replace(/^/gm, "    ")}` : "");
      throw result?.user ? new UserError(message) : new JobError(message);
    }
    if (result.key !== run.key) {
      throw new JobError(
        `job ${job} computed the key ${result.key?.slice(0, 12)} for stage "${run.stage.id}", ` +
          `this run ${run.key.slice(0, 12)}: the project differs between this machine and the ` +
          `node (code, data or deno.lock); run from a shared checkout`,
      );
    }
    const record = await run.cache.record(result.key, Object.keys(run.stage.definition.outputs));
    if (!record) {
      throw new JobError(
        `job ${job} says it stored stage "${run.stage.id}", but its result is not in ` +
          `${run.cache.dir}: is the cache on a file system that the nodes share?`,
      );
    }
    this.#finished.set(job, result.finished);
    // When it could start: once submitted and once the jobs it runs after had ended.
    const ready = Math.max(
      info.submitted,
      ...info.after.map((a) => this.#finished.get(a) ?? this.#ended.get(a) ?? 0),
    );
    const queued = Math.max(0, (result.started - ready) / 1000);
    const overhead = Math.max(0, (this.#ended.get(job)! - ready) / 1000 - result.seconds);
    return {
      outputs: record.outputs as Record<string, StoredOutput>,
      seconds: result.seconds,
      ...(result.status === "cached" ? { cached: true } : {}),
      note: `(job ${job}: started ${formatSeconds(queued)} after it could, ` +
        `${formatSeconds(overhead)} over the stage's own time)`,
    };
  }

  async cancel(job: string): Promise<void> {
    await this.cancelJobs([job]);
    this.#finish(job, { state: "CANCELLED" });
  }

  async #interrupt(): Promise<void> {
    const open = [...this.#jobs.keys()].filter((j) => !this.#ended.has(j));
    if (open.length) {
      this.context.reporter.line(`  cancelling jobs ${open.join(", ")} (${this.canceller})`);
      await this.cancelJobs(open);
    }
    for (const job of open) {
      this.#ended.set(job, Date.now());
      const waiter = this.#waiting.get(job);
      this.#waiting.delete(job);
      waiter?.reject(new Error(`job ${job} was cancelled: the run was interrupted`));
    }
    await this.#save();
  }

  async #submit(
    pipeline: Pipeline,
    stage: ResolvedStage,
    after: string[],
    forced: boolean,
    reason: string,
  ): Promise<string> {
    const o = this.context;
    if (o.signal?.aborted) throw new UserError("interrupted before the job was submitted");
    await Deno.mkdir(this.dir, { recursive: true });
    const command = [
      Deno.execPath(),
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-ffi",
      "--allow-net",
      o.entry ?? fileURLToPath(Deno.mainModule),
      "run-stage",
      o.file,
      "--stage",
      stage.id,
      "--cache-dir",
      o.cacheDir,
      "--executor",
      this.#executor,
      ...o.sets.flatMap((s) => ["--set", s]),
      ...o.allowOutside.flatMap((p) => ["--allow-outside", p]),
      ...(forced ? ["--force"] : []),
    ];
    const job = await this.submitJob({ pipeline, stage, after, command, dir: this.dir });
    this.#jobs.set(job, {
      job,
      pipeline: pipeline.name,
      stage: stage.id,
      submitted: Date.now(),
      after,
    });
    await this.#save();
    o.reporter.line(
      `  submitted ${stage.id} as job ${job}${after.length ? ` after ${after.join(", ")}` : ""} ` +
        `(${reason})`,
    );
    return job;
  }

  #wait(job: string): Promise<{ result?: JobResult; state: string }> {
    if (this.#ended.has(job)) return Promise.resolve({ state: "CANCELLED" });
    const done = new Promise<{ result?: JobResult; state: string }>((resolve, reject) => {
      this.#waiting.set(job, { resolve, reject });
    });
    this.#polling ??= this.#poll().finally(() => this.#polling = undefined);
    return done;
  }

  #finish(job: string, done: { result?: JobResult; state: string }): void {
    if (!this.#ended.has(job)) this.#ended.set(job, Date.now());
    const waiter = this.#waiting.get(job);
    this.#waiting.delete(job);
    waiter?.resolve(done);
  }

  /** Looks at the queue until no one waits for a job. */
  async #poll(): Promise<void> {
    while (this.#waiting.size) {
      const ids = [...this.#waiting.keys()];
      const states = await this.queueStates(ids);
      let changed = false;
      for (const job of ids) {
        const result = await readJob(`${this.dir}/${job}.json`);
        const state = states?.get(job);
        if (result || (states && (state === undefined || this.hasEnded(state)))) {
          this.#finish(job, {
            ...(result ? { result } : {}),
            state: state ?? await this.endState(job),
          });
          changed = true;
        }
      }
      if (changed) await this.#save();
      if (this.#waiting.size) await new Promise((r) => setTimeout(r, this.context.pollMs ?? 250));
    }
  }

  /** Writes `jobs.json`: the jobs of this run that have not ended. */
  async #save(): Promise<void> {
    const open = this.jobs.filter((j) => !this.#ended.has(j.job));
    try {
      await writeAtomic(`${this.dir}/jobs.json`, JSON.stringify(open, null, 1));
    } catch { /* informational */ }
  }
}
