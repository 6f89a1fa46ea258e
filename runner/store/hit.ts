/**
 * The one answer to "is this key cached and intact?" ({@link cachedResult}), and to "which
 * objects of this record are not?" ({@link damagedOutputs}): a run's cache hit, a Slurm job's
 * early cutoff, `pull` and `push`, `verify` and the check of a failed stage's inputs all ask
 * here, each saying how much of an object is read again ({@link Reread}).
 *
 * @module
 */

import type { StoredOutput } from "../core/result.ts";
import type { Cache, RunRecord } from "./cache.ts";

/**
 * Files up to this size are reread on every cache hit, whatever their stat says: that costs
 * little and catches damage that kept the stat. Larger files are trusted by their stat (see
 * StatCache) and reread by `verify`.
 */
export const RECHECK_BYTES = 256 * 1024;

/**
 * How much of an object is read again: `hit` (a cache hit: files up to {@link RECHECK_BYTES},
 * larger ones trusted by their stat) or `all` (every file: `verify`, a transfer, the inputs of a
 * stage that failed).
 */
export type Reread = "hit" | "all";

/** Whether an object is there and matches its hash. */
export type ObjectState = "ok" | "missing" | "damaged";

/**
 * The state of one object: missing (nothing at its path), damaged (of the wrong kind, holding a
 * link, or with content that no longer matches its hash), or ok.
 */
export async function objectState(
  cache: Cache,
  output: StoredOutput,
  reread: Reread,
): Promise<ObjectState> {
  try {
    await Deno.lstat(cache.objectPath(output));
  } catch {
    return "missing";
  }
  return await cache.verify(output, reread === "all" ? Infinity : RECHECK_BYTES) ? "ok" : "damaged";
}

/**
 * The outputs of a record whose objects are missing or damaged, in the record's order.
 *
 * @param cache The cache.
 * @param record The run record.
 * @param reread How much of each object is read again.
 * @returns Each such output's name, object and state; empty when all are intact.
 */
export async function damagedOutputs(
  cache: Cache,
  record: RunRecord,
  reread: Reread,
): Promise<{ name: string; output: StoredOutput; state: Exclude<ObjectState, "ok"> }[]> {
  const found = [];
  for (const [name, output] of Object.entries(record.outputs)) {
    const state = await objectState(cache, output, reread);
    if (state !== "ok") found.push({ name, output, state });
  }
  return found;
}

/**
 * A stage key's result when it is cached and intact: a well-formed run record of the key, with
 * every output the stage declares, whose objects all match their hashes. Nothing is deleted (a
 * damaged object is replaced when its stage runs again).
 *
 * @param cache The cache.
 * @param key The stage key.
 * @param options `outputs`: the names the record must have (the stage kind's declared
 *   outputs); `reread`: how much of each object is read again.
 * @returns The record, or undefined for a miss.
 */
export async function cachedResult(
  cache: Cache,
  key: string,
  options: { outputs?: string[]; reread: Reread },
): Promise<RunRecord | undefined> {
  const record = await cache.record(key, options.outputs);
  if (!record) return undefined;
  for (const output of Object.values(record.outputs)) {
    if (!(await cache.verify(output, options.reread === "all" ? Infinity : RECHECK_BYTES))) {
      return undefined;
    }
  }
  return record;
}
