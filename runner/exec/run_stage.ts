/**
 * Running one stage in this process, apart from scheduling it: its staging folder, its
 * parameters and inputs, the guards around its code (stage_guard.ts, stage_exit.ts), the check
 * of what it wrote, and storing its outputs and then its run record (the last thing written: a
 * result is there whole or not at all).
 *
 * @module
 */

import type { ResolvedStage } from "../core/pipeline.ts";
import type { StoredOutput } from "../core/result.ts";
import { StageError } from "../errors.ts";
import { diskFullError, isDiskFull, lastWritten } from "../lib/disk_full.ts";
import { own } from "../lib/own.ts";
import { listOwned, removeOwned } from "../lib/owned.ts";
import type { Reporter } from "../report.ts";
import { outputKind } from "../stage.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import { checkpointDir } from "../store/layout.ts";
import type { StageRan } from "./executor.ts";
import { runGuarded, type StageExitError } from "./stage_exit.ts";
import { checkOutput, InputGuard } from "./stage_guard.ts";

/**
 * After a success: removes a checkpoint directory but its `kept/` (nothing when there is none).
 * A checkpoint directory that is a link is removed itself: nothing it points to is listed or
 * removed (lib/owned.ts).
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
 * and removes its checkpoints. A local run and a batch job (job.ts) both run stages here.
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
  await removeCheckpoints(checkpointDir(cache.dir, key), cache.bound);
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
          const dir = checkpointDir(cache.dir, key);
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
    for (const name of Object.keys(def.outputs)) checkOutput(name, outPath(name));
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
    const writing = await lastWritten([staging, checkpointDir(cache.dir, key)]);
    await removeOwned(staging, cache.bound).catch(() => {});
    throw await diskFullError(error, writing ?? staging);
  } finally {
    guard?.release();
    cache.stat.forget(staging);
    await removeOwned(staging, cache.bound).catch(() => {});
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
