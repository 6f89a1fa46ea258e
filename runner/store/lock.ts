/**
 * The cache lock, `.pipeline/lock`: an OS file lock (flock) that a run holds exclusively for its
 * whole length, and readers (`verify`, `push`) share. The operating system releases it when a
 * process dies, so a killed run never leaves a stale lock. `lock.info` says who holds it.
 *
 * Taking it is also where a cache that cannot be written (a read-only file system, no
 * permission, a run without `--allow-write` to `.pipeline`) is found: a fully cached run is
 * served as usual, and what must be written then fails with one {@link ReadOnlyCacheError}.
 *
 * @module
 */

import { TEMP_NAME, writeAtomicSync } from "../lib/atomic.ts";
import { isDiskFull } from "../lib/disk_full.ts";
import { checkOwned, listOwned } from "../lib/owned.ts";
import { cachePath, OWNED } from "./layout.ts";
import { UserError } from "../errors.ts";

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

/** The first line of why something could not be written. */
export function reasonOf(error: unknown): string {
  return (error as Error)?.message?.split("\n")[0] ?? String(error);
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

/** The lock of one cache directory, as this process holds it (or not yet). */
export class CacheLock {
  /** The cache directory. */
  readonly dir: string;
  #file: Deno.FsFile | undefined;
  #exclusive = false;
  #readOnly: string | undefined;

  /** @param dir The cache directory. */
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Whether this process holds the lock (shared or exclusive). */
  get held(): boolean {
    return this.#file !== undefined;
  }

  /** Whether this process holds the lock exclusively. */
  get exclusive(): boolean {
    return this.#exclusive;
  }

  /** Why the cache cannot be written (found when the lock was taken), or undefined. */
  get readOnly(): string | undefined {
    return this.#readOnly;
  }

  /**
   * Takes the lock, waiting for another run that holds it.
   *
   * A cache that cannot be written (read-only file system, permissions) is not an error here:
   * it is locked shared when the lock file exists (so that it waits for a run that writes), and
   * {@link readOnly} says why. Before anything is written, the cache's folders are checked
   * (lib/owned.ts): one that is a link to a directory outside the project is refused. Under the
   * exclusive lock, `tmp/` is emptied and the temp files of killed runs are removed.
   *
   * @param bound The real path of the project (the folder that holds the cache).
   * @param onWait Called once if the lock is busy, with what the holder wrote.
   * @param options `shared`: take a shared lock (readers such as `verify`), never write.
   * @throws {OutsideLinkError} When a folder of the cache is a link out of the project.
   */
  async take(
    bound: string,
    onWait: (holder: string) => void,
    options: { shared?: boolean } = {},
  ): Promise<void> {
    if (options.shared) {
      await this.#takeShared(onWait);
      return;
    }
    checkOwned(this.dir, bound, OWNED);
    let file: Deno.FsFile;
    try {
      Deno.mkdirSync(this.dir, { recursive: true });
      file = Deno.openSync(cachePath(this.dir, "lock"), { read: true, write: true, create: true });
    } catch (error) {
      if (!isReadOnlyError(error)) throw error;
      this.#readOnly = reasonOf(error);
      await this.#takeShared(onWait);
      return;
    }
    await this.#acquire(file, true, onWait);
    this.#exclusive = true;
    const info = cachePath(this.dir, "lock.info");
    try {
      // Atomic, so that a lock.info that is a link (or a directory) is replaced, not followed.
      try {
        Deno.removeSync(info, { recursive: true });
      } catch { /* not there */ }
      writeAtomicSync(info, `pid ${Deno.pid} since ${new Date().toISOString()}`);
    } catch (error) {
      // lock.info only informs: a full disk fails the writes that matter, one line each.
      if (isDiskFull(error)) return clean(this.dir);
      if (!isReadOnlyError(error)) throw error;
      this.#readOnly = reasonOf(error);
      return;
    }
    clean(this.dir);
  }

  async #takeShared(onWait: (holder: string) => void): Promise<void> {
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(cachePath(this.dir, "lock"), { read: true });
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
    const info = cachePath(this.dir, "lock.info");
    let held = true;
    try {
      Deno.lstatSync(info);
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
        const text = await Deno.readTextFile(info);
        // Informational only: one short printable line.
        const line = text.split("\n")[0]!.replace(/[^\x20-\x7e]/g, "?").slice(0, 120).trim();
        holder = line || holder;
      } catch { /* no info */ }
      onWait(holder);
    }
    await got;
    this.#file = file;
  }

  /** Releases the lock (removing lock.info when this process wrote it). */
  async release(): Promise<void> {
    if (!this.#file) return;
    try {
      if (this.#exclusive && this.#readOnly === undefined) {
        await Deno.remove(cachePath(this.dir, "lock.info")).catch(() => {});
      }
    } finally {
      await this.#file.unlock().catch(() => {});
      this.#file.close();
      this.#file = undefined;
      this.#exclusive = false;
    }
  }
}

/** Under the exclusive lock: empties `tmp/` and removes temp files of killed runs. */
function clean(dir: string): void {
  // Sync, as the lock's other file operations. A tmp that is a link is removed as a link:
  // nothing outside the cache is touched. An empty tmp/ is left as it is.
  const tmpDir = cachePath(dir, "tmp");
  let tmp: Deno.FileInfo | undefined;
  try {
    tmp = Deno.lstatSync(tmpDir);
  } catch { /* missing */ }
  if (!tmp?.isDirectory || !Deno.readDirSync(tmpDir).next().done) {
    try {
      Deno.removeSync(tmpDir, { recursive: true });
    } catch { /* missing */ }
    Deno.mkdirSync(tmpDir, { recursive: true });
  }
  // Folders are listed only when they are folders, not links to one (lib/owned.ts).
  const sweep = (folder: string) => {
    for (const entry of listOwned(folder)) {
      if (entry.isFile && TEMP_NAME.test(entry.name)) {
        try {
          Deno.removeSync(`${folder}/${entry.name}`);
        } catch { /* gone */ }
      }
    }
  };
  sweep(dir);
  sweep(cachePath(dir, "runs"));
  sweep(cachePath(dir, "out"));
  for (const entry of listOwned(cachePath(dir, "state"))) {
    if (entry.isDirectory) sweep(`${dir}/state/${entry.name}`);
  }
}
