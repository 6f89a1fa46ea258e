/**
 * The remote tests' stage kinds plus `fill`, which writes as many bytes as it is told (in
 * chunks, through an open file, as a stage writing a large output does), for the disk-full
 * tests; run as a script it is the CLI with them.
 *
 * @module
 */

import { defineStage, type StageDefinition } from "../../../runner/stage.ts";
import type { Registry } from "../../../runner/registry.ts";
import { remoteRegistry } from "./remote_stages.ts";

/** Writes `bytes` bytes (a repeated pattern) to its output. */
export const fill = defineStage({
  name: "fill",
  version: 1,
  description: "Writes a file of a given size",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["bytes"],
    properties: { bytes: { type: "integer", minimum: 0, description: "Bytes to write" } },
  },
  inputs: {},
  outputs: { data: { type: "file", description: "The bytes", extension: ".bin" } },
  module: import.meta.url,
  async run(ctx) {
    using file = await Deno.open(ctx.output("data"), { write: true, create: true });
    const chunk = new Uint8Array(64 * 1024).map((_, i) => i % 251);
    for (let left = ctx.params.bytes; left > 0;) {
      const part = chunk.subarray(0, Math.min(left, chunk.length));
      for (let at = 0; at < part.length;) at += await file.write(part.subarray(at));
      left -= part.length;
    }
  },
});

/** The remote tests' stages and `fill`. */
export function diskRegistry(): Registry {
  const registry = remoteRegistry();
  registry.register(fill as StageDefinition);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, diskRegistry()));
}
