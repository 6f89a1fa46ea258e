/**
 * Reads and writes the safetensors format of Hugging Face: an 8-byte
 * little-endian header length, a JSON header (`dtype`, `shape`,
 * `data_offsets` per tensor, optional `__metadata__` of strings) padded with
 * spaces to a multiple of 8 bytes, then the raw little-endian tensor bytes.
 *
 * Typed arrays use the platform's byte order; every platform Deno runs on is
 * little-endian.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";

/** Element types of the format. */
export type SafetensorsDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

/** Typed array used for each dtype (F16 and BF16 stay raw 16-bit words). */
export type SafetensorsArray =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** One tensor. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: SafetensorsArray;
}

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** A malformed safetensors file. */
export class SafetensorsError extends UserError {
  /** The file, when known. */
  readonly path: string | undefined;
  constructor(message: string, path?: string) {
    super(path ? `${message} in "${path}"` : message);
    this.name = "SafetensorsError";
    this.path = path;
  }
}

function view(
  dtype: SafetensorsDtype,
  buf: ArrayBufferLike,
  offset: number,
  count: number,
): SafetensorsArray {
  switch (dtype) {
    case "F64":
      return new Float64Array(buf, offset, count);
    case "F32":
      return new Float32Array(buf, offset, count);
    case "F16":
    case "BF16":
      return new Uint16Array(buf, offset, count);
    case "I64":
      return new BigInt64Array(buf, offset, count);
    case "I32":
      return new Int32Array(buf, offset, count);
    case "I16":
      return new Int16Array(buf, offset, count);
    case "I8":
      return new Int8Array(buf, offset, count);
    case "U8":
    case "BOOL":
      return new Uint8Array(buf, offset, count);
  }
}

/**
 * Serialises tensors; names are written in sorted order.
 *
 * @param tensors Tensors by name.
 * @param metadata String metadata; `{ format: "pt" }` by default, as PyTorch writers do.
 * @returns The file's bytes.
 * @throws {RangeError} When a tensor's data length does not match its shape.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
 *
 * const bytes = encodeSafetensors(new Map([["w", { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) }]]));
 * assert.deepEqual(
 *   decodeSafetensors(bytes).tensors.get("w"),
 *   { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
 * );
 * ```
 */
export function encodeSafetensors(
  tensors: Map<string, SafetensorsTensor>,
  metadata: Record<string, string> = { format: "pt" },
): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new RangeError(`Tensor name "__metadata__" is reserved`);
    const t = tensors.get(name)!;
    const size = ELEMENT_BYTES[t.dtype];
    if (size === undefined) throw new RangeError(`Unknown dtype "${t.dtype}" of tensor "${name}"`);
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) {
      throw new RangeError(
        `Tensor "${name}" has ${t.data.length} values: shape [${t.shape}] needs ${count}`,
      );
    }
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + count * size],
    };
    offset += count * size;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) {
    const padded = new Uint8Array(json.length + pad).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let pos = 8 + json.length;
  for (const name of names) {
    const d = tensors.get(name)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), pos);
    pos += d.byteLength;
  }
  return out;
}

/** What the header says of one tensor: dtype, shape and byte range in the data section. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  /** `[begin, end)` relative to the start of the data section. */
  offsets: [number, number];
}

/** A parsed header: the tensors in header order, the metadata and the data section's size. */
export interface SafetensorsHeader {
  tensors: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** Bytes of tensor data after the header (the file size less 8 and the header). */
  dataLength: number;
}

/** The largest header accepted, as in the reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** The header length of the first 8 bytes, checked against the file size and the limit. */
function headerLength(first8: Uint8Array, fileSize: number, path?: string): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new SafetensorsError("File is shorter than its 8-byte header length", path);
  }
  const n = Number(
    new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true),
  );
  if (n > fileSize - 8) {
    throw new SafetensorsError(`Header length ${n} exceeds the file size ${fileSize}`, path);
  }
  if (n > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      `Header length ${n} exceeds the ${MAX_HEADER_BYTES} bytes the format allows`,
      path,
    );
  }
  return n;
}

/**
 * Parses and checks a header: every dtype known, every shape a list of non-negative integers,
 * every byte range the size its shape needs, the ranges contiguous and covering exactly
 * `dataLength` bytes.
 */
function parseHeader(json: Uint8Array, dataLength: number, path?: string): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (e) {
    throw new SafetensorsError(`Header is not valid JSON: ${(e as Error).message}`, path);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw new SafetensorsError("Header is not a JSON object", path);
  }
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw new SafetensorsError(`"__metadata__" must be an object of strings`, path);
      }
      metadata = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = info?.dtype as SafetensorsDtype;
    if (typeof dtype !== "string" || !Object.hasOwn(ELEMENT_BYTES, dtype)) {
      throw new SafetensorsError(
        `Tensor "${name}" has unsupported dtype ${JSON.stringify(info?.dtype)}`,
        path,
      );
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(
        `Tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`,
        path,
      );
    }
    const offs = info.data_offsets;
    if (
      !Array.isArray(offs) || offs.length !== 2 || !offs.every((o) =>
        Number.isInteger(o) && o >= 0
      ) ||
      offs[0] > offs[1] || offs[1] > dataLength
    ) {
      throw new SafetensorsError(
        `Tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`,
        path,
      );
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = ELEMENT_BYTES[dtype];
    const [begin, end] = offs as [number, number];
    if (end - begin !== count * size) {
      throw new SafetensorsError(
        `Tensor "${name}" spans ${end - begin} bytes: shape [${shape}] of ${dtype} needs ${
          count * size
        }`,
        path,
      );
    }
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape: shape as number[], offsets: [begin, end] });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let expect = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== expect) {
      throw new SafetensorsError(
        `Tensor "${name}" starts at byte ${begin}: expected ${expect} (gap or overlap)`,
        path,
      );
    }
    expect = end;
  }
  if (expect !== dataLength) {
    throw new SafetensorsError(`Tensor data ends at byte ${expect} of ${dataLength}`, path);
  }
  return { tensors, metadata, dataLength };
}

/**
 * Parses safetensors bytes. Tensors are views into `bytes` when aligned
 * (always for files written by the reference implementation), else copies.
 *
 * @param bytes The file's bytes.
 * @param path File name for error messages.
 * @returns Tensors by name (in header order) and the metadata.
 * @throws {SafetensorsError} On a malformed header or out-of-range offsets.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  path?: string,
): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, path);
  const dataStart = 8 + n;
  const header = parseHeader(bytes.subarray(8, dataStart), bytes.length - dataStart, path);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, { dtype, shape, offsets: [begin, end] }] of header.tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    const abs = bytes.byteOffset + dataStart + begin;
    const data = abs % ELEMENT_BYTES[dtype] === 0
      ? view(dtype, bytes.buffer, abs, count)
      : view(dtype, bytes.slice(dataStart + begin, dataStart + end).buffer, 0, count);
    tensors.set(name, { dtype, shape, data });
  }
  return { tensors, metadata: header.metadata };
}

/**
 * Reads only the header of a `.safetensors` file (its first 8 bytes and the JSON after them),
 * checked as {@link decodeSafetensors} checks it against the file's size: the names, dtypes
 * and shapes of the tensors without reading their data.
 *
 * @param path Source file.
 * @returns The tensors' dtypes, shapes and byte ranges, the metadata and the data size.
 * @throws {SafetensorsError} When the header is malformed or does not fit the file.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readSafetensorsHeader } from "./safetensors.ts";
 *
 * const { tensors } = await readSafetensorsHeader("tests/testdata/hf_tiny/model.safetensors");
 * assert.deepEqual(tensors.get("classifier.weight"), {
 *   dtype: "F32",
 *   shape: [5, 16],
 *   offsets: [84372, 84692], // 5 × 16 float32: 320 bytes
 * });
 * ```
 */
export async function readSafetensorsHeader(path: string | URL): Promise<SafetensorsHeader> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    const first8 = await readExactly(file, Math.min(8, size));
    const n = headerLength(first8, size, String(path));
    return parseHeader(await readExactly(file, n), size - 8 - n, String(path));
  } finally {
    file.close();
  }
}

async function readExactly(file: Deno.FsFile, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/**
 * Writes a `.safetensors` file.
 *
 * @param path Destination file.
 * @param tensors Tensors by name.
 * @param metadata String metadata (default `{ format: "pt" }`).
 */
export async function writeSafetensors(
  path: string | URL,
  tensors: Map<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await Deno.writeFile(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads a `.safetensors` file with one read; tensors are views of that buffer.
 *
 * @param path Source file.
 * @returns Tensors by name and the metadata.
 * @throws {SafetensorsError} When the file is malformed.
 */
export async function readSafetensors(
  path: string | URL,
): Promise<{ tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> }> {
  return decodeSafetensors(await Deno.readFile(path), String(path));
}
