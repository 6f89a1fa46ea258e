/**
 * `gc` as an operation (like `dvc gc -w`): removes from `.pipeline/` the results that no
 * pipeline of the project references, and says what it removed; the command (cli/gc.ts) prints
 * it.
 *
 * What is referenced:
 *
 * - The pipelines: the files given, or else every `pipelines/*.yaml` (and `.yml`) of the
 *   project and every pipeline file the history names that is still there.
 * - For each, the results a run of it would use now: its stages keyed in order from what is
 *   cached (keys/chain.ts), as `status` and `pull` key them; for a file with a `matrix:`, every
 *   variant. With `allVariants`, also every configuration of it the history records (each run
 *   with `--set`, each variant of a sweep), whatever code it ran.
 * - A pipeline that cannot be checked now (a data file missing, a path outside the project not
 *   allowed) keeps every result its recorded runs name, and says why.
 *
 * Removed: the run records of other keys, the objects that no kept record names, and the
 * checkpoint folders of keys no pipeline has now (store/garbage.ts). Kept: the history
 * (`runs`, `compare` read only it), the other small files of the cache, and `out/`. The cache
 * lock is held throughout (shared for a dry run), so no run adds a result while the keys are
 * taken.
 *
 * @module
 */

import { projectRoot } from "../config/load.ts";
import { exists } from "../config/paths.ts";
import { expandSweep } from "../config/sweep.ts";
import type { Pipeline } from "../core/pipeline.ts";
import { formatDiagnostic, isUserError, PipelineValidationError, UserError } from "../errors.ts";
import { listRuns } from "../history/record.ts";
import { KeyChain } from "../keys/chain.ts";
import { CodeIndex } from "../keys/code_index.ts";
import { isAbsolute, relative, resolve } from "../paths.ts";
import type { Registry } from "../registry.ts";
import { Cache } from "../store/cache.ts";
import { findGarbage, type Garbage, removeGarbage } from "../store/garbage.ts";
import { ReadOnlyCacheError } from "../store/lock.ts";
import { historyOf } from "./history.ts";

/** A pipeline file whose results are kept. */
export interface GcPipeline {
  /** The file, relative to the working directory. */
  file: string;
  /** The results (run records) kept for it. */
  results: number;
  /** `now`: what a run of it would use now; `history`: what its recorded runs name. */
  by: "now" | "now and history" | "history";
  /** Why it could not be checked (then its recorded runs are kept). */
  problem?: string;
}

/** What `gc` found, and removed unless it was a dry run. */
export interface GcReport extends Garbage {
  /** The cache directory. */
  cacheDir: string;
  /** Whether nothing was removed (`--dry-run`). */
  dryRun: boolean;
  /** The pipelines whose results were kept. */
  pipelines: GcPipeline[];
}

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  /** The pipeline files whose results to keep; undefined: the project's (see the module). */
  files?: string[];
  /** The registry of stage kinds. */
  registry: Registry;
  /** Paths outside the project the pipelines may use (`--allow-outside`). */
  allowOutside?: string[];
  /** Also keep every configuration the history records. */
  allVariants?: boolean;
  /** Remove nothing. */
  dryRun?: boolean;
  /** Called once if another run holds the cache lock. */
  onWait?: (holder: string) => void;
}

/** The project's pipeline files: `pipelines/*.y(a)ml`, then those the history names. */
async function projectFiles(root: string, cacheDir: string): Promise<string[]> {
  const files: string[] = [];
  try {
    for (const entry of Deno.readDirSync(`${root}/pipelines`)) {
      if (entry.isFile && /\.ya?ml$/.test(entry.name)) {
        files.push(`${root}/pipelines/${entry.name}`);
      }
    }
  } catch { /* no pipelines/ */ }
  files.sort();
  // A run records its file as given: relative to the project root (where tasks run) or to the
  // directory it was run from.
  for (const run of await listRuns(cacheDir)) {
    const candidates = isAbsolute(run.file)
      ? [run.file]
      : [resolve(root, run.file), resolve(run.file)];
    const found = candidates.find(exists);
    if (found && !files.some((f) => sameFile(f, found))) files.push(found);
  }
  // As the user would name them, so that what is said of a file reads as its name.
  return files.map((f) => relative(Deno.cwd(), f) || f);
}

function sameFile(a: string, b: string): boolean {
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return a === b;
  }
}

/** A pipeline file, checked: its configurations now, or why it cannot be checked. */
interface Scope {
  file: string;
  /** The pipeline's name, when it can be read (its history is under it). */
  name?: string;
  pipelines: Pipeline[];
  problem?: string;
}

async function check(file: string, options: GcOptions): Promise<Scope> {
  try {
    const sweep = await expandSweep(file, [], {
      registry: options.registry,
      allowOutside: options.allowOutside ?? [],
    });
    const pipelines = sweep.variants.length ? sweep.variants.map((v) => v.pipeline) : [sweep.base];
    return { file, name: sweep.base.name, pipelines };
  } catch (error) {
    let problem: string;
    if (error instanceof PipelineValidationError) {
      problem = formatDiagnostic(error.diagnostics[0]!) +
        (error.diagnostics.length > 1 ? ` (and ${error.diagnostics.length - 1} more)` : "");
    } else if (isUserError(error)) {
      problem = (error as Error).message.split("\n")[0]!;
    } else {
      throw error;
    }
    // Its history is found by the name alone.
    const name = await historyOf(file).then((h) => h.name, () => undefined);
    return { file, ...(name ? { name } : {}), pipelines: [], problem };
  }
}

/**
 * Removes the results no pipeline references (see the module), or with `dryRun` only finds them.
 *
 * @param options The pipeline files (or the project's), the registry, `--allow-outside`,
 *   `--all-variants`, `--dry-run`.
 * @returns What was kept for each pipeline, and what was (or would be) removed.
 * @throws {UserError} When a file given does not exist, files of several projects are given,
 *   no pipeline file is found, there is no cache, or the cache cannot be written.
 */
export async function collectGarbage(options: GcOptions): Promise<GcReport> {
  const given = options.files;
  for (const file of given ?? []) {
    if (!exists(file)) {
      throw new UserError(`Pipeline file "${file}" does not exist: check the path`);
    }
  }
  const roots = new Set((given ?? ["deno.json"]).map((f) => projectRoot(resolve(f))));
  if (roots.size > 1) {
    throw new UserError(
      `The pipeline files are in several projects (${[...roots].join(", ")}): run gc once for ` +
        "each project, with its own files",
    );
  }
  const root = [...roots][0]!;
  const cacheDir = `${root}/.pipeline`;
  if (!exists(cacheDir)) {
    throw new UserError(
      `There is no cache at ${cacheDir}: run gc in the project directory, or name its pipeline files`,
    );
  }
  const files = given ?? await projectFiles(root, cacheDir);
  if (!files.length) {
    throw new UserError(
      `No pipeline file found in ${root} (pipelines/*.yaml, or one a run was made from): name ` +
        "the pipeline files whose results to keep: gc <pipeline.yaml>...",
    );
  }
  const scopes: Scope[] = [];
  for (const file of files) scopes.push(await check(file, options));

  const cache = await Cache.open(cacheDir);
  await cache.lock(options.onWait ?? (() => {}), { shared: options.dryRun ?? false });
  try {
    if (!options.dryRun && !cache.writable) {
      throw new ReadOnlyCacheError(cacheDir, "gc must remove results", cache.readOnly ?? "");
    }
    const records = new Set<string>();
    const checkpoints = new Set<string>();
    const index = new CodeIndex({ stat: cache.stat });
    const pipelines: GcPipeline[] = [];
    for (const scope of scopes) {
      const mine = new Set<string>();
      for (const pipeline of scope.pipelines) {
        await new KeyChain(pipeline, cache, index).walk(pipeline.order, async ({ stage, key }) => {
          if (!key) return undefined;
          checkpoints.add(key.key);
          const record = await cache.record(key.key, Object.keys(stage.definition.outputs));
          if (record) mine.add(key.key);
          return record?.outputs;
        });
      }
      const byHistory = scope.problem !== undefined || (options.allVariants ?? false);
      if (byHistory && scope.name !== undefined) {
        for (const run of await listRuns(cacheDir, scope.name)) {
          for (const s of run.stages) {
            if (!s.key) continue;
            checkpoints.add(s.key);
            if (await cache.record(s.key)) mine.add(s.key);
          }
        }
      }
      for (const key of mine) records.add(key);
      pipelines.push({
        file: isAbsolute(scope.file) ? relative(Deno.cwd(), scope.file) || scope.file : scope.file,
        results: mine.size,
        by: scope.problem !== undefined ? "history" : byHistory ? "now and history" : "now",
        ...(scope.problem !== undefined ? { problem: scope.problem } : {}),
      });
    }
    const garbage = await findGarbage(cache, { records, checkpoints });
    if (!options.dryRun) await removeGarbage(cache, garbage);
    return { ...garbage, cacheDir, dryRun: options.dryRun ?? false, pipelines };
  } finally {
    await cache.close();
  }
}
