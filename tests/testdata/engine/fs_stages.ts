/**
 * Stage kinds for the file-system safety tests (issue 23, items 1-6), on top of the fault-test
 * kinds: a stage that keeps checkpoints.
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import { faultRegistry } from "./fault_stages.ts";

/** Writes a file into its checkpoint directory, then its text. */
export const checkpointed = defineStage<{ text: string }>({
  name: "checkpointed",
  version: 1,
  description: "Keeps a checkpoint while it runs",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { text: { type: "string", default: "done", description: "What to write" } },
  },
  inputs: {},
  outputs: { text: { type: "text", description: "The text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(`${ctx.checkpoints}/state.txt`, "step 1");
    await Deno.writeTextFile(ctx.output("text"), ctx.params.text);
  },
});

/** The fault-test registry with the kinds above. */
export function fsRegistry() {
  const registry = faultRegistry();
  for (const stage of [checkpointed]) registry.register(stage);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli.ts");
  Deno.exit(await main(Deno.args, fsRegistry()));
}
