/**
 * The executors, by the name that `--executor` and a pipeline's `executor:` give: the one list
 * that the pipeline schema's enum, the `--executor` check and opening an executor read. A new
 * executor (Kubernetes, say) is a module exporting `open` (executor.ts's `ExecutorModule`) and
 * one line here. Their modules are imported by URL when a run opens one: a local run loads no
 * other executor's code.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { own } from "../lib/own.ts";
import { didYouMean } from "../lib/suggest.ts";
import { cachePath } from "../store/layout.ts";
import type { ExecutorContext, ExecutorModule, QueuedJob, StageExecutor } from "./executor.ts";

const load = <T extends ExecutorModule>(path: string) => (): Promise<T> =>
  import(new URL(path, import.meta.url).href);

/** Each executor's module, by name; `local` is the default. */
const EXECUTORS: Record<string, () => Promise<ExecutorModule>> = {
  local: load<typeof import("./local.ts")>("./local.ts"),
  slurm: load<typeof import("./slurm.ts")>("./slurm.ts"),
};

/** The executor of a run that names none: stages run in this process. */
export const DEFAULT_EXECUTOR = "local";

/** The executors' names, in the order registered. */
export const EXECUTOR_NAMES: readonly string[] = Object.keys(EXECUTORS);

/** The module of a registered executor, imported now; undefined for a name not registered. */
export async function executorModule(name: string): Promise<ExecutorModule | undefined> {
  const load = own(EXECUTORS, name);
  return load ? await load() : undefined;
}

/**
 * The jobs of a pipeline's runs in progress on every batch executor (`status`): an executor's
 * module is imported only when its folder of the cache lists jobs.
 *
 * @param cacheDir The cache directory.
 * @param pipeline The pipeline's name.
 * @returns Each job still queued or running, with its executor.
 */
export async function queuedJobs(
  cacheDir: string,
  pipeline: string,
): Promise<(QueuedJob & { executor: string })[]> {
  const found: (QueuedJob & { executor: string })[] = [];
  for (const name of EXECUTOR_NAMES) {
    try {
      Deno.statSync(cachePath(cacheDir, name, "jobs.json"));
    } catch {
      continue;
    }
    const module = await executorModule(name);
    for (const job of await module?.queued?.(cacheDir, pipeline) ?? []) {
      found.push({ ...job, executor: name });
    }
  }
  return found;
}

/**
 * Opens an executor for a run.
 *
 * @param name Its registered name.
 * @param context What it is opened with.
 * @returns The executor.
 * @throws {UserError} For a name that is not registered (with the closest one), or an executor
 *   that cannot work here.
 */
export async function openExecutor(
  name: string,
  context: ExecutorContext,
): Promise<StageExecutor> {
  const module = await executorModule(name);
  if (!module) {
    throw new UserError(
      `Unknown executor "${name}": ${didYouMean(name, [...EXECUTOR_NAMES], "one of")}`,
    );
  }
  return await module.open(context);
}
