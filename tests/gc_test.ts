/**
 * `gc` (issue 25) with real runs of the CLI: what the project's pipelines reference now is kept
 * (every variant of a `matrix:`; with `--all-variants`, every configuration the history
 * records), the rest of `runs/`, `objects/` and `checkpoints/` is removed; an object a kept
 * record names never is; `--dry-run` removes nothing; nothing is removed through a link; the
 * cache lock is held; the history stays.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Cache } from "../runner/store/cache.ts";
import { project, runScript } from "./_engine_helpers.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

/** The permissions of `deno task gc` (deno.json), so that the test runs what the task runs. */
const GC_PERMISSIONS = ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

const cli = (dir: string, args: string[], permissions?: string[]) =>
  runScript(CLI, args, dir, permissions);

const gc = (dir: string, ...args: string[]) => cli(dir, ["gc", ...args], GC_PERMISSIONS);

/** Runs a pipeline with `--json`; returns each stage's key by id. */
async function run(dir: string, ...args: string[]): Promise<Record<string, string>> {
  const out = await cli(dir, ["run", ...args, "--json"]);
  assert.equal(out.code, 0, out.stderr);
  const json = JSON.parse(out.stdout);
  const stages = json.stages ?? json.variants.flatMap((v: { stages: unknown[] }) => v.stages);
  return Object.fromEntries(stages.map((s: { id: string; key: string }) => [s.id, s.key]));
}

/** The names of the files in a folder of the cache (sorted), none when it is not there. */
function names(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/** The content of every file object, sorted. */
function objectTexts(dir: string): string[] {
  const texts: string[] = [];
  for (const shard of names(`${dir}/.pipeline/objects`)) {
    for (const name of names(`${dir}/.pipeline/objects/${shard}`)) {
      texts.push(Deno.readTextFileSync(`${dir}/.pipeline/objects/${shard}/${name}`));
    }
  }
  return texts.sort();
}

const PIPELINE = `name: g
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text } }
`;

Deno.test("gc keeps what the pipeline uses now and removes the rest; an object a kept record names stays", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  try {
    const base = await run(dir, "pipeline.yaml");
    // `HI` lower-cases to the object of `Hi`'s `b`: a removed record names a kept object.
    await run(dir, "pipeline.yaml", "--set", "stages.a.with.text=HI");
    await run(dir, "pipeline.yaml", "--set", "stages.a.with.text=Other");
    assert.equal(names(`${dir}/.pipeline/runs`).length, 6);
    assert.deepEqual(objectTexts(dir), ["HI", "Hi", "Other", "hi", "other"]);

    const dry = await gc(dir, "--dry-run");
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^ {2}pipeline\.yaml {2}2 results \(as it is now\)$/m);
    assert.match(dry.stdout, /^would remove 4 results \(a 2, b 2\), 3 objects \(12 B\)$/m);
    assert.match(dry.stdout, /^dry run: nothing was removed$/m);
    assert.equal(names(`${dir}/.pipeline/runs`).length, 6);
    assert.equal(objectTexts(dir).length, 5);

    const done = await gc(dir);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^removed 4 results \(a 2, b 2\), 3 objects \(12 B\)$/m);
    assert.match(done.stdout, /^kept 2 results, 2 objects \(4 B\)/m);
    assert.deepEqual(names(`${dir}/.pipeline/runs`), [`${base.a}.json`, `${base.b}.json`].sort());
    assert.deepEqual(objectTexts(dir), ["Hi", "hi"]);
    // The history is kept whole: runs and compare still see the three configurations.
    const runs = await cli(dir, ["runs", "--json"]);
    assert.equal(JSON.parse(runs.stdout).length, 3);
    // What is kept is a cache hit; what was removed runs again.
    const again = await cli(dir, ["run", "pipeline.yaml"]);
    assert.match(again.stderr, /0 ran, 2 cached/);
    const other = await cli(dir, ["run", "pipeline.yaml", "--set", "stages.a.with.text=HI"]);
    assert.match(other.stderr, /2 ran, 0 cached/);
    // A second gc finds nothing more than that run.
    assert.match((await gc(dir)).stdout, /^removed 2 results/m);
    assert.match((await gc(dir)).stdout, /^removed 0 results, 0 objects \(0 B\)$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc keeps every variant of a matrix; --all-variants also keeps the configurations the history records", async () => {
  const dir = await project({
    "deno.json": "{}",
    "pipelines/m.yaml": `name: m
matrix:
  stages.a.with.text: [x, y]
stages:
  a: { uses: emit, with: { text: x } }
  b: { uses: lower, inputs: { text: a.text } }
`,
  });
  try {
    await run(dir, "pipelines/m.yaml");
    await run(dir, "pipelines/m.yaml", "--set", "stages.a.with.text=Z");
    assert.equal(names(`${dir}/.pipeline/runs`).length, 6);

    const all = await gc(dir, "--all-variants");
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /^ {2}pipelines\/m\.yaml {2}6 results \(as it is now, and its/m);
    assert.match(all.stdout, /^removed 0 results, 0 objects/m);
    assert.equal(names(`${dir}/.pipeline/runs`).length, 6);

    const now = await gc(dir);
    assert.match(now.stdout, /^ {2}pipelines\/m\.yaml {2}4 results \(as it is now\)$/m);
    assert.match(now.stdout, /^removed 2 results \(a 1, b 1\), 2 objects/m);
    assert.deepEqual(objectTexts(dir), ["x", "y"]);
    assert.match((await cli(dir, ["run", "pipelines/m.yaml"])).stderr, /0 ran, 4 cached/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc: a pipeline that cannot be checked keeps its recorded runs; files given limit what is kept; checkpoints of other keys go", async () => {
  const dir = await project({
    "deno.json": "{}",
    "data.txt": "data",
    "pipelines/one.yaml": "name: one\nstages:\n  a: { uses: emit, with: { text: One } }\n",
    "pipelines/two.yaml": "name: two\nstages:\n  r: { uses: read, with: { path: data.txt } }\n",
  });
  try {
    const one = await run(dir, "pipelines/one.yaml");
    const two = await run(dir, "pipelines/two.yaml");
    const stale = "0".repeat(64);
    for (const key of [stale, one.a!]) {
      await Deno.mkdir(`${dir}/.pipeline/checkpoints/${key}`, { recursive: true });
      await Deno.writeTextFile(`${dir}/.pipeline/checkpoints/${key}/state`, "x");
    }
    await Deno.remove(`${dir}/data.txt`);

    const out = await gc(dir);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^ {2}pipelines\/one\.yaml {2}1 result \(as it is now\)$/m);
    assert.match(
      out.stdout,
      /^ {2}pipelines\/two\.yaml {2}1 result \(its recorded runs': it cannot be checked now: .*File "data\.txt" does not exist/m,
    );
    assert.match(
      out.stdout,
      /^removed 0 results, 0 objects \(0 B\), 1 checkpoint folder \(1 B\)$/m,
    );
    assert.deepEqual(names(`${dir}/.pipeline/checkpoints`), [one.a]);

    // The files given are all that is kept.
    const only = await gc(dir, "pipelines/one.yaml");
    assert.match(only.stdout, /^keeping the results of 1 pipeline:$/m);
    assert.match(only.stdout, /^removed 1 result \(r 1\), 1 object/m);
    assert.deepEqual(names(`${dir}/.pipeline/runs`), [`${one.a}.json`]);
    assert.ok(two.r);

    // A file given that is not there is a mistake, not "keep nothing".
    const typo = await gc(dir, "pipelines/on.yaml");
    assert.equal(typo.code, 2);
    assert.equal(
      typo.stderr,
      'error: Pipeline file "pipelines/on.yaml" does not exist: check the path\n',
    );
    assert.deepEqual(names(`${dir}/.pipeline/runs`), [`${one.a}.json`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc with no pipeline to keep, or no cache, is exit 2 and removes nothing", async () => {
  const dir = await project({ "deno.json": "{}" });
  try {
    const none = await gc(dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^error: There is no cache at .*\.pipeline: run gc in the project/);
    await Deno.mkdir(`${dir}/.pipeline/runs`, { recursive: true });
    await Deno.writeTextFile(`${dir}/.pipeline/runs/${"1".repeat(64)}.json`, "{}");
    const empty = await gc(dir);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /^error: No pipeline file found in .*: name the pipeline files/);
    assert.equal(names(`${dir}/.pipeline/runs`).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc never removes through a link, and leaves what is not the engine's", async () => {
  const root = await Deno.makeTempDir({ prefix: "gc-links-" });
  const dir = `${root}/proj`;
  const outside = `${root}/outside`;
  await Deno.mkdir(`${outside}/folder`, { recursive: true });
  await Deno.writeTextFile(`${outside}/data.txt`, "outside");
  await Deno.writeTextFile(`${outside}/folder/kept.txt`, "outside");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/deno.json`, "{}");
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, PIPELINE);
  try {
    await run(dir, "pipeline.yaml");
    const objects = `${dir}/.pipeline/objects`;
    // A shard that is a link out of the project: refused before anything is removed.
    await Deno.symlink(`${outside}/folder`, `${objects}/ab`);
    const refused = await gc(dir);
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /^error: ".*objects\/ab" is a symbolic link to ".*outside\/folder"/,
    );
    await Deno.remove(`${objects}/ab`);

    // Links named like an unreferenced object and checkpoint (to a file outside, to a folder
    // inside): each link goes, not what it leads to.
    const hash = "cd".repeat(32);
    await Deno.mkdir(`${objects}/cd`);
    await Deno.symlink(`${outside}/data.txt`, `${objects}/cd/${hash}`);
    await Deno.mkdir(`${dir}/.pipeline/checkpoints`);
    await Deno.mkdir(`${dir}/mine`);
    await Deno.writeTextFile(`${dir}/mine/kept.txt`, "mine");
    await Deno.symlink(`${dir}/mine`, `${dir}/.pipeline/checkpoints/${hash}`);
    await Deno.symlink(`${outside}/data.txt`, `${dir}/.pipeline/checkpoints/${"ef".repeat(32)}`);
    // Files that are not named as the engine names its entries are left.
    await Deno.writeTextFile(`${objects}/cd/notes.txt`, "mine");
    await Deno.writeTextFile(`${dir}/.pipeline/runs/notes.json`, "{}");
    const done = await gc(dir);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^removed 0 results, 1 object \(0 B\), 2 checkpoint folders/m);
    assert.equal(Deno.readTextFileSync(`${outside}/data.txt`), "outside");
    assert.equal(Deno.readTextFileSync(`${outside}/folder/kept.txt`), "outside");
    assert.equal(Deno.readTextFileSync(`${dir}/mine/kept.txt`), "mine");
    assert.deepEqual(names(`${objects}/cd`), ["notes.txt"]);
    assert.deepEqual(names(`${dir}/.pipeline/checkpoints`), []);
    assert.ok(names(`${dir}/.pipeline/runs`).includes("notes.json"));
    assert.deepEqual(objectTexts(dir).filter((t) => t !== "mine"), ["Hi", "hi"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("gc holds the cache lock: it waits for a run that holds it", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  try {
    await run(dir, "pipeline.yaml");
    await run(dir, "pipeline.yaml", "--set", "stages.a.with.text=HI");
    // This process holds the lock as a run does (exclusive, lock.info written).
    const cache = await Cache.open(`${dir}/.pipeline`);
    await cache.lock(() => {});
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...GC_PERMISSIONS, CLI, "gc"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const first = await reader.read();
    assert.match(first.value ?? "", /^waiting for the cache lock held by pid \d+ since /);
    // While it waits, nothing is removed.
    assert.equal(names(`${dir}/.pipeline/runs`).length, 4);
    await cache.close();
    const [status, stdout] = await Promise.all([
      child.status,
      new Response(child.stdout).text(),
      reader.cancel(),
    ]);
    assert.equal(status.code, 0);
    assert.match(stdout, /^removed 2 results/m);
    assert.equal(names(`${dir}/.pipeline/runs`).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gc counts apart the bytes of a removed object that out/ still links to", async () => {
  const dir = await project({
    "deno.json": "{}",
    "big.txt": "x".repeat(300 * 1024),
    "pipeline.yaml":
      "name: big\nstages:\n  r: { uses: read, with: { path: big.txt, epochs: 1 } }\n",
  });
  try {
    await run(dir, "pipeline.yaml");
    // The last run's output, a hard link in out/ to its object, is not what the file uses now.
    await run(dir, "pipeline.yaml", "--set", "stages.r.with.epochs=2");
    const out = `${dir}/out/big/r/text.txt`;
    assert.equal(Deno.statSync(out).nlink, 2);
    const done = await gc(dir);
    assert.equal(done.code, 0, done.stderr);
    assert.match(
      done.stdout,
      /^removed 1 result \(r 1\), 1 object \(0 B, and 600\.0 KiB that out\/ still links to\)$/m,
    );
    assert.equal(Deno.statSync(out).nlink, 1);
    assert.equal(Deno.statSync(out).size, 600 * 1024);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
