/**
 * `${vars.name}` references in stage parameters and inputs, replaced by the values under
 * `vars:`; an unknown variable is reported where it is used.
 *
 * @module
 */

import type { Diagnostic } from "../errors.ts";
import { didYouMean } from "../suggest.ts";
import type { Where } from "./_where.ts";

const VAR = /\$\{vars\.([A-Za-z0-9_.-]+)\}/g;

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
