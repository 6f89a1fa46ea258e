/**
 * A sweep's page, `out/<pipeline>/sweep.html`: every chart of the stages' sections overlaid
 * across the variants (a line per variant), a link to each variant's report, and left as it is
 * by a sweep in which everything was cached.
 *
 * @module
 */

import assert from "node:assert/strict";
import { main } from "../runner/cli/main.ts";
import { Registry } from "../runner/registry.ts";
import { defineStage } from "../runner/stage.ts";
import { trainSections } from "../stages/_report.ts";
import { project } from "./_engine_helpers.ts";
import { fakeTrainingLog } from "./_report_fixtures.ts";

const fakeTrain = defineStage({
  name: "sweep-train",
  version: 1,
  description: "Writes a training-log-shaped JSONL of 8 steps an epoch",
  schema: { type: "object", properties: { epochs: { type: "integer", default: 3 } } } as const,
  inputs: {},
  outputs: { log: { type: "train-log", description: "log", extension: ".jsonl" } },
  module: import.meta.url,
  async run(ctx) {
    const epochs = ctx.params.epochs;
    await Deno.writeTextFile(ctx.output("log"), fakeTrainingLog(8 * epochs, epochs));
  },
  report: (ctx) => trainSections(ctx),
});

const PIPELINE = `name: sw
stages:
  train: { uses: sweep-train, with: { epochs: 3 } }
`;

/** The `<figure>` of each chart, by its title. */
function figures(page: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of page.split("<figure").slice(1)) {
    const title = /<figcaption[^>]*>([^<]*)</.exec(f)?.[1]?.trim();
    if (title) out.set(title, f.slice(0, f.indexOf("</figure>")));
  }
  return out;
}

/** `[series name, vertex count]` of each line of a chart. */
const lines = (figure: string) =>
  [...figure.matchAll(/<polyline data-series="([^"]*)"[^>]* points="([^"]*)"/g)].map((
    m,
  ) => [m[1], m[2]!.split(" ").length]);

async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

Deno.test("a sweep writes sweep.html: each chart overlaid across the variants, a line per variant", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const registry = new Registry().register(fakeTrain);
  const file = `${dir}/pipeline.yaml`;
  try {
    const code = await quietly(() =>
      main(["run", file, "--quiet", "--set", "stages.train.with.epochs=2,3"], registry)
    );
    assert.equal(code, 0);
    const page = await Deno.readTextFile(`${dir}/out/sw/sweep.html`);
    assert.match(page, /Sweep report: sw/);
    // Each variant's own report is there, and linked.
    for (const label of ["epochs=2", "epochs=3"]) {
      await Deno.stat(`${dir}/out/sw/${label}/report.html`);
      assert.ok(page.includes(`href="${encodeURIComponent(label)}/report.html"`), label);
    }
    const charts = figures(page);
    // A chart of one series: one line per variant, each its variant's steps (16 and 24).
    assert.deepEqual(lines(charts.get("Loss per step")!), [["epochs=2", 16], ["epochs=3", 24]]);
    // A chart of several series: one overlay per series.
    assert.deepEqual(lines(charts.get("Gradient norm per step: after clipping")!), [
      ["epochs=2", 16],
      ["epochs=3", 24],
    ]);
    assert.deepEqual(lines(charts.get("Loss per epoch: validation")!), [
      ["epochs=2", 2],
      ["epochs=3", 3],
    ]);
    assert.deepEqual(lines(charts.get("Validation scores per epoch: exact-span F1")!), [
      ["epochs=2", 2],
      ["epochs=3", 3],
    ]);
    assert.ok(!charts.has("Loss per epoch"), "a chart of two series is overlaid per series");
    // The variants' colours differ.
    const colours = [...charts.get("Loss per step")!.matchAll(/<polyline[^>]* stroke="([^"]*)"/g)]
      .map((m) => m[1]);
    assert.equal(new Set(colours).size, 2);

    // Everything cached: the page is written once (it was of a sweep in which stages ran), then
    // left as it is (it would differ by its date only).
    const sweep = ["run", file, "--quiet", "--set", "stages.train.with.epochs=2,3"];
    await quietly(() => main(sweep, registry));
    const cached = await Deno.readTextFile(`${dir}/out/sw/sweep.html`);
    assert.match(cached, /<td class="num">0<\/td><td class="num">1<\/td>/, "ran 0, cached 1");
    const before = await Deno.stat(`${dir}/out/sw/sweep.html`);
    await new Promise((r) => setTimeout(r, 20));
    await quietly(() => main(sweep, registry));
    assert.equal(await Deno.readTextFile(`${dir}/out/sw/sweep.html`), cached);
    assert.deepEqual((await Deno.stat(`${dir}/out/sw/sweep.html`)).mtime, before.mtime);
    // Another sweep of the same pipeline: the page is of it.
    await quietly(() =>
      main(["run", file, "--quiet", "--set", "stages.train.with.epochs=1,2,3"], registry)
    );
    const again = figures(await Deno.readTextFile(`${dir}/out/sw/sweep.html`));
    assert.deepEqual(lines(again.get("Loss per step")!).map(([label]) => label), [
      "epochs=1",
      "epochs=2",
      "epochs=3",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a plain run writes no sweep page", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  try {
    const code = await quietly(() =>
      main(["run", `${dir}/pipeline.yaml`, "--quiet"], new Registry().register(fakeTrain))
    );
    assert.equal(code, 0);
    await Deno.stat(`${dir}/out/sw/report.html`);
    await assert.rejects(Deno.stat(`${dir}/out/sw/sweep.html`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
