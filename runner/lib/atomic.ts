/**
 * Writing a file atomically: a temp file next to it (`<name>.tmp-<pid>-<hex>`), then a rename,
 * so that a reader (or a run killed midway) never sees half of it, and a link at the path is
 * replaced, never written through.
 *
 * @module
 */

/** Writes text atomically: a temp file in the same directory, then a rename. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/** {@link writeAtomic} with sync file operations (for the lock's small files). */
export function writeAtomicSync(path: string, text: string): void {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    Deno.writeTextFileSync(tmp, text);
    Deno.renameSync(tmp, path);
  } catch (error) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not there */ }
    throw error;
  }
}

/** Name of a temp file `writeAtomic` (or materialisation) leaves when killed: `<pid>` group. */
export const TEMP_NAME = /\.tmp-(\d+)(?:-[0-9a-f]{8})?$/;
