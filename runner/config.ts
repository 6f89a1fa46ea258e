/**
 * Loading a pipeline file: YAML with positions, `--set` overrides, `${vars}` interpolation,
 * schema checks, stage kinds, input references, file checks and cycles, all errors at once.
 *
 * @module
 */

import { dirname, isAbsolute, pathToFileURL, resolve, sep } from "./paths.ts";
import { type Diagnostic, PipelineValidationError, UserError } from "./errors.ts";
import { listFiles, moduleFiles, sha256, stableJson } from "./hash.ts";
import type { Registry } from "./registry.ts";
import type { Origin } from "./schema.ts";
import type { SourceMap } from "./yaml_source.ts";
import type { JsonSchema } from "./stage.ts";
import type { AnyStage } from "./registry.ts";
import { didYouMean } from "./suggest.ts";
import { parseRemote } from "./remote_url.ts";
import pipelineSchema from "../schemas/pipeline.schema.json" with { type: "json" };

/** An input wired to another stage's output or to a file. */
export type ResolvedInput =
  | { kind: "stage"; stage: string; output: string }
  | { kind: "file"; path: string; abs: string };

/** A parameter whose value is a path: its content is part of the stage's key. */
export interface PathParam {
  /** Config path of the parameter, e.g. `stages.load.with.train`. */
  param: string;
  /** The path as written (relative to the project root, or absolute). */
  path: string;
  /** The path made absolute against the project root. */
  abs: string;
  /** `file` or `dir`, as the schema's `x-path` says. */
  kind: "file" | "dir";
}

/** A stage after every check. */
export interface ResolvedStage {
  /** Stage id: its key under `stages:`. */
  id: string;
  /** The `uses:` value as written: a registered name or a module path. */
  uses: string;
  /** The stage kind `uses:` names. */
  definition: AnyStage;
  /** Parameters (`with:`) after `--set` overrides, `${vars}` and schema defaults. */
  params: Record<string, unknown>;
  /** Inputs by name, each wired to another stage's output or to a file. */
  inputs: Record<string, ResolvedInput>;
  /** Parameters whose values are paths, whose content is part of the stage's key. */
  pathParams: PathParam[];
  /** Ids of stages whose outputs this stage reads. */
  upstream: string[];
  /** What a Slurm job of the stage asks for (`resources:`); not part of its key. */
  resources?: StageResources;
}

/** A stage's `resources:`: sbatch options of its job (`--executor slurm`); a local run ignores them. */
export interface StageResources {
  /** GPUs: `--gres=gpu:N`. */
  gpus?: number;
  /** CPUs: `--cpus-per-task`. */
  cpus?: number;
  /** Memory: `--mem` (e.g. `8G`). */
  mem?: string;
  /** Time limit: `--time` (e.g. `2:00:00`). */
  time?: string;
  /** Partition: `--partition`. */
  partition?: string;
}

/** A checked pipeline. */
export interface Pipeline {
  /** The pipeline file as given. */
  file: string;
  /** Project root: the nearest directory at or above the file holding deno.json. */
  root: string;
  /** Pipeline name, from `name:`; outputs are materialised under a directory of that name. */
  name: string;
  /** The stages by id. */
  stages: Map<string, ResolvedStage>;
  /** Stage ids in a topological order (file order where free). */
  order: string[];
  /**
   * The file's `matrix:` block: config paths and the values each takes in a sweep, in file
   * order (absent or empty when there is none). The pipeline itself has the file's own values;
   * {@link LoadOptions.variant} picks one value per path.
   */
  matrix?: MatrixAxis[];
  /** Where stages that must run run (`executor:`; `--executor` overrides it). */
  executor?: "local" | "slurm";
  /** The shared remote cache (`remote:`); `NERPIPE_REMOTE` overrides it. Never credentials. */
  remote?: string;
}

/** One axis of a sweep: a config path and the values it takes. */
export interface MatrixAxis {
  /** Config path, e.g. `stages.train.with.learning_rate`. */
  path: string;
  /** The values, as written. */
  values: unknown[];
}

/** Options for {@link loadPipeline}. */
export interface LoadOptions {
  /** Stage kinds that `uses:` names resolve to; module paths are imported instead. */
  registry: Registry;
  /** `key=value` overrides from `--set`. */
  sets?: string[];
  /**
   * Cache directory where a checked pipeline is remembered (default `<root>/.pipeline`), so
   * that an unchanged file is not parsed and checked again; `false` turns that off.
   */
  cacheDir?: string | false;
  /**
   * Paths outside the project that the pipeline may read (`--allow-outside`), relative to the
   * project root or absolute, added to the file's own `allow_outside:` list.
   */
  allowOutside?: string[];
  /**
   * One variant of the file's `matrix:` block: for each of its paths (or some of them), the
   * index of the value to use. Applied before `sets`, so that `--set` wins.
   */
  variant?: Record<string, number>;
}

/**
 * Where paths may lead: the project root, and the directories and files the user allowed
 * explicitly; all as real paths (symbolic links resolved).
 */
interface Bounds {
  root: string;
  realRoot: string;
  allowed: string[];
}

const REF = /^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)$/;
const VAR = /\$\{vars\.([A-Za-z0-9_.-]+)\}/g;

/** The project root for a pipeline file. */
export function projectRoot(file: string): string {
  let dir = dirname(resolve(file));
  for (;;) {
    try {
      Deno.statSync(`${dir}/deno.json`);
      return dir;
    } catch {
      const up = dirname(dir);
      if (up === dir) return dirname(resolve(file));
      dir = up;
    }
  }
}

/**
 * Reads and checks a pipeline file.
 *
 * @param file Path of the YAML file.
 * @param options The registry of stage kinds and `--set` overrides.
 * @returns The checked pipeline.
 * @throws {PipelineValidationError} With every problem found, each with file:line:col.
 * @throws {UserError} When the file cannot be read.
 */
export async function loadPipeline(file: string, options: LoadOptions): Promise<Pipeline> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new UserError(`Pipeline file "${file}" does not exist: check the path`);
    }
    throw new UserError(`Cannot read pipeline file "${file}": ${(error as Error).message}`);
  }
  const root = projectRoot(file);
  const cacheDir = options.cacheDir ?? `${root}/.pipeline`;
  const fingerprint = cacheDir === false
    ? undefined
    : await checkedFingerprint(text, file, root, options);
  if (fingerprint) {
    const remembered = await rememberedPipeline(fingerprint, cacheDir as string, {
      registry: options.registry,
      file,
      root,
      text,
      allowOutside: options.allowOutside ?? [],
    });
    if (remembered) return remembered;
  }
  // Parsing and schema checks load yaml and ajv, which a fully cached rerun does without.
  const { parseYamlWithPositions, parseSetValue } = await import(
    new URL("./yaml_source.ts", import.meta.url).href
  ) as typeof import("./yaml_source.ts");
  const { checkSchema } = await import(
    new URL("./schema.ts", import.meta.url).href
  ) as typeof import("./schema.ts");
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
  diagnostics.push(...checkSchema(doc, pipelineSchema as JsonSchema, "", source, origin, "key %s"));
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

  // Inputs: references to other stages' outputs, or files.
  for (const stage of stages.values()) {
    const rawInputs = rawInputsById.get(stage.id)!;
    const base = `stages.${stage.id}.inputs`;
    const declared = stage.definition.inputs;
    for (const [name, value] of Object.entries(rawInputs)) {
      const path = `${base}.${name}`;
      const spec = declared[name];
      if (!spec) {
        diagnostics.push({
          ...where(path, true),
          message: `Unknown input "${name}" of stage kind "${stage.definition.name}"`,
          hint: didYouMean(name, Object.keys(declared)) || "this stage kind takes no inputs",
        });
        continue;
      }
      const ref = String(value);
      const m = REF.exec(ref);
      if (m && (ids.includes(m[1]!) || !exists(resolve(root, ref)))) {
        const [, target, output] = m as unknown as [string, string, string];
        const upstream = stages.get(target);
        if (!upstream) {
          if (ids.includes(target)) continue; // its own problem is reported already
          diagnostics.push({
            ...where(path),
            message: `Input "${name}" references unknown stage "${target}"`,
            hint: didYouMean(target, ids, "a stage id among"),
          });
          continue;
        }
        const out = upstream.definition.outputs[output];
        if (!out) {
          diagnostics.push({
            ...where(path),
            message: `Stage "${target}" has no output "${output}"`,
            hint: didYouMean(output, Object.keys(upstream.definition.outputs), "an output among"),
          });
          continue;
        }
        if (out.type !== spec.type && spec.type !== "any") {
          diagnostics.push({
            ...where(path),
            message:
              `Input "${name}" expects artifact type "${spec.type}" but "${ref}" is "${out.type}"`,
            hint: outputsOfType(stages, spec.type),
          });
          continue;
        }
        stage.inputs[name] = { kind: "stage", stage: target, output };
        if (!stage.upstream.includes(target)) stage.upstream.push(target);
      } else {
        const abs = resolve(root, ref);
        const problem = await checkPath(abs, "any", bounds);
        if (problem?.reason === "missing") {
          diagnostics.push({
            ...where(path),
            message: `Input "${name}" names "${ref}", which is neither a stage output nor a file`,
            hint: `write <stage id>.<output name>, or a path relative to ${root}`,
          });
          continue;
        }
        if (problem) {
          diagnostics.push({
            ...where(path),
            ...describePathProblem(`Input "${name}": "${ref}"`, problem, root),
          });
          continue;
        }
        stage.inputs[name] = { kind: "file", path: ref, abs };
      }
    }
    for (const [name, spec] of Object.entries(declared)) {
      if (!spec.optional && !(name in rawInputs)) {
        diagnostics.push({
          ...where(`stages.${stage.id}`, true),
          message:
            `Missing input "${name}" of stage kind "${stage.definition.name}" (${spec.type})`,
          hint: `add inputs: { ${name}: <stage id>.<output> }${
            outputsOfType(stages, spec.type) ? `; ${outputsOfType(stages, spec.type)}` : ""
          }`,
        });
      }
    }
  }

  const order = topologicalOrder(stages, ids, where, diagnostics);
  if (!diagnostics.length) diagnostics.push(...checkStages(stages, where));
  if (diagnostics.length) throw new PipelineValidationError(diagnostics);
  const pipeline: Pipeline = { file, root, name: String(doc.name), stages, order };
  if (matrix.length) pipeline.matrix = matrix;
  if (doc.executor) pipeline.executor = doc.executor as "local" | "slurm";
  if (typeof doc.remote === "string") pipeline.remote = doc.remote;
  if (fingerprint) {
    await rememberPipeline(fingerprint, cacheDir as string, pipeline, fileAllowed);
  }
  return pipeline;
}

/** Runs each stage kind's own check of its parameters (`StageDefinition.check`). */
function checkStages(stages: Map<string, ResolvedStage>, where: Where): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const stage of stages.values()) {
    const check = stage.definition.check;
    if (!check) continue;
    const upstream = (kind: string) => {
      const found: { id: string; params: Record<string, unknown> }[] = [];
      const seen = new Set<string>();
      let level = [...stage.upstream];
      while (level.length) {
        const next: string[] = [];
        for (const id of level) {
          if (seen.has(id)) continue;
          seen.add(id);
          const s = stages.get(id);
          if (!s) continue;
          if (s.definition.name === kind) found.push({ id, params: s.params });
          next.push(...s.upstream);
        }
        level = next;
      }
      return found;
    };
    for (
      const problem of check(stage.params, {
        id: stage.id,
        upstream,
        inputs: Object.keys(stage.inputs),
      })
    ) {
      const owner = problem.stage ?? stage.id;
      out.push({
        ...where(`stages.${owner}.with.${problem.param}`),
        message: problem.message,
        ...(problem.hint ? { hint: problem.hint } : {}),
      });
    }
  }
  return out;
}

/**
 * Version of what `.pipeline/checked/` holds: a record of another version is a miss. Part of the
 * fingerprint, so that a change in how pipelines are checked is not hidden by an old record.
 */
const CHECKED_FORMAT = 2;

/**
 * What a checked pipeline depends on: the file's text, the overrides, the outside paths allowed
 * on the command line, the project root, and the declarations (schema, inputs, outputs, version,
 * check) of every registered stage kind. Stage modules named by `uses:` are in the record itself
 * (every file they are made of, with its hash), checked when it is read back.
 */
async function checkedFingerprint(
  text: string,
  file: string,
  root: string,
  options: LoadOptions,
): Promise<string> {
  const kinds: Record<string, unknown> = {};
  for (const name of options.registry.names()) {
    const def = options.registry.get(name)!;
    kinds[name] = [
      def.version,
      def.schema,
      def.inputs,
      def.outputs,
      def.module,
      def.check ? String(def.check) : null,
    ];
  }
  return await sha256(stableJson({
    format: CHECKED_FORMAT,
    text,
    file: resolve(file),
    root,
    sets: options.sets ?? [],
    allowOutside: options.allowOutside ?? [],
    ...(options.variant && Object.keys(options.variant).length ? { variant: options.variant } : {}),
    kinds,
    pipelineSchema,
  }));
}

interface RememberedStage {
  id: string;
  uses: string;
  params: Record<string, unknown>;
  inputs: Record<string, ResolvedInput>;
  pathParams: PathParam[];
  upstream: string[];
  resources?: StageResources;
}

/** What `.pipeline/checked/<fingerprint>.json` holds. */
interface Remembered {
  format: number;
  name: string;
  order: string[];
  stages: RememberedStage[];
  /** The file's `allow_outside:` entries, made absolute. */
  allowOutside: string[];
  /** Every file the stage modules named by `uses:` are made of (absolute), with its sha256. */
  modules: Record<string, string>;
  /** The file's `matrix:` axes, when it has any. */
  matrix?: MatrixAxis[];
  /** The file's `executor:`, when it has one. */
  executor?: "local" | "slurm";
  /** The file's `remote:`, when it has one. */
  remote?: string;
}

/** The local files of the stage modules that `uses:` paths name, and their hashes. */
async function moduleHashes(p: Pipeline): Promise<Record<string, string> | undefined> {
  const files = new Set<string>();
  for (const stage of p.stages.values()) {
    if (!isModulePath(stage.uses)) continue;
    const urls = [pathToFileURL(resolve(p.root, stage.uses)).href, stage.definition.module];
    for (const url of urls) {
      for (const f of await moduleFiles(url, p.root)) files.add(f);
    }
  }
  const out: Record<string, string> = {};
  for (const f of [...files].sort()) {
    try {
      out[f] = await sha256(await Deno.readFile(f));
    } catch {
      return undefined;
    }
  }
  return out;
}

async function rememberPipeline(
  fingerprint: string,
  dir: string,
  p: Pipeline,
  allowOutside: string[],
): Promise<void> {
  const stages: RememberedStage[] = [...p.stages.values()].map((s) => ({
    id: s.id,
    uses: s.uses,
    params: s.params,
    inputs: s.inputs,
    pathParams: s.pathParams,
    upstream: s.upstream,
    ...(s.resources ? { resources: s.resources } : {}),
  }));
  const modules = await moduleHashes(p);
  if (!modules) return;
  const record: Remembered = {
    format: CHECKED_FORMAT,
    name: p.name,
    order: p.order,
    stages,
    allowOutside,
    modules,
    ...(p.matrix?.length ? { matrix: p.matrix } : {}),
    ...(p.executor ? { executor: p.executor } : {}),
    ...(p.remote ? { remote: p.remote } : {}),
  };
  try {
    await Deno.mkdir(`${dir}/checked`, { recursive: true });
    const tmp = `${dir}/checked/${fingerprint}.tmp-${Deno.pid}`;
    await Deno.writeTextFile(tmp, JSON.stringify(record));
    await Deno.rename(tmp, `${dir}/checked/${fingerprint}.json`);
  } catch {
    // Remembering is an optimisation; a read-only project still works.
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

/** A remembered record read back, if it has the shape this version writes (nothing assumed). */
function rememberedShape(raw: unknown): Remembered | undefined {
  if (!isObject(raw) || raw.format !== CHECKED_FORMAT) return undefined;
  const { name, order, stages, allowOutside, modules } = raw;
  if (!isString(name) || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return undefined;
  if (!isStringArray(order) || !Array.isArray(stages) || !stages.length) return undefined;
  if (!isStringArray(allowOutside) || !isObject(modules)) return undefined;
  if (!Object.values(modules).every((h) => isString(h) && /^[0-9a-f]{64}$/.test(h))) {
    return undefined;
  }
  const axis = (a: unknown) => isObject(a) && isString(a.path) && Array.isArray(a.values);
  if (raw.matrix !== undefined && !(Array.isArray(raw.matrix) && raw.matrix.every(axis))) {
    return undefined;
  }
  if (raw.executor !== undefined && raw.executor !== "local" && raw.executor !== "slurm") {
    return undefined;
  }
  if (
    raw.remote !== undefined && !(isString(raw.remote) && !("problem" in parseRemote(raw.remote)))
  ) {
    return undefined;
  }
  for (const s of stages as unknown[]) {
    if (!isObject(s)) return undefined;
    if (s.resources !== undefined && !isObject(s.resources)) return undefined;
    if (!isString(s.id) || !isString(s.uses) || !isObject(s.params)) return undefined;
    if (!isObject(s.inputs) || !Array.isArray(s.pathParams) || !isStringArray(s.upstream)) {
      return undefined;
    }
    for (const i of Object.values(s.inputs)) {
      if (!isObject(i)) return undefined;
      const ok = i.kind === "stage"
        ? isString(i.stage) && isString(i.output)
        : i.kind === "file" && isString(i.path) && isString(i.abs);
      if (!ok) return undefined;
    }
    for (const p of s.pathParams as unknown[]) {
      if (!isObject(p) || !isString(p.param) || !isString(p.path) || !isString(p.abs)) {
        return undefined;
      }
      if (p.kind !== "file" && p.kind !== "dir") return undefined;
    }
  }
  return raw as unknown as Remembered;
}

/**
 * The stage ids a block-style `stages:` mapping of the file declares, read without a YAML
 * parser; undefined when the file does not have that simple form (then it is checked again).
 */
function stageIdsInText(text: string): string[] | undefined {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => /^stages:[ \t]*(#.*)?$/.test(l));
  if (start < 0) return undefined;
  const ids: string[] = [];
  let indent = -1;
  for (const line of lines.slice(start + 1)) {
    if (/^[ \t]*(#.*)?$/.test(line)) continue;
    const lead = /^ */.exec(line)![0].length;
    if (lead === 0) break;
    if (indent < 0) indent = lead;
    if (lead > indent) continue;
    if (lead < indent) return undefined;
    const m = /^ *(["']?)([A-Za-z][A-Za-z0-9_-]*)\1[ \t]*:(?:[ \t]|$)/.exec(line);
    if (!m) return undefined;
    ids.push(m[2]!);
  }
  return ids.length ? ids : undefined;
}

/** What {@link rememberedPipeline} needs besides the record. */
interface RecallContext {
  registry: Registry;
  file: string;
  root: string;
  text: string;
  allowOutside: string[];
}

/**
 * The remembered check of a pipeline, when it can be trusted: a record of the right shape that
 * agrees with the file (its stage ids), with itself (order, references, upstream lists) and with
 * the stage kinds, whose stage modules are unchanged and whose paths still exist and stay in
 * bounds. Anything else is a miss, and the file is checked again.
 */
async function rememberedPipeline(
  fingerprint: string,
  dir: string,
  context: RecallContext,
): Promise<Pipeline | undefined> {
  const { registry, file, root, text } = context;
  let saved: Remembered | undefined;
  try {
    const json = await Deno.readTextFile(`${dir}/checked/${fingerprint}.json`);
    saved = rememberedShape(JSON.parse(json));
  } catch {
    return undefined;
  }
  if (!saved) return undefined;
  const ids = saved.stages.map((s) => s.id);
  if (new Set(ids).size !== ids.length) return undefined;
  const written = stageIdsInText(text);
  if (!written || !sameMembers(written, ids) || !sameMembers(saved.order, ids)) return undefined;
  for (const [path, hash] of Object.entries(saved.modules)) {
    try {
      if (await sha256(await Deno.readFile(path)) !== hash) return undefined;
    } catch {
      return undefined;
    }
  }
  const bounds = makeBounds(root, [...saved.allowOutside, ...context.allowOutside]);
  const byId = new Map(saved.stages.map((s) => [s.id, s]));
  const stages = new Map<string, ResolvedStage>();
  for (const id of saved.order) {
    const s = byId.get(id)!;
    const definition = await resolveKind(s.uses, bounds, registry, {
      file: "",
      line: 0,
      column: 0,
      path: "",
    });
    if ("message" in definition) return undefined;
    const refs: string[] = [];
    for (const [name, input] of Object.entries(s.inputs)) {
      const spec = definition.inputs[name];
      if (!spec) return undefined;
      if (input.kind === "stage") {
        // Upstream stages come first in the order: one not seen yet is not a stage before this.
        const out = stages.get(input.stage)?.definition.outputs[input.output];
        if (!out || (out.type !== spec.type && spec.type !== "any")) return undefined;
        if (!refs.includes(input.stage)) refs.push(input.stage);
      } else {
        // Files may have been deleted, or links changed, since: then the full check says so.
        if (input.abs !== resolve(root, input.path)) return undefined;
        if (await checkPath(input.abs, "any", bounds)) return undefined;
      }
    }
    for (const [name, spec] of Object.entries(definition.inputs)) {
      if (!spec.optional && !(name in s.inputs)) return undefined;
    }
    if (!sameMembers(s.upstream, refs)) return undefined;
    for (const p of s.pathParams) {
      const prefix = `stages.${id}.with.`;
      if (!p.param.startsWith(prefix) || p.abs !== resolve(root, p.path)) return undefined;
      if (valueAt(s.params, p.param.slice(prefix.length)) !== p.path) return undefined;
      if (await checkPath(p.abs, p.kind, bounds)) return undefined;
    }
    stages.set(id, { ...s, definition });
  }
  const pipeline: Pipeline = { file, root, name: saved.name, stages, order: saved.order };
  if (saved.matrix?.length) pipeline.matrix = saved.matrix;
  if (saved.executor) pipeline.executor = saved.executor;
  if (saved.remote) pipeline.remote = saved.remote;
  return pipeline;
}

/** Whether two lists hold the same strings, each once. */
function sameMembers(a: string[], b: string[]): boolean {
  const set = new Set(a);
  return set.size === a.length && a.length === b.length && b.every((x) => set.has(x));
}

function valueAt(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split(".")) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isModulePath(uses: string): boolean {
  return uses.startsWith("./") || uses.startsWith("../") || isAbsolute(uses);
}

/** The real path of `path`, or of the nearest existing directory above it joined with the rest. */
function realOrLexical(path: string): string {
  let head = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return resolve(Deno.realPathSync(head), ...rest);
    } catch {
      const up = dirname(head);
      if (up === head) return path;
      rest.unshift(head.slice(up.length).replace(/^[/\\]/, ""));
      head = up;
    }
  }
}

function makeBounds(root: string, allowed: string[]): Bounds {
  return {
    root,
    realRoot: realOrLexical(root),
    allowed: allowed.map((p) => realOrLexical(resolve(root, p))),
  };
}

/** Whether a real path is the project root or an allowed path, or under one. */
function inBounds(real: string, bounds: Bounds): boolean {
  return [bounds.realRoot, ...bounds.allowed].some((base) =>
    real === base || real.startsWith(base.endsWith(sep) ? base : `${base}${sep}`)
  );
}

/** Why a path cannot be used. */
interface PathProblem {
  reason: "missing" | "dangling" | "outside" | "kind" | "unreadable";
  /** What is wrong, after the path's description. */
  detail: string;
  /** How to fix it, when the detail does not say. */
  hint?: string;
  /** For `outside`: whether a symbolic link in the project led there. */
  viaLink?: boolean;
}

/**
 * Checks a path that a pipeline names: it exists, its real path (symbolic links resolved) is in
 * bounds, it is of the expected kind and can be read; a directory is listed as the cache lists
 * it, every link in it followed and kept in bounds.
 */
async function checkPath(
  abs: string,
  kind: "file" | "dir" | "any",
  bounds: Bounds,
): Promise<PathProblem | undefined> {
  const unreadable = (error: unknown): PathProblem => ({
    reason: "unreadable",
    detail: error instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : `cannot be read (${(error as Error).message})`,
    hint: "check its permissions",
  });
  try {
    Deno.lstatSync(abs);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { reason: "missing", detail: "does not exist" };
    }
    return unreadable(error);
  }
  let real: string;
  try {
    real = Deno.realPathSync(abs);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return unreadable(error);
    return {
      reason: "dangling",
      detail: "is a symbolic link to nothing (dangling)",
      hint: "restore its target, or give the path of the data itself",
    };
  }
  if (!inBounds(real, bounds)) {
    // Say whether a link led outside, without saying where: that place was not allowed.
    const lexical = inBounds(resolve(abs), { ...bounds, realRoot: resolve(bounds.root) });
    return { reason: "outside", detail: "is outside the project", viaLink: lexical };
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(real);
  } catch (error) {
    return unreadable(error);
  }
  if (kind === "file" && !info.isFile) return { reason: "kind", detail: "is not a file" };
  if (kind === "dir" && !info.isDirectory) return { reason: "kind", detail: "is not a directory" };
  if (!info.isFile && !info.isDirectory) {
    return { reason: "kind", detail: "is neither a file nor a directory" };
  }
  if (info.isFile) {
    try {
      Deno.openSync(real, { read: true }).close();
    } catch (error) {
      return unreadable(error);
    }
    return undefined;
  }
  try {
    await listFiles(abs, { follow: (target) => inBounds(target, bounds) });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    return { reason: "unreadable", detail: `cannot be used: ${error.message}` };
  }
  return undefined;
}

/** The message and hint of a diagnostic for a path problem; `what` names the path. */
function describePathProblem(
  what: string,
  problem: PathProblem,
  root: string,
): { message: string; hint?: string } {
  if (problem.reason === "outside") {
    const where = problem.viaLink
      ? `leads outside the project ${root} through a symbolic link`
      : `is outside the project ${root}`;
    return {
      message: `${what} ${where}`,
      hint: "paths stay inside the project unless allowed: list the file or a directory above " +
        "it under allow_outside: in the pipeline file, or run with --allow-outside <path>",
    };
  }
  if (problem.reason === "missing") {
    return {
      message: `${what} ${problem.detail}`,
      hint: `paths are relative to the project root ${root}`,
    };
  }
  return { message: `${what} ${problem.detail}`, ...(problem.hint ? { hint: problem.hint } : {}) };
}

function outputsOfType(stages: Map<string, ResolvedStage>, type: string): string {
  const refs: string[] = [];
  for (const s of stages.values()) {
    for (const [name, out] of Object.entries(s.definition.outputs)) {
      if (out.type === type) refs.push(`${s.id}.${name}`);
    }
  }
  return refs.length ? `outputs of that type: ${refs.join(", ")}` : "";
}

type Where = (path: string, key?: boolean) => Omit<Diagnostic, "message">;

/** The `matrix:` block's axes; an axis naming an unknown stage, or a value twice, is reported. */
function matrixAxes(
  doc: Record<string, unknown>,
  source: SourceMap,
  file: string,
  diagnostics: Diagnostic[],
): MatrixAxis[] {
  const block = (doc.matrix ?? {}) as Record<string, unknown[]>;
  const stages = Object.keys((doc.stages ?? {}) as Record<string, unknown>);
  const axes: MatrixAxis[] = [];
  for (const [path, values] of Object.entries(block)) {
    const at = (p: string) => ({ file, ...source.key(p), path: p });
    const id = path.split(".")[1]!;
    if (path.startsWith("stages.") && !stages.includes(id)) {
      diagnostics.push({
        ...at(`matrix.${path}`),
        message: `Matrix path "${path}" names unknown stage "${id}"`,
        hint: didYouMean(id, stages, "a stage id among"),
      });
      continue;
    }
    const seen = new Map<string, number>();
    values.forEach((v, i) => {
      const text = stableJson(v);
      if (seen.has(text)) {
        diagnostics.push({
          ...at(`matrix.${path}.${i}`),
          message: `Matrix path "${path}" lists the value ${text} twice (items ${seen.get(text)} ` +
            `and ${i})`,
          hint: "list each value once: every value is one variant of the pipeline",
        });
      }
      seen.set(text, i);
    });
    axes.push({ path, values });
  }
  return axes;
}

/** Applies one variant of the matrix: each path gets its chosen value, located at the matrix. */
function applyVariant(
  doc: Record<string, unknown>,
  matrix: MatrixAxis[],
  variant: Record<string, number>,
  source: SourceMap,
  diagnostics: Diagnostic[],
): void {
  for (const [path, index] of Object.entries(variant)) {
    const axis = matrix.find((a) => a.path === path);
    if (!axis || !(index in axis.values)) {
      diagnostics.push({
        file: source.file,
        line: 1,
        column: 1,
        path: "matrix",
        message: `The pipeline's matrix has no value ${index} of "${path}"`,
        hint: "the matrix changed while the sweep was being prepared: run it again",
      });
      continue;
    }
    const parts = path.split(".");
    let node = doc;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === null || typeof next !== "object" || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = structuredClone(axis.values[index]);
    // Problems with the value are reported where the matrix lists it.
    const where = source.value(`matrix.${path}.${index}`);
    source.set(path, where, where);
  }
}

function applySets(
  doc: Record<string, unknown>,
  sets: string[],
  origin: Origin,
  diagnostics: Diagnostic[],
  parseValue: (text: string) => { value: unknown } | { problem: string },
): void {
  for (const flag of sets) {
    const eq = flag.indexOf("=");
    const fail = (message: string, hint: string) =>
      diagnostics.push({ file: "command line", line: 0, column: 0, path: "", message, hint });
    if (eq <= 0) {
      fail(`Override "${flag}" is not key=value`, "write --set stages.<id>.with.<param>=<value>");
      continue;
    }
    const path = flag.slice(0, eq);
    const parts = path.split(".");
    if (parts[0] !== "vars" && parts[0] !== "stages" || parts.length < 2) {
      fail(
        `Override "${path}" must start with "vars." or "stages."`,
        "write --set vars.<name>=<value> or --set stages.<id>.with.<param>=<value>",
      );
      continue;
    }
    if (parts[0] === "stages") {
      const stages = (doc.stages ?? {}) as Record<string, unknown>;
      const id = parts[1]!;
      if (!(id in stages)) {
        fail(`Override "${path}" names unknown stage "${id}"`, didYouMean(id, Object.keys(stages)));
        continue;
      }
    }
    const parsed = parseValue(flag.slice(eq + 1));
    if ("problem" in parsed) {
      fail(`Override "${path}" cannot be read: ${parsed.problem}`, "give a simpler value");
      continue;
    }
    const value = parsed.value;
    let node = doc as Record<string, unknown>;
    for (const part of parts.slice(0, -1)) {
      const next = node[part];
      if (next === null || typeof next !== "object" || Array.isArray(next)) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]!] = value;
    origin.overridden.set(path, `from --set ${flag}`);
  }
}

function interpolate(
  value: unknown,
  vars: Record<string, unknown>,
  path: string,
  where: Where,
  diagnostics: Diagnostic[],
): unknown {
  if (typeof value === "string") {
    const whole = /^\$\{vars\.([A-Za-z0-9_.-]+)\}$/.exec(value);
    const lookup = (name: string): unknown => {
      let node: unknown = vars;
      for (const part of name.split(".")) {
        if (node === null || typeof node !== "object" || !(part in node)) {
          diagnostics.push({
            ...where(path),
            message: `Unknown variable "vars.${name}"`,
            hint: didYouMean(name, Object.keys(vars), "a variable among") ||
              "define it under vars:",
          });
          return undefined;
        }
        node = (node as Record<string, unknown>)[part];
      }
      return node;
    };
    if (whole) return lookup(whole[1]!) ?? value;
    return value.replace(VAR, (text, name: string) => {
      const v = lookup(name);
      return v === undefined ? text : String(v);
    });
  }
  if (Array.isArray(value)) {
    return value.map((v, i) => interpolate(v, vars, `${path}.${i}`, where, diagnostics));
  }
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = interpolate(v, vars, `${path}.${k}`, where, diagnostics);
    }
    return out;
  }
  return value;
}

async function resolveKind(
  uses: string,
  bounds: Bounds,
  registry: Registry,
  at: Omit<Diagnostic, "message">,
): Promise<AnyStage | Diagnostic> {
  if (!isModulePath(uses)) {
    const found = registry.get(uses);
    if (found) return found;
    return {
      ...at,
      message: `Unknown stage kind "${uses}"`,
      hint: didYouMean(uses, registry.names(), "a registered kind among"),
    };
  }
  const root = bounds.root;
  const abs = resolve(root, uses);
  if (!exists(abs)) {
    return {
      ...at,
      message: `Stage module "${uses}" does not exist`,
      hint: `paths are relative to the project root ${root}`,
    };
  }
  if (!inBounds(Deno.realPathSync(abs), bounds)) {
    return {
      ...at,
      message: `Stage module "${uses}" is outside the project ${root}`,
      hint: "a stage module is code that runs: keep it inside the project, or list it (or its " +
        "directory) under allow_outside: in the pipeline file or with --allow-outside <path>",
    };
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(abs).href);
  } catch (error) {
    return { ...at, message: `Cannot load stage module "${uses}": ${(error as Error).message}` };
  }
  const candidates = [mod.default, ...Object.values(mod)];
  const def = candidates.find((c): c is AnyStage =>
    c !== null && typeof c === "object" && typeof (c as AnyStage).run === "function" &&
    typeof (c as AnyStage).name === "string"
  );
  if (!def) {
    return {
      ...at,
      message: `Stage module "${uses}" exports no stage definition`,
      hint: "export default defineStage({ ... })",
    };
  }
  return def;
}

/** Paths inside `value` that the schema marks with `x-path`. */
function findPaths(
  value: unknown,
  schema: JsonSchema,
  path: string,
): Omit<PathParam, "abs">[] {
  const out: Omit<PathParam, "abs">[] = [];
  const mark = schema["x-path"];
  if (typeof value === "string" && (mark === "file" || mark === "dir")) {
    out.push({ param: path, path: value, kind: mark });
    return out;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (sub) out.push(...findPaths(v, sub, `${path}.${k}`));
    }
  }
  for (
    const branch of [
      ...(schema.oneOf ?? []) as JsonSchema[],
      ...(schema.anyOf ?? []) as JsonSchema[],
    ]
  ) {
    out.push(...findPaths(value, branch, path));
  }
  return out;
}

function topologicalOrder(
  stages: Map<string, ResolvedStage>,
  ids: string[],
  where: Where,
  diagnostics: Diagnostic[],
): string[] {
  const state = new Map<string, "visiting" | "done">();
  const order: string[] = [];
  const reported = new Set<string>();
  const visit = (id: string, trail: string[]) => {
    const s = state.get(id);
    if (s === "done") return;
    if (s === "visiting") {
      const cycle = trail.slice(trail.indexOf(id));
      const key = [...cycle].sort().join(",");
      if (!reported.has(key)) {
        reported.add(key);
        diagnostics.push({
          ...where(`stages.${cycle[0]}.inputs`, true),
          message: `Cycle between stages: ${[...cycle, id].map((c) => `"${c}"`).join(" -> ")}`,
          hint: "a stage cannot depend, directly or not, on its own outputs",
        });
      }
      return;
    }
    state.set(id, "visiting");
    for (const up of stages.get(id)?.upstream ?? []) visit(up, [...trail, id]);
    state.set(id, "done");
    order.push(id);
  };
  for (const id of ids) if (stages.has(id)) visit(id, []);
  return order;
}
