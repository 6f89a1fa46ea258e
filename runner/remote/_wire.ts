/**
 * How a result is laid out on a remote, and read back with care: the names of its records and
 * objects, a directory object's listing, the bounds on what is read, and the checks a pulled
 * record must pass before anything of it is used.
 *
 * ```
 * <remote>/objects/ab/abcd…        a file object, named by its sha256
 * <remote>/objects/ab/abcd….d.json a directory object: its files' paths and hashes (the files
 *                                  are file objects)
 * <remote>/runs/<key>.json         a run record, as in the local cache
 * ```
 *
 * @module
 */

import type { StoredOutput } from "../core/result.ts";
import { diskFullError, isDiskFull } from "../lib/disk_full.ts";
import { sha256 } from "../lib/digest.ts";
import { outputKind, type StageDefinition } from "../stage.ts";
import { isStoredOutput, type RunRecord } from "../store/cache.ts";
import type { RemoteStore } from "./store.ts";

/** A directory object's listing: relative path to file hash. */
export interface DirListing {
  format: 1;
  files: Record<string, string>;
}

/** A relative path inside a directory object that is safe to create. */
export function safeRelative(path: string): boolean {
  return path.length > 0 && path.length < 4096 && !path.startsWith("/") &&
    path.split("/").every((p) => p !== "" && p !== "." && p !== ".." && !p.includes("\\")) &&
    !/[\0]/.test(path);
}

/** The tree hash of a listing, as `StatCache.hashDir` computes it. */
export async function treeHash(files: Record<string, string>): Promise<string> {
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

/** An object's whole bytes (records and listings: bounded, small). */
export async function getBytes(
  store: RemoteStore,
  key: string,
  limit: number,
): Promise<Uint8Array | undefined> {
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
export async function download(
  store: RemoteStore,
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

/** The name of a file object on the remote. */
export const objectKey = (hash: string) => `objects/${hash.slice(0, 2)}/${hash}`;
/** The name of a directory object's listing on the remote. */
export const listingKey = (hash: string) => `objects/${hash.slice(0, 2)}/${hash}.d.json`;
/** The name of a run record on the remote. */
export const recordKey = (key: string) => `runs/${key}.json`;

/** Something the remote holds is not what its name says: the stage is recomputed. */
export class Damaged extends Error {}

/**
 * Why a record does not fit the stage kind it was pulled for (another kind, outputs it does
 * not declare, or of another kind), or undefined when it fits.
 */
export function undeclared(
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
export async function artifactType(path: string): Promise<string> {
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
export function sameOutputs(a: RunRecord, b: RunRecord): boolean {
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
export function parseRecord(
  bytes: Uint8Array,
  key: string,
  expected: string[],
): RunRecord | string {
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
