import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import {
  findRun,
  listRuns,
  pipelineRun,
  recordPipelineRun,
  recordRun,
} from "../runner/history/record.ts";
import { UserError } from "../runner/errors.ts";
import { defineStage } from "../runner/stage.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";
import { runPipeline } from "../runner/run/variants.ts";
import { compareRuns } from "../runner/history/compare.ts";
import { formatComparison, formatRuns } from "../runner/history/format.ts";

/** A stage kind whose metrics are a function of its parameter, so runs differ. */
const score = defineStage({
  name: "score",
  version: 1,
  description: "Writes metrics that depend on rate",
  schema: { type: "object", properties: { rate: { type: "number", default: 0.1 } } },
  inputs: {},
  outputs: { metrics: { type: "metrics", description: "Metrics", extension: ".json" } },
  module: import.meta.url,
  async run(ctx) {
    const f1 = Math.round(1000 * (1 - Math.abs(ctx.params.rate - 0.01) * 10)) / 1000;
    await Deno.writeTextFile(
      ctx.output("metrics"),
      JSON.stringify({ headline: "f1", f1, loss: ctx.params.rate * 2, backend: "cpu" }),
    );
  },
});

const PIPELINE = [
  "name: sweep",
  "stages:",
  "  score:",
  "    uses: score",
  "    with: { rate: 0.01 }",
  "  note:",
  "    uses: emit",
  "    with: { text: hello }",
  "",
].join("\n");

async function runWith(dir: string, sets: string[]) {
  const registry = testRegistry().register(score);
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry, sets });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter() });
  await recordPipelineRun(pipeline, summary, 1.5);
  return summary;
}

Deno.test("runs records each configuration once, with the parameters that differ and the metrics", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  await runWith(dir, []);
  await runWith(dir, ["stages.score.with.rate=0.05"]);
  await runWith(dir, ["stages.score.with.rate=0.02"]);
  // The first configuration again: all cached, so it keeps its entry (and its figures).
  const again = await runWith(dir, []);
  assert.ok(again.stages.every((s) => s.status === "cached"));
  const runs = await listRuns(`${dir}/.pipeline`, "sweep");
  assert.equal(runs.length, 3);
  assert.deepEqual(runs.map((r) => r.params["score.rate"]), [0.01, 0.05, 0.02]);
  assert.deepEqual(runs.map((r) => r.metrics["score.f1"]), [1, 0.6, 0.9]);
  assert.deepEqual(runs[0]!.headline, ["score.f1"]);
  assert.ok(runs[0]!.last_seen >= runs[2]!.finished);
  const text = formatRuns(runs);
  const lines = text.split("\n");
  assert.equal(lines.length, 4);
  // One pipeline: no pipeline column. Parameters as set, metrics to 4 decimals: the headline,
  // then the output's other numbers (it declares no columns).
  assert.match(
    lines[0]!,
    /^run\s+finished \(UTC\)\s+time\s+status\s+score\.rate\s+score\.f1\s+score\.loss$/,
  );
  assert.match(
    lines[2]!,
    new RegExp(`^${runs[1]!.id.slice(0, 8)}\\s+\\d{4}-.* ran\\s+0\\.05\\s+0\\.6000\\s+0\\.1000$`),
  );
  // note.text is the same in every run, so it is not a column.
  assert.doesNotMatch(text, /note\.text/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("compare shows metrics with deltas and the differing parameters", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  await runWith(dir, []);
  await runWith(dir, ["stages.score.with.rate=0.05"]);
  const runs = await listRuns(`${dir}/.pipeline`);
  const [a, b] = [findRun(runs, runs[0]!.id.slice(0, 6)), findRun(runs, runs[1]!.id.slice(0, 6))];
  const c = compareRuns(a, b);
  const f1 = c.metrics.find((m) => m.name === "score.f1")!;
  assert.equal(f1.a, 1);
  assert.equal(f1.b, 0.6);
  assert.ok(Math.abs(f1.delta! + 0.4) < 1e-12);
  assert.deepEqual(c.params, [{ name: "score.rate", a: 0.01, b: 0.05 }]);
  const text = formatComparison(c);
  // The headline metric is the first row, before score.loss.
  assert.match(text, /^metric .*\nscore\.f1\s+1\s+0\.6000\s+-0\.4000\nscore\.loss /);
  assert.match(text, /score\.rate\s+0\.01\s+0\.05$/m);
  assert.match(text, /^time \(s\)\s+1\.5\s+1\.5\s+±0\.0$/m);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("run ids: a unique prefix names a run; unknown, ambiguous or malformed ones are user errors", async () => {
  const base = {
    pipeline: "p",
    file: "p.yaml",
    seconds: 1,
    params: {},
    metrics: {},
  };
  const runs = await Promise.all(
    ["a", "b", "c"].map((k) =>
      pipelineRun({ ...base, stages: [{ id: "s", kind: "k", status: "ran", seconds: 1, key: k }] })
    ),
  );
  for (const r of runs) assert.equal(findRun(runs, r.id.slice(0, 10)), r);
  assert.throws(() => findRun(runs, "ffffffffffff0"), UserError);
  assert.throws(() => findRun(runs, "../etc"), UserError);
  assert.throws(() => findRun(runs, ""), UserError);
});

Deno.test("the history ignores files it did not write: wrong shape, wrong name, or wrong pipeline", async () => {
  const dir = await Deno.makeTempDir();
  const run = await pipelineRun({
    pipeline: "p",
    file: "p.yaml",
    seconds: 1,
    params: { s: { x: 1 } },
    stages: [{ id: "s", kind: "k", status: "ran", seconds: 1, key: "k" }],
    metrics: { "s.metrics": { values: { f1: 0.5 }, columns: ["f1"] } },
  });
  await recordRun(dir, run);
  const h = `${dir}/history/p`;
  await Deno.writeTextFile(`${h}/${"0".repeat(64)}.json`, "[]");
  await Deno.writeTextFile(`${h}/${"1".repeat(64)}.json`, JSON.stringify(run));
  await Deno.writeTextFile(`${h}/${"2".repeat(64)}.json`, "{ not json");
  assert.deepEqual((await listRuns(dir, "p")).map((r) => r.id), [run.id]);
  await assert.rejects(() => listRuns(dir, "../x"), UserError);
  await Deno.remove(dir, { recursive: true });
});
