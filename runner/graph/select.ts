/**
 * Selection on the graph: the stages a run touches, from `--only` and `--from`, with everything
 * they need upstream.
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";

/** The stages a run touches: the selection and everything it needs upstream. */
export function selectStages(pipeline: Pipeline, only?: string[], from?: string): Set<string> {
  const selected = new Set<string>();
  const downstream = (id: string) => {
    selected.add(id);
    for (const s of pipeline.stages.values()) {
      if (s.upstream.includes(id) && !selected.has(s.id)) downstream(s.id);
    }
  };
  if (only?.length) only.forEach((id) => selected.add(id));
  if (from) downstream(from);
  if (!only?.length && !from) pipeline.order.forEach((id) => selected.add(id));
  const needed = new Set<string>();
  const up = (id: string) => {
    if (needed.has(id)) return;
    needed.add(id);
    for (const u of pipeline.stages.get(id)!.upstream) up(u);
  };
  selected.forEach(up);
  return needed;
}
