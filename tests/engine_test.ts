import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { DuplicateStageError } from "../runner/registry.ts";
import { renderDag } from "../runner/graph/draw.ts";
import { emit, sleep, testRegistry } from "./testdata/engine/stages.ts";
import { memoryReporter, project, runProject } from "./_engine_helpers.ts";
import { runPipeline } from "../runner/run/variants.ts";

const CHAIN = `name: chain
vars: { greeting: Hello }
stages:
  first:
    uses: emit
    with: { text: "\${vars.greeting}" }
  second:
    uses: emit
    with: { text: World }
  lower:
    uses: lower
    inputs: { text: first.text }
  joined:
    uses: join
    inputs: { a: lower.text, b: second.text }
`;

Deno.test("a stage's key is pinned for a fixture", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const result = await runProject(dir);
  const first = result.stages.find((s) => s.id === "first")!;
  // sha256 of the sorted-key JSON of engine key version 1, kind "emit", version 1, code
  // sha256("{}") and packages {} (the fixture stages live outside this project root), params
  // {tag: "a" (default), text: "Hello"} and no inputs; computed independently with Python's
  // hashlib and json.dumps(sort_keys=True, separators=(",", ":")).
  assert.equal(first.key, "4ba755535c338e35e4c306e2a88fb33dc704c2cc4789efe46fb2bbdc833c25dc");
});

Deno.test("a second run executes nothing", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const one = await runProject(dir);
  assert.deepEqual(one.byId, { first: "ran", second: "ran", lower: "ran", joined: "ran" });
  const two = await runProject(dir);
  assert.deepEqual(two.byId, {
    first: "cached",
    second: "cached",
    lower: "cached",
    joined: "cached",
  });
  assert.equal(await Deno.readTextFile(`${dir}/out/chain/joined/text.txt`), "hello World");
});

Deno.test("a parameter change reruns exactly that stage and its dependents", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  await runProject(dir);
  const two = await runProject(dir, { sets: ["stages.second.with.text=Moon"] });
  assert.deepEqual(two.byId, { first: "cached", second: "ran", lower: "cached", joined: "ran" });
  assert.equal(await Deno.readTextFile(`${dir}/out/chain/joined/text.txt`), "hello Moon");
});

Deno.test("early cutoff: a rerun stage with identical outputs keeps its dependents cached", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  await runProject(dir);
  const two = await runProject(dir, { sets: ["vars.greeting=HELLO"] });
  assert.deepEqual(two.byId, { first: "ran", second: "cached", lower: "ran", joined: "cached" });
});

Deno.test("--only runs a stage and what it needs; --from runs it and what follows", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const only = await runProject(dir, { only: ["lower"] });
  assert.deepEqual(only.byId, { first: "ran", second: "skipped", lower: "ran", joined: "skipped" });
  const from = await runProject(dir, { from: "second" });
  assert.deepEqual(from.byId, { first: "cached", second: "ran", lower: "cached", joined: "ran" });
});

Deno.test("--force reruns everything, or one stage with early cutoff after it", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  await runProject(dir);
  const all = await runProject(dir, { force: true });
  assert.deepEqual(all.byId, { first: "ran", second: "ran", lower: "ran", joined: "ran" });
  const one = await runProject(dir, { force: ["first"] });
  assert.deepEqual(one.byId, { first: "ran", second: "cached", lower: "cached", joined: "cached" });
});

Deno.test("editing a file named by a path parameter reruns the stage that reads it", async () => {
  const dir = await project({
    "data.txt": "one",
    "pipeline.yaml":
      "name: files\nstages:\n  read:\n    uses: read\n    with: { path: data.txt }\n",
  });
  assert.equal((await runProject(dir)).byId.read, "ran");
  assert.equal((await runProject(dir)).byId.read, "cached");
  await Deno.writeTextFile(`${dir}/data.txt`, "two");
  assert.equal((await runProject(dir)).byId.read, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/files/read/text.txt`), "two");
});

Deno.test("a code change in a stage file reruns it", async () => {
  const stage = (suffix: string) => `
import { defineStage } from "${new URL("../mod.ts", import.meta.url).href}";
import { helper } from "./helper.ts";
export default defineStage({
  name: "custom", version: 1, description: "custom",
  schema: { type: "object" }, inputs: {},
  outputs: { text: { type: "text", description: "t" } },
  module: import.meta.url,
  async run(ctx) { await Deno.writeTextFile(ctx.output("text"), helper() + "${suffix}"); },
});`;
  const dir = await project({
    "deno.json": "{}",
    "my_stage.ts": stage("a"),
    "helper.ts": "export const helper = () => 'x';\n",
    "pipeline.yaml": "name: code\nstages:\n  custom:\n    uses: ./my_stage.ts\n",
  });
  assert.equal((await runProject(dir)).byId.custom, "ran");
  assert.equal((await runProject(dir)).byId.custom, "cached");
  // A fresh module URL is needed for Deno to see the edit; the key comes from the file content.
  await Deno.writeTextFile(`${dir}/helper.ts`, "export const helper = () => 'y';\n");
  assert.equal((await runProject(dir)).byId.custom, "ran");
});

Deno.test("independent stages run concurrently", async () => {
  const dir = await project({
    "pipeline.yaml": `name: par
stages:
  a: { uses: sleep, with: { ms: 300, name: a } }
  b: { uses: sleep, with: { ms: 300, name: b } }
`,
  });
  await runProject(dir, { jobs: 2 });
  const a = JSON.parse(await Deno.readTextFile(`${dir}/out/par/a/times.json`));
  const b = JSON.parse(await Deno.readTextFile(`${dir}/out/par/b/times.json`));
  assert.ok(a.start < b.end && b.start < a.end, "the two sleeps overlap in time");
  const dir2 = await project({ "pipeline.yaml": await Deno.readTextFile(`${dir}/pipeline.yaml`) });
  await runProject(dir2, { jobs: 1 });
  const c = JSON.parse(await Deno.readTextFile(`${dir2}/out/par/a/times.json`));
  const d = JSON.parse(await Deno.readTextFile(`${dir2}/out/par/b/times.json`));
  assert.ok(c.end <= d.start || d.end <= c.start, "--jobs 1 runs one at a time");
});

Deno.test("a failing stage is named, its dependents skipped, finished stages stay cached", async () => {
  const dir = await project({
    "pipeline.yaml": `name: failing
stages:
  ok: { uses: emit, with: { text: fine } }
  bad: { uses: fail, inputs: { text: ok.text } }
  after: { uses: lower, inputs: { text: bad.text } }
`,
  });
  const one = await runProject(dir);
  assert.deepEqual(one.byId, { ok: "ran", bad: "failed", after: "skipped" });
  const bad = one.stages.find((s) => s.id === "bad")!;
  assert.match(bad.error ?? "", /boom/);
  const two = await runProject(dir);
  assert.equal(two.byId.ok, "cached");
});

Deno.test("a damaged cache object is detected and recomputed", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  await runProject(dir);
  const runs = [...Deno.readDirSync(`${dir}/.pipeline/runs`)];
  let damaged = 0;
  for (const entry of runs) {
    const record = JSON.parse(Deno.readTextFileSync(`${dir}/.pipeline/runs/${entry.name}`));
    if (record.stage !== "second") continue;
    const hash = record.outputs.text.hash as string;
    const path = `${dir}/.pipeline/objects/${hash.slice(0, 2)}/${hash}`;
    await Deno.writeTextFile(path, "tampered!");
    damaged++;
  }
  assert.equal(damaged, 1);
  const two = await runProject(dir);
  assert.equal(two.byId.second, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/chain/second/text.txt`), "World");
});

Deno.test("registering a stage name twice is an error", () => {
  const registry = testRegistry();
  assert.throws(() => registry.register(emit), DuplicateStageError);
  registry.register(emit, { override: true });
});

Deno.test("dry run reports what would run without running or locking", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const dry = await runProject(dir, { dryRun: true });
  assert.equal(dry.byId.first, "would-run");
  assert.equal(dry.stages.find((s) => s.id === "first")!.reason, "never run");
  await assert.rejects(Deno.stat(`${dir}/out`));
  await runProject(dir);
  const changed = await runProject(dir, { dryRun: true, sets: ["stages.second.with.tag=b"] });
  assert.equal(changed.byId.second, "would-run");
  assert.equal(
    changed.stages.find((s) => s.id === "second")!.reason,
    'parameter "tag" changed ("a" -> "b")',
  );
});

Deno.test("the DAG renders as mermaid and dot", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry() });
  const mermaid = renderDag(pipeline, "mermaid");
  assert.match(mermaid, /^flowchart TD/);
  assert.match(mermaid, /lower -->\|text\| joined/);
  assert.match(renderDag(pipeline, "dot"), /lower -> joined \[label="text"\];/);
});

Deno.test("runs write outputs under out/<pipeline>/<stage>/<output>", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry() });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter() });
  const joined = summary.stages.find((s) => s.id === "joined")!;
  assert.match(joined.outputs.text!, /out\/chain\/joined\/text\.txt$/);
});

Deno.test("a remembered check is not trusted once a file it named is gone", async () => {
  const dir = await project({
    "data.txt": "one",
    "pipeline.yaml":
      "name: files\nstages:\n  read:\n    uses: read\n    with: { path: data.txt }\n",
  });
  await runProject(dir);
  await Deno.remove(`${dir}/data.txt`);
  await assert.rejects(
    loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry() }),
    /File "data.txt" does not exist/,
  );
});

Deno.test("a stage's code is its module and what it imports, loads or starts as a worker", async () => {
  const { moduleFiles } = await import("../runner/keys/code_index.ts");
  const dir = await project({
    "a.ts": [
      'import { b } from "./b.ts";',
      'import type { E } from "./e.ts";',
      'export const c = () => import("./c.ts");',
      'export const w = () => new Worker(new URL("./d.ts", import.meta.url), { type: "module" });',
      'import "npm:left-pad";',
    ].join("\n"),
    "b.ts": 'export { x as b } from "./f.ts";',
    "c.ts": "",
    "d.ts": "",
    "e.ts": "export type E = 1;",
    "f.ts": "export const x = 1;",
  });
  const files = await moduleFiles(`file://${dir}/a.ts`, dir);
  assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), [
    "a.ts",
    "b.ts",
    "c.ts",
    "d.ts",
    "f.ts",
  ]);
});

Deno.test("stages that name the same exclusive resource never overlap, whatever --jobs allows", async () => {
  const alone = { ...sleep, name: "sleep-alone", exclusive: "tfjs" };
  const registry = testRegistry().register(alone);
  const dir = await project({
    "pipeline.yaml": `name: excl
stages:
  a: { uses: sleep-alone, with: { ms: 300, name: a } }
  b: { uses: sleep-alone, with: { ms: 300, name: b } }
  c: { uses: sleep, with: { ms: 300, name: c } }
`,
  });
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry });
  await runPipeline(pipeline, { reporter: memoryReporter(), jobs: 3 });
  const times = (id: string) =>
    JSON.parse(Deno.readTextFileSync(`${dir}/out/excl/${id}/times.json`));
  const [a, b, c] = [times("a"), times("b"), times("c")];
  assert.ok(a.end <= b.start || b.end <= a.start, "the two tfjs stages ran one after the other");
  assert.ok(c.start < Math.max(a.end, b.end) && Math.min(a.start, b.start) < c.end, "c overlapped");
  await Deno.remove(dir, { recursive: true });
});
