/**
 * The remembered check of a pipeline under `.pipeline/checked/<fingerprint>.json`: a file that
 * has not changed (nor its overrides, stage kinds or stage modules) is not parsed and checked
 * again. A record is trusted only after it is checked against the file and the stage kinds.
 *
 * This module is on the path of a fully cached rerun: it imports no `node:` module and no npm
 * package.
 *
 * @module
 */

import { writeAtomic } from "../lib/atomic.ts";
import { cachePath } from "../store/layout.ts";
import { dirname, pathToFileURL, resolve } from "../paths.ts";
import { checkOwned, realPathOf } from "../lib/owned.ts";
import { moduleFiles } from "../keys/code_index.ts";
import type { Registry } from "../registry.ts";
import { EXECUTOR_NAMES } from "../exec/registry.ts";
import { pipelineSchema } from "./pipeline_schema.ts";
import { isModulePath, resolveKind } from "./kinds.ts";
import { checkPath, makeBounds } from "./paths.ts";
import { own } from "../lib/own.ts";
import type {
  MatrixAxis,
  PathParam,
  Pipeline,
  ResolvedInput,
  ResolvedStage,
  StageResources,
} from "../core/pipeline.ts";
import type { LoadOptions } from "./options.ts";
import { sha256, stableJson } from "../lib/digest.ts";
import { parseRemote } from "../remote/schemes.ts";

/**
 * Version of what `.pipeline/checked/` holds: a record of another version is a miss. Part of the
 * fingerprint, so that a change in how pipelines are checked is not hidden by an old record.
 */
const CHECKED_FORMAT = 3;

/**
 * What a checked pipeline depends on: the file's text, the overrides, the outside paths allowed
 * on the command line, the project root, and the declarations (schema, inputs, outputs, version,
 * check) of every registered stage kind. Stage modules named by `uses:` are in the record itself
 * (every file they are made of, with its hash), checked when it is read back.
 */
export async function checkedFingerprint(
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
  executor?: string;
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

export async function rememberPipeline(
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
    // Not through a link out of the project (lib/owned.ts): the run then stops at the lock.
    checkOwned(dir, realPathOf(dirname(dir)), { checked: 0 });
    await Deno.mkdir(cachePath(dir, "checked"), { recursive: true });
    await writeAtomic(cachePath(dir, "checked", `${fingerprint}.json`), JSON.stringify(record));
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
  if (
    raw.executor !== undefined &&
    !(isString(raw.executor) && EXECUTOR_NAMES.includes(raw.executor))
  ) {
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
export async function rememberedPipeline(
  fingerprint: string,
  dir: string,
  context: RecallContext,
): Promise<Pipeline | undefined> {
  const { registry, file, root, text } = context;
  let saved: Remembered | undefined;
  try {
    const json = Deno.readTextFileSync(cachePath(dir, "checked", `${fingerprint}.json`));
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
      const spec = own(definition.inputs, name);
      if (!spec) return undefined;
      if (input.kind === "stage") {
        // Upstream stages come first in the order: one not seen yet is not a stage before this.
        const outputs = stages.get(input.stage)?.definition.outputs;
        const out = outputs && own(outputs, input.output);
        if (!out || (out.type !== spec.type && spec.type !== "any")) return undefined;
        if (!refs.includes(input.stage)) refs.push(input.stage);
      } else {
        // Files may have been deleted, or links changed, since: then the full check says so.
        if (input.abs !== resolve(root, input.path)) return undefined;
        if (await checkPath(input.abs, "any", bounds)) return undefined;
      }
    }
    for (const [name, spec] of Object.entries(definition.inputs)) {
      if (!spec.optional && !Object.hasOwn(s.inputs, name)) return undefined;
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
