/**
 * The `batches` artifact: batches of ids, attention masks and labels in one binary file.
 *
 * Layout (all little-endian): the magic `NERB`, a uint32 format version (1), a uint32 header
 * length, a UTF-8 JSON header padded with spaces to a multiple of 4 bytes, then int32 data.
 * The header lists, per split, each batch's size, sequence length, data offset (in int32
 * elements from the start of the data) and the rows (indexes of encoded windows) it holds.
 * A batch's data is `ids`, then `mask`, then `labels`, each `size × seqLen` int32 values.
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";
import { IGNORE_INDEX } from "./labels.ts";
import type { LabelledBatch } from "./types.ts";

/** One batch in memory, as the batches file holds it. */
export interface TensorBatch extends LabelledBatch {
  mask: Int32Array;
  /** Index of each row's encoded window in its split. */
  rows: number[];
}

/** Batches by split name (`train`, `validation`). */
export type BatchSet = Record<string, TensorBatch[]>;

interface HeaderBatch {
  size: number;
  seqLen: number;
  offset: number;
  rows: number[];
}

const MAGIC = "NERB";
const VERSION = 1;

/**
 * Serialises batches.
 *
 * @param set Batches by split.
 * @returns The file's bytes.
 */
export function encodeBatches(set: BatchSet): Uint8Array {
  const { bytes: head, elements } = headerBytes(set);
  const bytes = new Uint8Array(head.length + elements * 4);
  bytes.set(head, 0);
  let at = head.length;
  for (const batches of Object.values(set)) {
    for (const b of batches) {
      for (const part of [b.ids, b.mask, b.labels]) {
        if (part.length !== b.batchSize * b.seqLen) {
          throw new RangeError(
            `Batch part of length ${part.length} is not ${b.batchSize}×${b.seqLen}`,
          );
        }
        bytes.set(int32Bytes(part), at);
        at += part.length * 4;
      }
    }
  }
  return bytes;
}

/** One row to pad: piece ids and, for training rows, label ids of the same length. */
export interface PadRow {
  ids: ArrayLike<number>;
  labels?: ArrayLike<number>;
}

/** The value padding positions get in `labels` (ignored by the loss and the metrics). */
export const PAD_LABEL = IGNORE_INDEX;

/**
 * Pads rows into one batch: the one place padding happens, for tensorize's batches and the
 * predictor's alike. Ids are padded with `padId`, the attention mask is 1 over each row's
 * pieces and 0 after, labels are padded with {@link PAD_LABEL}. A row longer than `seqLen` is
 * cut to it (`seqLen` is normally the longest row).
 *
 * @param rows The rows, in batch order.
 * @param seqLen The batch's sequence length.
 * @param padId The tokenizer's [PAD] id.
 * @param rowIndexes Index of each row in its split, stored with the batch.
 * @returns The batch.
 */
export function padBatch(
  rows: readonly PadRow[],
  seqLen: number,
  padId: number,
  rowIndexes: number[] = rows.map((_, i) => i),
): TensorBatch {
  const n = rows.length * seqLen;
  const batch: TensorBatch = {
    ids: new Int32Array(n),
    mask: new Int32Array(n),
    labels: new Int32Array(n),
    batchSize: rows.length,
    seqLen,
    rows: rowIndexes,
  };
  if (padId !== 0) batch.ids.fill(padId);
  batch.labels.fill(PAD_LABEL);
  rows.forEach((row, k) => {
    const len = Math.min(seqLen, row.ids.length);
    const at = k * seqLen;
    for (let i = 0; i < len; i++) batch.ids[at + i] = row.ids[i]!;
    batch.mask.fill(1, at, at + len);
    const labels = row.labels;
    if (labels) { for (let i = 0; i < len; i++) batch.labels[at + i] = labels[i]!; }
  });
  return batch;
}

/** The shape of one batch, known before its data: what the file's header holds. */
export interface BatchShape {
  batchSize: number;
  seqLen: number;
  rows: number[];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The header bytes of a batches file for these shapes, and the data length in int32 values. */
function headerBytes(shapes: Record<string, readonly BatchShape[]>): {
  bytes: Uint8Array;
  elements: number;
} {
  const header: Record<string, HeaderBatch[]> = {};
  let offset = 0;
  for (const [split, batches] of Object.entries(shapes)) {
    header[split] = batches.map((b) => {
      const entry = { size: b.batchSize, seqLen: b.seqLen, offset, rows: b.rows };
      offset += 3 * b.batchSize * b.seqLen;
      return entry;
    });
  }
  let json = JSON.stringify({ splits: header });
  const raw = new TextEncoder().encode(json);
  json += " ".repeat((4 - (raw.length % 4)) % 4);
  const body = new TextEncoder().encode(json);
  const bytes = new Uint8Array(12 + body.length);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, body.length, true);
  bytes.set(body, 12);
  return { bytes, elements: offset };
}

/** Little-endian bytes of an int32 array (a view of it on a little-endian machine). */
function int32Bytes(part: Int32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
  const bytes = new Uint8Array(part.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < part.length; i++) view.setInt32(4 * i, part[i]!, true);
  return bytes;
}

/**
 * Writes a batches file one batch at a time: the header from the shapes first, then each
 * batch as `make` returns it, so only one batch is in memory. The bytes equal
 * {@link encodeBatches} of the same batches.
 *
 * @param path The file.
 * @param shapes Each split's batch shapes, in file order.
 * @param make Builds batch `i` of `split`; it must have the shape given.
 * @param signal Looked at between batches.
 */
export async function writeBatchesFile(
  path: string,
  shapes: Record<string, readonly BatchShape[]>,
  make: (split: string, i: number) => TensorBatch,
  signal?: AbortSignal,
): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  // Batches are small: gather them into writes of about 1 MiB.
  const buffer = new Uint8Array(1 << 20);
  let used = 0;
  const flush = async () => {
    for (let at = 0; at < used;) at += await file.write(buffer.subarray(at, used));
    used = 0;
  };
  const writeAll = async (bytes: Uint8Array) => {
    if (used + bytes.length > buffer.length) await flush();
    if (bytes.length > buffer.length) {
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
      return;
    }
    buffer.set(bytes, used);
    used += bytes.length;
  };
  try {
    await writeAll(headerBytes(shapes).bytes);
    for (const [split, batches] of Object.entries(shapes)) {
      for (let i = 0; i < batches.length; i++) {
        if (i % 64 === 0) signal?.throwIfAborted();
        const shape = batches[i]!;
        const b = make(split, i);
        if (b.batchSize !== shape.batchSize || b.seqLen !== shape.seqLen) {
          throw new RangeError(`Batch ${i} of ${split} is not ${shape.batchSize}×${shape.seqLen}`);
        }
        for (const part of [b.ids, b.mask, b.labels]) {
          if (part.length !== b.batchSize * b.seqLen) {
            throw new RangeError(
              `Batch part of length ${part.length} is not ${b.batchSize}×${b.seqLen}`,
            );
          }
          await writeAll(int32Bytes(part));
        }
      }
    }
    await flush();
  } catch (error) {
    file.close();
    // No partial file is left behind.
    await Deno.remove(path).catch(() => {});
    throw error;
  }
  file.close();
}

/** Options of {@link openBatches}. */
export interface OpenBatchesOptions {
  /** Batches kept in memory at once, the most recently used (default 8). */
  cache?: number;
}

/** A batches file opened for reading batch by batch (see {@link openBatches}). */
export interface BatchesFile {
  /** Batches by split; each batch's `ids`, `mask` and `labels` are read from the file on use. */
  set: BatchSet;
  /** How many batches are in memory now (at most the `cache` option). */
  cached(): number;
  /** How many batches were read from the file so far. */
  reads(): number;
}

/**
 * Opens a batches file for reading batch by batch: the header is read and checked now (as
 * {@link decodeBatches} checks it); a batch's data is read from the file the first time its
 * `ids`, `mask` or `labels` is used, and only the last few batches used are kept, so memory
 * is bounded by the cache, not the file. The set has the shape {@link decodeBatches} returns
 * (the parts are enumerable getters, so a structured clone copies their values).
 *
 * @param path The file.
 * @param opts How many batches to keep.
 * @returns The lazy set and counters.
 * @throws {BatchesFormatError} When the file is not a batches file, or its header does not
 *   fit its data.
 */
export async function openBatches(
  path: string,
  opts: OpenBatchesOptions = {},
): Promise<BatchesFile> {
  const limit = Math.max(1, opts.cache ?? 8);
  const size = (await Deno.stat(path)).size;
  const file = await Deno.open(path, { read: true });
  let head: Uint8Array;
  try {
    const readAt = async (at: number, length: number) => {
      const bytes = new Uint8Array(Math.max(0, Math.min(length, size - at)));
      await file.seek(at, Deno.SeekMode.Start);
      for (let got = 0; got < bytes.length;) {
        const n = await file.read(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      return bytes;
    };
    const first = await readAt(0, 12);
    const length = first.length === 12 ? new DataView(first.buffer).getUint32(8, true) : 0;
    head = first.length === 12 && 12 + length <= size ? await readAt(0, 12 + length) : first;
  } finally {
    file.close();
  }
  const { splits, start } = parseHead(head, size);
  const cache = new Map<string, { ids: Int32Array; mask: Int32Array; labels: Int32Array }>();
  let reads = 0;
  let lastKey = "";
  let last: { ids: Int32Array; mask: Int32Array; labels: Int32Array } | undefined;
  const load = (key: string, h: HeaderBatch) => {
    // Loops index a part element by element (batch.mask[i]): the batch used last is at hand.
    if (key === lastKey && last) return last;
    const parts = lookUp(key, h);
    lastKey = key;
    last = parts;
    return parts;
  };
  const lookUp = (key: string, h: HeaderBatch) => {
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    const n = h.size * h.seqLen;
    const bytes = new Uint8Array(12 * n);
    const f = Deno.openSync(path, { read: true });
    try {
      f.seekSync(start + 4 * h.offset, Deno.SeekMode.Start);
      for (let got = 0; got < bytes.length;) {
        const k = f.readSync(bytes.subarray(got));
        if (k === null) throw new BatchesFormatError("it was cut short after it was opened");
        got += k;
      }
    } finally {
      f.close();
    }
    reads++;
    const part = (k: number) => {
      if (LITTLE_ENDIAN) return new Int32Array(bytes.buffer, 4 * k * n, n);
      const view = new DataView(bytes.buffer);
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = view.getInt32(4 * (k * n + i), true);
      return a;
    };
    const parts = { ids: part(0), mask: part(1), labels: part(2) };
    cache.set(key, parts);
    if (cache.size > limit) cache.delete(cache.keys().next().value!);
    return parts;
  };
  const set: BatchSet = {};
  for (const [split, batches] of Object.entries(splits)) {
    set[split] = batches.map((h, i) => {
      const key = `${split}/${i}`;
      const batch = { batchSize: h.size, seqLen: h.seqLen, rows: h.rows } as TensorBatch;
      for (const name of ["ids", "mask", "labels"] as const) {
        Object.defineProperty(batch, name, {
          get: () => load(key, h)[name],
          enumerable: true,
        });
      }
      return batch;
    });
  }
  return { set, cached: () => cache.size, reads: () => reads };
}

/**
 * Bytes that are not a batches file, or one whose header does not fit its data. The message
 * says what is wrong and ends with a hint; {@link BatchesFormatError.detail} is the first part
 * alone, for a caller that names the file.
 */
export class BatchesFormatError extends UserError {
  /** What is wrong, without the hint: `the magic NERB is missing`. */
  readonly detail: string;
  /**
   * Creates the error.
   *
   * @param detail What is wrong, lower case, no trailing period.
   */
  constructor(detail: string) {
    super(`Not a batches file: ${detail}: ${BATCHES_HINT}`);
    this.name = "BatchesFormatError";
    this.detail = detail;
  }
}

/** How to get a good batches file. */
export const BATCHES_HINT = "use the batches output of a tensorize stage (tensorize.batches)";

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/**
 * Checks the header of a batches file against the data that follows it, without reading the
 * data: each batch's size, sequence length, offset and rows, and that its three parts lie
 * within the file.
 */
function checkHeader(header: unknown, dataElements: number): Record<string, HeaderBatch[]> {
  const splits = (header as { splits?: unknown } | null)?.splits;
  if (typeof splits !== "object" || splits === null || Array.isArray(splits)) {
    throw new BatchesFormatError('its header has no "splits" object');
  }
  for (const [split, batches] of Object.entries(splits as Record<string, unknown>)) {
    if (!Array.isArray(batches)) {
      throw new BatchesFormatError(`split "${split}" of its header is not a list of batches`);
    }
    for (const [i, b] of batches.entries()) {
      const h = b as Partial<HeaderBatch> | null;
      const where = `batch ${i} of split "${split}"`;
      if (
        typeof h !== "object" || h === null || !isCount(h.size) || !isCount(h.seqLen) ||
        !isCount(h.offset) || !Array.isArray(h.rows)
      ) {
        throw new BatchesFormatError(`${where} lacks a size, seqLen, offset or rows`);
      }
      if (h.rows.length !== h.size || !h.rows.every(isCount)) {
        throw new BatchesFormatError(`${where} has ${h.rows.length} rows for a size of ${h.size}`);
      }
      if (h.offset + 3 * h.size * h.seqLen > dataElements) {
        throw new BatchesFormatError(
          `${where} runs past the end of the data (${dataElements} int32 values)`,
        );
      }
    }
  }
  return splits as Record<string, HeaderBatch[]>;
}

/**
 * Reads and checks the head of a batches file (magic, version, header) given its first bytes
 * (at least the head) and the file's size.
 */
function parseHead(
  bytes: Uint8Array,
  fileSize: number,
): { splits: Record<string, HeaderBatch[]>; start: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) {
    throw new BatchesFormatError("the magic NERB is missing");
  }
  const version = view.getUint32(4, true);
  if (version !== VERSION) {
    throw new BatchesFormatError(`its format version ${version} is not ${VERSION}`);
  }
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > fileSize || 12 + headerLength > bytes.length) {
    throw new BatchesFormatError(
      `its header of ${headerLength} bytes runs past the end of the file (${fileSize} bytes)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(12, 12 + headerLength)),
    );
  } catch {
    throw new BatchesFormatError("its header is not UTF-8 JSON");
  }
  const start = 12 + headerLength;
  return { splits: checkHeader(parsed, Math.floor((fileSize - start) / 4)), start };
}

/**
 * Reads batches written by {@link encodeBatches}. The header is checked against the file's
 * size before any data is read, so bytes of another kind fail fast and cheaply.
 *
 * @param bytes The file's bytes.
 * @returns Batches by split.
 * @throws {BatchesFormatError} When the bytes are not a batches file, or its header does not
 *   fit its data.
 */
export function decodeBatches(bytes: Uint8Array): BatchSet {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { splits, start } = parseHead(bytes, bytes.length);
  const out: BatchSet = {};
  for (const [split, batches] of Object.entries(splits)) {
    out[split] = batches.map((h) => {
      const n = h.size * h.seqLen;
      const read = (k: number) => {
        const base = start + 4 * (h.offset + k * n);
        if (LITTLE_ENDIAN) {
          // A copy, so that the batch does not keep the whole file alive.
          return new Int32Array(bytes.slice(base, base + 4 * n).buffer);
        }
        const a = new Int32Array(n);
        for (let i = 0; i < n; i++) a[i] = view.getInt32(base + 4 * i, true);
        return a;
      };
      return {
        ids: read(0),
        mask: read(1),
        labels: read(2),
        batchSize: h.size,
        seqLen: h.seqLen,
        rows: h.rows,
      };
    });
  }
  return out;
}
