/**
 * Placing one file under `out/`: a hard link to its cache object when it is large (made
 * read-only first, since the two are then one file), else a copy, always under a temp name next
 * to it and renamed into place, so that no one ever sees half of it.
 *
 * @module
 */

import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import { dirname } from "../paths.ts";

/** Whether a process is alive, when the system can tell (Linux `/proc`); undefined otherwise. */
export function alive(pid: number): boolean | undefined {
  try {
    Deno.statSync("/proc/self");
  } catch {
    return undefined;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The name of a temp file the engine places under `out/` (then renames into place), `<pid>`
 * group: `.nerpipe-tmp-<pid>-<32 hex digits>`, a name no one writes by chance. Only files of
 * this name are removed as temp files of a killed run.
 */
export const OUT_TEMP_NAME = /^\.nerpipe-tmp-(\d+)-[0-9a-f]{32}$/;

/** A new temp file name in `dir` ({@link OUT_TEMP_NAME}). */
function tempIn(dir: string): string {
  return `${dir}/.nerpipe-tmp-${Deno.pid}-${crypto.randomUUID().replaceAll("-", "")}`;
}

/** The last part of a path. */
export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/**
 * Output files of this size or more are hard links to their cache objects; smaller ones are
 * copies. Small files are the ones people open and edit (metrics, summaries, configurations),
 * and a copy keeps an edit out of the cache; they are also a small part of the bytes (5% on
 * the sample pipeline), and the engine rereads objects of this size on every cache hit anyway.
 */
export const LINK_MIN_BYTES = 256 * 1024;

/** How a file was placed under `out/`: a hard link to its object, or a copy of it. */
export type PlaceMode = "link" | "copy";

/** Makes an object's file read-only (all write bits off); false when it cannot be. */
async function readOnly(path: string, info: Deno.FileInfo): Promise<boolean> {
  if (info.mode === null) return false; // no POSIX modes (Windows): copy instead
  if ((info.mode & 0o222) === 0) return true;
  try {
    await Deno.chmod(path, info.mode & 0o7777 & ~0o222);
    return true;
  } catch {
    return false;
  }
}

/**
 * The one place that creates a file under `out/`: a hard link to the object's file (large
 * files, see {@link LINK_MIN_BYTES}), else a copy of it, under a temp name next to `to`,
 * renamed into place. A link that fails (another device, links refused, an object that cannot
 * be made read-only) falls back to a copy.
 *
 * @param from The object's file.
 * @param to Where it goes.
 * @param copy Whether to copy when no link can be made (false: nothing is done then).
 * @returns How the file was placed, or undefined when it was not.
 */
export async function placeFile(
  from: string,
  to: string,
  copy = true,
): Promise<PlaceMode | undefined> {
  const tmp = tempIn(dirname(to));
  try {
    let mode: PlaceMode = "copy";
    // An object is a file (a link in its place is damage): nothing it would point to is made
    // read-only, linked or copied.
    const info = await Deno.lstat(from);
    if (!info.isFile) throw new Error(`The cache object ${from} is not a file`);
    if (info.size >= LINK_MIN_BYTES && await readOnly(from, info)) {
      try {
        await Deno.link(from, tmp);
        mode = "link";
      } catch { /* cross-device, or links refused: a copy */ }
    }
    if (mode === "copy") {
      if (!copy) return undefined;
      await Deno.copyFile(from, tmp);
      await Deno.chmod(tmp, 0o644);
    }
    await Deno.rename(tmp, to);
    return mode;
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    // A full disk names the file being placed, not the temp file, whose name says nothing.
    if (isDiskFull(error)) throw await diskFullError(error, to);
    throw error;
  }
}

/** Whether `path` is a copy of a large object that could be a link to it instead. */
export function couldLink(path: string, object: string): boolean {
  try {
    const [at, of] = [Deno.statSync(path), Deno.statSync(object)];
    return of.size >= LINK_MIN_BYTES && at.ino !== null && at.ino !== of.ino && at.dev === of.dev;
  } catch {
    return false;
  }
}

/** The inode `path` shares with `object` when it is a hard link to it; undefined otherwise. */
export function linkedInode(path: string, object: string): number | undefined {
  try {
    const [at, of] = [Deno.lstatSync(path), Deno.statSync(object)];
    return at.ino !== null && at.ino === of.ino && at.dev === of.dev ? at.ino : undefined;
  } catch {
    return undefined;
  }
}
