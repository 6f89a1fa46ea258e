/**
 * The engine's test stage kinds plus `tree`, a stage with a directory output, for the remote
 * cache tests; run as a script it is the CLI with them.
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

/** The engine's test stages and `tree`. */
export function remoteRegistry(): Registry {
  const registry = testRegistry();
  registry.register(tree);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli.ts");
  Deno.exit(await main(Deno.args, remoteRegistry()));
}
