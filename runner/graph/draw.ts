/**
 * The pipeline graph drawn as Mermaid or Graphviz dot text (`dag`).
 *
 * @module
 */

import type { Pipeline } from "../core/pipeline.ts";

/**
 * Renders the DAG: one node per stage (id and kind), one edge per input reference,
 * labelled with the output name, and file inputs as their own nodes.
 *
 * @param pipeline A checked pipeline.
 * @param format `mermaid` or `dot`.
 * @returns The graph text.
 */
export function renderDag(pipeline: Pipeline, format: "mermaid" | "dot"): string {
  const nodes: string[] = [];
  const edges: string[] = [];
  const files = new Map<string, string>();
  const safe = (id: string) => id.replace(/[^A-Za-z0-9_]/g, "_");
  for (const id of pipeline.order) {
    const stage = pipeline.stages.get(id)!;
    nodes.push(
      format === "mermaid"
        ? `  ${safe(id)}["${id}<br/><small>${stage.definition.name}</small>"]`
        : `  ${safe(id)} [label="${id}\\n(${stage.definition.name})"];`,
    );
    for (const [name, input] of Object.entries(stage.inputs)) {
      let from: string;
      let label: string;
      if (input.kind === "stage") {
        from = safe(input.stage);
        label = input.output;
      } else {
        from = files.get(input.path) ?? `file${files.size}`;
        if (!files.has(input.path)) {
          files.set(input.path, from);
          nodes.push(
            format === "mermaid"
              ? `  ${from}[("${input.path}")]`
              : `  ${from} [label="${input.path}", shape=note];`,
          );
        }
        label = name;
      }
      edges.push(
        format === "mermaid"
          ? `  ${from} -->|${label}| ${safe(id)}`
          : `  ${from} -> ${safe(id)} [label="${label}"];`,
      );
    }
  }
  if (format === "mermaid") return ["flowchart TD", ...nodes, ...edges].join("\n");
  return [`digraph "${pipeline.name}" {`, "  rankdir=TB;", ...nodes, ...edges, "}"].join("\n");
}
