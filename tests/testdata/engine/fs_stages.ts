/**
 * Stage kinds for the file-system safety tests (issue 23, items 1-6), on top of the fault-test
 * kinds: a stage that keeps checkpoints, and one whose outputs are links, FIFOs and sockets.
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

/** How {@link oddOutput} writes its outputs. */
type OddMode = "file-link" | "dir-link" | "dev-zero" | "fifo" | "socket" | "plain";

/** Writes outputs that are not plain files and folders, as `mode` says. */
export const oddOutput = defineStage<{ mode: OddMode; target: string }>({
  name: "odd-output",
  version: 1,
  description: "Writes a link, a FIFO or a socket as (or in) an output",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["mode"],
    properties: {
      mode: {
        type: "string",
        enum: ["file-link", "dir-link", "dev-zero", "fifo", "socket", "plain"],
        description: "What to write",
      },
      target: { type: "string", default: "", description: "Where a link points" },
    },
  },
  inputs: {},
  outputs: {
    text: { type: "text", description: "A file", extension: ".txt" },
    model: { type: "model", description: "A directory", kind: "dir" },
  },
  module: import.meta.url,
  async run(ctx) {
    const { mode, target } = ctx.params;
    const text = ctx.output("text");
    const model = ctx.output("model");
    await Deno.writeTextFile(`${model}/weights.bin`, "weights");
    if (mode === "file-link") await Deno.symlink(target, text);
    else if (mode === "dev-zero") await Deno.symlink("/dev/zero", text);
    else if (mode === "fifo") {
      const made = await new Deno.Command("mkfifo", { args: [text] }).output();
      if (!made.success) throw new Error("mkfifo failed");
    } else await Deno.writeTextFile(text, "text");
    if (mode === "dir-link") await Deno.symlink(target, `${model}/sub`);
    if (mode === "socket") {
      await Deno.mkdir(`${model}/run`);
      // Left open (closing it removes the socket file), and not keeping the process alive.
      Deno.listen({ transport: "unix", path: `${model}/run/sock` }).unref();
    }
  },
});

/** The fault-test registry with the kinds above. */
export function fsRegistry() {
  const registry = faultRegistry();
  for (const stage of [checkpointed, oddOutput]) registry.register(stage);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli.ts");
  Deno.exit(await main(Deno.args, fsRegistry()));
}
