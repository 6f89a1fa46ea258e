/**
 * The cache directory, `.pipeline/`: what each entry holds and which module owns it. Every path
 * into it is built here ({@link cachePath}), from names that are one plain path segment each.
 *
 * ```
 * lock, lock.info               the run in progress holds lock (flock); lock.info says who
 *                               (store/lock.ts, which finds out whether it can be written)
 * objects/ab/abcd…              a file output, named by its sha256 (store/cache.ts)
 * objects/ab/abcd….d/           a directory output, named by its tree hash (store/cache.ts)
 * runs/<key>.json               run index: stage key -> output hashes (store/cache.ts)
 * tmp/                          staging of running stages (<id>-<random>/out, scratch), emptied
 *                               at the start of a run (store/cache.ts, store/lock.ts)
 * stat.json                     stat cache of file hashes (store/stat_cache.ts)
 * code.json                     the import scans of code files, for stage keys (keys/code_index.ts)
 * state/<pipeline>/<id>.json    what the last run of a stage was keyed on, for status
 *                               (keys/state.ts)
 * checkpoints/<key>/            a stage's state that outlives a kill (StageContext.checkpoints):
 *                               made on demand, kept after a failure, removed when the stage
 *                               succeeds, all but its kept/ (exec/run_stage.ts)
 * out/<pipeline>.json           what the engine materialised under out/<pipeline>
 *                               (materialise/manifest.ts)
 * checked/<fingerprint>.json    a checked pipeline, remembered (config/remembered.ts)
 * history/<pipeline>/<id>.json  one run's configuration and outcome (history/record.ts)
 * slurm/                        Slurm jobs' stdout, stderr and results, and jobs.json
 *                               (exec/batch.ts, for the Slurm executor)
 * remote-rejected.json          remote records a stage here rejected as its input
 *                               (remote/rejected.ts)
 * ```
 *
 * Before a run writes anything, no folder of the cache may be a link to a directory outside the
 * project ({@link OWNED}), and nothing is ever deleted through a link (lib/owned.ts). Every write
 * is a temp file (or directory) renamed into place, so a run killed midway leaves nothing that a
 * later run mistakes for a result.
 *
 * @module
 */

import type { OwnedFolders } from "../lib/owned.ts";

/**
 * The folders of the cache that the engine writes in, and how many levels below each it checks
 * for links out of the project (`objects/ab/`, `state/<pipeline>/`, `checkpoints/<key>/`).
 * `tmp/` is not among them: a run empties it, and a `tmp` that is a link is removed, not
 * followed.
 */
export const OWNED: OwnedFolders = {
  objects: 1,
  runs: 0,
  state: 1,
  out: 0,
  checkpoints: 1,
  checked: 0,
  history: 1,
  slurm: 0,
};

/**
 * A name that is safe as one path segment of the cache: a pipeline name, a stage id, a key, a
 * file name made of them.
 *
 * @throws {Error} For anything else (`..`, a slash, an empty name).
 */
export function segment(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new Error(`"${name}" is not a valid pipeline name or stage id for a cache path`);
  }
  return name;
}

/**
 * A path in the cache directory: `<dir>/<entry>/<name>/…`.
 *
 * @param dir The cache directory.
 * @param entry The entry of the cache (`state`, `history`, `code.json`, …; see the module).
 * @param names Names under it, each one plain path segment ({@link segment}).
 * @returns The path.
 * @throws {Error} When a name is not one plain path segment.
 */
export function cachePath(dir: string, entry: string, ...names: string[]): string {
  return [dir, segment(entry), ...names.map(segment)].join("/");
}

/** A stage key's checkpoint directory (StageContext.checkpoints); the key is 64 hex digits. */
export function checkpointDir(dir: string, key: string): string {
  if (!/^[0-9a-f]{64}$/.test(key)) throw new Error(`Not a stage key: ${key}`);
  return cachePath(dir, "checkpoints", key);
}
