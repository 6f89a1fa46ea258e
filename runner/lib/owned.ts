/**
 * The folders the engine owns, `.pipeline/` and `out/`, and the one way it deletes in them:
 * never through a symbolic link.
 *
 * - {@link checkOwned} runs before a run (or `pull`, `verify --repair`) writes anything: a
 *   folder the engine writes in that is a link to a directory outside the project is refused
 *   (a user error, exit 2), since every write there would land outside.
 * - {@link removeOwned} is how the engine removes a file, a link or a folder: a link is removed
 *   itself, never what it points to; a folder's content is removed without following the links
 *   in it; and nothing is removed when the folder that holds the path is, through a link,
 *   outside the project.
 * - {@link listOwned} lists a folder only when it is one (not a link to one), and
 *   {@link walkOwned} walks a tree without following links, so that what the engine deletes
 *   from a listing is never found through a link.
 *
 * "The project" here is the folder that holds `.pipeline` (or `out`): the project root for the
 * default places, the parent folder for a cache or out directory given explicitly.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { basename, dirname, relative } from "../paths.ts";

/** Whether `path` is `bound` or inside it (both real, absolute paths). */
export function isInside(path: string, bound: string): boolean {
  return path === bound || path.startsWith(bound.endsWith("/") ? bound : `${bound}/`);
}

/**
 * The real path of a path: links resolved; for a path that does not exist (yet), the real path
 * of its nearest existing folder with the rest appended.
 */
export function realPathOf(path: string): string {
  try {
    return Deno.realPathSync(path);
  } catch {
    const up = dirname(path);
    return up === path ? path : `${realPathOf(up).replace(/\/$/, "")}/${basename(path)}`;
  }
}

function shown(path: string): string {
  return relative(Deno.cwd(), path) || path;
}

/** A folder the engine writes in is a symbolic link to a directory outside the project. */
export class OutsideLinkError extends UserError {
  /** The link. */
  readonly link: string;
  /** Where it leads (its real path). */
  readonly target: string;
  /**
   * Creates the error.
   *
   * @param link The link.
   * @param target Its real path.
   * @param project The project it leads out of.
   */
  constructor(link: string, target: string, project: string) {
    super(
      `"${shown(link)}" is a symbolic link to "${target}", outside the project ${project}: ` +
        `the engine writes and deletes in that folder, so it does not follow links out of ` +
        `the project: remove the link (rm "${shown(link)}"; the engine makes the folder ` +
        `again), or mount the other disk at "${shown(link)}" instead of linking to it`,
    );
    this.name = "OutsideLinkError";
    this.link = link;
    this.target = target;
  }
}

/**
 * The folders {@link checkOwned} looks into, by name, with how many levels below them it
 * checks too (`objects: 1`: the shards `objects/ab/`).
 */
export type OwnedFolders = Record<string, number>;

/**
 * Checks a folder the engine owns and the folders in it that it writes in: any that is a
 * symbolic link to a directory outside `bound` is refused. A link to a file, or to nothing, is
 * left alone (the engine replaces such an entry, or fails to write through it, but never writes
 * outside through it); a link inside the project is followed. Sync, as the cache lock: a no-op
 * run makes a handful of these calls.
 *
 * @param dir The folder (`.pipeline`, `out`, `out/<pipeline>`).
 * @param bound The real path of the project.
 * @param below The folders in `dir` to check, by name, each with how many levels below it are
 *   checked too; a number checks every folder in `dir`, that many levels deep.
 * @throws {OutsideLinkError} For the first link that leads out of the project.
 */
export function checkOwned(dir: string, bound: string, below: OwnedFolders | number = 0): void {
  const visit = (path: string, depth: OwnedFolders | number) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch {
      return; // Not there: the engine makes it.
    }
    if (info.isSymlink) {
      let real: string;
      try {
        real = Deno.realPathSync(path);
        if (!Deno.statSync(real).isDirectory) return;
      } catch {
        return; // A link to nothing.
      }
      if (!isInside(real, bound)) throw new OutsideLinkError(path, real, bound);
    } else if (!info.isDirectory) {
      return;
    }
    if (depth === 0) return;
    let names: string[];
    try {
      names = typeof depth === "number"
        ? [...Deno.readDirSync(path)].filter((e) => e.isDirectory || e.isSymlink).map((e) => e.name)
        : Object.keys(depth);
    } catch {
      return;
    }
    for (const name of names) {
      visit(`${path}/${name}`, typeof depth === "number" ? depth - 1 : depth[name]!);
    }
  };
  visit(dir, below);
}

/**
 * Removes a file, a link or a folder and what it holds, never through a link: a link is removed
 * itself (not what it points to), a folder's links are removed, not followed; a path that is
 * not there is no error.
 *
 * @param path What to remove.
 * @param bound The real path of the project: nothing is removed when the real location of the
 *   folder holding `path` is outside it (a folder on the way is a link out of the project).
 * @throws {OutsideLinkError} When the folder holding `path` is outside `bound`.
 */
export async function removeOwned(path: string, bound: string): Promise<void> {
  const holder = realPathOf(dirname(path));
  if (!isInside(holder, bound)) throw new OutsideLinkError(dirname(path), holder, bound);
  // Deno.remove works on the path itself (lstat, unlink or rmdir), and a recursive removal
  // removes the links it meets, without following them.
  await Deno.remove(path, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
}

/**
 * What is under a folder, without following links: the files, and every entry that is neither
 * a file nor a folder (links, FIFOs, sockets, devices), whose content is not walked.
 *
 * @param dir The folder (itself not a link: check it with `Deno.lstat` first).
 * @returns Paths relative to `dir`, `/`-separated, each list sorted.
 */
export function walkOwned(dir: string): { files: string[]; other: string[] } {
  const files: string[] = [];
  const other: string[] = [];
  const visit = (sub: string) => {
    for (const entry of Deno.readDirSync(sub ? `${dir}/${sub}` : dir)) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) visit(rel);
      else if (entry.isFile) files.push(rel);
      else other.push(rel);
    }
  };
  visit("");
  return { files: files.sort(), other: other.sort() };
}

/**
 * The entries of a folder, none when it is not there or is not a folder (a link to one is not
 * listed through), for what the engine deletes from a listing.
 *
 * @param dir The folder.
 * @returns Its entries (Deno's DirEntry: `isSymlink` for a link, which is neither file nor folder).
 */
export function listOwned(dir: string): Deno.DirEntry[] {
  try {
    if (!Deno.lstatSync(dir).isDirectory) return [];
    return [...Deno.readDirSync(dir)];
  } catch {
    return [];
  }
}
