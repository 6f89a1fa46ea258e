/**
 * Verifying a cache (`verify`; the command is cli/verify.ts): rereads every object the run index
 * refers to and compares it with its hash, which a
 * run does not do for large files whose stat is unchanged (see StatCache); an object that holds a
 * link, or is of the wrong kind, is damaged too. `--repair` removes
 * the damaged objects and the run records that refer to them, so that the next run recomputes
 * them.
 *
 * @module
 */

import { cachePath } from "../store/layout.ts";
import { objectState } from "../store/hit.ts";
import { lastKeyParts } from "../keys/state.ts";
import { Cache } from "../store/cache.ts";
import type { Pipeline } from "../core/pipeline.ts";
import { relative } from "../paths.ts";
import type { StoredOutput } from "../core/result.ts";
import { ReadOnlyCacheError } from "../store/lock.ts";

/** One problem `verify` found. */
export interface VerifyProblem {
  /** `damaged` (content does not match the hash), `missing` (no object), `bad record`. */
  problem: "damaged" | "missing" | "bad record";
  /** The object (or the record file), relative to the working directory. */
  path: string;
  /** The run record's key (the stage key). */
  key: string;
  /** The stage that made it, when the record says. */
  stage?: string;
  /** The output name, for an object. */
  output?: string;
}

/** What `verify` found. */
export interface VerifyReport {
  /** Run records read. */
  records: number;
  /** Distinct objects reread. */
  objects: number;
  /** What is wrong. */
  problems: VerifyProblem[];
  /** Whether the problems were repaired (objects and records removed). */
  repaired: boolean;
}

/**
 * Verifies a cache.
 *
 * @param dir The cache directory.
 * @param options `keys`: verify only these run records (default: all); `repair`: remove what is
 *   damaged; `onWait`: called if another run holds the lock.
 */
export async function verifyCache(
  dir: string,
  options: { keys?: string[]; repair?: boolean; onWait?: (holder: string) => void } = {},
): Promise<VerifyReport> {
  const cache = await Cache.open(dir);
  const onWait = options.onWait ?? (() => {});
  // Readers share the lock (a run in progress is waited for); repairing takes it alone.
  await cache.lock(onWait, { shared: !options.repair });
  try {
    const shown = (p: string) => relative(Deno.cwd(), p) || p;
    const keys = options.keys ?? await cache.recordKeys();
    const problems: VerifyProblem[] = [];
    const verdicts = new Map<string, "ok" | "missing" | "damaged">();
    const bad: StoredOutput[] = [];
    const badKeys = new Set<string>();
    for (const key of keys) {
      const record = await cache.record(key);
      if (!record) {
        if (options.keys) continue; // A pipeline's stage that has no record yet.
        problems.push({
          problem: "bad record",
          path: shown(`${cachePath(dir, "runs")}/${key}.json`),
          key,
        });
        badKeys.add(key);
        continue;
      }
      for (const [name, output] of Object.entries(record.outputs)) {
        const path = cache.objectPath(output);
        let verdict = verdicts.get(path);
        if (verdict === undefined) {
          verdict = await objectState(cache, output, "all");
          verdicts.set(path, verdict);
          if (verdict === "damaged") bad.push(output);
        }
        if (verdict === "ok") continue;
        problems.push({
          problem: verdict,
          path: shown(path),
          key,
          stage: record.stage,
          output: name,
        });
        badKeys.add(key);
      }
    }
    if (options.repair && problems.length) {
      if (!cache.writable) {
        throw new ReadOnlyCacheError(dir, "damaged objects must be removed", cache.readOnly ?? "");
      }
      for (const output of bad) await cache.removeObject(output);
      for (const key of badKeys) await cache.removeRecord(key);
    }
    return {
      records: keys.length,
      objects: verdicts.size,
      problems,
      repaired: Boolean(options.repair && problems.length),
    };
  } finally {
    await cache.close();
  }
}

/**
 * The keys of a pipeline's last runs: what `verify <pipeline.yaml>` verifies.
 *
 * @param pipeline A checked pipeline.
 * @param dir Its cache directory.
 * @returns The keys its stages were last run with (each once).
 */
export async function lastKeys(pipeline: Pipeline, dir: string): Promise<string[]> {
  const cache = await Cache.open(dir, { hashes: false });
  const found = new Set<string>();
  for (const id of pipeline.order) {
    const key = (await lastKeyParts(cache, pipeline.name, id))?.key;
    if (key) found.add(key);
  }
  return [...found];
}
