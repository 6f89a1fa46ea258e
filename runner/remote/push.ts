/**
 * Pushing a stage's result to the remote: each object not there yet (or found damaged in this
 * run), read from the local cache and checked against its name first, then the run record,
 * which declares each object's size; a record another clone pushed first is kept.
 *
 * @module
 */

import { sha256 } from "../lib/digest.ts";
import { listFiles } from "../lib/list_files.ts";
import type { Cache, RunRecord } from "../store/cache.ts";
import {
  type DirListing,
  getBytes,
  listingKey,
  objectKey,
  parseRecord,
  RECORD_BYTES,
  recordKey,
  sameOutputs,
  treeHash,
} from "./_wire.ts";
import { forgetRejected } from "./rejected.ts";
import type { Session, TransferCount } from "./session.ts";
import { ObjectTooLarge } from "./store.ts";

/**
 * Uploads a stage's result: each object not there yet (or found damaged in this run), then
 * the run record. Objects are read from the local cache and checked against their names
 * first; a damaged local object is not pushed (nor its record).
 *
 * @returns What was uploaded, or undefined when the remote is not usable or a local object
 *   was damaged (reported).
 */
export async function pushResult(
  session: Session,
  record: RunRecord,
  cache: Cache,
  count?: TransferCount,
): Promise<boolean> {
  // A record already there is kept (another clone's result for the key); only one this
  // run found damaged is replaced.
  const runs = recordKey(record.key);
  const replace = session.rewrite.has(runs);
  if (!replace) {
    const theirs = await remoteRecord(session, record);
    if (theirs === "damaged") session.rewrite.add(runs);
    else if (theirs && !sameOutputs(theirs, record)) return kept(session, record, theirs);
  }
  // The record pushed declares each object's size: a pull reads no more than that.
  const { pulled: _pulled, ...own } = record;
  const sized: RunRecord = { ...own, outputs: {} };
  for (const [name, output] of Object.entries(record.outputs)) {
    const path = cache.objectPath(output);
    if (output.kind === "file") {
      if (
        !await cache.verify(output) ||
        !await upload(session, objectKey(output.hash), path, output.hash, count)
      ) {
        return localDamage(session, record, name);
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
      await uploadBytes(session, objectKey(hash), bytes, hash, count);
    }
    if ((await treeHash(files)) !== output.hash) return localDamage(session, record, name);
    sized.outputs[name] = { ...output, size };
    const listing = listingKey(output.hash);
    if (session.rewrite.has(listing) || !await session.store.has(listing)) {
      const text = JSON.stringify({ format: 1, files } satisfies DirListing);
      await session.store.put(listing, new TextEncoder().encode(text));
      session.rewrite.delete(listing);
    }
  }
  // Last: a record is only ever seen with all its objects in place.
  const bytes = new TextEncoder().encode(JSON.stringify(sized));
  if (session.rewrite.has(runs)) {
    await session.store.put(runs, bytes);
    session.rewrite.delete(runs);
    await forgetRejected(cache, record.key);
  } else if (!await session.store.create(runs, bytes)) {
    // Another clone pushed this key since it was looked up: its record stays.
    const theirs = await remoteRecord(session, record);
    if (theirs && theirs !== "damaged" && !sameOutputs(theirs, record)) {
      return kept(session, record, theirs);
    }
  }
  return true;
}

/** The remote's record of a key, "damaged" when it is not a whole record of it. */
async function remoteRecord(
  session: Session,
  record: RunRecord,
): Promise<RunRecord | "damaged" | undefined> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await getBytes(session.store, recordKey(record.key), RECORD_BYTES);
  } catch (error) {
    if (!(error instanceof ObjectTooLarge)) throw error;
    return "damaged";
  }
  if (bytes === undefined) return undefined;
  const theirs = parseRecord(bytes, record.key, Object.keys(record.outputs));
  return typeof theirs === "string" ? "damaged" : theirs;
}

/** Says that the remote keeps its own, different result for a key; the push is done. */
function kept(session: Session, record: RunRecord, theirs: RunRecord): true {
  const differs = Object.keys({ ...record.outputs, ...theirs.outputs }).sort()
    .filter((name) => theirs.outputs[name]?.hash !== record.outputs[name]?.hash);
  session.warn(
    `  not pushed: the remote cache ${session.display} already holds another result of ` +
      `${record.stage} for its key (${differs.map((n) => `"${n}"`).join(", ")} ` +
      "differ): the remote's is kept, and other clones pull it (a stage whose outputs differ " +
      "between runs of one key is not deterministic, or depends on the machine it ran on)",
  );
  return true;
}

function localDamage(session: Session, record: RunRecord, name: string): false {
  session.warn(
    `  not pushed: the local object of output "${name}" of ${record.stage} is damaged ` +
      "(run deno task verify --repair)",
  );
  return false;
}

async function upload(
  session: Session,
  name: string,
  path: string,
  hash: string,
  count?: TransferCount,
): Promise<boolean> {
  if (!session.rewrite.has(name) && await session.store.has(name)) {
    if (count) count.present++;
    return true;
  }
  const bytes = await Deno.readFile(path);
  if ((await sha256(bytes)) !== hash) return false;
  await uploadBytes(session, name, bytes, hash, count, true);
  return true;
}

async function uploadBytes(
  session: Session,
  name: string,
  bytes: Uint8Array,
  hash: string,
  count?: TransferCount,
  checked = false,
): Promise<void> {
  if (!checked && !session.rewrite.has(name) && await session.store.has(name)) {
    if (count) count.present++;
    return;
  }
  await session.store.put(name, bytes, hash);
  session.rewrite.delete(name);
  if (count) {
    count.moved++;
    count.bytes += bytes.length;
  }
}
