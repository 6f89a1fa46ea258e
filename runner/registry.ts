/**
 * The registry of stage kinds, by name.
 *
 * @module
 */

import type { StageDefinition } from "./stage.ts";
import { definitionProblem } from "./stage_names.ts";

/** Registering a stage name that is already taken. */
export class DuplicateStageError extends Error {
  /** The name that is already taken. */
  readonly stageName: string;
  /**
   * Creates the error.
   *
   * @param name The stage kind's name.
   */
  constructor(name: string) {
    super(
      `Stage kind "${name}" is already registered: pick another name or pass { override: true }`,
    );
    this.name = "DuplicateStageError";
    this.stageName = name;
  }
}

/** Registering a stage kind whose declared names cannot be file names (see `definitionProblem`). */
export class InvalidStageError extends TypeError {
  /** The stage kind's name. */
  readonly stageName: string;
  /**
   * Creates the error.
   *
   * @param name The stage kind's name.
   * @param what What it declares, e.g. `an output named "../x"`.
   * @param rule The rule that breaks.
   */
  constructor(name: string, what: string, rule: string) {
    super(`Stage kind "${name}" declares ${what}: ${rule}`);
    this.name = "InvalidStageError";
    this.stageName = name;
  }
}

/** A stage definition of any parameter type, as registries and pipelines hold them. */
// deno-lint-ignore no-explicit-any
export type AnyStage = StageDefinition<any>;

/** Stage kinds by registered name. */
export class Registry {
  readonly #stages = new Map<string, AnyStage>();

  /**
   * Adds a stage kind.
   *
   * @param stage The definition.
   * @param options `override: true` replaces a kind of the same name.
   * @throws {DuplicateStageError} When the name is taken and `override` is not set.
   * @throws {InvalidStageError} When an input or output name, or an extension, is not one that
   *   can be part of a file name (`definitionProblem` in stage.ts).
   */
  register(stage: AnyStage, options: { override?: boolean } = {}): this {
    const problem = definitionProblem(stage);
    if (problem) throw new InvalidStageError(stage.name, problem.what, problem.rule);
    if (this.#stages.has(stage.name) && !options.override) {
      throw new DuplicateStageError(stage.name);
    }
    this.#stages.set(stage.name, stage);
    return this;
  }

  /** The stage kind registered under `name`, if any. */
  get(name: string): AnyStage | undefined {
    return this.#stages.get(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#stages.keys()].sort();
  }
}
