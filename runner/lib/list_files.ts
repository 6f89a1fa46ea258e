/**
 * The files of a directory tree, for hashing a directory (an output, a path parameter, a
 * cache object), with the engine's rules for links: followed within bounds, or refused.
 *
 * @module
 */

import { UserError } from "../errors.ts";

/** Options for {@link listFiles}. */
export interface ListFilesOptions {
  /**
   * Whether a symbolic link may be followed to this real path (for example: is it inside the
   * project); a link it refuses is a user error. Without it every link is followed.
   */
  follow?: (realPath: string) => boolean;
  /**
   * `refuse`: a symbolic link is an error, never followed (a cache object holds only files and
   * directories). Default `follow`.
   */
  links?: "follow" | "refuse";
}

/**
 * Relative paths of all files under a directory, sorted. Symbolic links are followed, to files
 * and to directories (their files are listed under the link's name), unless `links: "refuse"`
 * makes any link an error; a dangling link, a link that `follow` refuses, a link back to a directory that contains it (a cycle), an entry that is
 * neither a file nor a directory (a socket, a device, a FIFO) and a directory that cannot be read
 * are user errors naming the entry.
 *
 * @param dir The directory (absolute).
 * @param options Whether links are followed, and which link targets may be.
 * @returns Paths relative to `dir`, `/`-separated, sorted.
 * @throws {UserError} For the entries above.
 */
export async function listFiles(dir: string, options: ListFilesOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const fix = "remove it, or point the parameter at a directory without it";
  const readError = (what: string, error: unknown) => {
    const reason = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (error as Error).message;
    return new UserError(`Cannot read ${what}: ${reason}: check its permissions, or ${fix}`);
  };
  // `chain` holds the real paths of the directories being walked, outermost first.
  const walk = async (sub: string, chain: string[]) => {
    const path = sub ? `${dir}/${sub}` : dir;
    const entries: Deno.DirEntry[] = [];
    try {
      for (const entry of Deno.readDirSync(path)) entries.push(entry); // sync: as hashFile
    } catch (error) {
      throw readError(`directory "${path}"`, error);
    }
    const here = chain[chain.length - 1]!;
    for (const entry of entries) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      const full = `${dir}/${rel}`;
      let real = `${here}/${entry.name}`;
      let info: Deno.FileInfo | undefined;
      if (entry.isSymlink && options.links === "refuse") {
        throw new UserError(
          `"${full}" is a symbolic link, where only files and directories may be: remove it`,
        );
      }
      if (entry.isSymlink) {
        try {
          real = Deno.realPathSync(full);
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) {
            throw new UserError(
              `"${full}" is a symbolic link to nothing (dangling): ${fix}, or restore its target`,
            );
          }
          throw readError(`symbolic link "${full}"`, error);
        }
        if (options.follow && !options.follow(real)) {
          throw new UserError(
            `"${full}" is a symbolic link to a path outside the project: ${fix}, or allow its ` +
              "target explicitly (allow_outside: in the pipeline file, or --allow-outside)",
          );
        }
        try {
          info = Deno.statSync(real);
        } catch (error) {
          throw readError(`"${full}"`, error);
        }
      }
      const isDir = info ? info.isDirectory : entry.isDirectory;
      const isFile = info ? info.isFile : entry.isFile;
      if (isDir) {
        if (chain.some((c) => c === real || c.startsWith(`${real}/`) || real === "/")) {
          throw new UserError(
            `"${full}" is a symbolic link to a directory that contains it (a cycle): ${fix}`,
          );
        }
        await walk(rel, [...chain, real]);
      } else if (isFile) {
        out.push(rel);
      } else {
        throw new UserError(
          `"${full}" is neither a file nor a directory (a socket, a device or a FIFO): ${fix}`,
        );
      }
    }
  };
  let top: string;
  try {
    top = Deno.realPathSync(dir);
  } catch (error) {
    throw readError(`directory "${dir}"`, error);
  }
  await walk("", [top]);
  return out.sort();
}
