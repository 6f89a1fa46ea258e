/**
 * Text wrapped at spaces for the terminal (`--help`, `stages <kind>`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrap } from "./wrap.ts";
 *
 * assert.equal(wrap("one two three four", 9, "  "), "  one two\n  three\n  four");
 * ```
 *
 * @module
 */

/**
 * Wraps a text at spaces so that no line is longer than `width` (a word longer than that keeps a
 * line of its own), each line after `indent`.
 *
 * @param text The text (its runs of spaces and line breaks become single spaces).
 * @param width The longest line, indent included.
 * @param indent What each line starts with.
 * @returns The lines, joined with `\n`.
 */
export function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line || !lines.length) lines.push(indent + line);
  return lines.join("\n");
}
