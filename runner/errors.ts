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

/**
 * Where a config path is in the pipeline file (or on the command line), for a diagnostic: the
 * file, line and column of its value (or of its key, when `key` is set).
 */
export type Where = (path: string, key?: boolean) => Omit<Diagnostic, "message">;

/** Formats a diagnostic as one line: `file:line:col: path: message: hint`. */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file;
  const path = d.path ? ` ${d.path}:` : "";
  const hint = d.hint ? `: ${d.hint}` : "";
  return `${where}:${path} ${d.message}${hint}`;
}

/**
 * A mistake in what the user gave (a pipeline file, a flag, a corpus, a checkpoint, a model
 * directory), raised where it is found. Every error of that sort extends this class, in the
 * engine and in the ML library alike, and {@link isUserError} is the one test for it: the CLI
 * prints `error: <message>` without a stack and exits 2.
 */
export class UserError extends Error {
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

/**
 * An input a stage was given is not what the stage reads: a file of another artifact type,
 * one of the wrong shape, inputs of different runs. A user error (a wiring given with `--set`
 * is the usual cause), and one the engine acts on: an upstream result that was pulled from the
 * remote cache and is rejected so is removed from the local cache, and not pulled again.
 */
export class InputError extends UserError {
  /** The names of the inputs at fault; empty when the stage cannot tell which. */
  readonly inputs: readonly string[];
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the input and its file, then a hint.
   * @param inputs The names of the inputs at fault (empty: the stage cannot tell).
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, inputs: readonly string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = "InputError";
    this.inputs = inputs;
  }
}

/**
 * Every problem found while checking a pipeline file (and the `--set` flags and environment
 * variables it is run with), collected in one pass.
 */
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
 * A mistake in a stage's code that the engine finds when the stage returns (an output it did not
 * write, or wrote as the wrong kind) or while it runs (an exit, an undeclared output): the stage
 * is at fault, not the user's configuration, so the run exits 1. Its message names the output
 * and what was expected; it prints without a stack, which would only show the engine's code.
 */
export class StageError extends Error {
  /**
   * Creates the error.
   *
   * @param message What the stage did and what was expected, without the stage's id (the line
   *   that reports it names the stage).
   * @param options Standard error options, such as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StageError";
  }
}

/** True for a mistake in what the user gave: an instance of {@link UserError}. */
export function isUserError(error: unknown): error is UserError {
  return error instanceof UserError;
}
