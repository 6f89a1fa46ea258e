/**
 * Stage inputs: each a reference `<stage id>.<output>` to another stage's output of the right
 * artifact type, or a file in bounds; missing and unknown inputs are reported.
 *
 * @module
 */

import { resolve } from "../paths.ts";
import type { Diagnostic, Where } from "../errors.ts";
import { didYouMean } from "../lib/suggest.ts";
import { own } from "../lib/own.ts";
import { type Bounds, checkPath, describePathProblem, exists } from "./paths.ts";
import type { ResolvedStage } from "../core/pipeline.ts";

const REF = /^([A-Za-z][A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)$/;

/**
 * Wires each stage's inputs (as written, after interpolation: `rawInputsById`) into
 * `stage.inputs` and `stage.upstream`; every problem is added to `diagnostics`.
 */
export async function resolveInputs(
  stages: Map<string, ResolvedStage>,
  rawInputsById: Map<string, Record<string, unknown>>,
  ids: string[],
  root: string,
  bounds: Bounds,
  where: Where,
  diagnostics: Diagnostic[],
): Promise<void> {
  for (const stage of stages.values()) {
    const rawInputs = rawInputsById.get(stage.id)!;
    const base = `stages.${stage.id}.inputs`;
    const declared = stage.definition.inputs;
    for (const [name, value] of Object.entries(rawInputs)) {
      const path = `${base}.${name}`;
      const spec = own(declared, name);
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
        const out = own(upstream.definition.outputs, output);
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
      if (!spec.optional && !Object.hasOwn(rawInputs, name)) {
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
