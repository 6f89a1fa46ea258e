/**
 * Reader for CoNLL-style column files (CoNLL-2003 and the like).
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { Document } from "../types.ts";
import { decodeBio, parseBioTag, type TaggedUnit } from "./_bio.ts";
import { isBlank, quote, splitLines } from "./_lines.ts";

/**
 * Parses CoNLL column text into documents, yielding a `CorpusError` in place of each malformed
 * sentence.
 *
 * Each line holds whitespace-separated columns, the token first and a BIO tag in `tagColumn`.
 * A blank line ends a sentence; a line whose first column is `-DOCSTART-` is skipped and ends
 * the sentence before it. The document text is the tokens joined by single spaces. Tags are
 * `O`, `B-TYPE` and `I-TYPE` read with conlleval semantics, so IOB1 files work: `I-TYPE` after
 * `O` or after another type starts a new entity.
 *
 * @param text The whole file.
 * @param file The file name for sources and messages.
 * @param tagColumn 0-based tag column; negative counts from the end (-1 is the last column).
 * @param startLine The line number of the text's first line (a part of a file read in windows).
 * @returns Documents and errors, in file order.
 */
export function* conllRecords(
  text: string,
  file: string,
  tagColumn = -1,
  startLine = 1,
): Generator<Document | CorpusError> {
  let tokens: string[] = [];
  let units: TaggedUnit[] = [];
  let firstLine = 0;
  let failure: CorpusError | undefined;
  let length = 0;

  function* flush(): Generator<Document | CorpusError> {
    if (failure !== undefined) {
      yield failure;
    } else if (tokens.length > 0) {
      const sentence = tokens.join(" ");
      yield {
        text: sentence,
        entities: decodeBio(units, sentence),
        source: { file, line: firstLine },
      };
    }
    tokens = [];
    units = [];
    failure = undefined;
    length = 0;
  }

  for (const line of splitLines(text, startLine)) {
    if (isBlank(line.text)) {
      yield* flush();
      continue;
    }
    const columns = [...line.text.matchAll(/\S+/g)];
    if (columns[0]?.[0] === "-DOCSTART-") {
      yield* flush();
      continue;
    }
    if (tokens.length === 0 && failure === undefined) firstLine = line.number;
    if (failure !== undefined) continue;
    const index = tagColumn < 0 ? columns.length + tagColumn : tagColumn;
    const cell = columns[index];
    if (index < 1 || cell === undefined) {
      failure = new CorpusError(`Missing tag column ${tagColumn}`, {
        file,
        line: line.number,
        column: line.text.length + 1,
        hint:
          `the line has ${columns.length} column(s); write "<token> ... <tag>" or set tagColumn`,
      });
      continue;
    }
    const tag = parseBioTag(cell[0]);
    if (tag === undefined) {
      failure = new CorpusError(`Invalid tag ${quote(cell[0])}`, {
        file,
        line: line.number,
        column: cell.index + 1,
        hint: 'use "O", "B-TYPE" or "I-TYPE"',
      });
      continue;
    }
    const token = columns[0]![0];
    const start = length === 0 ? 0 : length + 1;
    tokens.push(token);
    units.push({ start, end: start + token.length, tag });
    length = start + token.length;
  }
  yield* flush();
}
