/**
 * Reads a corpus file from disk.
 *
 * @module
 */

import { CorpusError } from "../corpus_error.ts";
import type { ReadOptions, ReadResult } from "./options.ts";
import { addRecord, corpusRecords, emptyResult } from "./parse_corpus.ts";

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
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path, options.signal ? { signal: options.signal } : {});
  } catch (error: unknown) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CorpusError(`Corpus file "${path}" not found`, {
        file: path,
        line: 0,
        hint: `check the path; relative paths are resolved from "${Deno.cwd()}"`,
      }, { cause: error });
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new CorpusError(`Corpus path "${path}" is a directory`, {
        file: path,
        line: 0,
        hint: "name a file inside it, such as train.txt",
      }, { cause: error });
    }
    throw error;
  }
  const text = decodeUtf8(bytes, path);
  const result = emptyResult();
  let n = 0;
  for (const record of corpusRecords(text, path, options)) {
    addRecord(result, record, options.onError);
    if (options.signal && ++n % RECORDS_PER_CHECK === 0) {
      // Parsing never awaits: let a pending Ctrl-C handler run before looking at the signal.
      await new Promise((resolve) => setTimeout(resolve, 0));
      options.signal.throwIfAborted();
    }
  }
  return result;
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
