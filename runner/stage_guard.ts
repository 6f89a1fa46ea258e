/**
 * What the engine checks around a stage's `run`, before anything of it is stored:
 *
 * - its outputs hold only files and folders ({@link checkOutput}): a symbolic link, a FIFO, a
 *   socket or a device, at the top of an output or inside a directory output, fails the stage
 *   before the engine stores, hashes or materialises it, so that nothing outside the staging
 *   folder is read, linked or made read-only.
 *
 * It is a fault of the stage's code (exit 1), not of the user's configuration.
 *
 * @module
 */

import { walkOwned } from "./owned.ts";

/** What an entry that is neither a file nor a folder is, for a message. */
function describe(path: string, info: Deno.FileInfo): string {
  if (info.isSymlink) {
    let target = "";
    try {
      target = ` (to "${Deno.readLinkSync(path)}")`;
    } catch { /* unreadable */ }
    return `a symbolic link${target}`;
  }
  if (info.isFifo) return "a FIFO";
  if (info.isSocket) return "a socket";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  return "neither a file nor a folder";
}

const FIX = "an output holds only files and folders: write the content itself " +
  "(copy what a link points to)";

/**
 * Checks what a stage wrote for one output: a file or a folder, and in a folder only files and
 * folders. A missing output is left to the caller. Links are not followed.
 *
 * @param stage The stage id.
 * @param name The output's name.
 * @param path Where the stage wrote it (its staging path).
 * @throws {Error} Naming the stage, the output and the entry, when it is anything else.
 */
export function checkOutput(stage: string, name: string, path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return;
  }
  if (info.isFile) return;
  if (!info.isDirectory) {
    throw new Error(
      `Stage "${stage}" wrote ${describe(path, info)} as its output "${name}": ${FIX}`,
    );
  }
  const { other } = walkOwned(path);
  if (!other.length) return;
  const entry = other[0]!;
  const what = describe(`${path}/${entry}`, Deno.lstatSync(`${path}/${entry}`));
  const more = other.length > 1 ? ` (and ${other.length - 1} more such entries)` : "";
  throw new Error(
    `Stage "${stage}" wrote ${what} at "${entry}" in its output "${name}"${more}: ${FIX}`,
  );
}
