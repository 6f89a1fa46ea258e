/**
 * Pulling a stage's result from the remote into the local cache: its record checked against the
 * stage kind, its objects downloaded no further than the record declares and checked against
 * their names, then stored through the local cache's own path.
 *
 * @module
 */

import { diskFullError, formatBytes, freeBytes, isDiskFull } from "../lib/disk_full.ts";
import { hashFileContent, isHash } from "../lib/digest.ts";
import type { StoredOutput } from "../core/result.ts";
import type { StageDefinition } from "../stage.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import {
  artifactType,
  Damaged,
  type DirListing,
  download,
  getBytes,
  LISTING_BYTES,
  listingKey,
  objectKey,
  parseRecord,
  RECORD_BYTES,
  recordKey,
  safeRelative,
  treeHash,
  undeclared,
} from "./_wire.ts";
import { REJECTED_BEFORE, wasRejected } from "./rejected.ts";
import type { Session, TransferCount } from "./session.ts";
import { ObjectTooLarge } from "./store.ts";

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
export async function pullResult(
  session: Session,
  key: string,
  declared: Pick<StageDefinition, "name" | "outputs">,
  cache: Cache,
  stage: string,
  count?: TransferCount,
): Promise<RunRecord | undefined> {
  if (!isHash(key)) return undefined;
  let record: RunRecord | string | undefined;
  try {
    const bytes = await getBytes(session.store, recordKey(key), RECORD_BYTES);
    if (bytes === undefined) return undefined;
    record = parseRecord(bytes, key, Object.keys(declared.outputs));
    if (typeof record !== "string") {
      record = undeclared(record, declared, stage) ??
        (await wasRejected(cache, record) ? REJECTED_BEFORE : record);
    }
  } catch (error) {
    if (!(error instanceof ObjectTooLarge)) throw error;
    record = `it is longer than ${formatBytes(RECORD_BYTES)}`;
  }
  if (typeof record === "string") {
    damaged(session, stage, `its run record (runs/${key}.json) is not used: ${record}`);
    session.rewrite.add(recordKey(key));
    return undefined;
  }
  // What the record declares must fit where the local cache is (a pull is a copy).
  const bytes = Object.values(record.outputs).reduce((n, o) => n + o.size!, 0);
  const free = await freeBytes(cache.dir);
  if (free !== undefined && bytes > free) {
    session.warn(
      `  not pulled: the result of ${stage} in the remote cache ${session.display} is ` +
        `${formatBytes(bytes)}, and ${cache.dir} has ${formatBytes(free)} free; the ` +
        "stage runs here",
    );
    return undefined;
  }
  try {
    for (const [name, output] of Object.entries(record.outputs)) {
      await fetchOutput(session, cache, output, name, stage, count);
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
    await cache.writeRecord({ ...record, pulled: session.display });
  } catch (error) {
    if (isDiskFull(error)) {
      // The local disk, not the remote: this stage is not pulled (what was written of it
      // is removed), and runs here, where the disk decides again.
      const full = await diskFullError(error, cache.dir);
      session.warn(`  not pulled: ${stage}: ${full.message}`);
      return undefined;
    }
    if (!(error instanceof Damaged)) throw error;
    damaged(session, stage, error.message);
    // A record whose objects are damaged is replaced by this run's result.
    session.rewrite.add(recordKey(key));
    return undefined;
  }
  return record;
}

function damaged(session: Session, stage: string, what: string): void {
  session.warn(
    `  the remote cache ${session.display} holds a damaged entry for ${stage}: ${what}; ` +
      "it is not used, the stage runs here and its push replaces it",
  );
}

async function fetchOutput(
  session: Session,
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
      await downloadObject(session, output.hash, target, size, count);
    } else {
      const listing = await readListing(session, output.hash);
      await Deno.mkdir(target, { recursive: true });
      let left = size;
      for (const [rel, hash] of Object.entries(listing.files)) {
        const path = `${target}/${rel}`;
        await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
        const local = { hash, kind: "file" as const };
        if (await cache.verify(local, Infinity)) {
          const object = cache.objectPath(local);
          left -= (await Deno.stat(object)).size;
          if (left < 0) throw larger(session, output, name, size);
          await Deno.copyFile(object, path);
          if (count) count.present++;
        } else {
          left -= await downloadObject(
            session,
            hash,
            path,
            left,
            count,
            () => larger(session, output, name, size),
          );
        }
      }
    }
    const stored = await cache.store(target, output.kind);
    if (stored.hash !== output.hash) {
      await cache.removeObject(stored).catch(() => {});
      session.rewrite.add(output.kind === "dir" ? listingKey(output.hash) : objectKey(output.hash));
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
async function downloadObject(
  session: Session,
  hash: string,
  path: string,
  limit: number,
  count?: TransferCount,
  tooLarge?: () => Damaged,
): Promise<number> {
  const name = objectKey(hash);
  let bytes: number | undefined;
  try {
    bytes = await download(session.store, name, path, limit);
  } catch (error) {
    if (!(error instanceof ObjectTooLarge)) throw error;
    session.rewrite.add(name);
    throw tooLarge?.() ?? new Damaged(
      `object ${hash.slice(0, 12)}… is larger than the ${limit} bytes its run record ` +
        `declares (${error.message}); no more was read`,
    );
  }
  if (bytes === undefined) {
    session.rewrite.add(name);
    throw new Damaged(`object ${hash.slice(0, 12)}… is missing`);
  }
  if ((await hashFileContent(path)) !== hash) {
    session.rewrite.add(name);
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
function larger(session: Session, output: StoredOutput, name: string, size: number): Damaged {
  session.rewrite.add(listingKey(output.hash));
  return new Damaged(
    `the files of output "${name}" are larger than the ${size} bytes its run record ` +
      "declares; no more was read",
  );
}

/** A directory object's listing, checked against its tree hash. */
async function readListing(session: Session, hash: string): Promise<DirListing> {
  const name = listingKey(hash);
  const bad = (why: string) => {
    session.rewrite.add(name);
    return new Damaged(`directory object ${hash.slice(0, 12)}… ${why}`);
  };
  let bytes: Uint8Array | undefined;
  try {
    bytes = await getBytes(session.store, name, LISTING_BYTES);
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
