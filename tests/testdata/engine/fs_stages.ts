/**
 * Stage kinds for the file-system safety tests (issue 23, items 1-6), on top of the fault-test
 * kinds: a stage that keeps checkpoints, stages whose outputs are links, FIFOs and sockets, a
 * stage that writes into its input, and a reader that waits for a marker before it reads.
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import { faultRegistry } from "./fault_stages.ts";

/** Writes a file into its checkpoint directory, then its text. */
export const checkpointed = defineStage({
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
export const oddOutput = defineStage({
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

/** How {@link vandal} damages its input. */
type VandalMode = "truncate" | "chmod-restore" | "add-file" | "none";

/**
 * Writes into its input (a file `text`, or a directory `model`) as `mode` says, then writes the
 * `marker` file (when given) and its output.
 */
export const vandal = defineStage({
  name: "vandal",
  version: 1,
  description: "Writes into its input",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["mode"],
    properties: {
      mode: {
        type: "string",
        enum: ["truncate", "chmod-restore", "add-file", "none"],
        description: "How it damages its input",
      },
      marker: { type: "string", default: "", description: "A file written once it has" },
    },
  },
  inputs: {
    text: { type: "text", description: "A file input", optional: true },
    model: { type: "model", description: "A directory input", optional: true },
  },
  outputs: { text: { type: "text", description: "A note", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const { mode, marker } = ctx.params;
    const file = ctx.inputs.text;
    if (mode === "truncate" && file) {
      await Deno.chmod(file, 0o644);
      await Deno.truncate(file, 0);
    } else if (mode === "chmod-restore" && file) {
      // Same size, mtime and mode put back: only the ctime tells.
      const info = await Deno.stat(file);
      await Deno.chmod(file, 0o644);
      const bytes = await Deno.readFile(file);
      bytes[0] = bytes[0]! ^ 0x20;
      await Deno.writeFile(file, bytes);
      await Deno.utime(file, info.atime!, info.mtime!);
      await Deno.chmod(file, info.mode! & 0o777);
    } else if (mode === "add-file" && ctx.inputs.model) {
      await Deno.writeTextFile(`${ctx.inputs.model}/extra.txt`, "injected");
    }
    if (marker) await Deno.writeTextFile(marker, "damaged");
    await Deno.writeTextFile(ctx.output("text"), `vandal ${mode}`);
  },
});

/** Waits until the file `wait` exists (at most 20 s), then copies its input. */
export const reader = defineStage({
  name: "reader",
  version: 1,
  description: "Copies its input once a marker exists",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { wait: { type: "string", default: "", description: "A marker to wait for" } },
  },
  inputs: { text: { type: "text", description: "A text" } },
  outputs: { text: { type: "text", description: "The same text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    for (let waited = 0; ctx.params.wait && waited < 20_000; waited += 10) {
      try {
        await Deno.stat(ctx.params.wait);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await Deno.writeTextFile(ctx.output("text"), await Deno.readTextFile(ctx.inputs.text!));
  },
});

/** The fault-test registry with the kinds above. */
export function fsRegistry() {
  const registry = faultRegistry();
  for (const stage of [checkpointed, oddOutput, vandal, reader]) registry.register(stage);
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, fsRegistry()));
}
