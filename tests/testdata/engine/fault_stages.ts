/**
 * Stage kinds for the cache integrity and fault-injection tests, on top of the engine test
 * kinds: a JSON producer and a parser (a consumer that fails on damaged input), and a stage with
 * a large directory output (so that storing and materialising it take long enough to be killed
 * midway).
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import { testRegistry } from "./stages.ts";

/** Writes `{"items": [...]}` with `count` items (big enough to pass the reread limit). */
export const jsonOut = defineStage({
  name: "json-out",
  version: 1,
  description: "Writes a JSON document",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: {
      count: { type: "integer", minimum: 1, default: 3, description: "Items" },
      tag: { type: "string", default: "", description: "Distinguishes runs" },
    },
  },
  inputs: {},
  outputs: { doc: { type: "doc", description: "The document", extension: ".json" } },
  module: import.meta.url,
  async run(ctx) {
    const items = Array.from({ length: ctx.params.count }, (_, i) => ({ i, text: `item ${i}` }));
    await Deno.writeTextFile(ctx.output("doc"), JSON.stringify({ items }));
  },
});

/** Parses a JSON document and writes how many items it has. */
export const parse = defineStage({
  name: "parse",
  version: 1,
  description: "Counts the items of a JSON document",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { note: { type: "string", default: "", description: "Distinguishes runs" } },
  },
  inputs: { doc: { type: "doc", description: "A document" } },
  outputs: { count: { type: "text", description: "Item count", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const doc = JSON.parse(await Deno.readTextFile(ctx.inputs.doc!));
    await Deno.writeTextFile(ctx.output("count"), String(doc.items.length));
  },
});

/**
 * Writes `files` files into a directory output (file `i` holds `file i` and `pad` bytes), then a
 * `done` marker into `dir` (when given), so that a test can kill the run while it is stored.
 */
export const many = defineStage({
  name: "many",
  version: 1,
  description: "Writes many files",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: {
      files: { type: "integer", minimum: 1, default: 10, description: "How many files" },
      pad: { type: "integer", minimum: 0, default: 0, description: "Bytes added to each" },
      dir: { type: "string", default: "", description: "Directory of the done marker" },
    },
  },
  inputs: {},
  outputs: {
    model: { type: "model", description: "Many files", kind: "dir" },
    summary: { type: "text", description: "How many", extension: ".txt" },
  },
  module: import.meta.url,
  async run(ctx) {
    const pad = "x".repeat(ctx.params.pad);
    await Deno.mkdir(`${ctx.output("model")}/sub`, { recursive: true });
    for (let i = 0; i < ctx.params.files; i++) {
      const where = i % 2 ? "sub/" : "";
      await Deno.writeTextFile(`${ctx.output("model")}/${where}f${i}.txt`, `file ${i}\n${pad}`);
    }
    await Deno.writeTextFile(ctx.output("summary"), `${ctx.params.files} files`);
    if (ctx.params.dir) await Deno.writeTextFile(`${ctx.params.dir}/done`, String(Deno.pid));
  },
});

/** The engine test registry with the kinds above. */
export function faultRegistry() {
  const registry = testRegistry();
  for (const stage of [jsonOut, parse, many]) registry.register(stage);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, faultRegistry()));
}
