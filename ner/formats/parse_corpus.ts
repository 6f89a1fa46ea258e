/**
 * Parses corpus text in any supported format.
 *
 * @module
 */

import { CorpusError } from "../corpus_error.ts";
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
 * import { parseCorpus } from "./parse_corpus.ts";
 *
 * const text = "; 한석규가 서울에 갔다\n$<한석규:PS>가 <서울:LC>에 갔다\n";
 * const { documents } = parseCorpus(text, "x.txt", { format: "kmou" });
 * console.assert(documents[0]?.text === "한석규가 서울에 갔다");
 * console.assert(documents[0]?.entities[1]?.label === "LC");
 * ```
 */
export function parseCorpus(text: string, file: string, options: ReadOptions): ReadResult {
  const onError = options.onError ?? "error";
  const documents: Document[] = [];
  const problems: CorpusProblem[] = [];
  for (const record of records(text, file, options)) {
    if (!(record instanceof CorpusError)) {
      documents.push(record);
      continue;
    }
    if (onError !== "skip") throw record;
    problems.push({
      file: record.file,
      line: record.line,
      ...(record.column === undefined ? {} : { column: record.column }),
      message: record.message,
    });
  }
  return { documents, skipped: problems.length, problems };
}

function records(
  text: string,
  file: string,
  options: ReadOptions,
): Iterable<Document | CorpusError> {
  const format: CorpusFormat = options.format;
  switch (format) {
    case "kmou":
      return kmouRecords(text, file);
    case "conll": {
      const column = options.tagColumn ?? -1;
      if (!Number.isInteger(column) || column === 0) {
        throw new RangeError(
          `Invalid tagColumn ${column}: use a 0-based column after the token, or -1 for the last`,
        );
      }
      return conllRecords(text, file, column);
    }
    case "klue":
      return klueRecords(text, file);
    case "jsonl":
      return jsonlRecords(text, file);
    default: {
      const known = CORPUS_FORMATS.map((name) => `"${name}"`).join(", ");
      throw new RangeError(`Unknown corpus format "${String(format)}": use one of ${known}`);
    }
  }
}
