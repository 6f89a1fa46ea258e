/**
 * `--set key=value` overrides, applied to the parsed file before it is checked; each overridden
 * path is remembered so that its problems are reported at the command line.
 *
 * @module
 */

import type { Diagnostic } from "../errors.ts";
import type { Origin } from "./schema.ts";
import { didYouMean } from "../lib/suggest.ts";
import { isRecord, setOwnPath } from "../lib/own.ts";
import { lookupVariable } from "./interpolate.ts";

export function applySets(
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
      const stages = isRecord(doc.stages) ? doc.stages : {};
      const id = parts[1]!;
      if (!Object.hasOwn(stages, id)) {
        fail(`Override "${path}" names unknown stage "${id}"`, didYouMean(id, Object.keys(stages)));
        continue;
      }
    } else {
      // A value for a variable the file does not define would be used by nothing: a typo.
      const found = lookupVariable(doc.vars, parts.slice(1));
      if ("unknown" in found) {
        fail(`Override "${path}" names unknown variable "${found.unknown}"`, found.hint);
        continue;
      }
    }
    const parsed = parseValue(flag.slice(eq + 1));
    if ("problem" in parsed) {
      fail(`Override "${path}" cannot be read: ${parsed.problem}`, "give a simpler value");
      continue;
    }
    setOwnPath(doc, parts, parsed.value);
    origin.overridden.set(path, `from --set ${flag}`);
  }
}
