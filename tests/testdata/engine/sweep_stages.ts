/**
 * Stage kinds for the sweep tests: a shared upstream stage and a swept one that sleeps, writes
 * when it ran and a metric that depends on its rate. Run as a script, it is the CLI with them.
 *
 * @module
 */

import { defineStage } from "../../../runner/stage.ts";
import { testRegistry } from "./stages.ts";
import type { Registry } from "../../../runner/registry.ts";

/** Writes its text (the upstream stage every variant shares). */
export const prepare = defineStage({
  name: "prepare",
  version: 1,
  description: "Writes a text",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { text: { type: "string", default: "data", description: "What to write" } },
  },
  inputs: {},
  outputs: { text: { type: "text", description: "The text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await new Promise((r) => setTimeout(r, 50));
    await Deno.writeTextFile(ctx.output("text"), ctx.params.text);
  },
});

/** Sleeps `ms`, then writes its start and end times and a score that depends on `rate`. */
export const fit = defineStage({
  name: "fit",
  version: 1,
  description: "A swept stage",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: {
      rate: { type: "number", exclusiveMinimum: 0, default: 0.1, description: "A rate" },
      ms: { type: "integer", default: 300, description: "Milliseconds to sleep" },
    },
  },
  inputs: { text: { type: "text", description: "The prepared text" } },
  outputs: {
    times: { type: "times", description: "start and end", extension: ".json" },
    metrics: { type: "metrics", description: "The score", extension: ".json" },
  },
  module: import.meta.url,
  async run(ctx) {
    const start = Date.now();
    await Deno.readTextFile(ctx.inputs.text!);
    await new Promise((r) => setTimeout(r, ctx.params.ms));
    await Deno.writeTextFile(ctx.output("times"), JSON.stringify({ start, end: Date.now() }));
    const score = Math.round(1000 * (1 - ctx.params.rate)) / 1000;
    await Deno.writeTextFile(ctx.output("metrics"), JSON.stringify({ headline: "score", score }));
  },
});

/** The engine's test stage kinds with these two. */
export function sweepRegistry(): Registry {
  return testRegistry().register(prepare).register(fit);
}

if (import.meta.main) {
  const { main } = await import("../../../runner/cli/main.ts");
  Deno.exit(await main(Deno.args, sweepRegistry()));
}
