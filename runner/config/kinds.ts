/**
 * Stage kinds: what a `uses:` value names (a registered kind, or a stage module inside the
 * project), and each kind's own check of its parameters (`StageDefinition.check`).
 *
 * @module
 */

import { isAbsolute, pathToFileURL, resolve } from "../paths.ts";
import type { Diagnostic, Where } from "../errors.ts";
import type { AnyStage, Registry } from "../registry.ts";
import { definitionProblem } from "../stage_names.ts";
import { didYouMean } from "../lib/suggest.ts";
import { type Bounds, exists, inBounds } from "./paths.ts";
import type { ResolvedStage } from "../core/pipeline.ts";

export function isModulePath(uses: string): boolean {
  return uses.startsWith("./") || uses.startsWith("../") || isAbsolute(uses);
}

export async function resolveKind(
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
  // Its input and output names become file paths (as the registry checks a registered kind).
  const problem = definitionProblem(def);
  if (problem) {
    return {
      ...at,
      message: `Stage module "${uses}" declares ${problem.what}`,
      hint: problem.rule,
    };
  }
  return def;
}

/** Runs each stage kind's own check of its parameters (`StageDefinition.check`). */
export function checkStages(stages: Map<string, ResolvedStage>, where: Where): Diagnostic[] {
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
