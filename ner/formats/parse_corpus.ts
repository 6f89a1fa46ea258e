/**
 * Parses corpus text in any supported format.
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { Document } from "../types.ts";
import { conllRecords } from "./conll.ts";
import { jsonlRecords } from "./jsonl.ts";
import { klueRecords } from "./klue.ts";
import { kmouRecords } from "./kmou.ts";
import {
  CORPUS_FORMATS,
  type CorpusFormat,
  type CorpusProblem,
  type ReadOptions,
  type ReadResult,
} from "./options.ts";

/**
 * Parses the text of a corpus file into documents. Pure: reads nothing.
 *
 * @param text The whole file; a UTF-8 byte order mark, CRLF endings and trailing blank lines
 *   are accepted.
 * @param file The file name, used in each document's `source` and in messages.
 * @param options The format, what to do with malformed records, and (CoNLL) the tag column.
 * @returns The documents in file order, and the records skipped with `onError: "skip"`.
 * @throws {CorpusError} For the first malformed record when `onError` is `"error"` (the
 *   default).
 * @throws {RangeError} For an unknown format or a `tagColumn` that is not a non-zero integer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCorpus } from "./parse_corpus.ts";
 *
 * const text = "; 한석규가 서울에 갔다\n$<한석규:PS>가 <서울:LC>에 갔다\n";
 * const { documents } = parseCorpus(text, "x.txt", { format: "kmou" });
 * assert.deepEqual(documents, [{
 *   text: "한석규가 서울에 갔다",
 *   entities: [{ start: 0, end: 3, label: "PS" }, { start: 5, end: 7, label: "LC" }],
 *   source: { file: "x.txt", line: 1 },
 * }]);
 * ```
 */
export function parseCorpus(text: string, file: string, options: ReadOptions): ReadResult {
  const result = emptyResult();
  for (const record of corpusRecords(text, file, options)) {
    addRecord(result, record, options.onError);
  }
  return result;
}

/** A result with nothing in it yet, for {@linkcode addRecord}. */
export function emptyResult(): ReadResult {
  return { documents: [], skipped: 0, problems: [] };
}

/**
 * Adds one record to a result: a document, or (with `onError: "skip"`) a problem.
 *
 * @param result The result so far.
 * @param record A document or the error in place of a malformed record.
 * @param onError What to do with the error.
 * @throws {CorpusError} The record's error unless `onError` is `"skip"`.
 */
export function addRecord(
  result: ReadResult,
  record: Document | CorpusError,
  onError: ReadOptions["onError"] = "error",
): void {
  if (!(record instanceof CorpusError)) {
    result.documents.push(record);
    return;
  }
  if (onError !== "skip") throw record;
  const problem: CorpusProblem = {
    file: record.file,
    line: record.line,
    ...(record.column === undefined ? {} : { column: record.column }),
    message: record.message,
  };
  result.problems.push(problem);
  result.skipped = result.problems.length;
}

/**
 * The records of corpus text in its format, each a document or the error in its place.
 *
 * @param text The text: a whole file, or a part of one that starts at a line and ends after a
 *   blank line (any line for JSONL), so that no record is cut.
 * @param file The file name for sources and messages.
 * @param options The format and (CoNLL) the tag column.
 * @param firstLine The line number of the text's first line.
 * @throws {RangeError} For an unknown format or a `tagColumn` that is not a non-zero integer.
 */
export function corpusRecords(
  text: string,
  file: string,
  options: ReadOptions,
  firstLine = 1,
): Iterable<Document | CorpusError> {
  const format: CorpusFormat = options.format;
  switch (format) {
    case "kmou":
      return kmouRecords(text, file, firstLine);
    case "conll": {
      const column = options.tagColumn ?? -1;
      if (!Number.isInteger(column) || column === 0) {
        throw new RangeError(
          `Invalid tagColumn ${column}: use a 0-based column after the token, or -1 for the last`,
        );
      }
      return conllRecords(text, file, column, firstLine);
    }
    case "klue":
      return klueRecords(text, file, firstLine);
    case "jsonl":
      return jsonlRecords(text, file, firstLine);
    default: {
      const known = CORPUS_FORMATS.map((name) => `"${name}"`).join(", ");
      throw new RangeError(`Unknown corpus format "${String(format)}": use one of ${known}`);
    }
  }
}
