/**
 * File hashes remembered by stat, so that an unchanged file is not read again: the cache keeps
 * them in `.pipeline/stat.json`, and every hash the engine takes of a file, a directory tree or
 * an object goes through them.
 *
 * @module
 */

import { hashFileContent, isHash, sha256 } from "../lib/digest.ts";
import { listFiles, type ListFilesOptions } from "../lib/list_files.ts";

/** A remembered file hash and the stat it was computed under. */
interface StatEntry {
  size: number;
  /** Milliseconds. */
  mtime: number;
  /** Milliseconds (Deno reports whole seconds on Linux). */
  ctime: number;
  ino: number;
  hash: string;
  /** When the content was read (ms, wall clock, taken before reading). */
  checked: number;
}

/**
 * How long after a file's last status change its stat must have been taken to be trusted.
 * Deno reports ctime in whole seconds, so a file changed in the same second as it was hashed
 * could keep its stat (with its mtime restored); such an entry is "racy" and the file is read
 * again next time, as git does for racily clean index entries. The extra 100 ms covers a
 * coarse file system clock.
 */
const RACY_MS = 1100;

function isStatEntry(value: unknown): value is StatEntry {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  return ["size", "mtime", "ctime", "ino", "checked"].every((k) => Number.isFinite(e[k])) &&
    isHash(e.hash);
}

function statKey(info: Deno.FileInfo) {
  const mtime = info.mtime?.getTime() ?? 0;
  return { size: info.size, mtime, ctime: info.ctime?.getTime() ?? mtime, ino: info.ino ?? 0 };
}

/**
 * File hashes remembered by (path, size, mtime, ctime, inode), so unchanged files are not re-read.
 * Persisted as JSON by the cache. An entry vouches only for the stat it was computed under: any
 * write changes the ctime (which `touch -d` cannot restore), and an entry taken within a second
 * of the file's last change is not trusted (see {@link RACY_MS}). What it cannot see is a change
 * made without a status change (bit rot under the file system, or root resetting the clock):
 * `verify` rereads every object for that.
 */
export class StatCache {
  #entries: Record<string, StatEntry>;
  #dirty = false;

  /**
   * Creates a stat cache from persisted entries; entries of the wrong shape are dropped.
   *
   * @param entries What {@link toJSON} returned, read back (any JSON value).
   */
  constructor(entries: unknown = {}) {
    this.#entries = {};
    if (entries !== null && typeof entries === "object" && !Array.isArray(entries)) {
      for (const [path, entry] of Object.entries(entries)) {
        if (isStatEntry(entry)) this.#entries[path] = entry;
        else this.#dirty = true;
      }
    } else {
      this.#dirty = true;
    }
  }

  /** Entries to persist. */
  toJSON(): Record<string, StatEntry> {
    return this.#entries;
  }

  /** Whether entries changed since loading. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * The content hash of a file, from the cache when its stat is unchanged.
   *
   * @param path Absolute path.
   * @param recheck Files up to this many bytes are read again even when their stat is
   *   unchanged (`Infinity`: every file, as `verify` does).
   * @returns sha256 hex.
   */
  async hashFile(path: string, recheck = 0): Promise<string> {
    const before = Date.now();
    const info = Deno.statSync(path); // sync: see hashFileContent
    const now = statKey(info);
    const known = this.#entries[path];
    if (
      known && info.size > recheck && known.size === now.size && known.mtime === now.mtime &&
      known.ctime === now.ctime && known.ino === now.ino && known.checked >= now.ctime + RACY_MS
    ) {
      return known.hash;
    }
    const hash = await hashFileContent(path);
    const same = known && known.hash === hash && known.size === now.size &&
      known.mtime === now.mtime && known.ctime === now.ctime && known.ino === now.ino &&
      known.checked >= now.ctime + RACY_MS;
    // A small file reread on every hit (recheck) with what was known of it: nothing to save,
    // so a no-op rerun does not rewrite stat.json.
    if (same) return hash;
    this.#entries[path] = { ...now, hash, checked: before };
    this.#dirty = true;
    return hash;
  }

  /**
   * Records a hash known from writing a file, without re-reading it. Call it right after the
   * write, before anything else can change the file.
   */
  async remember(path: string, hash: string): Promise<void> {
    const checked = Date.now();
    this.#entries[path] = { ...statKey(await Deno.stat(path)), hash, checked };
    this.#dirty = true;
  }

  /** Forgets a path and everything under it. */
  forget(path: string): void {
    for (const key of Object.keys(this.#entries)) {
      if (key === path || key.startsWith(`${path}/`)) {
        delete this.#entries[key];
        this.#dirty = true;
      }
    }
  }

  /**
   * Re-keys entries after a rename. A rename keeps size, mtime and inode but may change the
   * ctime of what was renamed, so such an entry is read again next time.
   */
  move(from: string, to: string): void {
    this.forget(to);
    for (const key of Object.keys(this.#entries)) {
      if (key === from || key.startsWith(`${from}/`)) {
        this.#entries[to + key.slice(from.length)] = this.#entries[key]!;
        delete this.#entries[key];
        this.#dirty = true;
      }
    }
  }

  /**
   * The hash of a directory tree: sha256 over its sorted relative file paths and their hashes.
   *
   * @param dir Absolute path.
   * @param recheck As for {@link hashFile}.
   * @param list How links in the tree are treated ({@link listFiles}).
   * @returns sha256 hex.
   */
  async hashDir(dir: string, recheck = 0, list: ListFilesOptions = {}): Promise<string> {
    const files = await listFiles(dir, list);
    const lines: string[] = [];
    for (const rel of files) {
      lines.push(`${rel}\t${await this.hashFile(`${dir}/${rel}`, recheck)}`);
    }
    return await sha256(`tree\n${lines.join("\n")}`);
  }

  /** The hash of a file or a directory (`recheck` as for {@link hashFile}, `list` {@link hashDir}). */
  hashPath(
    path: string,
    kind: "file" | "dir",
    recheck = 0,
    list: ListFilesOptions = {},
  ): Promise<string> {
    return kind === "dir" ? this.hashDir(path, recheck, list) : this.hashFile(path, recheck);
  }
}
