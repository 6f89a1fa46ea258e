/**
 * User errors: mistakes in what the user gave (a pipeline file, a path, a flag).
 * They print as `error: <message>` without a stack and exit with code 2.
 *
 * @module
 */

/** One problem found in a pipeline file or on the command line. */
export interface Diagnostic {
  /** File the problem is in (as given by the user), or `command line`. */
  file: string;
  /** 1-based line, 0 when unknown. */
  line: number;
  /** 1-based column, 0 when unknown. */
  column: number;
  /** Config path such as `stages.train.with.epochs`; empty for the whole file. */
  path: string;
  /** What is wrong, sentence case, no trailing period. */
  message: string;
  /** How to fix it, if we can tell. */
  hint?: string;
}

/** Formats a diagnostic as one line: `file:line:col: path: message: hint`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const path = d.path ? ` ${d.path}:` : "";
  const hint = d.hint ? `: ${d.hint}` : "";
  return `${where}:${path} ${d.message}${hint}`;
}

/** A mistake the user can fix. Exit code 2. */
export class UserError extends Error {
  /** Exit code of the process when this error ends it. */
  readonly exitCode = 2;
  /**
   * Creates a user error.
   *
   * @param message What is wrong and how to fix it.
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UserError";
  }
}

/** Every problem found while checking a pipeline file, collected in one pass. */
export class PipelineValidationError extends UserError {
  /** The problems, in file order (by line, then column). */
  readonly diagnostics: Diagnostic[];
  /**
   * Creates the error; its message has one formatted diagnostic per line.
   *
   * @param diagnostics The problems; they are kept in file order.
   */
  constructor(diagnostics: Diagnostic[]) {
    diagnostics = [...diagnostics].sort((a, b) => a.line - b.line || a.column - b.column);
    super(diagnostics.map(formatDiagnostic).join("\n"));
    this.name = "PipelineValidationError";
    this.diagnostics = diagnostics;
  }
}

/**
 * True for errors that are the user's to fix: ours, and errors of the ML library that carry
 * a file and line (such as a corpus error) or declare `exitCode = 2`.
 */
export function isUserError(error: unknown): boolean {
  if (error instanceof UserError) return true;
  if (!(error instanceof Error)) return false;
  const e = error as Error & { exitCode?: unknown; userError?: unknown };
  return e.exitCode === 2 || e.userError === true;
}
