/**
 * The content-addressed cache under `.pipeline/`:
 *
 * ```
 * .pipeline/lock                    held (flock) by the run in progress
 * .pipeline/objects/ab/abcd…        a file output, named by its sha256
 * .pipeline/objects/ab/abcd….d/     a directory output, named by its tree hash
 * .pipeline/runs/<key>.json         run index: stage key -> output hashes
 * .pipeline/state/<pipeline>/<id>.json  what the last run of a stage was keyed on (for status)
 * .pipeline/stat.json               stat cache of file hashes
 * .pipeline/tmp/                    staging of running stages; emptied at the start of a run
 * ```
 *
 * Every write is a temp file (or directory) renamed into place, so a run killed midway leaves
 * nothing that a later run mistakes for a result.
 *
 * @module
 */

import { StatCache } from "./hash.ts";

/** Output of a stage as stored in the index. */
export interface StoredOutput {
  hash: string;
  kind: "file" | "dir";
}

/** One entry of the run index. */
export interface RunRecord {
  key: string;
  kind: string;
  stage: string;
  outputs: Record<string, StoredOutput>;
  seconds: number;
  finished: string;
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

/** Writes text atomically: a temp file in the same directory, then a rename. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch {
    return undefined;
  }
}

/** The cache directory. */
export class Cache {
  readonly dir: string;
  readonly stat: StatCache;
  #lock: Deno.FsFile | undefined;

  private constructor(dir: string, stat: StatCache) {
    this.dir = dir;
    this.stat = stat;
  }

  /** Opens (without locking) the cache at `dir`. */
  static async open(dir: string): Promise<Cache> {
    const entries = await readJson<ConstructorParameters<typeof StatCache>[0]>(`${dir}/stat.json`);
    return new Cache(dir, new StatCache(entries ?? {}));
  }

  /**
   * Takes the cache lock, waiting for another run that holds it. The operating system releases
   * it when a process dies, so a killed run never leaves a stale lock.
   *
   * @param onWait Called once if the lock is busy, with what the holder wrote.
   */
  async lock(onWait: (holder: string) => void): Promise<void> {
    await Deno.mkdir(this.dir, { recursive: true });
    const file = await Deno.open(`${this.dir}/lock`, { read: true, write: true, create: true });
    const got = file.lock(true).then(() => true);
    const waited = await Promise.race([
      got,
      new Promise<false>((r) => setTimeout(() => r(false), 150)),
    ]);
    if (!waited) {
      let holder = "another run";
      try {
        holder = (await Deno.readTextFile(`${this.dir}/lock.info`)).trim() || holder;
      } catch { /* no info */ }
      onWait(holder);
      await got;
    }
    this.#lock = file;
    await Deno.writeTextFile(
      `${this.dir}/lock.info`,
      `pid ${Deno.pid} since ${new Date().toISOString()}`,
    );
    await Deno.remove(`${this.dir}/tmp`, { recursive: true }).catch(() => {});
    await Deno.mkdir(`${this.dir}/tmp`, { recursive: true });
  }

  /** Saves the stat cache and releases the lock. */
  async close(): Promise<void> {
    await this.saveStat();
    if (this.#lock) {
      await Deno.remove(`${this.dir}/lock.info`).catch(() => {});
      await this.#lock.unlock();
      this.#lock.close();
      this.#lock = undefined;
    }
  }

  /** Persists the stat cache if it changed (only while holding the lock). */
  async saveStat(): Promise<void> {
    if (this.#lock && this.stat.dirty) {
      await writeAtomic(`${this.dir}/stat.json`, JSON.stringify(this.stat));
    }
  }

  /** Path of an object. */
  objectPath(output: StoredOutput): string {
    const suffix = output.kind === "dir" ? ".d" : "";
    return `${this.dir}/objects/${output.hash.slice(0, 2)}/${output.hash}${suffix}`;
  }

  /**
   * Whether an object exists and its content still matches its hash. An object that no longer
   * matches is deleted, so that the stage that made it runs again.
   */
  async verify(output: StoredOutput): Promise<boolean> {
    const path = this.objectPath(output);
    let actual: string;
    try {
      actual = await this.stat.hashPath(path, output.kind);
    } catch {
      return false;
    }
    if (actual === output.hash) return true;
    this.stat.forget(path);
    await Deno.remove(path, { recursive: true }).catch(() => {});
    return false;
  }

  /** A new staging directory for a stage run. */
  async staging(id: string): Promise<string> {
    const dir = `${this.dir}/tmp/${id}-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.mkdir(`${dir}/out`, { recursive: true });
    await Deno.mkdir(`${dir}/scratch`, { recursive: true });
    return dir;
  }

  /**
   * Moves a finished output into the object store.
   *
   * @param path The staged file or directory.
   * @param kind `file` or `dir`.
   * @returns Its hash and kind.
   */
  async store(path: string, kind: "file" | "dir"): Promise<StoredOutput> {
    const hash = await this.stat.hashPath(path, kind);
    const output = { hash, kind };
    const target = this.objectPath(output);
    if (await this.verify(output)) {
      this.stat.forget(path);
      await Deno.remove(path, { recursive: true });
      return output;
    }
    await Deno.mkdir(`${this.dir}/objects/${hash.slice(0, 2)}`, { recursive: true });
    await Deno.rename(path, target);
    this.stat.move(path, target);
    return output;
  }

  /** The index entry for a key. */
  record(key: string): Promise<RunRecord | undefined> {
    return readJson<RunRecord>(`${this.dir}/runs/${key}.json`);
  }

  /** Adds an index entry (after its objects are stored). */
  async writeRecord(record: RunRecord): Promise<void> {
    await Deno.mkdir(`${this.dir}/runs`, { recursive: true });
    await writeAtomic(`${this.dir}/runs/${record.key}.json`, JSON.stringify(record, null, 1));
  }

  /** What the last run of a stage of a pipeline was keyed on. */
  lastParts(pipeline: string, id: string): Promise<(KeyParts & { key: string }) | undefined> {
    return readJson(`${this.dir}/state/${pipeline}/${id}.json`);
  }

  /** Remembers what a stage's key was computed from. */
  async writeParts(pipeline: string, id: string, parts: KeyParts & { key: string }): Promise<void> {
    await Deno.mkdir(`${this.dir}/state/${pipeline}`, { recursive: true });
    await writeAtomic(`${this.dir}/state/${pipeline}/${id}.json`, JSON.stringify(parts, null, 1));
  }
}
