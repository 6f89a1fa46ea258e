/**
 * A cache that cannot be written (a read-only file system, no permission, a run without
 * `--allow-write` to `.pipeline`): a fully cached run is served as usual, and what must be
 * written then fails with one {@link ReadOnlyCacheError}.
 *
 * @module
 */

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
