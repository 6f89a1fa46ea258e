/**
 * The shared remote cache: stage results on S3-compatible storage or in a shared directory.
 *
 * ```
 * <remote>/objects/ab/abcd…        a file object, named by its sha256
 * <remote>/objects/ab/abcd….d.json a directory object: its files' paths and hashes (the files
 *                                  are file objects)
 * <remote>/runs/<key>.json         a run record, as in the local cache
 * ```
 *
 * Pushing uploads objects first and the run record last, so a push cut short never leaves a
 * record whose objects are missing; an object already there is not uploaded again (its name is
 * its content). Pulling checks everything: the record's shape and key, every object's content
 * against its name, a directory's list against its tree hash; then the local cache stores it
 * through its own path (which hashes it once more). Anything that does not match is reported
 * and treated as a miss: the stage runs, and its push replaces what was damaged.
 *
 * A remote that cannot be used (down, too slow, refusing) turns into one warning, and the run
 * goes on locally; with `require` it is a {@link RemoteUnavailableError} (a user error).
 *
 * @module
 */

import { type Cache, isStoredOutput, type RunRecord } from "./store/cache.ts";
import { outputKind, type StageDefinition } from "./stage.ts";
import { UserError } from "./errors.ts";
import { diskFullError, formatBytes, freeBytes, isDiskFull } from "./lib/disk_full.ts";
import { ObjectTooLarge, RemoteFailure, S3Client } from "./_s3.ts";
import { parseRemote } from "./remote_url.ts";
import type { StoredOutput } from "./core/result.ts";
import { hashFileContent, isHash, sha256 } from "./lib/digest.ts";
import { listFiles } from "./lib/list_files.ts";
import { writeAtomic } from "./lib/atomic.ts";

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

/** A remote's objects: what a client of S3, or a directory, must do. */
interface Store {
  /** Where it is, for messages (never with credentials). */
  readonly where: string;
  /**
   * Reads an object as it comes, giving each chunk to `sink` (which may keep it): the bytes
   * read, or undefined when there is no such object.
   *
   * @throws {ObjectTooLarge} Past `limit` bytes (nothing more is read).
   */
  read(
    key: string,
    limit: number,
    sink: (chunk: Uint8Array) => Promise<void>,
  ): Promise<number | undefined>;
  has(key: string): Promise<boolean>;
  put(key: string, body: Uint8Array, sha256?: string): Promise<void>;
  /**
   * Writes an object only where there is none; false when one is there (a run record that
   * another clone pushed first is never replaced).
   */
  create(key: string, body: Uint8Array): Promise<boolean>;
  scrub(text: string): string;
}

/** A directory remote (NFS and other shared file systems): files written by rename. */
class DirStore implements Store {
  readonly where: string;
  #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
    this.where = dir;
  }
  async #root(): Promise<void> {
    try {
      if ((await Deno.stat(this.#dir)).isDirectory) return;
    } catch (error) {
      throw this.#failure(error);
    }
    throw new RemoteFailure(`${this.#dir} is not a directory`, "point the remote at a directory");
  }
  #failure(error: unknown): RemoteFailure {
    if (error instanceof Deno.errors.NotFound) {
      return new RemoteFailure(
        `${this.#dir} does not exist`,
        "create it, or mount the shared file system that holds it",
      );
    }
    if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
    ) {
      return new RemoteFailure(
        `${this.#dir} may not be read or written`,
        "grant this user (and Deno's --allow-read/--allow-write) access to it",
      );
    }
    const message = String((error as Error)?.message ?? error).split("\n")[0];
    return new RemoteFailure(`${this.#dir} cannot be used (${message})`, "check the directory");
  }
  async read(
    key: string,
    limit: number,
    sink: (chunk: Uint8Array) => Promise<void>,
  ): Promise<number | undefined> {
    await this.#root();
    let file: Deno.FsFile;
    try {
      // Only a plain file is read: a device or a FIFO put in the remote never ends.
      if (!(await Deno.stat(`${this.#dir}/${key}`)).isFile) return undefined;
      file = await Deno.open(`${this.#dir}/${key}`, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw this.#failure(error);
    }
    try {
      let bytes = 0;
      for (;;) {
        const buffer = new Uint8Array(Math.min(CHUNK, limit - bytes + 1));
        let n: number | null;
        try {
          n = await file.read(buffer);
        } catch (error) {
          throw this.#failure(error);
        }
        if (n === null) return bytes;
        bytes += n;
        if (bytes > limit) throw new ObjectTooLarge(limit);
        await sink(buffer.subarray(0, n));
      }
    } finally {
      file.close();
    }
  }
  async has(key: string): Promise<boolean> {
    await this.#root();
    try {
      return (await Deno.stat(`${this.#dir}/${key}`)).isFile;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw this.#failure(error);
    }
  }
  async put(key: string, body: Uint8Array): Promise<void> {
    await this.#root();
    const path = `${this.#dir}/${key}`;
    const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(tmp, body);
      await Deno.rename(tmp, path);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw this.#failure(error);
    }
  }
  async create(key: string, body: Uint8Array): Promise<boolean> {
    await this.#root();
    const path = `${this.#dir}/${key}`;
    const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(tmp, body);
      // A hard link is made only where no file is: the file system decides who was first.
      await Deno.link(tmp, path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw this.#failure(error);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }
  scrub(text: string): string {
    return text;
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

/** What a pull or push did, for the `pull` and `push` commands. */
export interface TransferCount {
  /** Objects (files) downloaded or uploaded. */
  moved: number;
  /** Objects already there (not moved again). */
  present: number;
  /** Bytes downloaded or uploaded. */
  bytes: number;
}

/** A directory object's listing: relative path to file hash. */
interface DirListing {
  format: 1;
  files: Record<string, string>;
}

/** A relative path inside a directory object that is safe to create. */
function safeRelative(path: string): boolean {
  return path.length > 0 && path.length < 4096 && !path.startsWith("/") &&
    path.split("/").every((p) => p !== "" && p !== "." && p !== ".." && !p.includes("\\")) &&
    !/[\0]/.test(path);
}

/** The tree hash of a listing, as `StatCache.hashDir` computes it. */
async function treeHash(files: Record<string, string>): Promise<string> {
  const lines = Object.keys(files).sort().map((rel) => `${rel}\t${files[rel]}`);
  return await sha256(`tree\n${lines.join("\n")}`);
}

/**
 * The most bytes read of a run record: a record is a few hundred bytes, one that is longer is
 * not read past this.
 */
export const RECORD_BYTES = 1024 * 1024;
/**
 * The most bytes read of a directory object's listing (about 150,000 files at 100 bytes of
 * path and hash each).
 */
export const LISTING_BYTES = 16 * 1024 * 1024;
/** Bytes read from a directory remote at a time. */
const CHUNK = 1024 * 1024;

/** An object's whole bytes (records and listings: bounded, small). */
async function getBytes(store: Store, key: string, limit: number): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  const n = await store.read(key, limit, (chunk) => {
    chunks.push(chunk.slice());
    return Promise.resolve();
  });
  if (n === undefined) return undefined;
  const out = new Uint8Array(n);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Streams an object into a new file; the bytes written, or undefined when there is none. */
async function download(
  store: Store,
  key: string,
  path: string,
  limit: number,
): Promise<number | undefined> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    return await store.read(key, limit, async (chunk) => {
      try {
        for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
      } catch (error) {
        // A write names no file: this one.
        throw isDiskFull(error) ? await diskFullError(error, path) : error;
      }
    });
  } finally {
    file.close();
  }
}

const objectKey = (hash: string) => `objects/${hash.slice(0, 2)}/${hash}`;
const listingKey = (hash: string) => `objects/${hash.slice(0, 2)}/${hash}.d.json`;
const recordKey = (key: string) => `runs/${key}.json`;

/** Something the remote holds is not what its name says: the stage is recomputed. */
class Damaged extends Error {}

/** The remote cache of a run. */
export class RemoteCache {
  /** The remote as written (`s3://bucket/prefix`, `file:///dir`): no credentials. */
  readonly display: string;
  #store: Store | undefined;
  #options: OpenOptions;
  #failed = false;
  /** Remote names found damaged or missing in this run: a push writes them again. */
  #rewrite = new Set<string>();

  /** @internal Use {@link openRemote}. */
  constructor(display: string, store: Store | undefined, options: OpenOptions) {
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
  async #guard<T>(work: (store: Store) => Promise<T>): Promise<T | undefined> {
    if (!this.#store || this.#failed) return undefined;
    try {
      return await work(this.#store);
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
    return this.#guard(async (store) => {
      if (!isHash(key)) return undefined;
      let record: RunRecord | string | undefined;
      try {
        const bytes = await getBytes(store, recordKey(key), RECORD_BYTES);
        if (bytes === undefined) return undefined;
        record = parseRecord(bytes, key, Object.keys(declared.outputs));
        if (typeof record !== "string") {
          record = undeclared(record, declared, stage) ??
            (await rejected(cache, record) ? REJECTED_BEFORE : record);
        }
      } catch (error) {
        if (!(error instanceof ObjectTooLarge)) throw error;
        record = `it is longer than ${formatBytes(RECORD_BYTES)}`;
      }
      if (typeof record === "string") {
        this.#damaged(stage, `its run record (runs/${key}.json) is not used: ${record}`);
        this.#rewrite.add(recordKey(key));
        return undefined;
      }
      // What the record declares must fit where the local cache is (a pull is a copy).
      const bytes = Object.values(record.outputs).reduce((n, o) => n + o.size!, 0);
      const free = await freeBytes(cache.dir);
      if (free !== undefined && bytes > free) {
        this.#options.warn(
          `  not pulled: the result of ${stage} in the remote cache ${this.display} is ` +
            `${formatBytes(bytes)}, and ${cache.dir} has ${formatBytes(free)} free; the ` +
            "stage runs here",
        );
        return undefined;
      }
      try {
        for (const [name, output] of Object.entries(record.outputs)) {
          await this.#fetchOutput(store, cache, output, name, stage, count);
          const type = declared.outputs[name]!.type;
          const named = output.kind === "file" ? await artifactType(cache.objectPath(output)) : "";
          if (named && named !== type) {
            throw new Damaged(
              `its output "${name}" is a "${named}" artifact, where ${stage} (${declared.name}) ` +
                `declares "${type}"`,
            );
          }
        }
        // Marked as pulled: a stage that rejects it as its input has it dropped (reject).
        await cache.writeRecord({ ...record, pulled: this.display });
      } catch (error) {
        if (isDiskFull(error)) {
          // The local disk, not the remote: this stage is not pulled (what was written of it
          // is removed), and runs here, where the disk decides again.
          const full = await diskFullError(error, cache.dir);
          this.#options.warn(`  not pulled: ${stage}: ${full.message}`);
          return undefined;
        }
        if (!(error instanceof Damaged)) throw error;
        this.#damaged(stage, error.message);
        // A record whose objects are damaged is replaced by this run's result.
        this.#rewrite.add(recordKey(key));
        return undefined;
      }
      return record;
    });
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
    const all = await readRejected(cache);
    all[record.key] = outputHashes(record);
    await writeAtomic(`${cache.dir}/${REJECTED_FILE}`, JSON.stringify(all, null, 1));
    await cache.removeRecord(record.key);
    this.#rewrite.add(recordKey(record.key));
  }

  #damaged(stage: string, what: string): void {
    this.#options.warn(
      `  the remote cache ${this.display} holds a damaged entry for ${stage}: ${what}; ` +
        "it is not used, the stage runs here and its push replaces it",
    );
  }

  async #fetchOutput(
    store: Store,
    cache: Cache,
    output: StoredOutput,
    name: string,
    stage: string,
    count: TransferCount | undefined,
  ): Promise<void> {
    if (await cache.verify(output, Infinity)) {
      if (count) count.present++;
      return;
    }
    const staging = await cache.staging(`${stage}-pull`);
    try {
      const target = `${staging}/out/${name}`;
      // No more is read than the record declares: a file object's size, or the total of a
      // directory's files.
      const size = output.size!;
      if (output.kind === "file") {
        await this.#object(store, output.hash, target, size, count);
      } else {
        const listing = await this.#listing(store, output.hash);
        await Deno.mkdir(target, { recursive: true });
        let left = size;
        for (const [rel, hash] of Object.entries(listing.files)) {
          const path = `${target}/${rel}`;
          await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
          const local = { hash, kind: "file" as const };
          if (await cache.verify(local, Infinity)) {
            const object = cache.objectPath(local);
            left -= (await Deno.stat(object)).size;
            if (left < 0) throw this.#larger(output, name, size);
            await Deno.copyFile(object, path);
            if (count) count.present++;
          } else {
            left -= await this.#object(
              store,
              hash,
              path,
              left,
              count,
              () => this.#larger(output, name, size),
            );
          }
        }
      }
      const stored = await cache.store(target, output.kind);
      if (stored.hash !== output.hash) {
        await cache.removeObject(stored).catch(() => {});
        this.#rewrite.add(output.kind === "dir" ? listingKey(output.hash) : objectKey(output.hash));
        throw new Damaged(`output "${name}" does not hash to the name it is stored under`);
      }
    } finally {
      cache.stat.forget(staging);
      await Deno.remove(staging, { recursive: true }).catch(() => {});
    }
  }

  /**
   * Downloads a file object into `path` (a new file), reading no more than `limit` bytes, and
   * checks it against its name.
   *
   * @param tooLarge The error past `limit` (by default: this object is larger than declared).
   * @returns Its size.
   */
  async #object(
    store: Store,
    hash: string,
    path: string,
    limit: number,
    count?: TransferCount,
    tooLarge?: () => Damaged,
  ): Promise<number> {
    const name = objectKey(hash);
    let bytes: number | undefined;
    try {
      bytes = await download(store, name, path, limit);
    } catch (error) {
      if (!(error instanceof ObjectTooLarge)) throw error;
      this.#rewrite.add(name);
      throw tooLarge?.() ?? new Damaged(
        `object ${hash.slice(0, 12)}… is larger than the ${limit} bytes its run record ` +
          `declares (${error.message}); no more was read`,
      );
    }
    if (bytes === undefined) {
      this.#rewrite.add(name);
      throw new Damaged(`object ${hash.slice(0, 12)}… is missing`);
    }
    if ((await hashFileContent(path)) !== hash) {
      this.#rewrite.add(name);
      throw new Damaged(
        `object ${hash.slice(0, 12)}… is damaged (its content does not match its name)`,
      );
    }
    if (count) {
      count.moved++;
      count.bytes += bytes;
    }
    return bytes;
  }

  /** A directory output's files are more than the bytes its run record declares. */
  #larger(output: StoredOutput, name: string, size: number): Damaged {
    this.#rewrite.add(listingKey(output.hash));
    return new Damaged(
      `the files of output "${name}" are larger than the ${size} bytes its run record ` +
        "declares; no more was read",
    );
  }

  /** A directory object's listing, checked against its tree hash. */
  async #listing(store: Store, hash: string): Promise<DirListing> {
    const name = listingKey(hash);
    const bad = (why: string) => {
      this.#rewrite.add(name);
      return new Damaged(`directory object ${hash.slice(0, 12)}… ${why}`);
    };
    let bytes: Uint8Array | undefined;
    try {
      bytes = await getBytes(store, name, LISTING_BYTES);
    } catch (error) {
      if (!(error instanceof ObjectTooLarge)) throw error;
      throw bad(`is longer than ${formatBytes(LISTING_BYTES)}`);
    }
    if (bytes === undefined) throw bad("is missing");
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      throw bad("is not JSON");
    }
    const files = (value as { files?: unknown })?.files;
    if (
      (value as { format?: unknown })?.format !== 1 || files === null ||
      typeof files !== "object" || Array.isArray(files) ||
      !Object.entries(files).every(([rel, h]) => safeRelative(rel) && isHash(h))
    ) {
      throw bad("is not a valid listing");
    }
    const listing = { format: 1 as const, files: files as Record<string, string> };
    if ((await treeHash(listing.files)) !== hash) throw bad("does not match its tree hash");
    return listing;
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
    return this.#guard(async (store) => {
      // A record already there is kept (another clone's result for the key); only one this
      // run found damaged is replaced.
      const runs = recordKey(record.key);
      const replace = this.#rewrite.has(runs);
      if (!replace) {
        const theirs = await this.#remoteRecord(store, record);
        if (theirs === "damaged") this.#rewrite.add(runs);
        else if (theirs && !sameOutputs(theirs, record)) return this.#kept(record, theirs);
      }
      // The record pushed declares each object's size: a pull reads no more than that.
      const { pulled: _pulled, ...own } = record;
      const sized: RunRecord = { ...own, outputs: {} };
      for (const [name, output] of Object.entries(record.outputs)) {
        const path = cache.objectPath(output);
        if (output.kind === "file") {
          if (
            !await cache.verify(output) ||
            !await this.#upload(store, objectKey(output.hash), path, output.hash, count)
          ) {
            return this.#localDamage(record, name);
          }
          sized.outputs[name] = { ...output, size: (await Deno.stat(path)).size };
          continue;
        }
        const files: Record<string, string> = {};
        let size = 0;
        for (const rel of await listFiles(path)) {
          const bytes = await Deno.readFile(`${path}/${rel}`);
          const hash = await sha256(bytes);
          files[rel] = hash;
          size += bytes.length;
          await this.#uploadBytes(store, objectKey(hash), bytes, hash, count);
        }
        if ((await treeHash(files)) !== output.hash) return this.#localDamage(record, name);
        sized.outputs[name] = { ...output, size };
        const listing = listingKey(output.hash);
        if (this.#rewrite.has(listing) || !await store.has(listing)) {
          const text = JSON.stringify({ format: 1, files } satisfies DirListing);
          await store.put(listing, new TextEncoder().encode(text));
          this.#rewrite.delete(listing);
        }
      }
      // Last: a record is only ever seen with all its objects in place.
      const bytes = new TextEncoder().encode(JSON.stringify(sized));
      if (this.#rewrite.has(runs)) {
        await store.put(runs, bytes);
        this.#rewrite.delete(runs);
        await forgetRejected(cache, record.key);
      } else if (!await store.create(runs, bytes)) {
        // Another clone pushed this key since it was looked up: its record stays.
        const theirs = await this.#remoteRecord(store, record);
        if (theirs && theirs !== "damaged" && !sameOutputs(theirs, record)) {
          return this.#kept(record, theirs);
        }
      }
      return true;
    }).then((ok) => ok ?? false);
  }

  /** The remote's record of a key, "damaged" when it is not a whole record of it. */
  async #remoteRecord(store: Store, record: RunRecord): Promise<RunRecord | "damaged" | undefined> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await getBytes(store, recordKey(record.key), RECORD_BYTES);
    } catch (error) {
      if (!(error instanceof ObjectTooLarge)) throw error;
      return "damaged";
    }
    if (bytes === undefined) return undefined;
    const theirs = parseRecord(bytes, record.key, Object.keys(record.outputs));
    return typeof theirs === "string" ? "damaged" : theirs;
  }

  /** Says that the remote keeps its own, different result for a key; the push is done. */
  #kept(record: RunRecord, theirs: RunRecord): true {
    const differs = Object.keys({ ...record.outputs, ...theirs.outputs }).sort()
      .filter((name) => theirs.outputs[name]?.hash !== record.outputs[name]?.hash);
    this.#options.warn(
      `  not pushed: the remote cache ${this.display} already holds another result of ` +
        `${record.stage} for its key (${differs.map((n) => `"${n}"`).join(", ")} ` +
        "differ): the remote's is kept, and other clones pull it (a stage whose outputs differ " +
        "between runs of one key is not deterministic, or depends on the machine it ran on)",
    );
    return true;
  }

  #localDamage(record: RunRecord, name: string): false {
    this.#options.warn(
      `  not pushed: the local object of output "${name}" of ${record.stage} is damaged ` +
        "(run deno task verify --repair)",
    );
    return false;
  }

  async #upload(
    store: Store,
    name: string,
    path: string,
    hash: string,
    count?: TransferCount,
  ): Promise<boolean> {
    if (!this.#rewrite.has(name) && await store.has(name)) {
      if (count) count.present++;
      return true;
    }
    const bytes = await Deno.readFile(path);
    if ((await sha256(bytes)) !== hash) return false;
    await this.#uploadBytes(store, name, bytes, hash, count, true);
    return true;
  }

  async #uploadBytes(
    store: Store,
    name: string,
    bytes: Uint8Array,
    hash: string,
    count?: TransferCount,
    checked = false,
  ): Promise<void> {
    if (!checked && !this.#rewrite.has(name) && await store.has(name)) {
      if (count) count.present++;
      return;
    }
    await store.put(name, bytes, hash);
    this.#rewrite.delete(name);
    if (count) {
      count.moved++;
      count.bytes += bytes.length;
    }
  }
}

/** Remote records that a stage of this clone rejected as its input: key -> output hashes. */
const REJECTED_FILE = "remote-rejected.json";
const REJECTED_BEFORE = "a stage that read it here rejected it as its input in an earlier run " +
  `(${REJECTED_FILE})`;

function outputHashes(record: RunRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(record.outputs).sort()) out[name] = record.outputs[name]!.hash;
  return out;
}

async function readRejected(cache: Cache): Promise<Record<string, Record<string, string>>> {
  try {
    const value = JSON.parse(await Deno.readTextFile(`${cache.dir}/${REJECTED_FILE}`));
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value;
  } catch { /* none, or not JSON: nothing rejected */ }
  return {};
}

/** Whether this remote record is one a stage here rejected (the same outputs). */
async function rejected(cache: Cache, record: RunRecord): Promise<boolean> {
  const all = await readRejected(cache);
  if (!Object.hasOwn(all, record.key)) return false;
  return JSON.stringify(all[record.key]) === JSON.stringify(outputHashes(record));
}

async function forgetRejected(cache: Cache, key: string): Promise<void> {
  const all = await readRejected(cache);
  if (!Object.hasOwn(all, key)) return;
  delete all[key];
  await writeAtomic(`${cache.dir}/${REJECTED_FILE}`, JSON.stringify(all, null, 1));
}

/**
 * Why a record does not fit the stage kind it was pulled for (another kind, outputs it does
 * not declare, or of another kind), or undefined when it fits.
 */
function undeclared(
  record: RunRecord,
  declared: Pick<StageDefinition, "name" | "outputs">,
  stage: string,
): string | undefined {
  if (record.kind !== declared.name) {
    return `it is a record of stage kind "${record.kind}", not "${declared.name}"`;
  }
  const extra = Object.keys(record.outputs).filter((n) => !Object.hasOwn(declared.outputs, n));
  if (extra.length) {
    return `it names outputs that ${stage} does not declare (${
      extra.map((n) => `"${n.slice(0, 64)}"`).join(", ")
    })`;
  }
  for (const [name, spec] of Object.entries(declared.outputs)) {
    const kind = outputKind(spec);
    if (record.outputs[name]!.kind !== kind) {
      return `its output "${name}" is a ${
        record.outputs[name]!.kind === "dir" ? "directory" : "file"
      }` +
        `, where ${stage} declares a ${kind === "dir" ? "directory" : "file"}`;
    }
  }
  return undefined;
}

/**
 * The artifact type a file names on its first line (`{"artifact": "ner-dataset", …}`, as the
 * NER stages' JSON Lines artifacts begin), or "" when it names none. Reads 4 KiB at most.
 */
async function artifactType(path: string): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(4096);
  const n = await file.read(head) ?? 0;
  const text = new TextDecoder().decode(head.subarray(0, n));
  const line = text.split("\n", 1)[0]!;
  if (!line.startsWith("{") || !/"artifact"/.test(line)) return "";
  try {
    const value = JSON.parse(line);
    return typeof value?.artifact === "string" ? value.artifact : "";
  } catch {
    return "";
  }
}

/** Whether two records of a key name the same objects under the same output names. */
function sameOutputs(a: RunRecord, b: RunRecord): boolean {
  const names = Object.keys(a.outputs).sort();
  if (names.join("\n") !== Object.keys(b.outputs).sort().join("\n")) return false;
  return names.every((name) =>
    a.outputs[name]!.hash === b.outputs[name]!.hash &&
    a.outputs[name]!.kind === b.outputs[name]!.kind
  );
}

/**
 * A run record read from the remote, or why it is not a whole record of `key` (each output
 * with the size of its object: a pull reads no more).
 */
function parseRecord(bytes: Uint8Array, key: string, expected: string[]): RunRecord | string {
  const invalid = "it is not a valid record of its key";
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return invalid;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return invalid;
  if (value.key !== key || typeof value.stage !== "string" || typeof value.kind !== "string") {
    return invalid;
  }
  const outputs = value.outputs as Record<string, unknown>;
  if (outputs === null || typeof outputs !== "object" || Array.isArray(outputs)) return invalid;
  if (!Object.values(outputs).every(isStoredOutput)) return invalid;
  if (expected.some((name) => !Object.hasOwn(outputs, name))) return invalid;
  if (
    !Object.values(outputs).every((o) =>
      Number.isSafeInteger((o as StoredOutput).size) && (o as StoredOutput).size! >= 0
    )
  ) {
    return "it does not declare the size of each object (it was pushed by an older nerpipe)";
  }
  return {
    key,
    kind: value.kind,
    stage: value.stage,
    outputs: outputs as Record<string, StoredOutput>,
    seconds: typeof value.seconds === "number" ? value.seconds : 0,
    finished: typeof value.finished === "string" ? value.finished : "",
  };
}

/**
 * Opens a remote. A misconfiguration (AWS variables) is the run's single warning and leaves
 * the remote unusable, or under `require` a {@link RemoteUnavailableError}.
 *
 * @param url `s3://bucket/prefix` or `file:///dir`, already checked where it was written.
 */
export function openRemote(url: string, options: OpenOptions): RemoteCache {
  const spec = parseRemote(url);
  if ("problem" in spec) {
    // Checked where it was written (pipeline or NERPIPE_REMOTE); here only as a last guard.
    throw new UserError(`${spec.problem}: ${spec.hint}`);
  }
  if (spec.kind === "file") {
    return new RemoteCache(spec.display, new DirStore(spec.dir), options);
  }
  let client: S3Client;
  try {
    client = new S3Client({ bucket: spec.bucket, prefix: spec.prefix, env: options.env });
  } catch (error) {
    if (!(error instanceof RemoteFailure)) throw error;
    const remote = new RemoteCache(spec.display, undefined, options);
    remote.fail(error);
    return remote;
  }
  const store: Store = {
    where: client.server,
    read: (key, limit, sink) => client.read(key, limit, sink),
    has: (key) => client.has(key),
    put: (key, body, hash) => client.put(key, body, hash),
    create: (key, body) => client.create(key, body),
    scrub: (text) => client.scrub(text),
  };
  return new RemoteCache(spec.display, store, options);
}
