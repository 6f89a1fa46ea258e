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
 * Splits file text into lines: drops a UTF-8 byte order mark, accepts LF, CRLF and CR endings.
 *
 * @param text The whole file.
 * @returns The lines, without their endings; a final line ending adds no empty line.
 */
export function splitLines(text: string): NumberedLine[] {
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  const parts = body.split(/\r\n|\n|\r/);
  if (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  return parts.map((line, i) => ({ text: line, number: i + 1 }));
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
