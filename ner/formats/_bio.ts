/**
 * BIO tag parsing and decoding shared by the CoNLL and KLUE readers.
 *
 * @module
 */

import type { EntitySpan } from "../types.ts";

/** A parsed tag: `null` for `O`. */
export type BioTag = { prefix: "B" | "I"; label: string } | null;

/**
 * Parses `O`, `B-TYPE` or `I-TYPE` (an underscore, `B_TYPE`, is accepted too).
 *
 * @param tag The tag as written.
 * @returns The parsed tag, `null` for `O`, or `undefined` when the tag is not BIO.
 */
export function parseBioTag(tag: string): BioTag | undefined {
  if (tag === "O") return null;
  const prefix = tag[0];
  const separator = tag[1];
  const label = tag.slice(2);
  if ((prefix !== "B" && prefix !== "I") || (separator !== "-" && separator !== "_")) {
    return undefined;
  }
  if (label === "" || /\s/.test(label)) return undefined;
  return { prefix, label };
}

/** A tagged unit (token or character) with its span in the document text. */
export interface TaggedUnit {
  start: number;
  end: number;
  tag: BioTag;
}

/**
 * Turns tagged units into entity spans with conlleval semantics: an entity starts at `B-X`, and
 * also at `I-X` when the previous unit is `O` or belongs to another type (IOB1); `I-X` after
 * `B-X` or `I-X` extends the entity. Spans are trimmed of surrounding whitespace in `text`, and
 * a span that is only whitespace is dropped.
 *
 * @param units Units in text order.
 * @param text The document text the offsets point into.
 * @returns Entity spans in text order.
 */
export function decodeBio(units: TaggedUnit[], text: string): EntitySpan[] {
  const spans: EntitySpan[] = [];
  let open: EntitySpan | undefined;
  const close = () => {
    if (open === undefined) return;
    let { start, end } = open;
    while (start < end && /\s/.test(text[start] ?? "")) start++;
    while (end > start && /\s/.test(text[end - 1] ?? "")) end--;
    if (start < end) spans.push({ start, end, label: open.label });
    open = undefined;
  };
  for (const unit of units) {
    const tag = unit.tag;
    if (tag === null) {
      close();
    } else if (tag.prefix === "I" && open !== undefined && open.label === tag.label) {
      open.end = unit.end;
    } else {
      close();
      open = { start: unit.start, end: unit.end, label: tag.label };
    }
  }
  close();
  return spans;
}
