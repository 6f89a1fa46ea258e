/**
 * Reader for JSON Lines corpora with character-span entities.
 *
 * @module
 */

import { CorpusError } from "./corpus_error.ts";
import type { Document, EntitySpan } from "../types.ts";
import { isBlank, quote, splitLines } from "./_lines.ts";

const ENTITY_EXAMPLE = '{"start": 0, "end": 3, "label": "PS"}';
const EXAMPLE = `{"text": "...", "entities": [${ENTITY_EXAMPLE}]}`;

/**
 * Parses JSON Lines text into documents, yielding a `CorpusError` in place of each malformed
 * line.
 *
 * Each non-blank line is one object `{"text": string, "entities": [{"start", "end", "label"}]}`;
 * other fields are ignored. Offsets are UTF-16 code units, half-open; entities must lie within
 * the text, have `start < end`, a non-empty string label without whitespace (as a BIO tag's
 * type), and must not overlap. Entities are
 * returned sorted by start.
 *
 * @param text The whole file.
 * @param file The file name for sources and messages.
 * @param firstLine The line number of the text's first line (a part of a file read in windows).
 * @returns Documents and errors, in file order.
 */
export function* jsonlRecords(
  text: string,
  file: string,
  firstLine = 1,
): Generator<Document | CorpusError> {
  for (const line of splitLines(text, firstLine)) {
    if (isBlank(line.text)) continue;
    yield readLine(line.text, line.number, file);
  }
}

function readLine(text: string, number: number, file: string): Document | CorpusError {
  const fail = (what: string, hint: string, column?: number) =>
    new CorpusError(what, {
      file,
      line: number,
      ...(column === undefined ? {} : { column }),
      hint,
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error: unknown) {
    const message = error instanceof Error ? error.message : String(error);
    const detail = message.charAt(0).toLowerCase() + message.slice(1);
    const position = /position (\d+)/.exec(detail);
    const column = position === null ? undefined : Number(position[1]) + 1;
    return fail(
      "Invalid JSON",
      `${
        detail.replace(/\s*\(line \d+ column \d+\)/, "")
      }; write one object per line such as ${EXAMPLE}`,
      column,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("Line is not a JSON object", `write one object per line such as ${EXAMPLE}`);
  }
  const record = value as Record<string, unknown>;
  if (typeof record.text !== "string") {
    return fail('Missing string "text"', `write one object per line such as ${EXAMPLE}`);
  }
  const sentence = record.text;
  if (!Array.isArray(record.entities)) {
    return fail('Missing array "entities"', 'write "entities": [] for a sentence without entities');
  }
  const entities: EntitySpan[] = [];
  for (const [i, item] of record.entities.entries()) {
    const where = `entities[${i}]`;
    if (typeof item !== "object" || item === null) {
      return fail(`Entity ${where} is not an object`, `write each entity as ${ENTITY_EXAMPLE}`);
    }
    const { start, end, label } = item as Record<string, unknown>;
    if (!Number.isInteger(start) || !Number.isInteger(end)) {
      return fail(
        `Entity ${where} needs integer "start" and "end"`,
        "give character offsets into text, end exclusive",
      );
    }
    const s = start as number;
    const e = end as number;
    if (s < 0 || e > sentence.length || s >= e) {
      return fail(
        `Entity ${where} has span [${s}, ${e}) outside the text or empty`,
        `need 0 <= start < end <= ${sentence.length}, the text length in UTF-16 code units`,
      );
    }
    if (typeof label !== "string" || label === "") {
      return fail(`Entity ${where} needs a string "label"`, 'give a type such as "PS"');
    }
    if (/\s/.test(label)) {
      // As in the BIO formats: a tag is one column of predictions.txt, for conlleval.
      return fail(
        `Entity ${where} has the label ${quote(label)} with whitespace in it`,
        'write the type without spaces, such as "PS" or "P_S"',
      );
    }
    entities.push({ start: s, end: e, label });
  }
  entities.sort((a, b) => a.start - b.start || a.end - b.end);
  for (let i = 1; i < entities.length; i++) {
    const previous = entities[i - 1]!;
    const current = entities[i]!;
    if (current.start < previous.end) {
      return fail(
        `Overlapping entities [${previous.start}, ${previous.end}) and [${current.start}, ${current.end})`,
        "keep one of them; nested entities are not supported",
      );
    }
  }
  return { text: sentence, entities, source: { file, line: number } };
}
