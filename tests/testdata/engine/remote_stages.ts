/**
 * The engine's test stage kinds plus `tree`, a stage with a directory output, and `where`, a
 * stage whose bytes depend on the checkout, for the remote cache tests; run as a script it is
 * the CLI with them.
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import type { Registry } from "../../../runner/registry.ts";
import { testRegistry } from "./stages.ts";

/** Writes a directory: its input's text, upper-cased, in nested files. */
export const tree = defineStage<{ copies: number }>({
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

/** The engine's test stages, `tree` and `where`. */
export function remoteRegistry(): Registry {
  const registry = testRegistry();
  registry.register(tree);
  registry.register(where);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli.ts");
  Deno.exit(await main(Deno.args, remoteRegistry()));
}
