/**
 * What a failed stage threw, as a run reports it: one message, and the stage's stack for
 * `--verbose`. Stage code can throw anything (a string, an object whose `toString` or `message`
 * getter throws, a Proxy): describing it never throws.
 *
 * @module
 */

import { StageError, UserError } from "../errors.ts";
import { ENGINE_URL } from "./engine.ts";

/** A stage's failure, described. */
export interface Failure {
  /**
   * One message: a user error's or a stage error's own message (see {@link StageError}), an
   * Error's `<name>: <message>`, or the thrown value as text.
   */
  message: string;
  /** The stack of an Error the stage's code threw; none for user and stage errors. */
  stack?: string;
  /** The stage failed on what the user gave (exit 2), not on its code (exit 1). */
  user: boolean;
}

/** `f()`, or undefined when it throws. */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

/** At most 500 characters of a description. */
function cut(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}...` : text;
}

/**
 * Describes what a stage threw. Never throws.
 *
 * @param thrown What was thrown (or rejected with).
 * @returns Its message, its stack where it has one, and whether it is a user error.
 */
export function describeFailure(thrown: unknown): Failure {
  const own = attempt(() => thrown instanceof UserError || thrown instanceof StageError);
  // Each read is its own attempt: a getter, toString or Proxy trap may throw.
  const text = (read: () => unknown) => attempt(() => String(read()));
  if (own) {
    const message = text(() => (thrown as Error).message) ?? "(its message cannot be read)";
    return { message, user: attempt(() => thrown instanceof UserError) === true };
  }
  if (attempt(() => thrown instanceof Error)) {
    const error = thrown as Error;
    const name = text(() => error.name) || "Error";
    const message = text(() => error.message) ?? "(its message cannot be read)";
    const stack = attempt(() => error.stack);
    return {
      message: message ? `${name}: ${message}` : name,
      ...(typeof stack === "string" ? { stack } : {}),
      user: false,
    };
  }
  const kind = thrown === null ? "null" : typeof thrown;
  if (kind !== "object" && kind !== "function") {
    return { message: cut(text(() => thrown) ?? `a ${kind}`), user: false };
  }
  const shown = text(() => thrown);
  if (shown !== undefined && shown !== "[object Object]") {
    return { message: cut(shown), user: false };
  }
  const json = attempt(() => JSON.stringify(thrown));
  if (json !== undefined) {
    return { message: `threw a value that is not an Error: ${cut(json)}`, user: false };
  }
  return {
    message: "threw a value that is not an Error and cannot be shown as text " +
      "(converting it to text threw): throw an Error instead",
    user: false,
  };
}

/** The engine's folder: its frames are in every stage's stack, and say nothing of the stage. */
const ENGINE = ENGINE_URL.href;

/**
 * The lines of a stack that say where (`    at ...`) in the stage's code (and the libraries it
 * calls), without the message it starts with, the engine's frames or Deno's internal ones.
 */
export function stackFrames(stack: string): string[] {
  return stack.split("\n").filter((line) =>
    /^\s+at /.test(line) && !line.includes(ENGINE) && !/[( ]ext:/.test(line)
  );
}
