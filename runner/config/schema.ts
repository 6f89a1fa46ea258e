/**
 * JSON Schema checks with ajv, turned into diagnostics with positions and hints.
 *
 * @module
 */

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import type { Diagnostic } from "../errors.ts";
import type { JsonSchema } from "../stage.ts";
import { didYouMean } from "../lib/suggest.ts";
import type { SourceMap } from "./source_map.ts";

const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: false });
ajv.addKeyword({ keyword: "x-path", schemaType: "string" });
const compiled = new WeakMap<JsonSchema, ValidateFunction>();

/** A compiled validator for a schema, memoised per schema object. */
export function validator(schema: JsonSchema): ValidateFunction {
  const known = compiled.get(schema);
  if (known) return known;
  const fn = ajv.compile(schema);
  compiled.set(schema, fn);
  return fn;
}

/** Where a value came from when it is not in the file. */
export interface Origin {
  /** Config paths set with `--set`, mapped to the flag text. */
  overridden: Map<string, string>;
}

/**
 * Checks `value` against `schema` (filling defaults into it) and describes every error.
 *
 * @param value The value to check; defaults are written into it.
 * @param schema The schema.
 * @param base Config path of `value`, e.g. `stages.train.with`.
 * @param source Positions of the pipeline file.
 * @param origin Paths set on the command line.
 * @param what What a key is called in messages, `%s` standing for it: `parameter %s of stage kind "train"`.
 * @returns Diagnostics, empty when the value is valid.
 */
export function checkSchema(
  value: unknown,
  schema: JsonSchema,
  base: string,
  source: SourceMap,
  origin: Origin,
  what: string,
): Diagnostic[] {
  const validate = validator(schema);
  if (validate(value)) return [];
  const out: Diagnostic[] = [];
  const seen = new Set<string>();
  const errors = validate.errors ?? [];
  // A value that fits none of a oneOf's branches gets one diagnostic, whose hint says what
  // each branch wanted, rather than one per branch at the same path.
  const alternatives = new Map<string, string[]>();
  for (const e of errors) {
    if (e.keyword === "oneOf" || e.keyword === "anyOf") alternatives.set(e.schemaPath, []);
  }
  const branchOf = (e: ErrorObject) =>
    [...alternatives.keys()].find((p) => e.schemaPath.startsWith(`${p}/`));
  for (const e of errors) {
    const owner = branchOf(e);
    if (owner && e.keyword !== "oneOf" && e.keyword !== "anyOf") {
      alternatives.get(owner)!.push(branchMessage(e));
    }
  }
  for (const error of errors) {
    if (branchOf(error)) continue;
    const d = describe(error, base, source, origin, what, alternatives.get(error.schemaPath));
    if (!d) continue;
    const id = `${d.path}|${d.message}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(d);
  }
  return out;
}

function join(base: string, instancePath: string): string {
  const parts = instancePath.split("/").slice(1).map((p) =>
    p.replaceAll("~1", "/").replaceAll("~0", "~")
  );
  return [base, ...parts].filter((p) => p !== "").join(".");
}

function show(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value === "string" ? `"${value}"` : JSON.stringify(value);
}

/** What a oneOf branch wanted, in a few words: `a number <= 256`, `one of "a", "b"`. */
function branchMessage(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case "type":
      return `a value of type ${String(params.type)}`;
    case "enum":
      return `one of ${(params.allowedValues as unknown[]).map(show).join(", ")}`;
    case "const":
      return show(params.allowedValue);
    case "maximum":
    case "minimum":
    case "exclusiveMaximum":
    case "exclusiveMinimum":
      return `a number ${String(params.comparison)} ${String(params.limit)}`;
    default:
      return `a value that ${e.message ?? "is valid"}`;
  }
}

function describe(
  error: ErrorObject,
  base: string,
  source: SourceMap,
  origin: Origin,
  what: string,
  branches?: string[],
): Diagnostic | undefined {
  const path = join(base, error.instancePath);
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as JsonSchema;
  let target = path;
  let useKey = false;
  let message: string;
  let hint: string | undefined;
  switch (error.keyword) {
    case "additionalProperties": {
      const key = String(params.additionalProperty);
      target = path ? `${path}.${key}` : key;
      useKey = true;
      const allowed = Object.keys((parent.properties ?? {}) as Record<string, unknown>);
      message = `Unknown ${what.replace("%s", `"${key}"`)}`;
      hint = didYouMean(key, allowed) || undefined;
      break;
    }
    case "required": {
      const key = String(params.missingProperty);
      useKey = true;
      message = `Missing required key "${key}"`;
      const prop = ((parent.properties ?? {}) as Record<string, JsonSchema>)[key];
      hint = `add "${key}:"${prop?.description ? ` (${String(prop.description)})` : ""}`;
      break;
    }
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map(String);
      message = `Value ${show(error.data)} is not allowed`;
      hint = didYouMean(String(error.data), allowed) || undefined;
      break;
    }
    case "type":
      message = `Expected ${String(params.type)}, got ${show(error.data)}`;
      break;
    case "propertyNames":
      return undefined; // reported by the nested pattern error
    case "pattern":
      if (error.propertyName !== undefined) {
        target = path ? `${path}.${error.propertyName}` : error.propertyName;
        useKey = true;
        message = `Name "${error.propertyName}" is not allowed: it must match ${
          String(params.pattern)
        }`;
        hint = "use letters, digits, '-' and '_', starting with a letter";
      } else {
        message = `Value ${show(error.data)} must match pattern ${String(params.pattern)}`;
      }
      break;
    case "maxLength": {
      // The name or value is shown cut short: it is long by definition.
      const text = error.propertyName ?? String(error.data);
      const cut = text.length > 24 ? `${text.slice(0, 24)}...` : text;
      const what = error.propertyName !== undefined ? "Name" : "Value";
      if (error.propertyName !== undefined) {
        target = path ? `${path}.${error.propertyName}` : error.propertyName;
        useKey = true;
      }
      message = `${what} "${cut}" is ${text.length} characters long, more than the limit of ` +
        `${String(params.limit)}`;
      hint = "shorten it";
      break;
    }
    case "oneOf":
    case "anyOf":
      message = `Value ${show(error.data)} does not match any allowed form`;
      hint = [
        branches?.length ? `expected ${[...new Set(branches)].join(" or ")}` : "",
        typeof parent.description === "string" ? parent.description : "",
      ].filter(Boolean).join("; ") || undefined;
      break;
    default:
      message = `Value ${show(error.data)} ${error.message ?? "is invalid"}`;
  }
  for (const [setPath, flag] of origin.overridden) {
    if (target === setPath || target.startsWith(`${setPath}.`)) {
      const why = hint ? `${flag}; ${hint}` : flag;
      return { file: "command line", line: 0, column: 0, path: target, message, hint: why };
    }
  }
  const pos = useKey ? source.key(target) : source.value(target);
  const d: Diagnostic = {
    file: source.file,
    line: pos.line,
    column: pos.column,
    path: target,
    message,
  };
  if (hint) d.hint = hint;
  return d;
}
