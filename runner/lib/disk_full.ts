/**
 * A full disk (ENOSPC) or an exhausted quota (EDQUOT), wherever it happens: a stage writing its
 * outputs, the cache storing a result, a pull, `out/`. It is neither the user's mistake nor a
 * bug, and it is one line: the file that could not be written and the space left where it is
 * (exit 1), never a stack. Also: how much is left where a file goes, in bytes people read.
 *
 * @module
 */

import { dirname, relative } from "../paths.ts";

/** Bytes as people read them: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * The bytes an unprivileged user may still write on the file system that holds `path` (or its
 * nearest existing parent), or undefined when that cannot be told. (`node:fs` is imported here,
 * when it is needed: a cached run never asks.)
 */
export async function freeBytes(path: string): Promise<number | undefined> {
  const { statfsSync } = await import("node:fs");
  for (let dir = path, seen = 0; seen < 4096; seen++) {
    try {
      const fs = statfsSync(dir);
      return Number(fs.bavail) * Number(fs.bsize);
    } catch {
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }
  return undefined;
}

/** Reads a property of a thrown value without letting a hostile getter throw again. */
function field(value: unknown, name: "code" | "message" | "cause"): unknown {
  try {
    return (value as Record<string, unknown>)?.[name];
  } catch {
    return undefined;
  }
}

const FULL = /No space left on device|Disk quota exceeded|\(os error (?:28|122)\)/;

/** Which of the two it is, or undefined for another error (its causes are looked at too). */
function kind(error: unknown): "ENOSPC" | "EDQUOT" | undefined {
  let e = error;
  for (let depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const code = field(e, "code");
    if (code === "ENOSPC" || code === "EDQUOT") return code;
    const message = field(e, "message");
    const text = typeof message === "string" ? message : typeof e === "string" ? e : "";
    const found = FULL.exec(text)?.[0];
    if (found) return /quota|122/.test(found) ? "EDQUOT" : "ENOSPC";
    e = field(e, "cause");
  }
  return undefined;
}

/** Whether an error (or its cause) is a full disk or an exhausted quota. */
export function isDiskFull(error: unknown): boolean {
  return kind(error) !== undefined;
}

/** The disk (or the quota) is full: a file could not be written. */
export class DiskFullError extends Error {
  /** The file that could not be written (or the directory it was written in). */
  readonly path: string;
  /** Bytes left on its file system, when that could be told. */
  readonly free: number | undefined;
  /**
   * Creates the error (see {@link diskFullError}, which finds the file and the free space).
   *
   * @param path The file that could not be written.
   * @param free Bytes left on its file system, if known.
   * @param quota The quota, not the disk, is exhausted (EDQUOT).
   * @param options Standard error options, such as `cause`.
   */
  constructor(path: string, free: number | undefined, quota = false, options?: ErrorOptions) {
    const shown = relative(Deno.cwd(), path);
    const where = shown && !shown.startsWith("..") ? shown : path;
    super(
      `${quota ? "Disk quota exceeded" : "No space left on device"} writing "${where}" (` +
        (free === undefined ? "free space unknown" : `${formatBytes(free)} free`) +
        ` on its file system): free some ${quota ? "of your quota" : "space"} and run again`,
      options,
    );
    this.name = "DiskFullError";
    this.path = path;
    this.free = free;
  }
}

/** A temp name (`x.tmp-<pid>-<hex>`) stands for the file it was to become. */
const TEMP_SUFFIX = /\.tmp-\d+(?:-[0-9a-f]{8})?$/;

/**
 * A temp file in `out/` (`.nerpipe-tmp-<pid>-<hex>`, see runner/materialise.ts) carries no trace
 * of the file it was to become.
 */
const OUT_TEMP = /\/\.nerpipe-tmp-\d+-[0-9a-f]{32}$/;

/**
 * The {@link DiskFullError} of a full-disk error: it names the file the error names (the
 * destination of a copy or a rename; the file a temp name stands for), else `fallback`, and
 * the space left there.
 *
 * @param error An error for which {@link isDiskFull} holds.
 * @param fallback The file (or directory) being written, when the error names none.
 * @returns The error to report.
 */
export async function diskFullError(error: unknown, fallback: string): Promise<DiskFullError> {
  if (error instanceof DiskFullError) return error;
  let named: string | undefined;
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const message = field(e, "message");
    if (typeof message === "string") {
      const quoted = [...message.matchAll(/'(\/[^']*)'/g)].map((m) => m[1]!);
      if (quoted.length) {
        named = quoted[quoted.length - 1]!;
        break;
      }
    }
    e = field(e, "cause");
  }
  // A temp name stands for the file it was to become; one in out/ names no file: the fallback.
  const shown = named !== undefined && OUT_TEMP.test(named) ? fallback : named ?? fallback;
  const path = shown.replace(TEMP_SUFFIX, "");
  return new DiskFullError(path, await freeBytes(path), kind(error) === "EDQUOT", {
    cause: error,
  });
}

/**
 * The file most recently written under some folders (links are not followed): the one a
 * stage was writing when the disk filled, when the error does not say.
 *
 * @param dirs The folders (missing ones are skipped).
 * @returns Its path, or undefined when they hold no file.
 */
export async function lastWritten(dirs: string[]): Promise<string | undefined> {
  let best: { path: string; at: number } | undefined;
  const walk = async (dir: string, depth: number) => {
    if (depth > 32) return;
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path, depth + 1);
      else if (entry.isFile) {
        const at = (await Deno.lstat(path).catch(() => undefined))?.mtime?.getTime() ?? 0;
        if (!best || at >= best.at) best = { path, at };
      }
    }
  };
  for (const dir of dirs) await walk(dir, 0);
  return best?.path;
}
