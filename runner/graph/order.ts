/**
 * The stages of a pipeline in a topological order, with the cycle check that loading a
 * pipeline runs.
 *
 * @module
 */

import type { ResolvedStage } from "../core/pipeline.ts";
import type { Diagnostic, Where } from "../errors.ts";

/**
 * The stages in a topological order (file order where free); each cycle is reported once, at
 * the inputs of its first stage.
 */
export function topologicalOrder(
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
