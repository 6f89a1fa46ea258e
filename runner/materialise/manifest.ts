/**
 * What the engine materialised under `out/<pipeline>` (`.pipeline/out/<pipeline>.json`: path ->
 * content hash, and the inode of each link), so that it can tell its own files from the user's.
 *
 * @module
 */

import { isHash } from "../lib/digest.ts";
import type { Cache } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";

/** What `.pipeline/out/<pipeline>.json` holds: the files the engine materialised. */
export interface OutManifest {
  /** The materialised tree, `out/<pipeline>`, relative to the project root. */
  dir: string;
  /** Content hash of each file the engine wrote, by path relative to `dir`. */
  files: Record<string, string>;
  /**
   * The inode of each of those files that is a hard link to its cache object, so that a write
   * through the link can be told from a file the user put in its place.
   */
  links?: Record<string, number>;
  /**
   * Content hashes of the files the engine is about to place, by path, saved before it places
   * them: a run killed after placing a file but before saving `files` left that file, which is
   * still the engine's to replace (its bytes are one of these: runs killed one after the other
   * may each have placed another).
   */
  pending?: Record<string, string[]>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * What the engine materialised for a pipeline (a sweep's variant has a manifest name of its
 * own), or an empty manifest for `dir`.
 */
export function readOutManifest(cache: Cache, name: string, dir: string): OutManifest {
  const value = cache.readJson(cachePath(cache.dir, "out", `${name}.json`));
  if (isObject(value) && value.dir === dir && isObject(value.files)) {
    const files: Record<string, string> = {};
    for (const [path, hash] of Object.entries(value.files)) if (isHash(hash)) files[path] = hash;
    const links: Record<string, number> = {};
    for (const [path, ino] of Object.entries(isObject(value.links) ? value.links : {})) {
      if (files[path] !== undefined && Number.isSafeInteger(ino) && (ino as number) > 0) {
        links[path] = ino as number;
      }
    }
    const pending: Record<string, string[]> = {};
    for (const [path, hashes] of Object.entries(isObject(value.pending) ? value.pending : {})) {
      const ok = Array.isArray(hashes) ? hashes.filter(isHash) : [];
      if (ok.length) pending[path] = ok;
    }
    return { dir, files, links, ...(Object.keys(pending).length ? { pending } : {}) };
  }
  return { dir, files: {} };
}

/** Saves what the engine materialised (only while holding the lock exclusively). */
export async function saveOutManifest(
  cache: Cache,
  name: string,
  manifest: OutManifest,
): Promise<void> {
  if (!cache.writable) return;
  await cache.writeFile(
    cachePath(cache.dir, "out", `${name}.json`),
    JSON.stringify(manifest),
    "the list of materialised files must be saved",
  );
}
