import assert from "node:assert/strict";
import { isUserError, PipelineValidationError, UserError } from "../runner/errors.ts";
import { loadPipeline } from "../runner/config/load.ts";
import { Registry } from "../runner/registry.ts";
import { defineStage } from "../runner/stage.ts";
import { CorpusError } from "../ner/formats/corpus_error.ts";
import { CheckpointError } from "../ner/bert/checkpoint.ts";
import { TokenizerFileError } from "../ner/tokenizer/files.ts";
import { UnknownLabelError } from "../ner/labels.ts";
import { BertConfigError } from "../ner/bert/config.ts";
import { BackendUnavailableError } from "../ner/bert/backend.ts";
import { SafetensorsError } from "../ner/bert/safetensors.ts";
import { project } from "./_engine_helpers.ts";

Deno.test("every error about the user's input is a UserError, and only those are", () => {
  const mistakes = [
    new CorpusError("Bad line", { file: "a.txt", line: 3, hint: "fix it" }),
    new CheckpointError("bad checkpoint"),
    new TokenizerFileError("bad vocab", "vocab.txt"),
    new UnknownLabelError("B-XX", "validation"),
    new BertConfigError("hidden_size", "bad hidden size"),
    new BackendUnavailableError("webgpu", "no adapter"),
    new SafetensorsError("bad header", "model.safetensors"),
    new PipelineValidationError([]),
  ];
  for (const error of mistakes) {
    assert.ok(error instanceof UserError, `${error.name} should extend UserError`);
    assert.ok(isUserError(error), error.name);
  }
  // Duck typing is gone: an exit code field does not make a bug a user error.
  const bug = Object.assign(new Error("internal"), { exitCode: 2, userError: true });
  assert.equal(isUserError(bug), false);
  assert.equal(isUserError("a string"), false);
});

Deno.test("a stage kind's check reports cross-parameter problems at their file:line:col", async () => {
  const pair = defineStage({
    name: "pair",
    version: 1,
    description: "Needs hidden to be a multiple of heads",
    schema: {
      type: "object",
      properties: {
        hidden: { type: "integer", default: 8 },
        heads: { type: "integer", default: 2 },
      },
    },
    inputs: {},
    outputs: { out: { type: "file", description: "x" } },
    module: import.meta.url,
    check: (p) =>
      p.hidden % p.heads === 0 ? [] : [{
        param: "heads",
        message: `hidden (${p.hidden}) is not a multiple of heads (${p.heads})`,
        hint: "pick heads that divide hidden",
      }],
    async run(ctx) {
      await Deno.writeTextFile(ctx.output("out"), "x");
    },
  });
  const after = defineStage({
    name: "after",
    version: 1,
    description: "Needs its size no larger than the upstream pair's hidden",
    schema: { type: "object", properties: { size: { type: "integer", default: 1 } } },
    inputs: { x: { type: "file", description: "x" } },
    outputs: { out: { type: "file", description: "x" } },
    module: import.meta.url,
    check: (p, context) =>
      context.upstream("pair").flatMap((up) =>
        p.size > (up.params.hidden as number)
          ? [{ param: "hidden", stage: up.id, message: `hidden is below ${context.id}'s size` }]
          : []
      ),
    async run(ctx) {
      await Deno.writeTextFile(ctx.output("out"), "x");
    },
  });
  const registry = new Registry().register(pair).register(after);
  const dir = await project({
    "deno.json": "{}",
    "pipeline.yaml": [
      "name: t",
      "stages:",
      "  a:",
      "    uses: pair",
      "    with:",
      "      hidden: 9",
      "      heads: 2",
      "  b:",
      "    uses: after",
      "    with: { size: 20 }",
      "    inputs: { x: a.out }",
      "",
    ].join("\n"),
  });
  const error = await loadPipeline(`${dir}/pipeline.yaml`, { registry, cacheDir: false }).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(error instanceof PipelineValidationError);
  const lines = error.diagnostics.map((d) => `${d.line}:${d.column} ${d.path}: ${d.message}`);
  assert.deepEqual(lines, [
    "6:15 stages.a.with.hidden: hidden is below b's size",
    "7:14 stages.a.with.heads: hidden (9) is not a multiple of heads (2)",
  ]);
  await Deno.remove(dir, { recursive: true });
});
