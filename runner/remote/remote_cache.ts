/**
 * The shared remote cache of a run: stage results on S3-compatible storage or in a shared
 * directory (any scheme of schemes.ts). Pushing uploads objects first and the run record last,
 * so a push cut short never leaves a record whose objects are missing; an object already there
 * is not uploaded again (its name is its content). Pulling checks everything: the record's
 * shape and key, every object's content against its name, a directory's list against its tree
 * hash; then the local cache stores it through its own path (which hashes it once more).
 * Anything that does not match is reported and treated as a miss: the stage runs, and its push
 * replaces what was damaged (pull.ts, push.ts; how results lie on a remote: _wire.ts).
 *
 * A remote that cannot be used (down, too slow, refusing) turns into one warning, and the run
 * goes on locally; with `require` it is a {@link RemoteUnavailableError} (a user error).
 *
 * @module
 */

import { UserError } from "../errors.ts";
import type { StageDefinition } from "../stage.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import { recordKey } from "./_wire.ts";
import { pullResult } from "./pull.ts";
import { pushResult } from "./push.ts";
import { markRejected } from "./rejected.ts";
import { parseRemote } from "./schemes.ts";
import type { Session, TransferCount } from "./session.ts";
import { RemoteFailure, type RemoteStore } from "./store.ts";

/** The remote could not be used and `--require-remote` was given. */
export class RemoteUnavailableError extends UserError {
  /**
   * @param remote The remote, as displayed (no credentials).
   * @param failure What went wrong.
   */
  constructor(remote: string, failure: RemoteFailure, requiredBy?: string) {
    super(
      `The remote cache ${remote} cannot be used: ${failure.message}, and ` +
        (requiredBy ? `${requiredBy} needs it: ${failure.hint}` : `--require-remote is given: ` +
          `${failure.hint}; or run without --require-remote to work locally`),
    );
    this.name = "RemoteUnavailableError";
  }
}

/** Options of {@link openRemote}. */
export interface OpenOptions {
  /** A remote that cannot be used is an error, not a warning. */
  require: boolean;
  /** The command that needs the remote (`push`, `pull`), for that error. */
  requiredBy?: string;
  /** The environment (AWS variables). */
  env: (name: string) => string | undefined;
  /** Where the single warning (and reports of damaged remote entries) go. */
  warn: (line: string) => void;
}

/** The remote cache of a run. */
export class RemoteCache {
  /** The remote as written (`s3://bucket/prefix`, `file:///dir`): no credentials. */
  readonly display: string;
  #store: RemoteStore | undefined;
  #options: OpenOptions;
  #failed = false;
  /** Remote names found damaged or missing in this run: a push writes them again. */
  #rewrite = new Set<string>();

  /** @internal Use {@link openRemote}. */
  constructor(display: string, store: RemoteStore | undefined, options: OpenOptions) {
    this.display = display;
    this.#store = store;
    this.#options = options;
  }

  /** Whether the remote may still be used in this run (false after a failure). */
  get usable(): boolean {
    return this.#store !== undefined && !this.#failed;
  }

  /** Where requests go (for a message). */
  get where(): string {
    return this.#store?.where ?? this.display;
  }

  /**
   * Turns a failure into the run's single warning (then the remote is off for the run), or
   * into a {@link RemoteUnavailableError} under `require`.
   */
  fail(failure: RemoteFailure): void {
    const scrubbed = new RemoteFailure(
      this.#scrub(failure.message),
      this.#scrub(failure.hint),
    );
    if (this.#options.require) {
      throw new RemoteUnavailableError(this.display, scrubbed, this.#options.requiredBy);
    }
    if (!this.#failed) {
      this.#options.warn(
        `warning: the remote cache ${this.display} cannot be used: ${scrubbed.message} ` +
          `(${scrubbed.hint}); working locally for the rest of this run, nothing is pulled ` +
          "or pushed (--require-remote makes this an error)",
      );
    }
    this.#failed = true;
  }

  #scrub(text: string): string {
    return this.#store ? this.#store.scrub(text) : text;
  }

  /** Runs remote work; a failure warns (or throws) and gives undefined. */
  async #guard<T>(work: (session: Session) => Promise<T>): Promise<T | undefined> {
    if (!this.#store || this.#failed) return undefined;
    const session: Session = {
      store: this.#store,
      display: this.display,
      rewrite: this.#rewrite,
      warn: this.#options.warn,
    };
    try {
      return await work(session);
    } catch (error) {
      if (!(error instanceof RemoteFailure)) throw error;
      this.fail(error);
      return undefined;
    }
  }

  /**
   * Looks a stage key up in the remote and, when it is there and whole, stores the record and
   * its objects in the local cache (verified). Damage is reported with `stage`'s name.
   *
   * A record must be one of the stage's kind, with exactly the outputs it declares, each of
   * the declared kind (file or directory), and a file that names its artifact type on its first
   * line (`{"artifact": "ner-label-ids", …}`) must name the declared one. A record that a stage
   * rejected as its input before (see {@link reject}) is not used again.
   *
   * @param key The stage key.
   * @param declared The stage kind: its name and declared outputs.
   * @param cache The local cache, locked for writing.
   * @param stage The stage's name, for messages.
   * @returns The record, or undefined for a miss (absent, damaged, or remote not usable).
   */
  pull(
    key: string,
    declared: Pick<StageDefinition, "name" | "outputs">,
    cache: Cache,
    stage: string,
    count?: TransferCount,
  ): Promise<RunRecord | undefined> {
    return this.#guard((session) => pullResult(session, key, declared, cache, stage, count));
  }

  /**
   * A stage rejected a pulled result as its input (an {@link InputError}): the local record is
   * removed, so that its stage runs again, and the remote's record is remembered as rejected
   * (`.pipeline/remote-rejected.json`), so that it is not pulled again and the next push
   * replaces it.
   *
   * @param record The pulled record (local).
   * @param cache The local cache, locked for writing.
   */
  async reject(record: RunRecord, cache: Cache): Promise<void> {
    await markRejected(cache, record);
    await cache.removeRecord(record.key);
    this.#rewrite.add(recordKey(record.key));
  }

  /**
   * Uploads a stage's result: each object not there yet (or found damaged in this run), then
   * the run record. Objects are read from the local cache and checked against their names
   * first; a damaged local object is not pushed (nor its record).
   *
   * @returns What was uploaded, or undefined when the remote is not usable or a local object
   *   was damaged (reported).
   */
  push(record: RunRecord, cache: Cache, count?: TransferCount): Promise<boolean> {
    return this.#guard((session) => pushResult(session, record, cache, count))
      .then((ok) => ok ?? false);
  }
}

/**
 * Opens a remote. A misconfiguration (AWS variables) is the run's single warning and leaves
 * the remote unusable, or under `require` a {@link RemoteUnavailableError}.
 *
 * @param url A location of a registered scheme, already checked where it was written.
 */
export async function openRemote(url: string, options: OpenOptions): Promise<RemoteCache> {
  const parsed = parseRemote(url);
  if ("problem" in parsed) {
    // Checked where it was written (pipeline or NERPIPE_REMOTE); here only as a last guard.
    throw new UserError(`${parsed.problem}: ${parsed.hint}`);
  }
  let store: RemoteStore;
  try {
    store = await parsed.open(options.env);
  } catch (error) {
    if (!(error instanceof RemoteFailure)) throw error;
    const remote = new RemoteCache(parsed.display, undefined, options);
    remote.fail(error);
    return remote;
  }
  return new RemoteCache(parsed.display, store, options);
}
