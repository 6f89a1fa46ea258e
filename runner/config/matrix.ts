/**
 * The `matrix:` block of a sweep: its axes, checked, and one variant of it applied to the file.
 *
 * @module
 */

import type { Diagnostic } from "../errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import type { MatrixAxis } from "../core/pipeline.ts";
import { setOwnPath } from "../lib/own.ts";
import { lookupVariable } from "./interpolate.ts";
import { stableJson } from "../lib/digest.ts";
import type { SourceMap } from "./source_map.ts";

/** The `matrix:` block's axes; an axis naming an unknown stage, or a value twice, is reported. */
export function matrixAxes(
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
    const found = path.startsWith("vars.")
      ? lookupVariable(doc.vars, path.split(".").slice(1))
      : undefined;
    if (found && "unknown" in found) {
      diagnostics.push({
        ...at(`matrix.${path}`),
        message: `Matrix path "${path}" names unknown variable "${found.unknown}"`,
        hint: found.hint,
      });
      continue;
    }
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
export function applyVariant(
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
    setOwnPath(doc, path.split("."), structuredClone(axis.values[index]));
    // Problems with the value are reported where the matrix lists it.
    const where = source.value(`matrix.${path}.${index}`);
    source.set(path, where, where);
  }
}
