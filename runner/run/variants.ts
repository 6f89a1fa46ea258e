/**
 * Running a pipeline, or the variants of a sweep in one process: the cache lock is taken once,
 * `out/` and the cache are checked before anything is written, each variant is scheduled
 * (scheduler.ts) with its own tree under `out/`, and after it the inputs of its failed stages are
 * reread (failed_inputs.ts) and the list of files it wrote is saved.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";
import type { RunSummary } from "../core/result.ts";
import { guardExits } from "../exec/stage_exit.ts";
import { CodeIndex } from "../keys/code_index.ts";
import { sha256 } from "../lib/digest.ts";
import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import { Semaphore } from "../lib/semaphore.ts";
import { checkOutFolders, treeDir } from "../materialise/out_paths.ts";
import { OutTree } from "../materialise/out_tree.ts";
import { relative } from "../paths.ts";
import { LazyRemote } from "../remote/lazy.ts";
import { remoteUrl } from "../remote/schemes.ts";
import type { Reporter } from "../report.ts";
import { Cache } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";
import type { RunOptions } from "./options.ts";
import { scheduleVariant, type Shared } from "./scheduler.ts";

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
    // Before anything is written: no folder of out/ leads out of the project (lib/owned.ts); the
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
      const summary = await scheduleVariant(
        pipeline,
        { ...options, reporter: tagged },
        cache,
        out,
        {
          shared,
          label,
        },
      );
      const done = { ...summary, seconds: (performance.now() - started) / 1000 };
      if (label !== undefined) Object.assign(done, { label });
      if (options.dryRun) return done;
      if (summary.stages.some((s) => s.status === "failed" && s.reason !== "interrupted")) {
        const { checkFailedInputs } = await import(
          new URL("./failed_inputs.ts", import.meta.url).href
        ) as typeof import("./failed_inputs.ts");
        await checkFailedInputs(pipeline, summary, cache, tagged);
      }
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
    if (!options.dryRun) await cache.close().catch(diskFull(cachePath(cache.dir, "stat.json")));
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
