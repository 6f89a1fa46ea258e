/**
 * The pipeline graph drawn for `dag`: a tree for the terminal, or Mermaid or Graphviz dot text.
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
export function renderDag(pipeline: Pipeline, format: "tree" | "mermaid" | "dot"): string {
  if (format === "tree") return renderTree(pipeline);
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

/** A node of the tree: a stage, or a file that is a stage's input. */
interface TreeNode {
  label: string;
  /** The nodes that read it, each with what they read (its output names, or the input's). */
  readers: Map<string, string[]>;
}

/**
 * The DAG as an indented tree for the terminal, like `cargo tree`: the stages (and input files)
 * that read nothing of another stage at the top, each stage under the stage whose outputs it
 * reads, the outputs on the edge (`├── dataset → preprocess-input`). A stage that reads from
 * several is drawn in full once, under the first of them; elsewhere it ends with `(*)`. A stage's
 * kind follows its id when the two differ.
 *
 * @param pipeline A checked pipeline.
 * @returns The tree, one line per edge and per top node.
 * @example
 * ```text
 * load
 * ├── dataset → preprocess-input
 * │   └── encoded → preprocess-target
 * └── dataset → preprocess-target (*)
 * ```
 */
export function renderTree(pipeline: Pipeline): string {
  const nodes = new Map<string, TreeNode>();
  const tops: string[] = [];
  const fileNode = (path: string) => `file:${path}`;
  for (const id of pipeline.order) {
    const kind = pipeline.stages.get(id)!.definition.name;
    nodes.set(id, { label: kind === id ? id : `${id} (${kind})`, readers: new Map() });
  }
  for (const id of pipeline.order) {
    const stage = pipeline.stages.get(id)!;
    let reads = false;
    for (const [name, input] of Object.entries(stage.inputs)) {
      let from: string;
      let what: string;
      if (input.kind === "stage") {
        from = input.stage;
        what = input.output;
        reads = true;
      } else {
        from = fileNode(input.path);
        what = name;
        if (!nodes.has(from)) {
          nodes.set(from, { label: `${input.path} (file)`, readers: new Map() });
          tops.push(from);
        }
      }
      const readers = nodes.get(from)!.readers;
      const carried = readers.get(id) ?? [];
      if (!carried.includes(what)) carried.push(what);
      readers.set(id, carried);
    }
    if (!reads && !Object.keys(stage.inputs).length) tops.push(id);
  }
  // Files first, in the order stages read them, then stages that read nothing.
  tops.sort((a, b) => Number(b.startsWith("file:")) - Number(a.startsWith("file:")));
  const lines: string[] = [];
  const drawn = new Set<string>();
  let repeated = false;
  const draw = (id: string, prefix: string) => {
    const readers = [...nodes.get(id)!.readers];
    readers.forEach(([reader, what], i) => {
      const last = i === readers.length - 1;
      const again = drawn.has(reader);
      const mark = again && nodes.get(reader)!.readers.size > 0;
      repeated ||= mark;
      lines.push(
        `${prefix}${last ? "└── " : "├── "}${what.join(", ")} → ${nodes.get(reader)!.label}` +
          (mark ? " (*)" : ""),
      );
      if (again) return;
      drawn.add(reader);
      draw(reader, `${prefix}${last ? "    " : "│   "}`);
    });
  };
  for (const top of tops) {
    if (drawn.has(top)) continue;
    drawn.add(top);
    lines.push(nodes.get(top)!.label);
    draw(top, "");
  }
  if (repeated) lines.push("", "(*) what it leads to is drawn above");
  return lines.join("\n");
}
