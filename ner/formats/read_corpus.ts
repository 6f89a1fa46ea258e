/**
 * Reads a corpus file from disk.
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { ReadOptions, ReadResult } from "./options.ts";
import { addRecord, corpusRecords, emptyResult } from "./parse_corpus.ts";
import type { Document } from "../types.ts";

/** Records parsed between two looks at `options.signal`. */
const RECORDS_PER_CHECK = 500;

/**
 * Reads and parses a corpus file. The file must be UTF-8.
 *
 * @param path The file, relative to the working directory or absolute; used as given in
 *   messages and in each document's `source.file`.
 * @param options The format, what to do with malformed records, and (CoNLL) the tag column.
 * @returns The documents in file order, and the records skipped with `onError: "skip"`.
 * @throws {CorpusError} When the file is missing, is a directory, is not UTF-8, or (with
 *   `onError: "error"`, the default) holds a malformed record.
 * @throws The reason of `options.signal` once it is aborted.
 *
 * @example
 * ```ts ignore
 * import { readCorpus } from "./read_corpus.ts";
 *
 * const { documents, skipped } = await readCorpus("data/sample/train.txt", { format: "kmou" });
 * console.log(documents.length, skipped);
 * ```
 */
export async function readCorpus(path: string, options: ReadOptions): Promise<ReadResult> {
  const result = emptyResult();
  for await (const record of streamCorpus(path, options)) {
    addRecord(result, record, options.onError);
  }
  return result;
}

/** Options of {@link streamCorpus}. */
export interface StreamCorpusOptions extends ReadOptions {
  /** Bytes read at a time (default 4 MiB). */
  chunk?: number;
}

/** Where the text of a window may be cut: after the last line end (JSONL) or blank line. */
function lastCut(text: string, format: ReadOptions["format"]): number {
  let end = text.lastIndexOf("\n");
  if (format === "jsonl") return end + 1;
  // The last line end that closes a blank line (a record never spans one).
  while (end >= 0) {
    const start = text.lastIndexOf("\n", end - 1);
    if (text.slice(start + 1, end).trim() === "") return end + 1;
    end = start;
  }
  return 0;
}

/** Line endings in `text`, counted as splitLines counts them (CRLF, LF or CR). */
function countLines(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) n++;
    else if (c === 13) {
      n++;
      if (text.charCodeAt(i + 1) === 10) i++;
    }
  }
  return n;
}

/**
 * Reads a corpus file a window at a time: the text is cut after a blank line (after any line
 * for JSONL), where no record can be cut, and each window is parsed with its line numbers in
 * the file. Memory is bounded by the chunk and the longest record, not the file. The records
 * are those {@link readCorpus} reads (it is built on this), in file order.
 *
 * @param path The file, relative to the working directory or absolute.
 * @param options The format, the tag column, the signal and the chunk size.
 * @returns The records: documents, and errors in place of malformed records.
 * @throws {CorpusError} When the file is missing, is a directory or is not UTF-8.
 * @throws The reason of `options.signal` once it is aborted.
 */
export async function* streamCorpus(
  path: string,
  options: StreamCorpusOptions,
): AsyncGenerator<Document | CorpusError> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
    if ((await file.stat()).isDirectory) {
      file.close();
      throw new Deno.errors.IsADirectory(path);
    }
  } catch (error: unknown) {
    throw openError(error, path);
  }
  const buffer = new Uint8Array(options.chunk ?? 1 << 22);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending = "";
  let line = 1;
  let n = 0;
  try {
    while (true) {
      options.signal?.throwIfAborted();
      let got: number | null;
      try {
        got = await file.read(buffer);
      } catch (error: unknown) {
        throw openError(error, path);
      }
      try {
        pending += got === null
          ? decoder.decode()
          : decoder.decode(buffer.subarray(0, got), { stream: true });
      } catch {
        // The message names the first bad line: find it in the whole file (an error path).
        decodeUtf8(await Deno.readFile(path), path);
        throw new Error(`Corpus file "${path}" is not valid UTF-8`);
      }
      const cut = got === null ? pending.length : lastCut(pending, options.format);
      if (cut > 0) {
        const text = pending.slice(0, cut);
        pending = pending.slice(cut);
        for (const record of corpusRecords(text, path, options, line)) {
          yield record;
          if (options.signal && ++n % RECORDS_PER_CHECK === 0) {
            // Parsing never awaits: let a pending Ctrl-C handler run before looking at the
            // signal (setImmediate is one turn of the event loop; setTimeout(0) waits a
            // millisecond or more).
            await new Promise((resolve) => setImmediate(resolve));
            options.signal.throwIfAborted();
          }
        }
        line += countLines(text);
      }
      if (got === null) break;
    }
  } finally {
    file.close();
  }
}

function openError(error: unknown, path: string): unknown {
  if (error instanceof Deno.errors.NotFound) {
    return new CorpusError(`Corpus file "${path}" not found`, {
      file: path,
      line: 0,
      hint: `check the path; relative paths are resolved from "${Deno.cwd()}"`,
    }, { cause: error });
  }
  if (error instanceof Deno.errors.IsADirectory) {
    return new CorpusError(`Corpus path "${path}" is a directory`, {
      file: path,
      line: 0,
      hint: "name a file inside it, such as train.txt",
    }, { cause: error });
  }
  return error;
}

function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (error: unknown) {
    const loose = new TextDecoder("utf-8").decode(bytes);
    const bad = Math.max(0, loose.indexOf("\uFFFD"));
    const line = loose.slice(0, bad).split("\n").length;
    throw new CorpusError(`Corpus file "${path}" is not valid UTF-8`, {
      file: path,
      line,
      hint: "convert it to UTF-8, e.g. iconv -f CP949 -t UTF-8",
    }, { cause: error });
  }
}
