/**
 * The error thrown for a malformed or missing corpus file.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";

/** Where a corpus error happened and how to fix it. */
export interface CorpusErrorDetails {
  /** The corpus file, as the user named it. */
  file: string;
  /** 1-based line of the problem; 0 when the problem concerns the whole file. */
  line: number;
  /** 1-based column (UTF-16 code units) within the line, when known. */
  column?: number;
  /** What the user can do about it, e.g. `close the entity as <surface:TAG>`. */
  hint: string;
}

/**
 * A mistake in a corpus file that the user gave: bad syntax, an inconsistent record, a
 * missing file. The message is self-contained: it names `file:line:column` and ends with a hint,
 * so a CLI can print `error: <message>` without a stack.
 *
 * The message reads `<what> at <file>:<line>[:<column>]: <hint>`. When `line` is 0 the
 * problem concerns the whole file, and the message reads `<what>: <hint>`; `what` should then
 * name the file itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CorpusError } from "./corpus_error.ts";
 *
 * const error = new CorpusError('Unclosed "<" in tagged sentence', {
 *   file: "data/x.txt",
 *   line: 12,
 *   column: 5,
 *   hint: "close the entity as <surface:TAG>",
 * });
 * assert.equal(
 *   error.message,
 *   'Unclosed "<" in tagged sentence at data/x.txt:12:5: close the entity as <surface:TAG>',
 * );
 * ```
 */
export class CorpusError extends UserError {
  override name = "CorpusError";
  /** The corpus file, as the user named it. */
  readonly file: string;
  /** 1-based line of the problem; 0 when it concerns the whole file. */
  readonly line: number;
  /** 1-based column within the line, when known. */
  readonly column?: number;
  /** What the user can do about it. */
  readonly hint: string;

  /**
   * @param what What is wrong, in sentence case without a trailing period.
   * @param details Location and hint.
   */
  constructor(what: string, details: CorpusErrorDetails, options?: ErrorOptions) {
    super(`${what}${formatLocation(details)}: ${details.hint}`, options);
    this.file = details.file;
    this.line = details.line;
    if (details.column !== undefined) this.column = details.column;
    this.hint = details.hint;
  }
}

function formatLocation({ file, line, column }: CorpusErrorDetails): string {
  if (line <= 0) return "";
  return column === undefined ? ` at ${file}:${line}` : ` at ${file}:${line}:${column}`;
}
