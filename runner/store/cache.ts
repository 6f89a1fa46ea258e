/**
 * The content-addressed store under `.pipeline/` (its layout: store/layout.ts): objects named by
 * their content hash, the run index that maps a stage key to its outputs, the staging folders of
 * running stages, and the stat cache, behind the cache lock.
 *
 * Every write is a temp file (or directory) renamed into place, so a run killed midway leaves
 * nothing that a later run mistakes for a result. Everything read back is checked: a hash that
 * is not 64 lowercase hex digits, a record of the wrong shape or under the wrong name is a cache
 * miss, and object paths are built only from valid hashes.
 *
 * @module
 */

import type { StoredOutput } from "../core/result.ts";
import { writeAtomic } from "../lib/atomic.ts";
import { isHash } from "../lib/digest.ts";
import { realPathOf, removeOwned } from "../lib/owned.ts";
import { dirname } from "../paths.ts";
import { cachePath, segment } from "./layout.ts";
import { CacheLock, isReadOnlyError, ReadOnlyCacheError, reasonOf } from "./lock.ts";
import { StatCache } from "./stat_cache.ts";

/** One entry of the run index. */
export interface RunRecord {
  key: string;
  kind: string;
  stage: string;
  outputs: Record<string, StoredOutput>;
  seconds: number;
  finished: string;
  /** The remote cache it was pulled from; absent for a result made here. */
  pulled?: string;
}

/**
 * A JSON file read back, or undefined. Sync, as the lock's file operations: a cached run reads
 * a few dozen of these small files, and an async read costs a thread hop each (30-140 µs on a
 * busy 2-core machine, against under 10 µs).
 */
function readJson(path: string): unknown {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Whether a value read back is a stored output: a valid hash and kind. */
export function isStoredOutput(value: unknown): value is StoredOutput {
  return isObject(value) && isHash(value.hash) && (value.kind === "file" || value.kind === "dir");
}

/** A run record read back from `runs/<key>.json`, or undefined when it is not one. */
function asRunRecord(value: unknown, key: string): RunRecord | undefined {
  if (!isObject(value) || value.key !== key) return undefined;
  if (typeof value.stage !== "string" || typeof value.kind !== "string") return undefined;
  if (!isObject(value.outputs) || !Object.values(value.outputs).every(isStoredOutput)) {
    return undefined;
  }
  return {
    key,
    kind: value.kind,
    stage: value.stage,
    outputs: value.outputs as Record<string, StoredOutput>,
    seconds: typeof value.seconds === "number" ? value.seconds : 0,
    finished: typeof value.finished === "string" ? value.finished : "",
    ...(typeof value.pulled === "string" ? { pulled: value.pulled } : {}),
  };
}

/** The cache directory. */
export class Cache {
  /** The cache directory. */
  readonly dir: string;
  /** Hashes of files by stat. */
  readonly stat: StatCache;
  readonly #lock: CacheLock;
  #bound: string | undefined;

  private constructor(dir: string, stat: StatCache) {
    this.dir = dir;
    this.stat = stat;
    this.#lock = new CacheLock(dir);
  }

  /**
   * Opens (without locking) the cache at `dir`.
   *
   * @param dir The cache directory.
   * @param options `hashes: false`: for a reader of run records and object paths that hashes
   *   nothing (the history, the report): the stat cache is left empty, and `stat.json` unread.
   */
  static async open(dir: string, options: { hashes?: boolean } = {}): Promise<Cache> {
    const entries = options.hashes === false
      ? {}
      : await readJson(cachePath(dir, "stat.json")) ?? {};
    return new Cache(dir, new StatCache(entries));
  }

  /**
   * The real path of the project the cache belongs to: the folder that holds it. Nothing is
   * deleted through a link that leads out of it (lib/owned.ts).
   */
  get bound(): string {
    return this.#bound ??= realPathOf(dirname(this.dir));
  }

  /** Why the cache cannot be written (set by {@link lock}), or undefined when it can. */
  get readOnly(): string | undefined {
    return this.#lock.readOnly;
  }

  /** Whether this process holds the cache lock exclusively (and so may write). */
  get writable(): boolean {
    return this.#lock.exclusive && this.#lock.readOnly === undefined;
  }

  /**
   * Takes the cache lock, waiting for another run that holds it (store/lock.ts). A cache that
   * cannot be written is not an error here: {@link readOnly} says why, and what must be written
   * later fails with a {@link ReadOnlyCacheError}.
   *
   * @param onWait Called once if the lock is busy, with what the holder wrote.
   * @param options `shared`: take a shared lock (readers such as `verify`), never write.
   * @throws {OutsideLinkError} When a folder of the cache is a link out of the project.
   */
  lock(onWait: (holder: string) => void, options: { shared?: boolean } = {}): Promise<void> {
    return this.#lock.take(this.bound, onWait, options);
  }

  /** Saves the stat cache and releases the lock. */
  async close(): Promise<void> {
    if (!this.#lock.held) return;
    try {
      await this.saveStat();
    } finally {
      await this.#lock.release();
    }
  }

  /** Persists the stat cache if it changed (only while holding the lock exclusively). */
  async saveStat(): Promise<void> {
    if (this.writable && this.stat.dirty) {
      await this.#writing(
        "the stat cache must be saved",
        () => writeAtomic(cachePath(this.dir, "stat.json"), JSON.stringify(this.stat)),
      );
    }
  }

  /** Runs a write, turning "cannot write here" into a {@link ReadOnlyCacheError}. */
  async #writing<T>(what: string, write: () => Promise<T>): Promise<T> {
    const readOnly = this.#lock.readOnly;
    if (readOnly !== undefined) throw new ReadOnlyCacheError(this.dir, what, readOnly);
    try {
      return await write();
    } catch (error) {
      if (!isReadOnlyError(error)) throw error;
      throw new ReadOnlyCacheError(this.dir, what, reasonOf(error));
    }
  }

  /**
   * Path of an object. Only a valid hash (64 lowercase hex digits) and kind make one: anything
   * else read from disk is refused here, so no path is ever built from it.
   */
  objectPath(output: StoredOutput): string {
    if (!isStoredOutput(output)) {
      throw new Error(`Not a cache object: ${JSON.stringify(output)?.slice(0, 200)}`);
    }
    const suffix = output.kind === "dir" ? ".d" : "";
    return `${this.dir}/objects/${output.hash.slice(0, 2)}/${output.hash}${suffix}`;
  }

  /**
   * Whether an object exists and its content still matches its hash. Nothing is deleted (a
   * damaged object is replaced when its stage runs again). Files whose stat is unchanged are
   * trusted, except those up to `recheck` bytes, which are read again.
   *
   * @param output The object.
   * @param recheck Files up to this size are reread (`Infinity`: all, as `verify` does).
   */
  async verify(output: StoredOutput, recheck = 0): Promise<boolean> {
    const path = this.objectPath(output);
    try {
      const info = Deno.lstatSync(path); // sync, as the stat cache: a hit makes a few dozen
      if (output.kind === "dir" ? !info.isDirectory : !info.isFile) return false;
      // An object holds files and directories only: a link in one is damage, never followed.
      const hash = await this.stat.hashPath(path, output.kind, recheck, { links: "refuse" });
      return hash === output.hash;
    } catch {
      return false;
    }
  }

  /** A new staging directory for a stage run. */
  staging(id: string): Promise<string> {
    return this.#writing(`stage "${id}" must run`, async () => {
      const dir = cachePath(this.dir, "tmp", `${segment(id)}-${crypto.randomUUID().slice(0, 8)}`);
      await Deno.mkdir(`${dir}/out`, { recursive: true });
      await Deno.mkdir(`${dir}/scratch`, { recursive: true });
      return dir;
    });
  }

  /**
   * Moves a finished output into the object store. Whatever is at the object's path is
   * replaced: the staged output was just hashed from its bytes, while what is there may be a
   * damaged copy that a stat entry still vouches for.
   *
   * @param path The staged file or directory.
   * @param kind `file` or `dir`.
   * @returns Its hash and kind.
   */
  store(path: string, kind: "file" | "dir"): Promise<StoredOutput> {
    return this.#writing("an output must be stored", async () => {
      const hash = await this.stat.hashPath(path, kind, Infinity, { links: "refuse" });
      const output: StoredOutput = { hash, kind };
      const target = this.objectPath(output);
      await Deno.mkdir(`${this.dir}/objects/${hash.slice(0, 2)}`, { recursive: true });
      let existing: Deno.FileInfo | undefined;
      try {
        existing = await Deno.lstat(target);
      } catch { /* not there */ }
      let aside: string | undefined;
      if (existing && !(kind === "file" && existing.isFile)) {
        // A directory cannot be renamed over a non-empty one: move the old one aside first.
        aside = cachePath(this.dir, "tmp", `replaced-${crypto.randomUUID().slice(0, 8)}`);
        await Deno.rename(target, aside);
      }
      this.stat.forget(target);
      await Deno.rename(path, target);
      this.stat.move(path, target);
      if (aside) await Deno.remove(aside, { recursive: true }).catch(() => {});
      return output;
    });
  }

  /**
   * The index entry for a key, or undefined when there is none or it is not a well-formed
   * record of that key (including every output in `expected`).
   */
  async record(key: string, expected: string[] = []): Promise<RunRecord | undefined> {
    if (!isHash(key)) return undefined;
    const record = asRunRecord(await readJson(cachePath(this.dir, "runs", `${key}.json`)), key);
    if (record && expected.some((name) => !Object.hasOwn(record.outputs, name))) return undefined;
    return record;
  }

  /** The keys of every file in the run index (valid or not), for `verify`. */
  async recordKeys(): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const entry of Deno.readDir(cachePath(this.dir, "runs"))) {
        if (entry.name.endsWith(".json")) keys.push(entry.name.slice(0, -5));
      }
    } catch { /* no index */ }
    return keys.sort();
  }

  /** Adds an index entry (after its objects are stored). */
  writeRecord(record: RunRecord): Promise<void> {
    return this.#writing(`the result of stage "${record.stage}" must be recorded`, async () => {
      if (!isHash(record.key)) throw new Error(`Not a stage key: ${record.key}`);
      await Deno.mkdir(cachePath(this.dir, "runs"), { recursive: true });
      await writeAtomic(
        cachePath(this.dir, "runs", `${record.key}.json`),
        JSON.stringify(record, null, 1),
      );
    });
  }

  /** Removes an index entry (its file, whatever it holds), so that its stage runs again. */
  async removeRecord(key: string): Promise<void> {
    if (!/^[\w.-]+$/.test(key) || key.startsWith(".")) return;
    await this.#writing(
      "a run record must be removed",
      () => removeOwned(`${cachePath(this.dir, "runs")}/${key}.json`, this.bound),
    );
  }

  /** Removes an object, so that the stages that made it run again. */
  async removeObject(output: StoredOutput): Promise<void> {
    const path = this.objectPath(output);
    this.stat.forget(path);
    await this.#writing("a damaged object must be removed", () => removeOwned(path, this.bound));
  }

  /**
   * A small JSON file of the cache read back, or undefined when it is missing or not JSON: for
   * the modules that own an entry of the cache (store/layout.ts), which check its shape.
   */
  readJson(path: string): unknown {
    return readJson(path);
  }

  /**
   * Writes a small file of the cache atomically, making its folder: for the modules that own an
   * entry of the cache (store/layout.ts).
   *
   * @param path Where (a path of {@link cachePath}).
   * @param text What.
   * @param what What must be written, for the error of a read-only cache.
   * @throws {ReadOnlyCacheError} When the cache cannot be written.
   */
  writeFile(path: string, text: string, what: string): Promise<void> {
    return this.#writing(what, async () => {
      await Deno.mkdir(dirname(path), { recursive: true });
      await writeAtomic(path, text);
    });
  }
}
