/**
 * What the engine checks around a stage's `run`, before anything of it is stored:
 *
 * - its inputs from upstream stages (cache objects) match their hashes before it starts and
 *   still do when it returns ({@link InputGuard}): a stage that writes into an input (even after
 *   a chmod) fails, named, and the damaged object is not used again. Objects cannot be made
 *   unwritable for code that runs as their owner, so this is detection, not prevention: the
 *   check is the stat cache's (size, mtime, ctime, inode; a change of content or mode changes
 *   the ctime), and a file whose stat changed is read again;
 * - its outputs hold only files and folders ({@link checkOutput}): a symbolic link, a FIFO, a
 *   socket or a device, at the top of an output or inside a directory output, fails the stage
 *   before the engine stores, hashes or materialises it, so that nothing outside the staging
 *   folder is read, linked or made read-only.
 *
 * Both are faults of the stage's code (exit 1), not of the user's configuration.
 *
 * @module
 */

import { StageError } from "../errors.ts";
import { relative } from "../paths.ts";
import type { Cache } from "../store/cache.ts";
import type { ResolvedStage } from "../core/pipeline.ts";
import { walkOwned } from "../lib/owned.ts";
import type { StoredOutput } from "../core/result.ts";

function shown(path: string): string {
  return relative(Deno.cwd(), path) || path;
}

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
 * @param name The output's name.
 * @param path Where the stage wrote it (its staging path).
 * @throws {StageError} Naming the output and the entry, when it is anything else (the line
 *   that reports it names the stage).
 */
export function checkOutput(name: string, path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return;
  }
  if (info.isFile) return;
  if (!info.isDirectory) {
    throw new StageError(`it wrote ${describe(path, info)} as its output "${name}": ${FIX}`);
  }
  const { other } = walkOwned(path);
  if (!other.length) return;
  const entry = other[0]!;
  const what = describe(`${path}/${entry}`, Deno.lstatSync(`${path}/${entry}`));
  const more = other.length > 1 ? ` (and ${other.length - 1} more such entries)` : "";
  throw new StageError(`it wrote ${what} at "${entry}" in its output "${name}"${more}: ${FIX}`);
}

/** An upstream object a stage reads. */
interface Watched {
  /** The stage's input name. */
  input: string;
  /** The stage that made it, and the output it is. */
  producer: string;
  output: string;
  stored: StoredOutput;
  path: string;
}

/** The stages of this process running now, by the objects they read (to name them). */
const readers = new Map<string, Set<string>>();

/**
 * The check of a stage's inputs from upstream stages, before it runs ({@link InputGuard.start})
 * and after ({@link InputGuard.finish}).
 */
export class InputGuard {
  readonly #stage: string;
  readonly #cache: Cache;
  readonly #watched: Watched[];

  private constructor(stage: string, cache: Cache, watched: Watched[]) {
    this.#stage = stage;
    this.#cache = cache;
    this.#watched = watched;
  }

  /**
   * Checks that a stage's upstream inputs match their hashes, and starts following them.
   * Call {@link release} when the stage is done, whatever happened.
   *
   * @param stage The stage.
   * @param upstream Outputs of its upstream stages, by stage id.
   * @param cache The cache holding them.
   * @returns The guard, to {@link finish} when the stage returns.
   * @throws {Error} When an input no longer matches its hash: the stage must not run on it.
   */
  static async start(
    stage: ResolvedStage,
    upstream: Map<string, Record<string, StoredOutput>>,
    cache: Cache,
  ): Promise<InputGuard> {
    const watched: Watched[] = [];
    for (const [input, wired] of Object.entries(stage.inputs)) {
      if (wired.kind !== "stage") continue;
      const stored = upstream.get(wired.stage)![wired.output]!;
      const path = cache.objectPath(stored);
      watched.push({ input, producer: wired.stage, output: wired.output, stored, path });
    }
    const guard = new InputGuard(stage.id, cache, watched);
    for (const w of watched) {
      if (await cache.verify(w.stored)) continue;
      throw new Error(
        `The input "${w.input}" of stage "${stage.id}" (the output "${w.output}" of stage ` +
          `"${w.producer}", ${shown(w.path)}) no longer matches its hash: it was changed after ` +
          `"${w.producer}" made it, by another stage or by hand: "${stage.id}" did not run, and ` +
          `"${w.producer}" runs again next time`,
      );
    }
    for (const w of watched) {
      let set = readers.get(w.path);
      if (!set) readers.set(w.path, set = new Set());
      set.add(stage.id);
    }
    return guard;
  }

  /**
   * Checks, after the stage returned, that its inputs still match their hashes (a stat each,
   * and a read of what changed).
   *
   * @throws {StageError} Naming the input, when one changed while it ran.
   */
  async finish(): Promise<void> {
    for (const w of this.#watched) {
      if (await this.#cache.verify(w.stored)) continue;
      const others = [...readers.get(w.path) ?? []].filter((id) => id !== this.#stage);
      const also = others.length
        ? ` (or ${others.map((id) => `"${id}"`).join(", ")}, which read it at the same time, did)`
        : "";
      throw new StageError(
        `it changed its input "${w.input}" while it ran${also}: the output ` +
          `"${w.output}" of stage "${w.producer}" (${shown(w.path)}) no longer matches its ` +
          `hash: a stage must not write to its inputs (write to ctx.output() or ctx.scratch): ` +
          `"${w.producer}" runs again next time`,
      );
    }
  }

  /** Stops following the inputs (call it once the stage is done, whatever happened). */
  release(): void {
    for (const w of this.#watched) {
      const set = readers.get(w.path);
      set?.delete(this.#stage);
      if (set?.size === 0) readers.delete(w.path);
    }
  }
}
