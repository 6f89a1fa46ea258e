// A stage kind's metrics (an output of type `metrics`, with a declared `headline` and `columns`)
// are shown by `runs`, `compare` and the run report whatever the stage and its metrics are
// called: the engine knows no metric by name.
import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { readMetrics } from "../runner/core/metrics.ts";
import { compareRuns } from "../runner/history/compare.ts";
import { formatComparison, formatRuns } from "../runner/history/format.ts";
import { listRuns, recordPipelineRun } from "../runner/history/record.ts";
import { InvalidStageError } from "../runner/registry.ts";
import { writePipelineReport } from "../runner/report/write.ts";
import { runPipeline } from "../runner/run/variants.ts";
import { defineStage } from "../runner/stage.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";

/** Word counts of its `text` parameter: metrics no engine could know by name. */
const tally = defineStage({
  name: "tally",
  version: 1,
  description: "Counts the words of a text",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: {
      text: { type: "string", default: "a b a", description: "The text" },
      headline: { type: "string", description: "A headline the file names, if any" },
    },
  },
  inputs: {},
  outputs: {
    top: { type: "file", description: "The most frequent word", extension: ".txt" },
    counts: {
      type: "metrics",
      description: "Counts of words",
      extension: ".json",
      headline: "distinct",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const words = ctx.params.text.split(" ");
    const distinct = new Set(words).size;
    await Deno.writeTextFile(ctx.output("top"), words[0]!);
    // `f1` is a name the engine once showed for any stage; here it is one number among others.
    const metrics = {
      ...(ctx.params.headline ? { headline: ctx.params.headline } : {}),
      words: words.length,
      f1: 0.25,
      distinct,
      share: distinct / words.length,
      note: "not a number",
    };
    await Deno.writeTextFile(ctx.output("counts"), JSON.stringify(metrics));
  },
});

/** Declares which numbers `runs` shows. */
const scored = defineStage({
  name: "scored",
  version: 1,
  description: "Writes a loss and an f1",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: {},
  outputs: {
    scores: { type: "metrics", description: "Scores", extension: ".json", columns: ["loss"] },
  },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("scores"), JSON.stringify({ f1: 0.5, loss: 0.75 }));
  },
});

const PIPELINE = `name: counting
stages:
  count: { uses: tally }
  score: { uses: scored }
  note: { uses: emit, with: { text: hi } }
`;

async function runAndRecord(dir: string, sets: string[]) {
  const registry = testRegistry().register(tally).register(scored);
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry, sets });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter() });
  await recordPipelineRun(pipeline, summary, 1);
  const report = await writePipelineReport(pipeline, summary, { seconds: 1 });
  return Deno.readTextFile(report);
}

Deno.test("runs shows a stage's declared headline first, then its columns or every number, and no other", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  await runAndRecord(dir, []);
  await runAndRecord(dir, ["stages.count.with.text=a b c a"]);
  const runs = await listRuns(`${dir}/.pipeline`, "counting");
  assert.equal(runs.length, 2);
  assert.deepEqual(runs[0]!.headline, ["count.distinct"]);
  const head = formatRuns(runs).split("\n")[0]!.split(/\s{2,}/);
  // tally declares no columns: its headline, then every number in the file's order; scored
  // declares `loss` only, so its f1 is not a column (nor is the engine's old favourite name).
  assert.deepEqual(head.slice(head.indexOf("count.text") + 1), [
    "count.distinct",
    "count.words",
    "count.f1",
    "count.share",
    "score.loss",
  ]);
  assert.match(formatRuns(runs).split("\n")[2]!, /\s3\s+4\s+0\.2500\s+0\.7500\s+0\.7500$/);
  // compare: the headline first, then every number by name.
  const c = compareRuns(runs[0]!, runs[1]!);
  assert.deepEqual(c.metrics.map((m) => m.name), [
    "count.distinct",
    "count.f1",
    "count.share",
    "count.words",
    "score.f1",
    "score.loss",
  ]);
  assert.match(formatComparison(c), /^metric .*\ncount\.distinct\s+2\s+3\s+\+1\n/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the report shows the metrics of a stage kind without sections of its own", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const page = await runAndRecord(dir, []);
  const section = (id: string) => {
    const at = page.indexOf(`<section id="${id}-metrics">`);
    return at < 0 ? undefined : page.slice(at, page.indexOf("</section>", at));
  };
  const count = section("count");
  assert.ok(count, "no metrics section for stage count");
  // Every number, the headline first and marked; a string of the file is not a metric.
  const rows = [...count.matchAll(/<tr><td>(.*?)<\/td><td class="num">(.*?)<\/td><\/tr>/g)]
    .map((m) => [m[1], m[2]]);
  assert.deepEqual(rows, [
    ["<b>distinct</b> (headline)", "2"],
    ["words", "3"],
    ["f1", "0.25"],
    ["share", "0.6667"],
  ]);
  assert.ok(section("score"), "no metrics section for stage score");
  // A stage without a metrics output gets none.
  assert.equal(section("note"), undefined);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a metrics file's own headline overrides the declared one; a name it lacks is none", () => {
  const spec = { type: "metrics", description: "m", headline: "b" };
  assert.equal(readMetrics(spec, { headline: "a", a: 1, b: 2 })!.headline, "a");
  assert.equal(readMetrics(spec, { headline: "zz", a: 1, b: 2 })!.headline, "b");
  assert.equal(readMetrics({ ...spec, headline: "c" }, { a: 1, b: 2 })!.headline, undefined);
  assert.deepEqual(readMetrics({ ...spec, columns: ["c", "a"] }, { a: 1, b: 2 })!.columns, [
    "b",
    "a",
  ]);
  assert.equal(readMetrics(spec, [1, 2]), undefined);
  assert.deepEqual(readMetrics(spec, { a: Infinity, b: "2", c: { d: 1 } })!.values, {});
});

Deno.test("a headline or columns on an output that is not of type metrics is refused at registration", () => {
  const base = {
    name: "odd",
    version: 1,
    description: "d",
    schema: { type: "object" },
    inputs: {},
    module: import.meta.url,
    run: () => Promise.resolve(),
  };
  const misplaced = defineStage({
    ...base,
    outputs: { text: { type: "file", description: "t", headline: "x" } },
  });
  assert.throws(
    () => testRegistry().register(misplaced),
    (e) =>
      e instanceof InvalidStageError &&
      e.message ===
        'Stage kind "odd" declares a headline or columns for its output "text" of type "file": ' +
          'an output of type "metrics" may name a headline (a string) and columns (strings)',
  );
  const notNames = { ...base, outputs: { m: { type: "metrics", description: "m", columns: "x" } } };
  assert.throws(() => testRegistry().register(notNames as never), InvalidStageError);
});
