/**
 * A stage kind described for `stages` (like spaCy's `debug config`): its parameters read from
 * its JSON Schema, each with its type, bounds, default and description (an object's properties
 * as dotted paths: `tokenizer.learn.merges`), and its inputs and outputs.
 *
 * @module
 */

import type { AnyStage, Registry } from "../registry.ts";
import type { JsonSchema } from "../stage.ts";
import { fileURLToPath, relative } from "../paths.ts";

/** One parameter of a stage kind (a property of its schema). */
export interface ParamDoc {
  /** Its path under `with:` (`epochs`, `tokenizer.learn.merges`). */
  path: string;
  /** Its type: `integer`, `"auto" | "wasm"`, `integer | "auto"`, `array of string`, ... */
  type: string;
  /** What values it may take beyond its type: `1 to 1000`, `> 0`, `exactly one of: a, b`. */
  bounds: string[];
  /** Its default, when it has one. */
  default?: unknown;
  /** Whether `with:` must give it (required, without a default). */
  required: boolean;
  /** `file` or `dir` for a path whose content is part of the key (`x-path`). */
  path_kind?: "file" | "dir";
  /** What it is. */
  description: string;
}

/** A stage kind, described. */
export interface KindDoc {
  /** Its registered name (`uses:`). */
  name: string;
  /** Its version. */
  version: number;
  /** What it does. */
  description: string;
  /** Its module, relative to the working directory when it is a local file. */
  module: string;
  /** Its parameters, in schema order, an object's properties after it. */
  params: ParamDoc[];
  /** Its inputs. */
  inputs: { name: string; type: string; optional: boolean; description: string }[];
  /** Its outputs. */
  outputs: {
    name: string;
    type: string;
    kind: "file" | "dir";
    extension?: string;
    description: string;
  }[];
  /** The process-wide resource it needs to itself, if any. */
  exclusive?: string;
}

function isSchema(value: unknown): value is JsonSchema {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A value as a type or bound shows it: JSON, strings quoted. */
function shown(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/** The type of a (sub)schema, as one expression. */
export function typeOf(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return schema.enum.map(shown).join(" | ");
  if ("const" in schema) return shown(schema.const);
  const branches = schema.oneOf ?? schema.anyOf;
  // Branches that are types (not only `required` lists, which are constraints).
  if (Array.isArray(branches) && branches.every((b) => isSchema(b) && !isConstraint(b))) {
    return branches.map((b) => {
      const bounds = boundsOf(b as JsonSchema);
      return typeOf(b as JsonSchema) + (bounds.length ? ` (${bounds.join(", ")})` : "");
    }).join(" | ");
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (!types.length) return isSchema(schema.properties) ? "object" : "any";
  return types.map((t) => {
    if (t === "array" && isSchema(schema.items)) return `array of ${typeOf(schema.items)}`;
    if (t === "object" && isSchema(schema.additionalProperties)) {
      return `object of ${typeOf(schema.additionalProperties)}`;
    }
    return String(t);
  }).join(" | ");
}

/** A branch of `oneOf` that only says which properties must be there. */
function isConstraint(branch: JsonSchema): boolean {
  return Object.keys(branch).every((k) => k === "required" || k === "description");
}

/** What values a (sub)schema allows beyond its type. */
export function boundsOf(schema: JsonSchema): string[] {
  const out: string[] = [];
  const num = (v: unknown): v is number => typeof v === "number";
  const { minimum: min, maximum: max, exclusiveMinimum: xmin, exclusiveMaximum: xmax } = schema;
  // Bounds of ±(2^53 - 1) only say "an integer that JavaScript holds exactly": not shown.
  const wide = min === -Number.MAX_SAFE_INTEGER && max === Number.MAX_SAFE_INTEGER;
  const lower = num(xmin) ? `> ${xmin}` : num(min) ? `>= ${min}` : undefined;
  const upper = num(xmax) ? `< ${xmax}` : num(max) ? `<= ${max}` : undefined;
  if (wide) { /* no bound */ }
  else if (num(min) && num(max) && !num(xmin) && !num(xmax)) out.push(`${min} to ${max}`);
  else if (lower && upper) out.push(`${lower} and ${upper}`);
  else if (lower ?? upper) out.push((lower ?? upper)!);
  const range = (lo: unknown, hi: unknown, what: string) => {
    if (typeof lo === "number" && typeof hi === "number") out.push(`${lo} to ${hi} ${what}`);
    else if (typeof lo === "number") out.push(`at least ${lo} ${what}`);
    else if (typeof hi === "number") out.push(`at most ${hi} ${what}`);
  };
  range(schema.minLength, schema.maxLength, "characters");
  range(schema.minItems, schema.maxItems, "items");
  range(schema.minProperties, schema.maxProperties, "entries");
  if (typeof schema.pattern === "string") out.push(`matching /${schema.pattern}/`);
  if (typeof schema.format === "string") out.push(`format ${schema.format}`);
  const branches = schema.oneOf ?? schema.anyOf;
  if (Array.isArray(branches) && branches.every((b) => isSchema(b) && isConstraint(b))) {
    const names = branches.flatMap((b) => (b as JsonSchema).required as string[] ?? []);
    out.push(`${schema.oneOf ? "exactly one" : "at least one"} of: ${names.join(", ")}`);
  }
  return out;
}

/** The parameters of a schema's properties, an object's own properties after it. */
function paramsOf(schema: JsonSchema, prefix: string, out: ParamDoc[]): ParamDoc[] {
  const properties = isSchema(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required : [];
  for (const [name, value] of Object.entries(properties)) {
    if (!isSchema(value)) continue;
    const xPath = value["x-path"];
    const doc: ParamDoc = {
      path: `${prefix}${name}`,
      type: typeOf(value),
      bounds: boundsOf(value),
      required: required.includes(name) && !("default" in value),
      description: typeof value.description === "string" ? value.description : "",
    };
    if ("default" in value) doc.default = value.default;
    if (xPath === "file" || xPath === "dir") doc.path_kind = xPath;
    out.push(doc);
    if (isSchema(value.properties)) paramsOf(value, `${doc.path}.`, out);
  }
  return out;
}

/** A module URL shown as a path relative to the working directory (a remote one as it is). */
function moduleShown(url: string): string {
  if (!url.startsWith("file:")) return url;
  const path = fileURLToPath(url);
  return relative(Deno.cwd(), path) || path;
}

/**
 * Describes a stage kind: its parameters from its schema, its inputs and outputs.
 *
 * @param kind The stage kind.
 * @returns What `stages <kind>` prints (`--json`: as it is).
 */
export function describeKind(kind: AnyStage): KindDoc {
  const doc: KindDoc = {
    name: kind.name,
    version: kind.version,
    description: kind.description,
    module: moduleShown(kind.module),
    params: paramsOf(kind.schema, "", []),
    inputs: Object.entries(kind.inputs).map(([name, spec]) => ({
      name,
      type: spec.type,
      optional: spec.optional ?? false,
      description: spec.description,
    })),
    outputs: Object.entries(kind.outputs).map(([name, spec]) => ({
      name,
      type: spec.type,
      kind: spec.kind ?? "file",
      ...(spec.extension ? { extension: spec.extension } : {}),
      description: spec.description,
    })),
  };
  if (kind.exclusive) doc.exclusive = kind.exclusive;
  return doc;
}

/**
 * The registered stage kinds, by name.
 *
 * @param registry The registry.
 * @returns Each kind's name, version and description, sorted by name.
 */
export function listKinds(
  registry: Registry,
): { name: string; version: number; description: string }[] {
  return registry.names().map((name) => {
    const kind = registry.get(name)!;
    return { name, version: kind.version, description: kind.description };
  });
}
