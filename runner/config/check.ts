/**
 * The full check of a pipeline file: YAML with positions, `--set` overrides, `${vars}`
 * interpolation, schema checks, stage kinds, input references, file checks and cycles, all
 * errors at once. Each job is a module of this folder; this one runs them in order. It is
 * imported (by load.ts) only when a file's check is not remembered: with it come the yaml
 * package and ajv.
 *
 * @module
 */

import type { PathParam, Pipeline, ResolvedStage, StageResources } from "../core/pipeline.ts";
import { type Diagnostic, PipelineValidationError } from "../errors.ts";
import { topologicalOrder } from "../graph/order.ts";
import { resolve } from "../paths.ts";
import { parseRemote } from "../remote/schemes.ts";
import type { JsonSchema } from "../stage.ts";
import { resolveInputs } from "./inputs.ts";
import { interpolate } from "./interpolate.ts";
import { checkStages, resolveKind } from "./kinds.ts";
import { applyVariant, matrixAxes } from "./matrix.ts";
import type { LoadOptions } from "./options.ts";
import { applySets } from "./overrides.ts";
import { checkPath, describePathProblem, findPaths, makeBounds } from "./paths.ts";
import { pipelineSchema } from "./pipeline_schema.ts";
import { checkSchema, type Origin } from "./schema.ts";
import { parseSetValue, parseYamlWithPositions } from "./yaml.ts";

/**
 * Checks a pipeline file's text.
 *
 * @param text The file's text.
 * @param file The file, as given.
 * @param root The project root.
 * @param options The registry of stage kinds, overrides, outside paths, a sweep's variant.
 * @returns The checked pipeline, and the file's own `allow_outside:` entries (absolute).
 * @throws {PipelineValidationError} With every problem found, each with file:line:col.
 */
export async function checkPipelineFile(
  text: string,
  file: string,
  root: string,
  options: LoadOptions,
): Promise<{ pipeline: Pipeline; fileAllowed: string[] }> {
  const parsed = parseYamlWithPositions(text, file);
  if (parsed.diagnostics.length) throw new PipelineValidationError(parsed.diagnostics);
  const source = parsed.source;
  const raw = parsed.value;
  const diagnostics: Diagnostic[] = [];
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new PipelineValidationError([{
      file,
      line: 1,
      column: 1,
      path: "",
      message: 'A pipeline file must be a mapping with "name" and "stages"',
      hint: "start with name: <pipeline name>",
    }]);
  }
  const doc = raw as Record<string, unknown>;
  const origin: Origin = { overridden: new Map() };
  // The matrix is checked first: a variant's values come from it. Its problems are reported by
  // the whole file's check below.
  const matrixSchema = (pipelineSchema.properties as Record<string, unknown>).matrix as JsonSchema;
  const matrixOk = doc.matrix === undefined ||
    !checkSchema(doc.matrix, matrixSchema, "matrix", source, origin, "key %s").length;
  const matrix = matrixOk ? matrixAxes(doc, source, file, diagnostics) : [];
  if (!diagnostics.length) applyVariant(doc, matrix, options.variant ?? {}, source, diagnostics);
  applySets(doc, options.sets ?? [], origin, diagnostics, parseSetValue);
  diagnostics.push(...checkSchema(doc, pipelineSchema, "", source, origin, "key %s"));
  if (diagnostics.length) throw new PipelineValidationError(diagnostics);
  const fileAllowed = ((doc.allow_outside ?? []) as string[]).map((p) => resolve(root, p));
  const bounds = makeBounds(root, [...fileAllowed, ...options.allowOutside ?? []]);

  const vars = (doc.vars ?? {}) as Record<string, unknown>;
  const rawStages = doc.stages as Record<string, Record<string, unknown>>;
  const ids = Object.keys(rawStages);
  const stages = new Map<string, ResolvedStage>();
  const where = (path: string, key = false) => {
    const flag = [...origin.overridden].find(([p]) => path === p || path.startsWith(`${p}.`));
    if (flag) return { file: "command line", line: 0, column: 0, path };
    const pos = key ? source.key(path) : source.value(path);
    return { file, line: pos.line, column: pos.column, path };
  };
  if (typeof doc.remote === "string") {
    // Its messages never repeat the value: a mistaken one may hold a secret.
    const remote = parseRemote(doc.remote);
    if ("problem" in remote) {
      diagnostics.push({ ...where("remote"), message: remote.problem, hint: remote.hint });
    }
  }

  // Stage kinds and parameters.
  const rawInputsById = new Map<string, Record<string, unknown>>();
  for (const id of ids) {
    const spec = rawStages[id]!;
    const base = `stages.${id}`;
    const withValue = interpolate(spec.with ?? {}, vars, `${base}.with`, where, diagnostics);
    const inputsValue = interpolate(spec.inputs ?? {}, vars, `${base}.inputs`, where, diagnostics);
    const uses = String(spec.uses);
    const definition = await resolveKind(uses, bounds, options.registry, where(`${base}.uses`));
    if ("message" in definition) {
      diagnostics.push(definition);
      continue;
    }
    const params = withValue as Record<string, unknown>;
    const schemaProblems = checkSchema(
      params,
      definition.schema,
      `${base}.with`,
      source,
      origin,
      `parameter %s of stage kind "${definition.name}"`,
    );
    diagnostics.push(...schemaProblems);
    const pathParams: PathParam[] = [];
    if (!schemaProblems.length) {
      for (const found of findPaths(params, definition.schema, `${base}.with`)) {
        const abs = resolve(root, found.path);
        const problem = await checkPath(abs, found.kind, bounds);
        if (problem) {
          const what = `${found.kind === "dir" ? "Directory" : "File"} "${found.path}"`;
          diagnostics.push({ ...where(found.param), ...describePathProblem(what, problem, root) });
        }
        pathParams.push({ ...found, abs });
      }
    }
    stages.set(id, { id, uses, definition, params, inputs: {}, pathParams, upstream: [] });
    if (spec.resources) stages.get(id)!.resources = spec.resources as StageResources;
    rawInputsById.set(id, inputsValue as Record<string, unknown>);
  }

  await resolveInputs(stages, rawInputsById, ids, root, bounds, where, diagnostics);

  const order = topologicalOrder(stages, ids, where, diagnostics);
  if (!diagnostics.length) diagnostics.push(...checkStages(stages, where));
  if (diagnostics.length) throw new PipelineValidationError(diagnostics);
  const pipeline: Pipeline = { file, root, name: String(doc.name), stages, order };
  if (matrix.length) pipeline.matrix = matrix;
  if (typeof doc.executor === "string") pipeline.executor = doc.executor;
  if (typeof doc.remote === "string") pipeline.remote = doc.remote;
  return { pipeline, fileAllowed };
}
