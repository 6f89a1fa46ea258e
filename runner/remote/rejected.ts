/**
 * Remote records that a stage of this clone rejected as its input (an `InputError`), kept in
 * `.pipeline/remote-rejected.json` (key -> output hashes): such a record is not pulled again,
 * and the next push of the key replaces it.
 *
 * @module
 */

import { writeAtomic } from "../lib/atomic.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";

const FILE = "remote-rejected.json";

/** Why a pulled record is not used when it was rejected before (for the damage message). */
export const REJECTED_BEFORE = "a stage that read it here rejected it as its input in an " +
  `earlier run (${FILE})`;

function outputHashes(record: RunRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(record.outputs).sort()) out[name] = record.outputs[name]!.hash;
  return out;
}

async function readRejected(cache: Cache): Promise<Record<string, Record<string, string>>> {
  try {
    const value = JSON.parse(await Deno.readTextFile(cachePath(cache.dir, FILE)));
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value;
  } catch { /* none, or not JSON: nothing rejected */ }
  return {};
}

/** Whether this remote record is one a stage here rejected (the same outputs). */
export async function wasRejected(cache: Cache, record: RunRecord): Promise<boolean> {
  const all = await readRejected(cache);
  if (!Object.hasOwn(all, record.key)) return false;
  return JSON.stringify(all[record.key]) === JSON.stringify(outputHashes(record));
}

/** Remembers that a stage here rejected this pulled record. */
export async function markRejected(cache: Cache, record: RunRecord): Promise<void> {
  const all = await readRejected(cache);
  all[record.key] = outputHashes(record);
  await writeAtomic(cachePath(cache.dir, FILE), JSON.stringify(all, null, 1));
}

/** Forgets a key once a push has replaced the remote's record of it. */
export async function forgetRejected(cache: Cache, key: string): Promise<void> {
  const all = await readRejected(cache);
  if (!Object.hasOwn(all, key)) return;
  delete all[key];
  await writeAtomic(cachePath(cache.dir, FILE), JSON.stringify(all, null, 1));
}
