/**
 * Line handling shared by the corpus readers.
 *
 * @module
 */

/** A line of a corpus file with its 1-based number. */
export interface NumberedLine {
  text: string;
  number: number;
}

/**
 * Splits file text into lines: accepts LF, CRLF and CR endings, and drops a UTF-8 byte order
 * mark at the start of any line, not only of the file: files joined with `cat` keep the mark
 * of each part, and a line `\uFEFF; ...` would otherwise not read as starting with `;`.
 *
 * @param text The whole file (or a part of it that starts at a line).
 * @param first The number of its first line (1 for a whole file).
 * @returns The lines, without their endings; a final line ending adds no empty line.
 */
export function splitLines(text: string, first = 1): NumberedLine[] {
  const parts = text.split(/\r\n|\n|\r/);
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts.map((line, i) => ({
    text: line.startsWith("\uFEFF") ? line.slice(1) : line,
    number: i + first,
  }));
}

/**
 * Whether a line separates records: empty or only whitespace.
 *
 * @param line One line without its ending.
 * @returns True for a blank line.
 */
export function isBlank(line: string): boolean {
  return line.trim() === "";
}

/**
 * Groups lines into blocks separated by one or more blank lines.
 *
 * @param lines Numbered lines from {@linkcode splitLines}.
 * @returns Non-empty blocks, in file order.
 */
export function splitBlocks(lines: NumberedLine[]): NumberedLine[][] {
  const blocks: NumberedLine[][] = [];
  let current: NumberedLine[] = [];
  for (const line of lines) {
    if (isBlank(line.text)) {
      if (current.length > 0) blocks.push(current);
      current = [];
    } else {
      current.push(line);
    }
  }
  if (current.length > 0) blocks.push(current);
  return blocks;
}

/**
 * The code points of a string as `U+XXXX` words, cut after `max` with an ellipsis.
 *
 * @param text The string.
 * @param max Most code points to show.
 * @returns For example `U+1112 U+1161 U+11AB`.
 */
export function codePoints(text: string, max = 8): string {
  const points = [...text].map((c) =>
    `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`
  );
  return points.length > max ? `${points.slice(0, max).join(" ")} …` : points.join(" ");
}

/**
 * Whether two different strings would look the same in a message: equal after Unicode NFC
 * normalisation (a Hangul syllable and its jamo), or once invisible format characters are
 * dropped and every run of whitespace is one space (a no-break space, a zero-width space).
 *
 * @param a One string.
 * @param b The other.
 * @returns True when they differ but look alike.
 */
export function looksAlike(a: string, b: string): boolean {
  if (a === b) return false;
  const plain = (s: string) => s.normalize("NFC").replace(/\p{Cf}/gu, "").replace(/\s+/g, " ");
  return plain(a) === plain(b);
}

/**
 * Quotes a short excerpt of text for an error message, cutting long text with an ellipsis.
 *
 * @param text The excerpt.
 * @param max Most characters to keep.
 * @returns The excerpt in double quotes.
 */
export function quote(text: string, max = 20): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}
