/**
 * The engine's test stage kinds plus, for the remote cache tests: `tree`, a stage with a
 * directory output; `where`, a stage whose bytes depend on the checkout; `pair`, two outputs of
 * two artifact types, and `count`, which rejects an input of the wrong type. Run as a script it
 * is the CLI with them.
 *
 * @module
 */

import { InputError } from "../../../runner/errors.ts";
import { defineStage, type StageDefinition } from "../../../runner/stage.ts";
import type { Registry } from "../../../runner/registry.ts";
import { testRegistry } from "./stages.ts";

/** Writes a directory: its input's text, upper-cased, in nested files. */
export const tree = defineStage({
  name: "tree",
  version: 1,
  description: "Writes a directory of files",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { copies: { type: "integer", default: 2, description: "Files to write" } },
  },
  inputs: { text: { type: "text", description: "A text" } },
  outputs: { model: { type: "model", description: "A directory", kind: "dir" } },
  module: import.meta.url,
  async run(ctx) {
    const text = (await Deno.readTextFile(ctx.inputs.text!)).toUpperCase();
    const dir = ctx.output("model");
    await Deno.mkdir(`${dir}/sub`, { recursive: true });
    for (let i = 0; i < ctx.params.copies; i++) {
      await Deno.writeTextFile(`${dir}/sub/${i}.txt`, `${i}: ${text}`);
    }
    await Deno.writeTextFile(`${dir}/meta.json`, JSON.stringify({ copies: ctx.params.copies }));
  },
});

/**
 * Writes where the project is: the same key makes other bytes in another checkout (what `load`
 * did with its corpus's absolute path, issue 23 item 10).
 */
export const where = defineStage({
  name: "where",
  version: 1,
  description: "Writes the project root",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: {},
  outputs: { text: { type: "text", description: "The project root", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("text"), ctx.root);
  },
});

/**
 * Writes two files of two artifact types: `words`, a plain JSON dictionary, and `stream`, JSON
 * Lines whose first line names its type (as the NER stages' streams do).
 */
export const pair = defineStage({
  name: "pair",
  version: 1,
  description: "Writes a dictionary and a stream",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: {},
  outputs: {
    words: { type: "word-list", description: "A JSON list of words", extension: ".json" },
    stream: { type: "word-stream", description: "The words, one a line", extension: ".jsonl" },
  },
  module: import.meta.url,
  async run(ctx) {
    const words = ["alpha", "beta", "gamma"];
    await Deno.writeTextFile(ctx.output("words"), JSON.stringify({ words }));
    await Deno.writeTextFile(
      ctx.output("stream"),
      [{ artifact: "word-stream" }, ...words.map((word) => ({ word }))]
        .map((l) => JSON.stringify(l)).join("\n") + "\n",
    );
  },
});

/** Reads a word stream, rejecting (an InputError) a file that is not one. */
export const count = defineStage({
  name: "count",
  version: 1,
  description: "Counts the words of a stream",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: { stream: { type: "word-stream", description: "A word stream" } },
  outputs: { count: { type: "text", description: "How many words", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const lines = (await Deno.readTextFile(ctx.inputs.stream!)).trim().split("\n");
    let header: unknown;
    try {
      header = JSON.parse(lines[0]!);
    } catch { /* not JSON */ }
    if ((header as { artifact?: unknown })?.artifact !== "word-stream") {
      throw new InputError(
        `Input "stream" (${ctx.inputs.stream}) is not a word stream: its first line names no ` +
          "artifact: use the stream output of a pair stage",
        ["stream"],
      );
    }
    await Deno.writeTextFile(ctx.output("count"), String(lines.length - 1));
  },
});

/** The engine's test stages, `tree`, `where`, `pair` and `count`. */
export function remoteRegistry(): Registry {
  const registry = testRegistry();
  for (const stage of [tree, where, pair, count]) registry.register(stage as StageDefinition);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, remoteRegistry()));
}
