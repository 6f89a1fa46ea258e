/**
 * Environment variables a program reads (`NERPIPE_*`), checked in one place when a command
 * starts: a value the program would not use (`NERPIPE_BLAS_THREADS=-1`) is a user error naming
 * the variable and what it allows, never a silent fallback to a default.
 *
 * @module
 */

import { type Diagnostic, PipelineValidationError } from "./errors.ts";

/** An environment variable, what it allows, and its check. */
export interface EnvVar {
  /** Its name, e.g. `NERPIPE_BLAS_THREADS`. */
  readonly name: string;
  /** What it allows, in words: `an integer from 1 to 1024 (OpenBLAS threads; unset: 1)`. */
  readonly allowed: string;
  /**
   * Whether a value that is set and not empty (empty is unset) is allowed: `true`, or what is
   * wrong with it when that needs more than "not allowed" (`names no file`).
   */
  check(value: string): true | false | string;
  /** Its value may hold a secret: messages never repeat it. */
  readonly secret?: boolean;
}

/** The value of `name`, or undefined when it is unset or cannot be read (no permission). */
function read(name: string): string | undefined {
  try {
    if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
      return undefined;
    }
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/**
 * Checks every variable that is set; each problem is reported at `environment: <name>`.
 *
 * @param vars The variables the program reads.
 * @param get Reads a variable (default: the process's environment, where env access is granted).
 * @throws {PipelineValidationError} With one diagnostic per variable whose value is not allowed,
 *   naming it and what it allows.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkEnv, type EnvVar } from "./env.ts";
 * const jobs: EnvVar = {
 *   name: "JOBS",
 *   allowed: "a positive integer",
 *   check: (v) => /^[1-9][0-9]*$/.test(v),
 * };
 * checkEnv([jobs], () => "4");
 * assert.throws(
 *   () => checkEnv([jobs], () => "-1"),
 *   /environment: JOBS: Value "-1" is not allowed: expected a positive integer/,
 * );
 * ```
 */
export function checkEnv(
  vars: readonly EnvVar[],
  get: (name: string) => string | undefined = read,
): void {
  const problems: Diagnostic[] = [];
  for (const v of vars) {
    const value = get(v.name);
    if (value === undefined || value === "") continue;
    const verdict = v.check(value);
    if (verdict === true) continue;
    // A secret (a remote's URL may hold one) is never repeated.
    const shown = v.secret ? "The value" : `Value ${JSON.stringify(value)}`;
    problems.push({
      file: "environment",
      line: 0,
      column: 0,
      path: v.name,
      message: `${shown} ${verdict === false ? "is not allowed" : verdict}`,
      hint: `expected ${v.allowed}`,
    });
  }
  if (problems.length) throw new PipelineValidationError(problems);
}
