/**
 * The Slurm executor, a batch executor (batch.ts): each stage that must run is a Slurm job
 * (`sbatch`), submitted with `--dependency=afterok:<ids>` of the jobs of its upstream stages; the
 * queue is read with `squeue` (and `scontrol` for a job that has left it), and jobs are cancelled
 * with `scancel`. A stage's `resources:` are its job's options. Its files are in
 * `.pipeline/slurm/`.
 *
 * @module
 */

import type { StageResources } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import { cachePath } from "../store/layout.ts";
import { BatchExecutor, type JobRequest, queuedJobs } from "./batch.ts";
import type { ExecutorContext, ExecutorModule, QueuedJob } from "./executor.ts";

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

/** The states of jobs in the queue (`squeue`), with why a job waits when `reasons` is set. */
async function squeueStates(
  ids: string[],
  reasons = false,
): Promise<Map<string, string> | undefined> {
  const format = reasons ? "%i|%T|%r" : "%i|%T";
  const out = await command("squeue", ["-h", "-o", format, "-j", ids.join(",")])
    .catch(() => undefined);
  if (!out) return undefined;
  const states = new Map<string, string>();
  for (const line of out.stdout.split("\n")) {
    const [id, state, reason] = line.trim().split("|");
    if (id && state) states.set(id, reason && reason !== "None" ? `${state} (${reason})` : state);
  }
  return states;
}

/** A job's state once it has left the queue (`scontrol show job`), or UNKNOWN. */
async function endState(job: string): Promise<string> {
  const out = await command("scontrol", ["show", "job", "-o", job]).catch(() => undefined);
  const state = /JobState=(\S+)/.exec(out?.stdout ?? "")?.[1];
  const reason = /Reason=(\S+)/.exec(out?.stdout ?? "")?.[1];
  return state ? `${state}${reason && reason !== "None" ? ` (${reason})` : ""}` : "UNKNOWN";
}

/** Runs stages as Slurm jobs; see the module's documentation. */
export class SlurmExecutor extends BatchExecutor {
  protected readonly canceller = "scancel";

  /** @param context What the run opened it with. */
  constructor(context: ExecutorContext) {
    super("slurm", context);
  }

  protected async submitJob({ pipeline, stage, after, command: words, dir }: JobRequest) {
    const args = [
      "--parsable",
      `--job-name=${pipeline.name}.${stage.id}`,
      `--chdir=${Deno.cwd()}`,
      `--output=${dir}/%j.out`,
      `--error=${dir}/%j.err`,
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
    return job;
  }

  protected queueStates(ids: string[]): Promise<Map<string, string> | undefined> {
    return squeueStates(ids);
  }

  protected hasEnded(state: string): boolean {
    return ENDED.has(state);
  }

  protected endState(job: string): Promise<string> {
    return endState(job);
  }

  protected async cancelJobs(jobs: string[]): Promise<void> {
    await command("scancel", jobs).catch(() => {});
  }
}

/** Opens the Slurm executor, once sbatch answers (a user error with a hint otherwise). */
export const open: ExecutorModule["open"] = async (context) => {
  await checkSlurm();
  return new SlurmExecutor(context);
};

/** The jobs of a pipeline's runs in progress still in Slurm's queue, for `status`. */
export function queued(cacheDir: string, pipeline: string): Promise<QueuedJob[]> {
  return queuedJobs(cachePath(cacheDir, "slurm"), pipeline, (ids) => squeueStates(ids, true));
}

/** Inside a Slurm job: its id. */
export function jobId(): string | undefined {
  return Deno.env.get("SLURM_JOB_ID");
}
