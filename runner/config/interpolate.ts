/**
 * `${vars.name}` references in stage parameters and inputs, replaced by the values under
 * `vars:`; an unknown variable is reported where it is used.
 *
 * @module
 */

import type { Diagnostic, Where } from "../errors.ts";
import { didYouMean } from "../lib/suggest.ts";

const VAR = /\$\{vars\.([A-Za-z0-9_.-]+)\}/g;

/**
 * Looks up a dotted variable name (`max_length`, `model.heads`: its parts) under `vars:`, as
 * own keys only: `constructor` or `__proto__` is no variable of anyone's.
 *
 * @param vars The file's `vars:` (anything: a missing or odd block defines nothing).
 * @param names The parts of the name.
 * @returns The value, or the first unknown part's path (`vars.model.head`) and a hint.
 */
export function lookupVariable(
  vars: unknown,
  names: string[],
): { value: unknown } | { unknown: string; hint: string } {
  let node = vars;
  for (const [i, name] of names.entries()) {
    if (node === null || typeof node !== "object" || !Object.hasOwn(node, name)) {
      const known = node !== null && typeof node === "object" ? Object.keys(node) : [];
      return {
        unknown: `vars.${names.slice(0, i + 1).join(".")}`,
        hint: didYouMean(name, known, "a variable among") || "define it under vars:",
      };
    }
    node = (node as Record<string, unknown>)[name];
  }
  return { value: node };
}

export function interpolate(
  value: unknown,
  vars: Record<string, unknown>,
  path: string,
  where: Where,
  diagnostics: Diagnostic[],
): unknown {
  if (typeof value === "string") {
    const whole = /^\$\{vars\.([A-Za-z0-9_.-]+)\}$/.exec(value);
    const lookup = (name: string): unknown => {
      const found = lookupVariable(vars, name.split("."));
      if ("value" in found) return found.value;
      diagnostics.push({
        ...where(path),
        message: `Unknown variable "vars.${name}"`,
        hint: found.hint,
      });
      return undefined;
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
