/**
 * The Slurm executor: each stage that must run is a Slurm job (`sbatch`), submitted with
 * `--dependency=afterok:<ids>` of the jobs of its upstream stages, so that the cluster gets the
 * whole DAG at once. A job runs `run-stage`: it loads the same pipeline, computes the stage's
 * key from its upstream results (in the shared cache by then), and is a cache hit if the result
 * is there (early cutoff) or runs the stage with {@link runStage}, as a local run does.
 *
 * The cache lock: the submitting run holds `.pipeline/lock` for the whole run, as a local run
 * does, and its jobs write the cache on its behalf without taking it (objects and run records
 * are written by rename, so nothing torn is ever seen). What jobs leave under
 * `.pipeline/slurm/`: `<job id>.out` / `.err` (their stdout and stderr), `<job id>.json` (how the
 * job ended) and `jobs.json` (the jobs of runs in progress, for `status`).
 *
 * @module
 */

import { KeyChain } from "./keys/chain.ts";
import { cachedResult } from "./store/hit.ts";
import { fileURLToPath, isAbsolute, resolve } from "./paths.ts";
import { Cache } from "./store/cache.ts";
import type { Pipeline, ResolvedStage, StageResources } from "./core/pipeline.ts";
import { UserError } from "./errors.ts";
import { describeFailure, stackFrames } from "./core/failure.ts";
import { runStage, type StageExecutor, type StageRan, type StageRun } from "./execute.ts";
import { CodeIndex } from "./keys/code_index.ts";
import { parseArgs } from "./lib/args.ts";
import type { Registry } from "./registry.ts";
import { formatSeconds, type Reporter } from "./report.ts";
import { consoleReporter } from "./report/console.ts";
import { expandSweep } from "./sweep.ts";
import type { StoredOutput } from "./core/result.ts";
import { writeAtomic } from "./lib/atomic.ts";
import { selectStages } from "./graph/select.ts";

/** How a job ended, as it writes it to `.pipeline/slurm/<job id>.json`. */
export interface JobResult {
  /** Slurm job id. */
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

/** A submitted job, as `jobs.json` lists it. */
export interface SubmittedJob {
  job: string;
  pipeline: string;
  stage: string;
  /** When sbatch returned (ms since the epoch). */
  submitted: number;
  /** Jobs it runs after. */
  after: string[];
}

/** The sbatch options of a stage's `resources:`. */
export function resourceArgs(resources: StageResources | undefined): string[] {
  const args: string[] = [];
  if (!resources) return args;
  if (resources.gpus) args.push(`--gres=gpu:${resources.gpus}`);
  if (resources.cpus) args.push(`--cpus-per-task=${resources.cpus}`);
  if (resources.mem) args.push(`--mem=${resources.mem}`);
  if (resources.time) args.push(`--time=${resources.time}`);
  if (resources.partition) args.push(`--partition=${resources.partition}`);
  return args;
}

/** A word for `sh`: single-quoted unless it is plain. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:=/@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** What a job needs to load the same pipeline. */
export interface SlurmOptions {
  /** The pipeline file (made absolute). */
  file: string;
  /** `--set` values. */
  sets: string[];
  /** `--allow-outside` values. */
  allowOutside: string[];
  /** The cache directory (shared with the jobs). */
  cacheDir: string;
  /** The CLI module that jobs run (`run-stage`): default, this process's main module. */
  entry?: string;
  /** Where the executor's own lines go. */
  reporter: Reporter;
  /** Interrupts the run: every submitted job is cancelled. */
  signal?: AbortSignal;
  /** Milliseconds between two looks at the queue (default 250). */
  pollMs?: number;
}

/** Runs a command; its exit code and output. NotFound when it is not on PATH. */
async function command(
  name: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(name, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/**
 * Checks that sbatch can be run from here: a {@link UserError} with a hint otherwise.
 */
export async function checkSlurm(): Promise<void> {
  try {
    const out = await command("sbatch", ["--version"]);
    if (out.code !== 0) throw new Error(out.stderr.trim());
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(
        "--executor slurm: sbatch is not on PATH: run on a machine with Slurm's client " +
          "commands (a login node), or run without --executor slurm",
      );
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      throw new UserError(
        "--executor slurm: this process may not run sbatch: run it with " +
          "--allow-run=sbatch,squeue,scancel,scontrol (deno task run grants it)",
      );
    }
    throw new UserError(`--executor slurm: sbatch does not work here: ${String(error)}`);
  }
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

/** Slurm states of jobs that will not run (any more). */
const ENDED = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "PREEMPTED",
  "OUT_OF_MEMORY",
  "BOOT_FAIL",
  "DEADLINE",
]);

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

/** Runs stages as Slurm jobs; see the module's documentation. */
export class SlurmExecutor implements StageExecutor {
  readonly name = "job";
  readonly inProcess = false;
  readonly dir: string;
  #options: SlurmOptions;
  #jobs = new Map<string, SubmittedJob>();
  #waiting = new Map<string, Waiter>();
  #ended = new Map<string, number>();
  /** When each job's process ended, as it wrote it (more exact than when a poll saw it). */
  #finished = new Map<string, number>();
  #polling: Promise<void> | undefined;
  #cancelled = new Set<string>();

  constructor(options: SlurmOptions) {
    this.#options = options;
    this.dir = `${options.cacheDir}/slurm`;
    options.signal?.addEventListener("abort", () => void this.#interrupt(), { once: true });
  }

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
    this.#cancelled.add(job);
    await command("scancel", [job]).catch(() => {});
    this.#finish(job, { state: "CANCELLED" });
  }

  async #interrupt(): Promise<void> {
    const open = [...this.#jobs.keys()].filter((j) => !this.#ended.has(j));
    if (open.length) {
      this.#options.reporter.line(`  cancelling jobs ${open.join(", ")} (scancel)`);
      await command("scancel", open).catch(() => {});
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
    const o = this.#options;
    if (o.signal?.aborted) throw new UserError("interrupted before the job was submitted");
    await Deno.mkdir(this.dir, { recursive: true });
    const entry = o.entry ?? fileURLToPath(Deno.mainModule);
    const words = [
      Deno.execPath(),
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "--allow-ffi",
      "--allow-net",
      entry,
      "run-stage",
      o.file,
      "--stage",
      stage.id,
      "--cache-dir",
      o.cacheDir,
      ...o.sets.flatMap((s) => ["--set", s]),
      ...o.allowOutside.flatMap((p) => ["--allow-outside", p]),
      ...(forced ? ["--force"] : []),
    ];
    const args = [
      "--parsable",
      `--job-name=${pipeline.name}.${stage.id}`,
      `--chdir=${Deno.cwd()}`,
      `--output=${this.dir}/%j.out`,
      `--error=${this.dir}/%j.err`,
      ...(after.length
        ? [`--dependency=afterok:${after.join(":")}`, "--kill-on-invalid-dep=yes"]
        : []),
      ...resourceArgs(stage.resources),
      `--wrap=exec ${words.map(shellWord).join(" ")}`,
    ];
    const out = await command("sbatch", args);
    const job = out.stdout.trim().split(";")[0]!;
    if (out.code !== 0 || !/^\d+$/.test(job)) {
      throw new UserError(
        `sbatch refused stage "${stage.id}": ${out.stderr.trim() || out.stdout.trim()}` +
          `: check its resources: in ${pipeline.file} and the cluster's partitions (sinfo)`,
      );
    }
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
      const states = new Map<string, string>();
      const out = await command("squeue", ["-h", "-o", "%i|%T", "-j", ids.join(",")]).catch(() =>
        undefined
      );
      for (const line of out?.stdout.split("\n") ?? []) {
        const [id, state] = line.trim().split("|");
        if (id && state) states.set(id, state);
      }
      let changed = false;
      for (const job of ids) {
        const result = await readJob(`${this.dir}/${job}.json`);
        const state = states.get(job);
        if (result || (out && (state === undefined || ENDED.has(state)))) {
          this.#finish(job, { ...(result ? { result } : {}), state: state ?? await endState(job) });
          changed = true;
        }
      }
      if (changed) await this.#save();
      if (this.#waiting.size) await new Promise((r) => setTimeout(r, this.#options.pollMs ?? 250));
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

/** A job's state once it has left the queue (`scontrol show job`), or UNKNOWN. */
async function endState(job: string): Promise<string> {
  const out = await command("scontrol", ["show", "job", "-o", job]).catch(() => undefined);
  const state = /JobState=(\S+)/.exec(out?.stdout ?? "")?.[1];
  const reason = /Reason=(\S+)/.exec(out?.stdout ?? "")?.[1];
  return state ? `${state}${reason && reason !== "None" ? ` (${reason})` : ""}` : "UNKNOWN";
}

/**
 * Inside a job: computes the stage's key from its upstream results (in the cache), and runs it
 * unless its result is there already. Writes `<cache>/slurm/<job id>.json` last.
 */
export async function runStageJob(
  pipeline: Pipeline,
  id: string,
  options: { cacheDir: string; forced: boolean; reporter: Reporter; signal?: AbortSignal },
): Promise<JobResult> {
  // When this process started: the job's start, before Deno loaded anything.
  const started = Math.round(performance.timeOrigin);
  const job = Deno.env.get("SLURM_JOB_ID") ?? `local-${Deno.pid}`;
  const stage = pipeline.stages.get(id)!;
  const result: JobResult = { job, stage: id, status: "failed", seconds: 0, started, finished: 0 };
  // The submitting run holds the cache lock: this job writes on its behalf (see the module).
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
  await Deno.mkdir(`${options.cacheDir}/slurm`, { recursive: true });
  await writeAtomic(`${options.cacheDir}/slurm/${job}.json`, JSON.stringify(result, null, 1));
  return result;
}

/**
 * `run-stage <pipeline.yaml> --stage <id> [--cache-dir <dir>] [--set k=v]... [--allow-outside
 * <path>]... [--force]`: what a Slurm job runs (see {@link runStageJob}). Exit code 0 when the
 * stage ran or was cached, 1 when it failed (2 for a user error), so that `afterok` holds its
 * dependents back.
 */
export async function runStageCommand(args: string[], registry: Registry): Promise<number> {
  const { values, positionals } = parseArgs(args, {
    stage: { type: "string" },
    "cache-dir": { type: "string" },
    set: { type: "strings" },
    "allow-outside": { type: "strings" },
    force: { type: "boolean" },
  }, { command: "run-stage" });
  if (positionals.length > 1) {
    throw new UserError(`run-stage: unexpected argument "${positionals[1]}"`);
  }
  const file = positionals[0];
  const id = values.stage;
  const cacheDir = values["cache-dir"];
  const forced = values.force ?? false;
  const sets = values.set ?? [];
  const allowOutside = values["allow-outside"] ?? [];
  if (!file || !id) {
    throw new UserError(
      "usage: run-stage <pipeline.yaml> --stage <id> [--cache-dir <dir>] [--set k=v]... " +
        "(what a Slurm job of --executor slurm runs)",
    );
  }
  const sweep = await expandSweep(file, sets, { registry, allowOutside, cacheDir: false });
  const pipeline = sweep.base;
  if (!pipeline.stages.has(id)) {
    throw new UserError(`run-stage: ${file} has no stage "${id}": check the pipeline file`);
  }
  const dir = cacheDir ?? `${pipeline.root}/.pipeline`;
  const controller = new AbortController();
  // scancel sends SIGTERM: the stage sees the abort, and nothing partial is stored.
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const result = await runStageJob(pipeline, id, {
      cacheDir: isAbsolute(dir) ? dir : resolve(dir),
      forced,
      reporter: consoleReporter({ quiet: true }),
      signal: controller.signal,
    });
    return result.status === "failed" ? (result.user ? 2 : 1) : 0;
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

/** The jobs of a pipeline's runs in progress, with their Slurm state, for `status`. */
export async function queuedJobs(
  cacheDir: string,
  pipeline: string,
): Promise<(SubmittedJob & { state: string })[]> {
  let jobs: SubmittedJob[];
  try {
    jobs = (JSON.parse(await Deno.readTextFile(`${cacheDir}/slurm/jobs.json`)) as SubmittedJob[])
      .filter((j) => j.pipeline === pipeline && /^\d+$/.test(j.job));
  } catch {
    return [];
  }
  if (!jobs.length) return [];
  const out = await command("squeue", [
    "-h",
    "-o",
    "%i|%T|%r",
    "-j",
    jobs.map((j) => j.job).join(","),
  ])
    .catch(() => undefined);
  const states = new Map<string, string>();
  for (const line of out?.stdout.split("\n") ?? []) {
    const [id, state, reason] = line.trim().split("|");
    if (id && state) states.set(id, reason && reason !== "None" ? `${state} (${reason})` : state);
  }
  return jobs.filter((j) => states.has(j.job)).map((j) => ({ ...j, state: states.get(j.job)! }));
}
