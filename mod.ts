/**
 * A declarative ML pipeline framework for Deno: YAML pipelines of registered stages, checked
 * against JSON schemas, run as a DAG with content-addressed caching.
 *
 * A custom stage kind lives in a module of your project and is used from a pipeline file with
 * `uses: ./my_stage.ts` (paths are relative to the project root, the directory of deno.json):
 *
 * @example
 * ```ts
 * import { defineStage } from "./mod.ts";
 *
 * export default defineStage({
 *   name: "repeat",
 *   version: 1,
 *   description: "Repeats a text file's content",
 *   schema: {
 *     type: "object",
 *     additionalProperties: false,
 *     properties: { times: { type: "integer", minimum: 1, default: 2, description: "Copies" } },
 *   },
 *   inputs: { text: { type: "file", description: "Any text file" } },
 *   outputs: { text: { type: "file", description: "The repeated text", extension: ".txt" } },
 *   module: import.meta.url,
 *   async run(ctx) {
 *     const text = await Deno.readTextFile(ctx.inputs.text); // a declared input: a string
 *     await Deno.writeTextFile(ctx.output("text"), text.repeat(ctx.params.times));
 *   },
 * });
 * ```
 *
 * @module
 */

export type {
  CheckContext,
  FromSchema,
  InputPaths,
  InputSpec,
  InputSpecs,
  JsonSchema,
  Logger,
  OutputName,
  OutputSpec,
  OutputSpecs,
  ParamProblem,
  ParamsOf,
  Progress,
  ReportContext,
  ReportSection,
  StageContext,
  StageDefinition,
} from "./runner/stage.ts";
export type { Chart, ChartOptions, Series } from "./runner/html_report.ts";
export {
  type Cell,
  heatmap,
  Html,
  html,
  type HtmlValue,
  lineChart,
  table,
} from "./runner/html_report.ts";
export type { Diagnostic } from "./runner/errors.ts";
export type {
  MatrixAxis,
  PathParam,
  Pipeline,
  ResolvedInput,
  ResolvedStage,
  StageResources,
} from "./runner/core/pipeline.ts";
export type { LoadOptions } from "./runner/config/options.ts";
export type {
  MaterialiseProblem,
  RunSummary,
  StageResult,
  StageStatus,
} from "./runner/core/result.ts";
export type { AnyStage } from "./runner/registry.ts";
export type { Reporter } from "./runner/report.ts";
export type { ExtraCommand } from "./runner/cli/main.ts";
export type { EnvVar } from "./runner/env.ts";
export { defineStage } from "./runner/stage.ts";
export { DuplicateStageError, InvalidStageError, Registry } from "./runner/registry.ts";
export { InputError, PipelineValidationError, UserError } from "./runner/errors.ts";
export { loadPipeline } from "./runner/config/load.ts";
export { main } from "./runner/cli/main.ts";
export { consoleReporter } from "./runner/report/console.ts";
export { builtinEnvVars, builtinStages } from "./stages/mod.ts";
export type { RemoteOptions } from "./runner/remote/schemes.ts";
export type { RunOptions } from "./runner/run/options.ts";
export { runPipeline } from "./runner/run/variants.ts";
