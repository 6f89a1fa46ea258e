/**
 * The content-addressed cache under `.pipeline/`:
 *
 * ```
 * .pipeline/lock                    held (flock) by the run in progress
 * .pipeline/lock.info               who holds it (informational)
 * .pipeline/objects/ab/abcd…        a file output, named by its sha256
 * .pipeline/objects/ab/abcd….d/     a directory output, named by its tree hash
 * .pipeline/runs/<key>.json         run index: stage key -> output hashes
 * .pipeline/remote-rejected.json    remote records a stage here rejected as its input (remote.ts)
 * .pipeline/state/<pipeline>/<id>.json  what the last run of a stage was keyed on (for status)
 * .pipeline/out/<pipeline>.json     what the engine materialised under out/<pipeline> (path -> hash)
 * .pipeline/stat.json               stat cache of file hashes
 * .pipeline/code.json               the import scans of code files, for stage keys (hash.ts CodeIndex)
 * .pipeline/checked/<fingerprint>.json  a checked pipeline, remembered (config/remembered.ts)
 * .pipeline/history/<pipeline>/<run id>.json  one run's configuration and outcome (history.ts)
 * .pipeline/slurm/                  Slurm jobs' stdout, stderr and results, and jobs.json (slurm.ts)
 * .pipeline/tmp/                    staging of running stages (<id>-<random>/out, scratch);
 *                                   emptied at the start of a run
 * .pipeline/checkpoints/<key>/      a stage's state that outlives a kill (StageContext.checkpoints):
 *                                   made on demand, kept after a failure, removed by the engine
 *                                   when the stage succeeds (all but its kept/)
 * ```
 *
 * Before a run writes anything, no folder of the cache may be a link to a directory outside the
 * project, and nothing is ever deleted through a link (owned.ts).
 *
 * Every write is a temp file (or directory) renamed into place, so a run killed midway leaves
 * nothing that a later run mistakes for a result. Everything read back is checked: a hash that
 * is not 64 lowercase hex digits, a record of the wrong shape or under the wrong name is a cache
 * miss, and object paths are built only from valid hashes.
 *
 * @module
 */

import { TEMP_NAME, writeAtomic, writeAtomicSync } from "./lib/atomic.ts";
import type { StoredOutput } from "./core/result.ts";
import { isDiskFull } from "./lib/disk_full.ts";
import { StatCache } from "./hash.ts";
import { UserError } from "./errors.ts";
import { checkOwned, listOwned, type OwnedFolders, realPathOf, removeOwned } from "./lib/owned.ts";
import { dirname } from "./paths.ts";
import { isHash } from "./lib/digest.ts";

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

/** What a stage's key was computed from; kept to explain why a stage is stale. */
export interface KeyParts {
  /** How the engine keys and runs stages (`ENGINE_KEY_VERSION`; absent before version 1). */
  engine: number;
  kind: string;
  version: number;
  /** sha256 of each code file's text without comments, by path relative to the project root. */
  code: Record<string, string>;
  /** Locked npm (and `jsr:`) packages the code imports: `version integrity`, by name. */
  packages: Record<string, string>;
  params: unknown;
  inputs: Record<string, string>;
  files: Record<string, string>;
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

function isStringRecord(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === "string");
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

/** Key parts read back from `state/`, or undefined when they are not of that shape. */
function asKeyParts(value: unknown): (KeyParts & { key: string }) | undefined {
  if (!isObject(value) || !isHash(value.key)) return undefined;
  if (typeof value.kind !== "string" || typeof value.version !== "number") return undefined;
  for (const field of ["code", "inputs", "files"]) {
    if (!isStringRecord(value[field])) return undefined;
  }
  if ("packages" in value && !isStringRecord(value.packages)) return undefined;
  if ("engine" in value && typeof value.engine !== "number") return undefined;
  return value as unknown as KeyParts & { key: string };
}

/** A pipeline name or stage id that is safe as one path segment. */
function segment(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new Error(`"${name}" is not a valid pipeline name or stage id for a cache path`);
  }
  return name;
}

/**
 * Whether an error means that a path cannot be written: permission (of the file system or of
 * Deno), or a read-only file system.
 */
export function isReadOnlyError(error: unknown): boolean {
  return error instanceof Deno.errors.PermissionDenied ||
    error instanceof Deno.errors.NotCapable ||
    (error as { code?: string })?.code === "EROFS" ||
    /read-only file system/i.test(String((error as Error)?.message));
}

/** The cache cannot be written, and something had to be. */
export class ReadOnlyCacheError extends UserError {
  /**
   * Creates the error.
   *
   * @param dir The cache directory.
   * @param what What had to be written, e.g. `stage "train" must run`.
   * @param reason Why it cannot be written.
   */
  constructor(dir: string, what: string, reason: string) {
    super(
      `The cache ${dir} is read-only (${reason}), and ${what}: make it writable ` +
        `(chmod -R u+w ${dir}, or grant --allow-write to it), or run only what is cached`,
    );
    this.name = "ReadOnlyCacheError";
  }
}

function reasonOf(error: unknown): string {
  return (error as Error)?.message?.split("\n")[0] ?? String(error);
}

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
}

/**
 * The folders of the cache that the engine writes in, and how many levels below each it checks
 * for links out of the project (`objects/ab/`, `state/<pipeline>/`, `checkpoints/<key>/`).
 * `tmp/` is not among them: a run empties it, and a `tmp` that is a link is removed, not
 * followed.
 */
const OWNED: OwnedFolders = {
  objects: 1,
  runs: 0,
  state: 1,
  out: 0,
  checkpoints: 1,
  checked: 0,
  history: 1,
  slurm: 0,
};

/** The cache directory. */
export class Cache {
  /** The cache directory. */
  readonly dir: string;
  /** Hashes of files by stat. */
  readonly stat: StatCache;
  #lock: Deno.FsFile | undefined;
  #exclusive = false;
  #readOnly: string | undefined;
  #bound: string | undefined;

  private constructor(dir: string, stat: StatCache) {
    this.dir = dir;
    this.stat = stat;
  }

  /** Opens (without locking) the cache at `dir`. */
  static async open(dir: string): Promise<Cache> {
    return new Cache(dir, new StatCache(await readJson(`${dir}/stat.json`) ?? {}));
  }

  /**
   * The real path of the project the cache belongs to: the folder that holds it. Nothing is
   * deleted through a link that leads out of it (owned.ts).
   */
  get bound(): string {
    return this.#bound ??= realPathOf(dirname(this.dir));
  }

  /** Why the cache cannot be written (set by {@link lock}), or undefined when it can. */
  get readOnly(): string | undefined {
    return this.#readOnly;
  }

  /** Whether this process holds the cache lock exclusively (and so may write). */
  get writable(): boolean {
    return this.#exclusive && this.#readOnly === undefined;
  }

  /**
   * Takes the cache lock, waiting for another run that holds it. The operating system releases
   * it when a process dies, so a killed run never leaves a stale lock.
   *
   * A cache that cannot be written (read-only file system, permissions) is not an error here:
   * it is opened read-only (with a shared lock when the lock file exists, so that it waits for
   * a run that writes), {@link readOnly} says why, and what must be written later fails with a
   * {@link ReadOnlyCacheError}.
   *
   * Before anything is written, the cache's folders are checked (owned.ts): one that is a link
   * to a directory outside the project is refused.
   *
   * @param onWait Called once if the lock is busy, with what the holder wrote.
   * @param options `shared`: take a shared lock (readers such as `verify`), never write.
   * @throws {OutsideLinkError} When a folder of the cache is a link out of the project.
   */
  async lock(onWait: (holder: string) => void, options: { shared?: boolean } = {}): Promise<void> {
    if (options.shared) {
      await this.#lockShared(onWait);
      return;
    }
    checkOwned(this.dir, this.bound, OWNED);
    let file: Deno.FsFile;
    try {
      Deno.mkdirSync(this.dir, { recursive: true });
      file = Deno.openSync(`${this.dir}/lock`, { read: true, write: true, create: true });
    } catch (error) {
      if (!isReadOnlyError(error)) throw error;
      this.#readOnly = reasonOf(error);
      await this.#lockShared(onWait);
      return;
    }
    await this.#acquire(file, true, onWait);
    this.#exclusive = true;
    try {
      // Atomic, so that a lock.info that is a link (or a directory) is replaced, not followed.
      try {
        Deno.removeSync(`${this.dir}/lock.info`, { recursive: true });
      } catch { /* not there */ }
      writeAtomicSync(
        `${this.dir}/lock.info`,
        `pid ${Deno.pid} since ${new Date().toISOString()}`,
      );
    } catch (error) {
      // lock.info only informs: a full disk fails the writes that matter, one line each.
      if (isDiskFull(error)) return this.#clean();
      if (!isReadOnlyError(error)) throw error;
      this.#readOnly = reasonOf(error);
      return;
    }
    this.#clean();
  }

  async #lockShared(onWait: (holder: string) => void): Promise<void> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(`${this.dir}/lock`, { read: true });
    } catch {
      return; // No lock file: no run has written this cache, none can be writing it now.
    }
    await this.#acquire(file, false, onWait);
  }

  async #acquire(file: Deno.FsFile, exclusive: boolean, onWait: (h: string) => void) {
    const got = file.lock(exclusive).then(() => true);
    // A run that writes holds the lock with lock.info there (and removes it when it is done):
    // without one, the lock is taken at once, with no timer (the first setTimeout of a process
    // costs 6-7 ms, a twentieth of a no-op rerun). A wait for a reader (verify), or for a run
    // that took the lock after this look, is then not announced, only waited.
    let held = true;
    try {
      Deno.lstatSync(`${this.dir}/lock.info`);
    } catch {
      held = false;
    }
    const waited = !held || await Promise.race([
      got,
      new Promise<false>((r) => setTimeout(() => r(false), 150)),
    ]);
    if (!waited) {
      let holder = "another run";
      try {
        const text = await Deno.readTextFile(`${this.dir}/lock.info`);
        // Informational only: one short printable line.
        const line = text.split("\n")[0]!.replace(/[^\x20-\x7e]/g, "?").slice(0, 120).trim();
        holder = line || holder;
      } catch { /* no info */ }
      onWait(holder);
    }
    await got;
    this.#lock = file;
  }

  /** Under the exclusive lock: empties `tmp/` and removes temp files of killed runs. */
  #clean(): void {
    // Sync, as readJson. A tmp that is a link is removed as a link: nothing outside the cache
    // is touched. An empty tmp/ is left as it is.
    let tmp: Deno.FileInfo | undefined;
    try {
      tmp = Deno.lstatSync(`${this.dir}/tmp`);
    } catch { /* missing */ }
    if (!tmp?.isDirectory || !Deno.readDirSync(`${this.dir}/tmp`).next().done) {
      try {
        Deno.removeSync(`${this.dir}/tmp`, { recursive: true });
      } catch { /* missing */ }
      Deno.mkdirSync(`${this.dir}/tmp`, { recursive: true });
    }
    // Folders are listed only when they are folders, not links to one (owned.ts).
    const sweep = (dir: string) => {
      for (const entry of listOwned(dir)) {
        if (entry.isFile && TEMP_NAME.test(entry.name)) {
          try {
            Deno.removeSync(`${dir}/${entry.name}`);
          } catch { /* gone */ }
        }
      }
    };
    sweep(this.dir);
    sweep(`${this.dir}/runs`);
    sweep(`${this.dir}/out`);
    for (const entry of listOwned(`${this.dir}/state`)) {
      if (entry.isDirectory) sweep(`${this.dir}/state/${entry.name}`);
    }
  }

  /** Saves the stat cache and releases the lock. */
  async close(): Promise<void> {
    if (this.#lock) {
      try {
        try {
          await this.saveStat();
        } finally {
          if (this.writable) await Deno.remove(`${this.dir}/lock.info`).catch(() => {});
        }
      } finally {
        await this.#lock.unlock().catch(() => {});
        this.#lock.close();
        this.#lock = undefined;
        this.#exclusive = false;
      }
    }
  }

  /** Persists the stat cache if it changed (only while holding the lock exclusively). */
  async saveStat(): Promise<void> {
    if (this.writable && this.stat.dirty) {
      await this.#writing(
        "the stat cache must be saved",
        () => writeAtomic(`${this.dir}/stat.json`, JSON.stringify(this.stat)),
      );
    }
  }

  /** Runs a write, turning "cannot write here" into a {@link ReadOnlyCacheError}. */
  async #writing<T>(what: string, write: () => Promise<T>): Promise<T> {
    if (this.#readOnly !== undefined) throw new ReadOnlyCacheError(this.dir, what, this.#readOnly);
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
      const info = await Deno.lstat(path);
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
      const dir = `${this.dir}/tmp/${segment(id)}-${crypto.randomUUID().slice(0, 8)}`;
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
        aside = `${this.dir}/tmp/replaced-${crypto.randomUUID().slice(0, 8)}`;
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
    const record = asRunRecord(await readJson(`${this.dir}/runs/${key}.json`), key);
    if (record && expected.some((name) => !Object.hasOwn(record.outputs, name))) return undefined;
    return record;
  }

  /** The keys of every file in the run index (valid or not), for `verify`. */
  async recordKeys(): Promise<string[]> {
    const keys: string[] = [];
    try {
      for await (const entry of Deno.readDir(`${this.dir}/runs`)) {
        if (entry.name.endsWith(".json")) keys.push(entry.name.slice(0, -5));
      }
    } catch { /* no index */ }
    return keys.sort();
  }

  /** Adds an index entry (after its objects are stored). */
  writeRecord(record: RunRecord): Promise<void> {
    return this.#writing(`the result of stage "${record.stage}" must be recorded`, async () => {
      if (!isHash(record.key)) throw new Error(`Not a stage key: ${record.key}`);
      await Deno.mkdir(`${this.dir}/runs`, { recursive: true });
      await writeAtomic(`${this.dir}/runs/${record.key}.json`, JSON.stringify(record, null, 1));
    });
  }

  /** Removes an index entry (its file, whatever it holds), so that its stage runs again. */
  async removeRecord(key: string): Promise<void> {
    if (!/^[\w.-]+$/.test(key) || key.startsWith(".")) return;
    await this.#writing(
      "a run record must be removed",
      () => removeOwned(`${this.dir}/runs/${key}.json`, this.bound),
    );
  }

  /** Removes an object, so that the stages that made it run again. */
  async removeObject(output: StoredOutput): Promise<void> {
    const path = this.objectPath(output);
    this.stat.forget(path);
    await this.#writing("a damaged object must be removed", () => removeOwned(path, this.bound));
  }

  /** What the last run of a stage of a pipeline was keyed on (undefined if not well-formed). */
  async lastParts(
    pipeline: string,
    id: string,
  ): Promise<(KeyParts & { key: string }) | undefined> {
    return asKeyParts(await readJson(`${this.dir}/state/${segment(pipeline)}/${segment(id)}.json`));
  }

  /** Remembers what a stage's key was computed from (skipped when the cache is read-only). */
  async writeParts(pipeline: string, id: string, parts: KeyParts & { key: string }): Promise<void> {
    if (this.#readOnly !== undefined) return;
    const dir = `${this.dir}/state/${segment(pipeline)}`;
    await this.#writing(`what stage "${id}" ran on must be remembered`, async () => {
      await Deno.mkdir(dir, { recursive: true });
      await writeAtomic(`${dir}/${segment(id)}.json`, JSON.stringify(parts, null, 1));
    });
  }

  /** What the engine materialised for a pipeline, or an empty manifest for `dir`. */
  async outManifest(pipeline: string, dir: string): Promise<OutManifest> {
    const value = await readJson(`${this.dir}/out/${segment(pipeline)}.json`);
    if (isObject(value) && value.dir === dir && isObject(value.files)) {
      const files: Record<string, string> = {};
      for (const [path, hash] of Object.entries(value.files)) if (isHash(hash)) files[path] = hash;
      const links: Record<string, number> = {};
      for (const [path, ino] of Object.entries(isObject(value.links) ? value.links : {})) {
        if (files[path] !== undefined && Number.isSafeInteger(ino) && (ino as number) > 0) {
          links[path] = ino as number;
        }
      }
      return { dir, files, links };
    }
    return { dir, files: {} };
  }

  /** Saves what the engine materialised (only while holding the lock exclusively). */
  async writeOutManifest(pipeline: string, manifest: OutManifest): Promise<void> {
    if (!this.writable) return;
    await this.#writing("the list of materialised files must be saved", async () => {
      await Deno.mkdir(`${this.dir}/out`, { recursive: true });
      await writeAtomic(`${this.dir}/out/${segment(pipeline)}.json`, JSON.stringify(manifest));
    });
  }
}
