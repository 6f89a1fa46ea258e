/**
 * Reader for the KMOU (Korea Maritime & Ocean University) NER corpus format.
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { Document, EntitySpan } from "../types.ts";
import { codePoints, isBlank, looksAlike, type NumberedLine, quote, splitLines } from "./_lines.ts";

/** A tag: `<`, a surface that starts with a non-space, `:`, an upper-case type, `>`. */
const TAG = /<([^<>\s][^<>]*):([A-Z][A-Z0-9_]*)>/y;
/** What clearly starts a tag but never closes it: `<서울:LC에 갔다`, `<서울:LC` at line end. */
const UNCLOSED = /<[^<>\s][^<>]*?:[A-Z][A-Z0-9_]*(?![A-Za-z0-9_])/y;

/**
 * Parses KMOU text into documents, yielding a `CorpusError` in place of each malformed record.
 *
 * A record is a line `; <raw sentence>`, a line `$<tagged sentence>`, optional morpheme lines
 * (index, morpheme, POS, BIO tag; ignored), and a blank line. A new `;` or `$` line also ends a
 * record that already has one. The document text is the raw sentence with surrounding
 * whitespace trimmed; the tagged sentence (trimmed too) with its tags removed must equal it.
 * Without a `;` line the text is the tagged sentence with its tags removed.
 *
 * Tags are written `<surface:TAG>`:
 * - a tag needs a surface that does not start with whitespace and holds no `<` or `>`, then a
 *   colon, then a type of upper-case letters, digits and underscores starting with a letter,
 *   then `>`. The last such colon separates surface and type, so `<10:30:TI>` is the time
 *   `10:30`.
 * - A `<` that does not open a tag is literal text, as in `a < b`, `x<y` or `<12:00>`.
 * - A `<` that clearly starts a tag, `<surface:TYPE` with the type followed by something other
 *   than a letter, digit, underscore or `>` (or by the end of the line), is an unclosed tag
 *   and an error.
 * - Tags do not nest; a raw sentence cannot contain text that reads as a tag.
 * - Trailing whitespace inside a surface is left out of the entity span.
 *
 * @param text The whole file.
 * @param file The file name for sources and messages.
 * @param firstLine The line number of the text's first line (a part of a file read in windows).
 * @returns Documents and errors, in file order.
 */
export function* kmouRecords(
  text: string,
  file: string,
  firstLine = 1,
): Generator<Document | CorpusError> {
  let record: NumberedLine[] = [];
  let hasRaw = false;
  let hasTagged = false;
  for (const line of splitLines(text, firstLine)) {
    const starts = line.text[0];
    const endsRecord = isBlank(line.text) || (starts === ";" && (hasRaw || hasTagged)) ||
      (starts === "$" && hasTagged);
    if (endsRecord && record.length > 0) {
      yield readRecord(record, file);
      record = [];
      hasRaw = false;
      hasTagged = false;
    }
    if (isBlank(line.text)) continue;
    record.push(line);
    if (starts === ";") hasRaw = true;
    if (starts === "$") hasTagged = true;
  }
  if (record.length > 0) yield readRecord(record, file);
}

function readRecord(lines: NumberedLine[], file: string): Document | CorpusError {
  const first = lines[0]!;
  const raw = lines.find((line) => line.text.startsWith(";"));
  const tagged = lines.find((line) => line.text.startsWith("$"));
  if (tagged === undefined) {
    return new CorpusError('Record without a "$" tagged sentence', {
      file,
      line: first.number,
      hint: 'follow the "; <sentence>" line with a line "$<sentence with <surface:TAG> entities>"',
    });
  }
  const parsed = stripTags(tagged, file);
  if (parsed instanceof CorpusError) return parsed;
  const source = { file, line: first.number };
  if (raw === undefined) return { text: parsed.text, entities: parsed.entities, source };

  const rawText = raw.text.slice(1).trim();
  if (rawText !== parsed.text) {
    let i = 0;
    while (i < rawText.length && rawText[i] === parsed.text[i]) i++;
    const column = i < parsed.positions.length ? parsed.positions[i]! : parsed.lineEnd;
    const found = parsed.text.slice(i);
    const expected = rawText.slice(i);
    // The differing parts, without the common end: when they look alike (the same text in NFC
    // and NFD, a no-break space for a space), their code points tell them apart.
    let j = 0;
    while (
      j < found.length && j < expected.length &&
      found[found.length - 1 - j] === expected[expected.length - 1 - j]
    ) j++;
    const ours = found.slice(0, found.length - j);
    const theirs = expected.slice(0, expected.length - j);
    const alike = looksAlike(ours, theirs)
      ? `, which look alike but differ in code points: ${
        codePoints(ours)
      } where line ${raw.number} has ${codePoints(theirs)}${
        ours.normalize("NFC") === theirs.normalize("NFC")
          ? " (one line is in Unicode NFD, the other NFC: convert the file to NFC, e.g. " +
            "uconv -x any-nfc)"
          : ""
      }`
      : "";
    return new CorpusError("Tagged sentence does not match the raw sentence", {
      file,
      line: tagged.number,
      column,
      hint: `without tags it reads ${
        found === "" ? "nothing" : quote(found)
      } where line ${raw.number} reads ${
        expected === "" ? "nothing" : quote(expected)
      }${alike}; make the "$" line equal the ";" line apart from its <surface:TAG> tags`,
    });
  }
  return { text: rawText, entities: parsed.entities, source };
}

interface Stripped {
  text: string;
  entities: EntitySpan[];
  /** 1-based column in the file line of each character of `text`. */
  positions: number[];
  /** The column just past the tagged sentence. */
  lineEnd: number;
}

function stripTags(line: NumberedLine, file: string): Stripped | CorpusError {
  const body = line.text.slice(1);
  const lead = body.length - body.trimStart().length;
  const tagged = body.trim();
  /** Column of tagged[i] in the file line: one for "$", the leading whitespace, then 1-based. */
  const column = (i: number) => i + lead + 2;
  let text = "";
  const positions: number[] = [];
  const entities: EntitySpan[] = [];
  let i = 0;
  while (i < tagged.length) {
    const ch = tagged[i]!;
    if (ch === "<") {
      TAG.lastIndex = i;
      const tag = TAG.exec(tagged);
      if (tag !== null) {
        const surface = tag[1]!;
        const label = tag[2]!;
        const surfaceStart = i + 1;
        const start = text.length;
        for (let k = 0; k < surface.length; k++) positions.push(column(surfaceStart + k));
        text += surface;
        const end = start + surface.trimEnd().length;
        entities.push({ start, end, label });
        i = TAG.lastIndex;
        continue;
      }
      UNCLOSED.lastIndex = i;
      const unclosed = UNCLOSED.exec(tagged);
      if (unclosed !== null) {
        return new CorpusError('Unclosed "<" in tagged sentence', {
          file,
          line: line.number,
          column: column(i),
          hint: `close the entity as <surface:TAG>, e.g. ${quote(`${unclosed[0]}>`, 40)}`,
        });
      }
    }
    positions.push(column(i));
    text += ch;
    i++;
  }
  return { text, entities, positions, lineEnd: column(tagged.length) };
}
