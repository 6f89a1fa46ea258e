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

/** One batch in memory. */
export interface TensorBatch {
  ids: Int32Array;
  mask: Int32Array;
  labels: Int32Array;
  batchSize: number;
  seqLen: number;
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
  const header: Record<string, HeaderBatch[]> = {};
  let offset = 0;
  for (const [split, batches] of Object.entries(set)) {
    header[split] = batches.map((b) => {
      const entry = { size: b.batchSize, seqLen: b.seqLen, offset, rows: b.rows };
      offset += 3 * b.batchSize * b.seqLen;
      return entry;
    });
  }
  let json = JSON.stringify({ splits: header });
  const raw = new TextEncoder().encode(json);
  json += " ".repeat((4 - (raw.length % 4)) % 4);
  const headerBytes = new TextEncoder().encode(json);
  const start = 12 + headerBytes.length;
  const bytes = new Uint8Array(start + offset * 4);
  bytes.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, headerBytes.length, true);
  bytes.set(headerBytes, 12);
  let at = start;
  for (const batches of Object.values(set)) {
    for (const b of batches) {
      for (const part of [b.ids, b.mask, b.labels]) {
        if (part.length !== b.batchSize * b.seqLen) {
          throw new RangeError(
            `Batch part of length ${part.length} is not ${b.batchSize}×${b.seqLen}`,
          );
        }
        for (let i = 0; i < part.length; i++, at += 4) view.setInt32(at, part[i]!, true);
      }
    }
  }
  return bytes;
}

/**
 * Reads batches written by {@link encodeBatches}.
 *
 * @param bytes The file's bytes.
 * @returns Batches by split.
 * @throws {SyntaxError} When the bytes are not a batches file.
 */
export function decodeBatches(bytes: Uint8Array): BatchSet {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) {
    throw new SyntaxError("Not a batches file: the magic NERB is missing");
  }
  const version = view.getUint32(4, true);
  if (version !== VERSION) throw new SyntaxError(`Unsupported batches format version ${version}`);
  const headerLength = view.getUint32(8, true);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as {
    splits: Record<string, HeaderBatch[]>;
  };
  const start = 12 + headerLength;
  const out: BatchSet = {};
  for (const [split, batches] of Object.entries(header.splits)) {
    out[split] = batches.map((h) => {
      const n = h.size * h.seqLen;
      const read = (k: number) => {
        const a = new Int32Array(n);
        const base = start + 4 * (h.offset + k * n);
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
