/**
 * Reader for the KLUE-NER character-per-line format.
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { Document } from "../types.ts";
import { decodeBio, parseBioTag, type TaggedUnit } from "./_bio.ts";
import { quote, splitBlocks, splitLines } from "./_lines.ts";

/**
 * Parses KLUE-NER text into documents, yielding a `CorpusError` in place of each malformed
 * sentence.
 *
 * A sentence is a block of lines separated from the next by blank lines. Lines starting with
 * `##` (the id and the inline-tagged sentence) are comments and ignored. Every other line is
 * `<char>\t<tag>`: the character field is everything before the last tab, the tag the rest.
 * A space is written either as ` \t<tag>` or with an empty character field, `\t<tag>`; an
 * empty field may only carry `O` (a `B-` or `I-` tag there has no text and is an error). The
 * document text is the characters joined. Tags are read with conlleval semantics: `I-TYPE`
 * after `O` or another type starts a new entity. Entity spans are trimmed of surrounding
 * spaces. A block with only comments yields nothing.
 *
 * @param text The whole file.
 * @param file The file name for sources and messages.
 * @param firstLine The line number of the text's first line (a part of a file read in windows).
 * @returns Documents and errors, in file order.
 */
export function* klueRecords(
  text: string,
  file: string,
  firstLine = 1,
): Generator<Document | CorpusError> {
  for (const block of splitBlocks(splitLines(text, firstLine))) {
    yield* readBlock(block, file);
  }
}

function* readBlock(
  block: { text: string; number: number }[],
  file: string,
): Generator<Document | CorpusError> {
  let sentence = "";
  const units: TaggedUnit[] = [];
  for (const line of block) {
    if (line.text.startsWith("##")) continue;
    const tab = line.text.lastIndexOf("\t");
    if (tab < 0) {
      yield new CorpusError("Missing tab between character and tag", {
        file,
        line: line.number,
        hint: 'write each character as "<char>\\t<tag>"',
      });
      return;
    }
    const field = line.text.slice(0, tab);
    const written = line.text.slice(tab + 1).trim();
    const tag = parseBioTag(written);
    if (tag === undefined) {
      yield new CorpusError(`Invalid tag ${quote(written)}`, {
        file,
        line: line.number,
        column: tab + 2,
        hint: 'use "O", "B-TYPE" or "I-TYPE"',
      });
      return;
    }
    if (field === "" && tag !== null) {
      yield new CorpusError(`Tag ${quote(written)} on an empty character`, {
        file,
        line: line.number,
        column: 1,
        hint: 'write a space inside an entity as " \\t<tag>", or tag the empty character "O"',
      });
      return;
    }
    const char = field === "" ? " " : field;
    units.push({ start: sentence.length, end: sentence.length + char.length, tag });
    sentence += char;
  }
  if (units.length === 0) return;
  yield {
    text: sentence,
    entities: decodeBio(units, sentence),
    source: { file, line: block[0]!.number },
  };
}
