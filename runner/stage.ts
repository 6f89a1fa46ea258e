/**
 * Stage definitions: what a stage kind declares and what it receives when it runs.
 *
 * @module
 */

import type { FromSchema } from "./from_schema.ts";
import type { Chart, Html } from "./html_report.ts";

/** A JSON Schema object (draft-07, as ajv reads it). */
export type JsonSchema = Record<string, unknown>;

export type { FromSchema } from "./from_schema.ts";

/** An input a stage kind consumes. */
export interface InputSpec {
  /** Artifact type; the engine checks it against the type of the output an input references. */
  type: string;
  /** What the input is, in one line. */
  description: string;
  /** An optional input may be left out of `inputs:`. */
  optional?: boolean;
}

/** An output a stage kind produces. */
export interface OutputSpec {
  /**
   * Artifact type, e.g. `dataset`, `model`, `metrics`. Use `file` for a plain file. A file
   * output whose first line is a JSON object with an `artifact` field (`{"artifact":
   * "ner-dataset", …}`) must name this type there: a result pulled from a remote cache whose
   * file names another type is not used.
   */
  type: string;
  /** What the output holds, in one line. */
  description: string;
  /** `file` (the default) or `dir` for a directory tree. */
  kind?: "file" | "dir";
  /** File name extension used where the output is materialised, e.g. `.json`. */
  extension?: string;
  /**
   * For an output of type `metrics` (a JSON object whose top-level numbers are the stage's
   * metrics): the number to read first. `runs` shows it first, `compare` lists it first and the
   * report marks it. A metrics file's own string field `headline` overrides it for that run
   * (for a figure that depends on the data).
   */
  headline?: string;
  /**
   * For an output of type `metrics`: the numbers `runs` shows as columns, after the headline.
   * Left out, it shows every number of the file; `compare` and the report show every one.
   */
  columns?: readonly string[];
}

/** Progress of a long stage, shown as a bar on a TTY and as periodic lines otherwise. */
export interface Progress {
  /** Report `current` of `total` units done, with a short status message (loss, ETA, ...). */
  update(current: number, total: number, message?: string): void;
}

/** Messages from a stage, prefixed with its id. */
export interface Logger {
  /** Logs a message; dropped with `--quiet`. */
  info(message: string): void;
  /** Logs a message prefixed `warning: `; shown even with `--quiet`. */
  warn(message: string): void;
}

/** A stage kind's inputs by name, as declared. */
export type InputSpecs = Record<string, InputSpec>;

/** A stage kind's outputs by name, as declared. */
export type OutputSpecs = Record<string, OutputSpec>;

/**
 * The paths of the declared inputs `I` by name: an input declared `optional: true` may be
 * missing, the others are there. Of undeclared inputs (`I` a plain record), any name.
 */
export type InputPaths<I extends InputSpecs> = string extends keyof I ? Record<string, string>
  :
    & {
      -readonly [K in keyof I as I[K] extends { readonly optional: true } ? never : K]: string;
    }
    & {
      -readonly [K in keyof I as I[K] extends { readonly optional: true } ? K : never]?: string;
    };

/** The name of an output of `O`, or any name when the outputs are not declared. */
export type OutputName<O extends OutputSpecs> = string extends keyof O ? string : keyof O & string;

/**
 * A stage kind's parameters as its schema types them ({@link FromSchema}); a schema whose
 * type cannot be read (imported from a `.json` file) gives `Record<string, unknown>`.
 */
export type ParamsOf<S> = unknown extends FromSchema<S> ? Record<string, unknown> : FromSchema<S>;

/**
 * What `run` receives: `P` the parameters, `I` and `O` the declared inputs and outputs, so that
 * `ctx.inputs.tetx` or `ctx.output("metric")` for a name the stage kind does not declare is a
 * type error.
 */
export interface StageContext<
  P = Record<string, unknown>,
  I extends InputSpecs = InputSpecs,
  O extends OutputSpecs = OutputSpecs,
> {
  /** Stage id in the pipeline file. */
  id: string;
  /** Parameters after defaults, `${vars}` and `--set` overrides; checked against the schema. */
  params: P;
  /**
   * Resolved input paths (cached artifacts or project files), by input name. Read-only: they are
   * the cache's objects themselves, and a stage that changes one fails. An optional input left
   * out of `inputs:` is missing.
   */
  inputs: InputPaths<I>;
  /** The path a stage must write output `name` to (a file, or a directory for `kind: dir`). */
  output(name: OutputName<O>): string;
  /** Absolute path of the project root; relative paths in parameters resolve against it. */
  root: string;
  /** A private empty directory, removed after the stage. */
  scratch: string;
  /**
   * A directory for this stage's key that outlives a killed or failed run:
   * `.pipeline/checkpoints/<key>/`, created when this property is first read (a stage that never
   * reads it costs nothing). A rerun of the same key finds what an interrupted run left there;
   * another key (other parameters, inputs or code) has another directory, so it never sees it.
   * Write into it atomically (temp + rename): a kill can come at any moment.
   *
   * Who removes what: once the stage has succeeded and its outputs are stored, the engine
   * removes the directory, except its `kept/` folder, where a stage moves what it keeps on
   * purpose (train's `keep_checkpoints`); after a failure or an interruption it is left as it is.
   * Absent where a stage is run without the engine (a test calling `run` directly).
   */
  readonly checkpoints?: string;
  /** Reports this stage's progress. */
  progress: Progress;
  /** Logs messages, prefixed with the stage id. */
  log: Logger;
  /** Aborted when the run is interrupted; check it between units of work. */
  signal: AbortSignal;
}

/** A problem a stage kind finds in parameters that its schema alone cannot catch. */
export interface ParamProblem {
  /**
   * The parameter at fault, as a path under `with:` (`heads`, `tokenizer.vocab_size`); the
   * pipeline file's line and column for it are looked up by the engine.
   */
  param: string;
  /** The stage whose parameter it is, when not the stage being checked (an upstream one). */
  stage?: string;
  /** What is wrong, sentence case, no trailing period. */
  message: string;
  /** How to fix it. */
  hint?: string;
}

/** What a stage kind's {@link StageDefinition.check} can see of the pipeline around it. */
export interface CheckContext {
  /** The id of the stage being checked. */
  id: string;
  /**
   * The stages of kind `kind` upstream of this one (its inputs' producers, transitively),
   * nearest first, with their parameters after defaults.
   */
  upstream(kind: string): { id: string; params: Record<string, unknown> }[];
  /** The names of the inputs the stage is given (optional ones left out are not here). */
  inputs?: readonly string[];
}

/** What a stage kind's {@link StageDefinition.report} receives. */
export interface ReportContext<P = Record<string, unknown>> {
  /** Stage id in the pipeline file. */
  id: string;
  /** Parameters the stage ran with. */
  params: P;
  /** Paths of the stage's outputs in the cache, by output name. Read-only. */
  outputs: Record<string, string>;
  /** Absolute path of the project root. */
  root: string;
}

/** A part of the run report (`out/<pipeline>/report.html`) that a stage kind contributes. */
export interface ReportSection {
  /** Heading of the section. */
  title: string;
  /** The section's content, built with the helpers of `runner/html_report.ts` (escaped). */
  body: Html;
  /**
   * The line charts `body` draws, as data: a sweep's page (`out/<pipeline>/sweep.html`)
   * overlays each of them across the variants, one line per variant.
   */
  charts?: Chart[];
}

/**
 * A registered stage kind: `P` its parameters, `I` and `O` its declared inputs and outputs
 * ({@link defineStage} infers all three).
 */
export interface StageDefinition<
  P = Record<string, unknown>,
  I extends InputSpecs = InputSpecs,
  O extends OutputSpecs = OutputSpecs,
> {
  /** Registered name used in `uses:`. */
  name: string;
  /** Bump when behaviour changes in a way the code hash cannot see. */
  version: number;
  /** What the stage kind does, in one line. */
  description: string;
  /**
   * JSON Schema of `with:`. Properties marked `"x-path": "file"` or `"x-path": "dir"` are
   * paths whose content is part of the cache key.
   */
  schema: JsonSchema;
  /**
   * Inputs by name, as wired under `inputs:` in the pipeline file. Input and output names are a
   * letter, then letters, digits, `-` and `_` (`definitionProblem` in stage_names.ts).
   */
  inputs: I;
  /**
   * Outputs by name; the stage must write every one of them, as a file or a directory of files
   * and directories (a link, a FIFO, a socket or a device fails the stage).
   */
  outputs: O;
  /**
   * Checks what the schema cannot express: constraints between parameters (`hidden` a multiple
   * of `heads`), or between this stage's parameters and an upstream stage's (`max_length` no
   * more than `max_positions`). Runs when the pipeline is loaded, before any stage runs; each
   * problem is reported at its parameter's file:line:col and the run stops with exit code 2.
   */
  check?(params: P, context: CheckContext): ParamProblem[];
  /**
   * URL of the module that defines the stage (`import.meta.url`): the engine hashes it and
   * the project modules it imports, so a code change reruns the stage.
   */
  module: string;
  /**
   * Does the work: reads `ctx.inputs` and writes each output to `ctx.output(name)`. A
   * rejection fails the stage, and nothing of it is cached.
   */
  run(ctx: StageContext<P, I, O>): Promise<void>;
  /**
   * Sections of the run report from this stage's outputs (charts, tables), after a run in which
   * the stage ran or was cached. A rejection puts a note in the report in their place. Keep the
   * report's code out of the stage's code hash (a computed `import()` specifier), so that how
   * the report looks never reruns the stage.
   */
  report?(ctx: ReportContext<P>): Promise<ReportSection[]>;
  /**
   * A process-wide resource the stage must have to itself, such as `"tfjs"` (TensorFlow.js has
   * one global engine and backend): stages that name the same resource never run at the same
   * time in one process, whatever `--jobs` allows (in a sweep, three `train` variants train one
   * after the other while other stages go on).
   */
  exclusive?: string;
}

/**
 * Declares a stage kind, typed from what it declares: `ctx.params` from its schema (see
 * {@link FromSchema}: a property with a `default`, or `required`, is always there), and
 * `ctx.inputs` and `ctx.output()` from its inputs and outputs, so that a name it does not
 * declare is a type error. The definition is returned unchanged.
 *
 * @param definition The stage kind, its schema written inline or imported `as const`.
 * @returns The same definition.
 * @example
 * ```ts
 * import { defineStage } from "./stage.ts";
 * export const upper = defineStage({
 *   name: "upper",
 *   version: 1,
 *   description: "Writes a text file in capitals, a number of times",
 *   schema: {
 *     type: "object",
 *     additionalProperties: false,
 *     properties: { times: { type: "integer", minimum: 1, default: 1, description: "Copies" } },
 *   },
 *   inputs: { text: { type: "file", description: "Any text file" } },
 *   outputs: { text: { type: "file", description: "The text in capitals", extension: ".txt" } },
 *   module: import.meta.url,
 *   async run(ctx) {
 *     const text = await Deno.readTextFile(ctx.inputs.text); // a string: a declared input
 *     await Deno.writeTextFile(ctx.output("text"), text.toUpperCase().repeat(ctx.params.times));
 *   },
 * });
 * ```
 */
export function defineStage<
  const S extends JsonSchema,
  // deno-lint-ignore ban-types
  const I extends InputSpecs = {},
  // deno-lint-ignore ban-types
  const O extends OutputSpecs = {},
>(
  definition: StageDefinition<ParamsOf<S>, I, O> & { schema: S },
): StageDefinition<ParamsOf<S>, I, O> {
  return definition;
}

/** The kind of an output: `file` unless declared `dir`. */
export function outputKind(spec: OutputSpec): "file" | "dir" {
  return spec.kind ?? "file";
}
