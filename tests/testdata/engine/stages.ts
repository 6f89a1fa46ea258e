/**
 * Small stage kinds for the engine tests.
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import { Registry } from "../../../runner/registry.ts";

/** Writes its `text` parameter. */
export const emit = defineStage({
  name: "emit",
  version: 1,
  description: "Writes a text",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["text"],
    properties: {
      text: { type: "string", description: "What to write" },
      tag: { type: "string", enum: ["a", "b"], default: "a", description: "A tag" },
    },
  },
  inputs: {},
  outputs: { text: { type: "text", description: "The text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("text"), ctx.params.text);
  },
});

/** Lower-cases its input (useful for early cutoff). */
export const lower = defineStage({
  name: "lower",
  version: 1,
  description: "Lower-cases a text",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: { text: { type: "text", description: "A text" } },
  outputs: { text: { type: "text", description: "The text in lower case", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const text = await Deno.readTextFile(ctx.inputs.text!);
    await Deno.writeTextFile(ctx.output("text"), text.toLowerCase());
  },
});

/** Joins two texts. */
export const join = defineStage({
  name: "join",
  version: 1,
  description: "Joins two texts",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { sep: { type: "string", default: " ", description: "Separator" } },
  },
  inputs: {
    a: { type: "text", description: "First" },
    b: { type: "text", description: "Second" },
  },
  outputs: { text: { type: "text", description: "Joined", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const a = await Deno.readTextFile(ctx.inputs.a!);
    const b = await Deno.readTextFile(ctx.inputs.b!);
    await Deno.writeTextFile(ctx.output("text"), `${a}${ctx.params.sep}${b}`);
  },
});

/** Copies a file named by a path parameter (its content is part of the key). */
export const read = defineStage({
  name: "read",
  version: 1,
  description: "Reads a file",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["path"],
    properties: {
      path: { type: "string", "x-path": "file", description: "A file" },
      epochs: { type: "integer", minimum: 1, default: 1, description: "Copies" },
      mode: { type: "string", enum: ["fast", "slow"], default: "fast", description: "Mode" },
    },
  },
  inputs: {},
  outputs: { text: { type: "text", description: "The file's text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const text = await Deno.readTextFile(ctx.params.path);
    await Deno.writeTextFile(ctx.output("text"), text.repeat(ctx.params.epochs));
  },
});

/** Sleeps, then writes when it started and ended. */
export const sleep = defineStage({
  name: "sleep",
  version: 1,
  description: "Sleeps",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: {
      ms: { type: "integer", default: 200, description: "Milliseconds" },
      name: { type: "string", default: "", description: "Distinguishes stages" },
    },
  },
  inputs: {},
  outputs: { times: { type: "times", description: "start and end", extension: ".json" } },
  module: import.meta.url,
  async run(ctx) {
    const start = Date.now();
    await new Promise((r) => setTimeout(r, ctx.params.ms));
    await Deno.writeTextFile(ctx.output("times"), JSON.stringify({ start, end: Date.now() }));
  },
});

/**
 * Writes half its output and a `started` marker next to the `release` file, then waits until
 * `release` exists (or forever), so a test can kill it midway.
 */
export const hang = defineStage({
  name: "hang",
  version: 1,
  description: "Hangs midway",
  schema: {
    type: "object",
    additionalProperties: false,
    required: ["dir"],
    properties: { dir: { type: "string", description: "Directory of markers" } },
  },
  inputs: {},
  outputs: {
    text: { type: "text", description: "Text", extension: ".txt" },
    model: { type: "model", description: "A directory", kind: "dir" },
  },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("text"), "partial");
    await Deno.writeTextFile(`${ctx.output("model")}/weights.bin`, "partial");
    await Deno.writeTextFile(`${ctx.params.dir}/started`, String(Deno.pid));
    for (;;) {
      try {
        await Deno.stat(`${ctx.params.dir}/release`);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await Deno.writeTextFile(ctx.output("text"), "complete");
    await Deno.writeTextFile(`${ctx.output("model")}/weights.bin`, "complete");
  },
});

/** Writes a model directory whose weights are its `size` (for `predict --run`-like lookups). */
export const makeModel = defineStage({
  name: "make-model",
  version: 1,
  description: "Fits a model",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { size: { type: "integer", minimum: 1, default: 1, description: "Its size" } },
  } as const,
  inputs: { text: { type: "text", description: "Anything", optional: true } },
  outputs: { model: { type: "model", description: "A model directory", kind: "dir" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(`${ctx.output("model")}/weights.txt`, String(ctx.params.size));
  },
});

/** Always fails. */
export const fail = defineStage({
  name: "fail",
  version: 1,
  description: "Fails",
  schema: { type: "object", properties: {} },
  inputs: { text: { type: "text", description: "Anything", optional: true } },
  outputs: { text: { type: "text", description: "Never written" } },
  module: import.meta.url,
  run() {
    return Promise.reject(new Error("boom"));
  },
});

/** A registry of the test stage kinds. */
export function testRegistry(): Registry {
  const registry = new Registry();
  for (const stage of [emit, lower, join, read, sleep, hang, makeModel, fail]) {
    registry.register(stage);
  }
  return registry;
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, testRegistry()));
}
