/**
 * What the names a stage kind declares must be: they become file paths, and a `metrics`
 * output's `headline` and `columns` name its numbers.
 *
 * @module
 */

import type { OutputSpec, StageDefinition } from "./stage.ts";

/** An input or output name: it is part of file paths, so an identifier and nothing else. */
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** An output's extension: `.` and a word, once or a few times (`.json`, `.tar.gz`). */
const EXTENSION = /^(\.[A-Za-z0-9_-]{1,15}){1,3}$/;

/** What is wrong with the names a stage kind declares: what it declares and the rule. */
export interface DefinitionProblem {
  /** What the definition declares, e.g. `an output named "../x"`. */
  what: string;
  /** The rule it breaks. */
  rule: string;
}

/**
 * Checks the names a stage kind declares, which become file paths (`out/<pipeline>/<stage>/
 * <output><extension>`): input and output names are identifiers (a letter, then letters,
 * digits, `-` and `_`, at most 64 characters), extensions `.` and such a word (`.json`,
 * `.tar.gz`). The registry checks a kind when it is registered, the loader a stage module when
 * it loads it.
 *
 * @param definition The stage kind.
 * @returns The first problem, or undefined when there is none.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { definitionProblem } from "./stage_names.ts";
 *
 * const outputs = { "../x": { type: "file", description: "Escapes" } };
 * assert.equal(definitionProblem({ inputs: {}, outputs })?.what, 'an output named "../x"');
 * ```
 */
export function definitionProblem(
  definition: Pick<StageDefinition<unknown>, "inputs" | "outputs">,
): DefinitionProblem | undefined {
  const rule = 'names are a letter, then letters, digits, "-" and "_" (at most 64 characters)';
  const sides: [string, Record<string, unknown> | undefined][] = [
    ["input", definition.inputs],
    ["output", definition.outputs],
  ];
  for (const [side, names] of sides) {
    for (const name of Object.keys(names ?? {})) {
      if (!NAME.test(name)) return { what: `an ${side} named ${JSON.stringify(name)}`, rule };
    }
  }
  for (const [name, spec] of Object.entries(definition.outputs ?? {})) {
    const problem = metricsProblem(name, spec as OutputSpec | undefined);
    if (problem) return problem;
    const extension = (spec as OutputSpec | undefined)?.extension;
    if (extension !== undefined && !EXTENSION.test(extension)) {
      return {
        what: `the extension ${JSON.stringify(extension)} for its output "${name}"`,
        rule: 'an extension is "." and letters, digits, "-" or "_", such as ".json" or ".tar.gz"',
      };
    }
  }
  return undefined;
}

/** A `headline` or `columns` on an output that is not of type `metrics`, or not names. */
function metricsProblem(name: string, spec: OutputSpec | undefined): DefinitionProblem | undefined {
  const { headline, columns } = spec ?? {};
  if (headline === undefined && columns === undefined) return undefined;
  const rule = 'an output of type "metrics" may name a headline (a string) and columns (strings)';
  if (spec?.type !== "metrics") {
    return { what: `a headline or columns for its output "${name}" of type "${spec?.type}"`, rule };
  }
  const strings = (x: unknown) => Array.isArray(x) && x.every((c) => typeof c === "string");
  if (
    (headline !== undefined && typeof headline !== "string") ||
    (columns !== undefined && !strings(columns))
  ) {
    return { what: `a headline or columns for its output "${name}" that are not names`, rule };
  }
  return undefined;
}
