import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { PipelineValidationError } from "../runner/errors.ts";
import { builtinStages } from "../stages/mod.ts";

async function problems(sets: string[]): Promise<string[]> {
  try {
    await loadPipeline("pipelines/ner.yaml", { registry: builtinStages(), sets, cacheDir: false });
  } catch (error) {
    assert.ok(error instanceof PipelineValidationError);
    return error.diagnostics.map((d) => `${d.path}: ${d.message}: ${d.hint ?? ""}`);
  }
  return [];
}

Deno.test("an infinite number is shown as Infinity, not null", async () => {
  const [line, ...rest] = await problems(["stages.train.with.epochs=.inf"]);
  assert.deepEqual(rest, []);
  assert.match(line!, /^stages\.train\.with\.epochs: Value Infinity must be <= 1000: from --set/);
});

Deno.test("a value that fits no branch of a oneOf is one diagnostic saying what each wanted", async () => {
  const found = await problems(["stages.train.with.workers=1000"]);
  assert.equal(found.length, 1, found.join("\n"));
  assert.match(
    found[0]!,
    /^stages\.train\.with\.workers: Value 1000 does not match any allowed form/,
  );
  assert.match(found[0]!, /expected a number <= 256 or "auto"/);
});
