import assert from "node:assert/strict";
import { PipelineValidationError, UserError } from "../runner/errors.ts";
import { listRuns } from "../runner/history/record.ts";
import { expandSweep, splitList } from "../runner/config/sweep.ts";
import { memoryReporter, project, runScript } from "./_engine_helpers.ts";
import { sweepRegistry } from "./testdata/engine/sweep_stages.ts";
import { runVariants, type VariantSummary } from "../runner/run/variants.ts";

const CLI = new URL("./testdata/engine/sweep_stages.ts", import.meta.url).pathname;

const PIPELINE = `name: sw
stages:
  prep: { uses: prepare }
  fit:
    uses: fit
    inputs: { text: prep.text }
    with: { rate: 0.1, ms: 300 }
`;

const MATRIX = `name: sw
matrix:
  stages.fit.with.rate: [0.1, 0.2, 0.3]
stages:
  prep: { uses: prepare }
  fit:
    uses: fit
    inputs: { text: prep.text }
    with: { rate: 0.5, ms: 300 }
`;

async function sweep(dir: string, sets: string[], jobs: number) {
  const found = await expandSweep(`${dir}/pipeline.yaml`, sets, { registry: sweepRegistry() });
  const reporter = memoryReporter();
  const done = await runVariants(found.variants, { reporter, jobs });
  return { found, done, lines: reporter.lines };
}

const status = (d: VariantSummary, id: string) => d.stages.find((s) => s.id === id)!.status;

async function times(dir: string, label: string): Promise<{ start: number; end: number }> {
  return JSON.parse(await Deno.readTextFile(`${dir}/out/sw/${label}/fit/times.json`));
}

/** What a three-value sweep must have done, however it was asked for. */
async function assertThreeVariants(dir: string, done: VariantSummary[], lines: string[]) {
  const labels = ["rate=0.1", "rate=0.2", "rate=0.3"];
  assert.deepEqual(done.map((d) => d.label), labels);
  // The shared upstream stage ran once; the other variants took its result.
  assert.deepEqual(done.map((d) => status(d, "prep")).sort(), ["cached", "cached", "ran"]);
  assert.deepEqual(done.map((d) => status(d, "fit")), ["ran", "ran", "ran"]);
  assert.equal(lines.filter((l) => /^ {2}running prep /.test(l)).length, 1);
  // Each variant's outputs are in its own directory, the plain run's place is left alone.
  for (const [i, label] of labels.entries()) {
    const metrics = JSON.parse(await Deno.readTextFile(`${dir}/out/sw/${label}/fit/metrics.json`));
    assert.equal(metrics.score, [0.9, 0.8, 0.7][i]);
    assert.equal(await Deno.readTextFile(`${dir}/out/sw/${label}/prep/text.txt`), "data");
    assert.ok(lines.some((l) => l.startsWith(`  ran     fit [${label}] in `)), lines.join("\n"));
  }
  await assert.rejects(Deno.stat(`${dir}/out/sw/fit`), Deno.errors.NotFound);
}

Deno.test("a --set list runs each variant: the shared stage once, the swept one three times at once with --jobs 3", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const { done, lines } = await sweep(dir, ["stages.fit.with.rate=0.1,0.2,0.3"], 3);
  await assertThreeVariants(dir, done, lines);
  const t = await Promise.all(["rate=0.1", "rate=0.2", "rate=0.3"].map((l) => times(dir, l)));
  for (const a of t) {
    for (const b of t) if (a !== b) assert.ok(a.start < b.end, "the three fits overlap in time");
  }
  // Everything is cached now: nothing runs twice, in any variant.
  const again = await sweep(dir, ["stages.fit.with.rate=0.1,0.2,0.3"], 3);
  assert.ok(again.done.every((d) => d.stages.every((s) => s.status === "cached")));

  // --jobs 1 over all variants: one fit at a time.
  const one = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const serial = await sweep(one, ["stages.fit.with.rate=0.1,0.2,0.3"], 1);
  // A stage's seconds are the time it ran, not the time it waited for a slot (about 0.3 s each,
  // while the last of the three waited 0.6 s for the other two).
  const seconds = serial.done.map((d) => d.stages.find((r) => r.id === "fit")!.seconds);
  assert.ok(seconds.every((x) => x >= 0.25 && x < 0.55), `fit seconds ${seconds.join(", ")}`);
  const s = (await Promise.all(["rate=0.1", "rate=0.2", "rate=0.3"].map((l) => times(one, l))))
    .sort((a, b) => a.start - b.start);
  assert.ok(s[0]!.end <= s[1]!.start && s[1]!.end <= s[2]!.start, "--jobs 1: one at a time");
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(one, { recursive: true });
});

Deno.test("a matrix: block sweeps like --set lists; --set of its path replaces the axis", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": MATRIX });
  const { found, done, lines } = await sweep(dir, [], 3);
  assert.equal(found.base.stages.get("fit")!.params.rate, 0.5);
  assert.deepEqual(found.variants.map((v) => v.overrides), [
    ["stages.fit.with.rate=0.1"],
    ["stages.fit.with.rate=0.2"],
    ["stages.fit.with.rate=0.3"],
  ]);
  await assertThreeVariants(dir, done, lines);
  // The command line wins: one value is no sweep, a list is the sweep.
  const fixed = await expandSweep(`${dir}/pipeline.yaml`, ["stages.fit.with.rate=0.4"], {
    registry: sweepRegistry(),
  });
  assert.equal(fixed.variants.length, 0);
  assert.equal(fixed.base.stages.get("fit")!.params.rate, 0.4);
  const product = await expandSweep(
    `${dir}/pipeline.yaml`,
    ["stages.fit.with.ms=10,20", "stages.prep.with.text=x,y"],
    { registry: sweepRegistry() },
  );
  // With a matrix axis, two --set lists: 3 x 2 x 2 variants, labels naming each value.
  assert.equal(product.variants.length, 12);
  assert.equal(product.variants[0]!.label, "rate=0.1,ms=10,text=x");
  assert.equal(product.variants[11]!.label, "rate=0.3,ms=20,text=y");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sweep values: top-level commas split, quotes and brackets do not; mistakes are user errors", async () => {
  assert.deepEqual(splitList("1e-3,5e-4,1e-4"), ["1e-3", "5e-4", "1e-4"]);
  assert.deepEqual(splitList('"a,b"'), ['"a,b"']);
  assert.deepEqual(splitList("'a,b',c"), ["'a,b'", "c"]);
  assert.deepEqual(splitList("[1,2],{x: 1, y: 2}"), ["[1,2]", "{x: 1, y: 2}"]);
  assert.deepEqual(splitList('"a\\",b",c'), ['"a\\",b"', "c"]);
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const file = `${dir}/pipeline.yaml`;
  const registry = sweepRegistry();
  // A quoted comma is one value, not a sweep.
  const literal = await expandSweep(file, ['stages.prep.with.text="a,b"'], { registry });
  assert.equal(literal.variants.length, 0);
  assert.equal(literal.base.stages.get("prep")!.params.text, "a,b");
  await assert.rejects(
    expandSweep(file, ["stages.fit.with.rate=0.1,,0.2"], { registry }),
    (e) =>
      e instanceof UserError &&
      /item 2 of the list is empty.*'stages\.fit\.with\.rate="a,b"'/.test(e.message),
  );
  await assert.rejects(
    expandSweep(file, ["stages.fit.with.rate=0.1,0.1"], { registry }),
    (e) => e instanceof UserError && /lists the value 0\.1 twice/.test(e.message),
  );
  // A bad value in one variant: nothing runs, the problem names the --set.
  await assert.rejects(
    expandSweep(file, ["stages.fit.with.rate=0.1,-1"], { registry }),
    (e) => e instanceof PipelineValidationError && e.diagnostics[0]!.file === "command line",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("matrix: mistakes are reported at file:line:col", async () => {
  const dir = await project({
    "deno.json": "{}",
    "pipeline.yaml": MATRIX.replace("[0.1, 0.2, 0.3]", "[0.1, -2]").replace(
      "matrix:\n",
      "matrix:\n  stages.fitt.with.rate: [1]\n",
    ),
  });
  const registry = sweepRegistry();
  const problems = async (text: string) => {
    await Deno.writeTextFile(`${dir}/pipeline.yaml`, text);
    try {
      await expandSweep(`${dir}/pipeline.yaml`, [], { registry, cacheDir: false });
    } catch (e) {
      if (e instanceof PipelineValidationError) return e.diagnostics;
      throw e;
    }
    assert.fail("expected a PipelineValidationError");
  };
  const text = await Deno.readTextFile(`${dir}/pipeline.yaml`);
  const unknown = await problems(text);
  assert.equal(unknown.length, 1);
  assert.match(unknown[0]!.message, /names unknown stage "fitt"/);
  assert.deepEqual([unknown[0]!.line, unknown[0]!.column], [3, 3]);
  assert.match(unknown[0]!.hint ?? "", /fit/);
  // A value the stage kind refuses: reported where the matrix lists it.
  const bad = await problems(text.replace("  stages.fitt.with.rate: [1]\n", ""));
  assert.equal(bad.length, 1);
  assert.equal(bad[0]!.file, `${dir}/pipeline.yaml`);
  assert.deepEqual([bad[0]!.line, bad[0]!.column], [3, 31]);
  const notList = await problems(text.replace("  stages.fitt.with.rate: [1]\n", "  vars.x: 3\n"));
  assert.match(notList[0]!.message, /Expected array/);
  assert.equal(notList[0]!.line, 3);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("CLI: a sweep's lines name the variant; runs shows the variants side by side; compare --last 2; exit codes", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const cli = (...args: string[]) => runScript(CLI, args, dir);
  const run = await cli("run", "pipeline.yaml", "--set", "stages.fit.with.rate=0.1,0.2,0.3");
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^pipeline sw \(pipeline\.yaml\), 3 variants: rate=0\.1 \| rate=0\.2 \| rate=0\.3$/m,
  );
  // Whichever variant got to prep first ran it; the other two say whose result they took.
  const ranFor = [
    ...run.stderr.matchAll(/^ {2}cached {2}prep \[(rate=0\.\d)\] \(ran for (rate=0\.\d)\)$/gm),
  ];
  assert.equal(ranFor.length, 2, run.stderr);
  assert.ok(ranFor.every((m) => m[1] !== m[2]) && ranFor[0]![2] === ranFor[1]![2]);
  assert.match(run.stderr, /^3 variants: 4 ran, 2 cached, 0 skipped, 0 failed in /m);
  for (const label of ["rate=0.1", "rate=0.2", "rate=0.3"]) {
    assert.match(run.stderr, new RegExp(`^report out/sw/${label}/report\\.html$`, "m"));
    await Deno.stat(`${dir}/out/sw/${label}/report.html`);
  }
  const history = await listRuns(`${dir}/.pipeline`, "sw");
  assert.equal(history.length, 3);
  assert.deepEqual(history.map((r) => r.variant).sort(), [
    ["stages.fit.with.rate=0.1"],
    ["stages.fit.with.rate=0.2"],
    ["stages.fit.with.rate=0.3"],
  ]);

  const runs = await cli("runs", "pipeline.yaml");
  assert.equal(runs.code, 0, runs.stderr);
  const rows = runs.stdout.trimEnd().split("\n");
  assert.equal(rows.length, 4);
  assert.match(rows[0]!, /^run +finished \(UTC\) +time +status +fit\.rate +fit\.score$/);
  const byRate = rows.slice(1).map((r) => r.split(/\s{2,}/)).sort((a, b) =>
    a[4]!.localeCompare(b[4]!)
  );
  assert.deepEqual(byRate.map((r) => [r[3], r[4], r[5]]), [
    ["ran", "0.1", "0.9000"],
    ["ran", "0.2", "0.8000"],
    ["ran", "0.3", "0.7000"],
  ]);
  const json = await cli("runs", "--json");
  assert.equal(JSON.parse(json.stdout).length, 3);

  const last = await cli("compare", "--last", "2", "pipeline.yaml");
  assert.equal(last.code, 0, last.stderr);
  assert.match(last.stdout, /^metric +\w{8} +\w{8} +change$/m);
  assert.match(last.stdout, /^fit\.score +0\.\d{4} +0\.\d{4} +[+-]0\.1000$/m);
  assert.match(last.stdout, /^fit\.rate +0\.\d +0\.\d$/m);
  const [a, b] = history.slice(-2).map((r) => r.id.slice(0, 6));
  const byId = await cli("compare", a!, b!, "--json");
  assert.equal(byId.code, 0, byId.stderr);
  assert.deepEqual(JSON.parse(byId.stdout).params.map((p: { name: string }) => p.name), [
    "fit.rate",
  ]);

  const missing = await cli("compare", "deadbeef", a!);
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /^error: No run "deadbeef" in the history: deno task runs lists them$/m,
  );
  assert.doesNotMatch(missing.stderr, /\n\s+at /);
  const bad = await cli("run", "pipeline.yaml", "--set", "stages.fit.with.rate=0.1,,0.2");
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^error: --set stages\.fit\.with\.rate=0\.1,,0\.2: item 2 of the list is empty/m,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("CLI: compare --last 2 with fewer than two runs is a user error", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const cli = (...args: string[]) => runScript(CLI, args, dir);
  const none = await cli("compare", "--last", "2", "pipeline.yaml");
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^error: Only 0 run\(s\) recorded/m);
  const empty = await cli("runs");
  assert.equal(empty.code, 0);
  assert.match(empty.stdout, /^no runs recorded yet/);
  await Deno.remove(dir, { recursive: true });
});
