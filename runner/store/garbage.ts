/**
 * What of the cache a set of stage keys does not keep (`gc`; the operation is ops/gc.ts): run
 * records of other keys, the objects no kept record names, and the checkpoint folders of other
 * keys; their sizes; and their removal.
 *
 * Only entries of the engine's own names are listed: `runs/<64 hex>.json`,
 * `objects/<ab>/<64 hex>[.d]` in the shard of their first two digits, `checkpoints/<64 hex>/`.
 * Anything else there (a file the user put in) is left alone. Folders are listed without
 * following links, and removed through `removeOwned` (lib/owned.ts): a link is removed itself,
 * never what it points to.
 *
 * @module
 */

import type { StoredOutput } from "../core/result.ts";
import { listOwned, removeOwned, walkOwned } from "../lib/owned.ts";
import type { Cache, RunRecord } from "./cache.ts";
import { cachePath, checkpointDir } from "./layout.ts";

/** A run record that is not kept: its key, and what it says of its stage (when readable). */
export interface DroppedRecord {
  key: string;
  /** The stage id, or undefined when the record cannot be read. */
  stage?: string;
  /** The stage kind. */
  kind?: string;
  /** Bytes of the objects that go with it (those no kept record, nor one before it, names). */
  bytes: number;
}

/** Bytes on disk, and the part of them that other links keep (hard links under `out/`). */
export interface Size {
  /** Bytes of the files. */
  bytes: number;
  /** Bytes of the files that have another link (their space is not freed). */
  linked: number;
}

/** What a set of keys does not keep. */
export interface Garbage {
  /** Run records of other keys (or unreadable). */
  records: DroppedRecord[];
  /** Objects no kept record names, and their size. */
  objects: StoredOutput[];
  /** Their size in all. */
  objectSize: Size;
  /** Bytes of the objects no record, kept or not, names. */
  unrecordedBytes: number;
  /** Checkpoint folders of other keys. */
  checkpoints: string[];
  /** Their size. */
  checkpointSize: Size;
  /** The records kept, and the objects and bytes they name. */
  kept: { records: number; objects: number; bytes: number };
}

const KEY = /^[0-9a-f]{64}$/;

/** The size of a file or a folder (without following links), and what other links keep. */
function sizeOf(path: string): Size {
  const size: Size = { bytes: 0, linked: 0 };
  const add = (info: Deno.FileInfo) => {
    if (!info.isFile) return;
    size.bytes += info.size;
    if ((info.nlink ?? 1) > 1) size.linked += info.size;
  };
  try {
    const info = Deno.lstatSync(path);
    if (!info.isDirectory) {
      add(info);
      return size;
    }
    for (const file of walkOwned(path).files) add(Deno.lstatSync(`${path}/${file}`));
  } catch { /* gone, or unreadable: counted as nothing */ }
  return size;
}

/** The objects in `objects/`, by path: those of the engine's names, in their own shard. */
function listObjects(cache: Cache): Map<string, StoredOutput> {
  const found = new Map<string, StoredOutput>();
  for (const shard of listOwned(cachePath(cache.dir, "objects"))) {
    if (!shard.isDirectory || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
    for (const entry of listOwned(cachePath(cache.dir, "objects", shard.name))) {
      const m = /^([0-9a-f]{64})(\.d)?$/.exec(entry.name);
      if (!m || !m[1]!.startsWith(shard.name)) continue;
      const output: StoredOutput = { hash: m[1]!, kind: m[2] ? "dir" : "file" };
      found.set(cache.objectPath(output), output);
    }
  }
  return found;
}

/**
 * What of the cache the given keys do not keep. Reads only; the caller holds the cache lock.
 *
 * @param cache The cache.
 * @param keep `records`: the keys whose run records (and the objects they name) are kept;
 *   `checkpoints`: the keys whose checkpoint folders are kept.
 */
export async function findGarbage(
  cache: Cache,
  keep: { records: ReadonlySet<string>; checkpoints: ReadonlySet<string> },
): Promise<Garbage> {
  const keptRecords: RunRecord[] = [];
  const dropped: { key: string; record: RunRecord | undefined }[] = [];
  for (const key of await cache.recordKeys()) {
    if (!KEY.test(key)) continue;
    const record = await cache.record(key);
    if (record && keep.records.has(key)) keptRecords.push(record);
    else dropped.push({ key, record });
  }
  const kept = new Set<string>();
  let keptBytes = 0;
  for (const record of keptRecords) {
    for (const output of Object.values(record.outputs)) {
      const path = cache.objectPath(output);
      if (kept.has(path)) continue;
      kept.add(path);
      keptBytes += sizeOf(path).bytes;
    }
  }
  const all = listObjects(cache);
  const sizes = new Map<string, Size>();
  for (const path of all.keys()) if (!kept.has(path)) sizes.set(path, sizeOf(path));
  // Each object's bytes go with the first dropped record that names it.
  const counted = new Set<string>();
  const records = dropped.map(({ key, record }): DroppedRecord => {
    let bytes = 0;
    for (const output of Object.values(record?.outputs ?? {})) {
      const path = cache.objectPath(output);
      if (counted.has(path) || !sizes.has(path)) continue;
      counted.add(path);
      bytes += sizes.get(path)!.bytes;
    }
    return record ? { key, stage: record.stage, kind: record.kind, bytes } : { key, bytes };
  });
  const objectSize: Size = { bytes: 0, linked: 0 };
  let unrecordedBytes = 0;
  for (const [path, size] of sizes) {
    objectSize.bytes += size.bytes;
    objectSize.linked += size.linked;
    if (!counted.has(path)) unrecordedBytes += size.bytes;
  }
  const checkpoints: string[] = [];
  const checkpointSize: Size = { bytes: 0, linked: 0 };
  for (const entry of listOwned(cachePath(cache.dir, "checkpoints"))) {
    if (!KEY.test(entry.name) || keep.checkpoints.has(entry.name)) continue;
    checkpoints.push(entry.name);
    const size = sizeOf(checkpointDir(cache.dir, entry.name));
    checkpointSize.bytes += size.bytes;
    checkpointSize.linked += size.linked;
  }
  return {
    records,
    objects: [...sizes.keys()].map((path) => all.get(path)!),
    objectSize,
    unrecordedBytes,
    checkpoints: checkpoints.sort(),
    checkpointSize,
    kept: { records: keptRecords.length, objects: kept.size, bytes: keptBytes },
  };
}

/**
 * Removes what {@link findGarbage} found: the records first (a result is then no longer
 * cached), then the objects, the checkpoint folders, and the shards left empty. The caller holds
 * the cache lock exclusively.
 *
 * @param cache The cache.
 * @param garbage What to remove.
 * @throws {ReadOnlyCacheError} When the cache cannot be written.
 * @throws {OutsideLinkError} When a folder on the way is a link out of the project.
 */
export async function removeGarbage(cache: Cache, garbage: Garbage): Promise<void> {
  for (const { key } of garbage.records) await cache.removeRecord(key);
  const shards = new Set<string>();
  for (const output of garbage.objects) {
    await cache.removeObject(output);
    shards.add(output.hash.slice(0, 2));
  }
  for (const key of garbage.checkpoints) {
    await removeOwned(checkpointDir(cache.dir, key), cache.bound);
  }
  for (const shard of shards) {
    // Only an empty folder: a non-recursive remove of one that is not fails, and is left.
    await Deno.remove(cachePath(cache.dir, "objects", shard)).catch(() => {});
  }
}
