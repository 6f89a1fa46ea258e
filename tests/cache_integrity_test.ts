/**
 * Cache integrity (issue 11, items 1-4, 7 and 11): nothing read back from `.pipeline/` is
 * trusted unchecked, damaged objects are found and replaced, and `out/` keeps what the user put
 * there. Each test tampers with one kind of cache file the way a hostile user (or bit rot)
 * would.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Cache } from "../runner/store/cache.ts";
import { loadPipeline } from "../runner/config/load.ts";
import { verifyCache } from "../runner/ops/verify.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { faultRegistry } from "./testdata/engine/fault_stages.ts";
import type { RunOptions } from "../runner/run/options.ts";
import { runPipeline } from "../runner/run/variants.ts";

/** Runs `pipeline.yaml` of a project with the fault-test stage kinds. */
async function run(
  dir: string,
  options: Partial<RunOptions> & { sets?: string[] } = {},
) {
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, {
    registry: faultRegistry(),
    sets: options.sets ?? [],
  });
  const reporter = memoryReporter();
  const summary = await runPipeline(pipeline, { reporter, ...options });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId, lines: reporter.lines };
}

/** The run record of a stage (the one file in runs/ naming it). */
// deno-lint-ignore no-explicit-any
function recordOf(dir: string, stage: string): { path: string; record: Record<string, any> } {
  for (const entry of Deno.readDirSync(`${dir}/.pipeline/runs`)) {
    const path = `${dir}/.pipeline/runs/${entry.name}`;
    const record = JSON.parse(Deno.readTextFileSync(path));
    if (record.stage === stage) return { path, record };
  }
  throw new Error(`no record of ${stage}`);
}

function objectPath(dir: string, output: { hash: string; kind: string }): string {
  const suffix = output.kind === "dir" ? ".d" : "";
  return `${dir}/.pipeline/objects/${output.hash.slice(0, 2)}/${output.hash}${suffix}`;
}

/** Flips one byte of a file and puts its mtime back, as a careful tamperer would. */
async function flipByte(path: string, at = 10): Promise<void> {
  const info = await Deno.stat(path);
  const bytes = await Deno.readFile(path);
  bytes[at] = bytes[at]! ^ 0x01;
  await Deno.writeFile(path, bytes);
  await Deno.utime(path, info.atime!, info.mtime!);
  const after = await Deno.stat(path);
  assert.equal(after.size, info.size);
  assert.equal(after.mtime!.getTime(), info.mtime!.getTime(), "mtime restored");
}

/**
 * Makes `.pipeline/stat.json` vouch for the current (damaged) bytes of a file under its
 * original hash: damage that no stat can see, such as bit rot under the file system.
 */
async function forgeStat(dir: string, path: string, hash: string): Promise<void> {
  const statPath = `${dir}/.pipeline/stat.json`;
  const entries = JSON.parse(await Deno.readTextFile(statPath));
  const info = await Deno.stat(path);
  const mtime = info.mtime!.getTime();
  entries[path] = {
    size: info.size,
    mtime,
    ctime: info.ctime?.getTime() ?? mtime,
    ino: info.ino ?? 0,
    hash,
    checked: Date.now() + 3_600_000,
  };
  await Deno.writeTextFile(statPath, JSON.stringify(entries));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A big JSON document (past the size up to which objects are reread on every run). */
const BIG = `name: big
stages:
  doc: { uses: json-out, with: { count: 12000 } }
  parse: { uses: parse, inputs: { doc: doc.doc } }
`;

Deno.test("item 1: a run record whose hash climbs out of the cache is a miss; status deletes nothing", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "integrity-" });
  const dir = `${sandbox}/proj`;
  await Deno.mkdir(`${sandbox}/victim.d`, { recursive: true });
  await Deno.writeTextFile(`${sandbox}/victim.d/keep.txt`, "precious");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    "name: p\nstages:\n  a: { uses: emit, with: { text: hi } }\n",
  );
  await run(dir);
  const { path, record } = recordOf(dir, "a");
  // objects/<..>/<../../victim>.d is <sandbox>/victim.d
  record.outputs.text = { hash: "../../victim", kind: "dir" };
  await Deno.writeTextFile(path, JSON.stringify(record));

  const dry = await run(dir, { dryRun: true });
  assert.equal(dry.byId.a, "would-run");
  assert.equal(await Deno.readTextFile(`${sandbox}/victim.d/keep.txt`), "precious");
  const again = await run(dir);
  assert.equal(again.byId.a, "ran");
  assert.equal(await Deno.readTextFile(`${sandbox}/victim.d/keep.txt`), "precious");
  assert.equal(await Deno.readTextFile(`${dir}/out/p/a/text.txt`), "hi");

  const cache = await Cache.open(`${dir}/.pipeline`);
  for (const bad of ["../../victim", "AB".repeat(32), "ab", `${"a".repeat(63)}/`]) {
    assert.throws(() => cache.objectPath({ hash: bad, kind: "file" }), /Not a cache object/);
  }
  assert.throws(
    () => cache.objectPath({ hash: "a".repeat(64), kind: "link" as "file" }),
    /Not a cache object/,
  );
});

Deno.test("item 1: a dry run leaves a damaged object where it is", async () => {
  const dir = await project({
    "pipeline.yaml": "name: p\nstages:\n  a: { uses: emit, with: { text: hello world } }\n",
  });
  await run(dir);
  const object = objectPath(dir, recordOf(dir, "a").record.outputs.text);
  await Deno.writeTextFile(object, "tampered");
  assert.equal((await run(dir, { dryRun: true })).byId.a, "would-run");
  assert.equal(await Deno.readTextFile(object), "tampered", "nothing deleted by a dry run");
  assert.equal((await run(dir)).byId.a, "ran");
  assert.equal(await Deno.readTextFile(object), "hello world", "the run replaced it");
});

Deno.test("item 2: a byte flipped in an object with its mtime restored is found (ctime)", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  await sleep(1200); // past the racy window: the next run trusts the stat it records
  assert.deepEqual((await run(dir)).byId, { doc: "cached", parse: "cached" });
  const output = recordOf(dir, "doc").record.outputs.doc;
  const object = objectPath(dir, output);
  assert.ok((await Deno.stat(object)).size > 256 * 1024, "big enough to be trusted by stat");
  await sleep(1100); // so that the flip's ctime is in another second than the entry's
  await flipByte(object);
  const status = await run(dir, { dryRun: true });
  assert.equal(status.byId.doc, "would-run", "status sees the damage");
  const again = await run(dir);
  assert.equal(again.byId.doc, "ran");
  assert.equal(again.byId.parse, "cached", "the rerun made the same bytes: early cutoff");
  JSON.parse(await Deno.readTextFile(object));
  JSON.parse(await Deno.readTextFile(`${dir}/out/big/doc/doc.json`));
});

Deno.test("item 2: --force replaces a damaged object that its stat entry still vouches for", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  const output = recordOf(dir, "doc").record.outputs.doc;
  const object = objectPath(dir, output);
  const good = await Deno.readTextFile(object);
  await flipByte(object);
  await forgeStat(dir, object, output.hash);
  assert.equal((await run(dir)).byId.doc, "cached", "the damage is invisible to the stat");
  const forced = await run(dir, { force: ["doc"] });
  assert.equal(forced.byId.doc, "ran");
  assert.equal(await Deno.readTextFile(object), good, "the object was replaced");
  assert.equal(await Deno.readTextFile(`${dir}/out/big/doc/doc.json`), good);
});

Deno.test("item 2: small objects are reread on every run, whatever their stat says", async () => {
  const dir = await project({
    "pipeline.yaml": "name: p\nstages:\n  a: { uses: emit, with: { text: hello world } }\n",
  });
  await run(dir);
  const output = recordOf(dir, "a").record.outputs.text;
  const object = objectPath(dir, output);
  await flipByte(object, 2);
  await forgeStat(dir, object, output.hash);
  assert.equal((await run(dir)).byId.a, "ran");
  assert.equal(await Deno.readTextFile(object), "hello world");
});

Deno.test("item 2: a consumer that fails on a damaged object gets it recomputed next time", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  const output = recordOf(dir, "doc").record.outputs.doc;
  const object = objectPath(dir, output);
  const bytes = await Deno.readFile(object);
  bytes[0] = 0x21; // "{" -> "!": no longer JSON
  await Deno.writeFile(object, bytes);
  await forgeStat(dir, object, output.hash);
  const failing = await run(dir, { sets: ["stages.parse.with.note=again"] });
  assert.deepEqual(failing.byId, { doc: "cached", parse: "failed" });
  assert.ok(
    failing.lines.some((l) => /cached output "doc" of doc, read by parse, is damaged/.test(l)),
    failing.lines.join("\n"),
  );
  const next = await run(dir, { sets: ["stages.parse.with.note=again"] });
  assert.deepEqual(next.byId, { doc: "ran", parse: "ran" });
  assert.equal(await Deno.readTextFile(`${dir}/out/big/parse/count.txt`), "12000");
});

Deno.test("item 2: verify rereads every object, names the stage, and --repair removes the damage", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  const clean = await verifyCache(`${dir}/.pipeline`);
  assert.deepEqual(clean.problems, []);
  assert.equal(clean.records, 2);
  const output = recordOf(dir, "doc").record.outputs.doc;
  const object = objectPath(dir, output);
  await flipByte(object);
  await forgeStat(dir, object, output.hash);
  const found = await verifyCache(`${dir}/.pipeline`);
  assert.deepEqual(
    found.problems.map((p) => [p.problem, p.stage, p.output]),
    [["damaged", "doc", "doc"]],
  );
  assert.equal(found.repaired, false);
  await Deno.stat(object); // still there: verify alone changes nothing
  const repaired = await verifyCache(`${dir}/.pipeline`, { repair: true });
  assert.equal(repaired.repaired, true);
  await assert.rejects(Deno.stat(object));
  assert.deepEqual((await verifyCache(`${dir}/.pipeline`)).problems, []);
  const next = await run(dir);
  assert.equal(next.byId.doc, "ran");
  assert.equal(next.byId.parse, "cached");
  JSON.parse(await Deno.readTextFile(object));
});

Deno.test("item 3: an input edited in place, same size, mtime restored, reruns its stage", async () => {
  const dir = await project({
    "data.txt": "one",
    "pipeline.yaml": "name: files\nstages:\n  read: { uses: read, with: { path: data.txt } }\n",
  });
  await run(dir);
  await sleep(1200);
  assert.equal((await run(dir)).byId.read, "cached");
  await sleep(1100);
  const info = await Deno.stat(`${dir}/data.txt`);
  await Deno.writeTextFile(`${dir}/data.txt`, "two");
  await Deno.utime(`${dir}/data.txt`, info.atime!, info.mtime!);
  assert.equal((await run(dir)).byId.read, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/files/read/text.txt`), "two");
});

const CHAIN = `name: chain
stages:
  a: { uses: emit, with: { text: Alpha } }
  b: { uses: emit, with: { text: Beta } }
  low: { uses: lower, inputs: { text: a.text } }
`;

Deno.test("item 4: run records of the wrong shape are cache misses", async () => {
  for (
    const bad of [
      "{}",
      "[]",
      "null",
      '{"outputs":null}',
      "not json",
      (r: Record<string, unknown>) => JSON.stringify({ ...r, outputs: {} }),
      (r: Record<string, unknown>) => JSON.stringify({ ...r, outputs: { text: { hash: 5 } } }),
      (r: Record<string, unknown>) => JSON.stringify({ ...r, key: "0".repeat(64) }),
    ]
  ) {
    const dir = await project({ "pipeline.yaml": CHAIN });
    await run(dir);
    const { path, record } = recordOf(dir, "a");
    await Deno.writeTextFile(path, typeof bad === "string" ? bad : bad(record));
    const again = await run(dir);
    assert.deepEqual(again.byId, { a: "ran", b: "cached", low: "cached" }, String(bad));
    assert.equal(await Deno.readTextFile(`${dir}/out/chain/low/text.txt`), "alpha");
  }
});

Deno.test("item 4: a record filed under another stage's key is not that stage's result", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  await run(dir);
  const a = recordOf(dir, "a");
  const b = recordOf(dir, "b");
  await Deno.copyFile(a.path, b.path); // b's key now holds a's record (and a's output)
  const again = await run(dir);
  assert.equal(again.byId.b, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/chain/b/text.txt`), "Beta");
});

Deno.test("item 4: state/ and stat.json of the wrong shape are ignored", async () => {
  const states = ["{}", "[]", '{"key":"x","code":null}', "7"];
  const stats = ["[]", '{"/x": 1}', '{"/x": {"hash": 5}}', "null", "garbage"];
  for (let i = 0; i < Math.max(states.length, stats.length); i++) {
    const dir = await project({ "pipeline.yaml": CHAIN });
    await run(dir);
    const state = `${dir}/.pipeline/state/chain`;
    for (const entry of Deno.readDirSync(state)) {
      await Deno.writeTextFile(`${state}/${entry.name}`, states[i % states.length]!);
    }
    let text = stats[i % stats.length]!;
    if (text.startsWith('{"/x"')) {
      // Also break every real entry's shape.
      const entries = JSON.parse(await Deno.readTextFile(`${dir}/.pipeline/stat.json`));
      for (const k of Object.keys(entries)) entries[k] = { hash: entries[k].hash };
      text = JSON.stringify({ ...entries, ...JSON.parse(text) });
    }
    await Deno.writeTextFile(`${dir}/.pipeline/stat.json`, text);
    const status = await run(dir, { dryRun: true });
    assert.deepEqual(status.byId, { a: "cached", b: "cached", low: "cached" });
    const again = await run(dir);
    assert.deepEqual(again.byId, { a: "cached", b: "cached", low: "cached" });
    const changed = await run(dir, { dryRun: true, sets: ["stages.a.with.text=Gamma"] });
    assert.equal(changed.byId.a, "would-run");
    const entries = JSON.parse(await Deno.readTextFile(`${dir}/.pipeline/stat.json`));
    assert.ok(!Array.isArray(entries) && typeof entries === "object");
    for (const entry of Object.values(entries) as Record<string, unknown>[]) {
      assert.match(String(entry.hash), /^[0-9a-f]{64}$/);
    }
  }
});

const MODEL = `name: m
stages:
  train: { uses: many, with: { files: 4 } }
`;

Deno.test("item 7: a file the user adds in an output directory survives cached runs and reruns", async () => {
  const dir = await project({ "pipeline.yaml": MODEL });
  await run(dir);
  await Deno.writeTextFile(`${dir}/out/m/train/model/NOTES.md`, "my notes");
  const cached = await run(dir);
  assert.equal(cached.byId.train, "cached");
  assert.equal(await Deno.readTextFile(`${dir}/out/m/train/model/NOTES.md`), "my notes");
  assert.ok(cached.lines.some((l) => /NOTES\.md is not part of output .*: kept/.test(l)));
  // A new result with fewer files: the engine removes its own stale files, not the user's.
  const rerun = await run(dir, { sets: ["stages.train.with.files=2"] });
  assert.equal(rerun.byId.train, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/m/train/model/NOTES.md`), "my notes");
  await assert.rejects(Deno.stat(`${dir}/out/m/train/model/f2.txt`));
  assert.equal(await Deno.readTextFile(`${dir}/out/m/train/model/f0.txt`), "file 0\n");
  assert.equal(await Deno.readTextFile(`${dir}/out/m/train/summary.txt`), "2 files");
});

Deno.test("item 7: an edited output file is kept with a warning; deleting it or --force restores it", async () => {
  const dir = await project({ "pipeline.yaml": MODEL });
  await run(dir);
  const summary = `${dir}/out/m/train/summary.txt`;
  await Deno.writeTextFile(summary, "my edit");
  const cached = await run(dir);
  assert.equal(cached.byId.train, "cached");
  assert.equal(await Deno.readTextFile(summary), "my edit");
  assert.ok(
    cached.lines.some((l) => /summary\.txt was changed .*--force train/.test(l)),
    cached.lines.join("\n"),
  );
  const forced = await run(dir, { force: ["train"] });
  assert.equal(forced.byId.train, "ran");
  assert.equal(await Deno.readTextFile(summary), "4 files");
  await Deno.writeTextFile(summary, "edited again");
  await Deno.remove(summary);
  await run(dir);
  assert.equal(await Deno.readTextFile(summary), "4 files");
});

Deno.test("item 7: temp files left by a killed materialisation are removed at the next run", async () => {
  const dir = await project({ "pipeline.yaml": MODEL });
  await run(dir);
  // The engine's temp names under out/ (materialise.ts OUT_TEMP_NAME), as a kill leaves them.
  const stale = [
    `${dir}/out/m/train/.nerpipe-tmp-999999999-${"0badcafe".repeat(4)}`,
    `${dir}/out/m/train/model/sub/.nerpipe-tmp-999999999-${"0badcafe".repeat(4)}`,
  ];
  for (const path of stale) await Deno.writeTextFile(path, "half");
  const again = await run(dir);
  assert.equal(again.byId.train, "cached");
  for (const path of stale) await assert.rejects(Deno.stat(path), path);
});

Deno.test("tamper: lock.info and tmp/ that are links out of the project are not followed", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "integrity-" });
  const dir = `${sandbox}/proj`;
  await Deno.mkdir(`${sandbox}/outside`);
  await Deno.writeTextFile(`${sandbox}/outside/info.txt`, "outside info");
  await Deno.writeTextFile(`${sandbox}/outside/keep.txt`, "outside file");
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, CHAIN);
  await run(dir);
  await Deno.remove(`${dir}/.pipeline/tmp`, { recursive: true });
  await Deno.symlink(`${sandbox}/outside`, `${dir}/.pipeline/tmp`);
  await Deno.symlink(`${sandbox}/outside/info.txt`, `${dir}/.pipeline/lock.info`);
  const again = await run(dir, { force: ["a"] });
  assert.equal(again.byId.a, "ran");
  assert.equal(await Deno.readTextFile(`${sandbox}/outside/info.txt`), "outside info");
  assert.equal(await Deno.readTextFile(`${sandbox}/outside/keep.txt`), "outside file");
  assert.ok((await Deno.lstat(`${dir}/.pipeline/tmp`)).isDirectory, "tmp is a directory again");
  // A lock.info that is a directory, and a tmp/ that is a file.
  await Deno.remove(`${dir}/.pipeline/tmp`, { recursive: true });
  await Deno.writeTextFile(`${dir}/.pipeline/tmp`, "not a directory");
  await Deno.mkdir(`${dir}/.pipeline/lock.info/deep`, { recursive: true });
  const third = await run(dir, { force: ["b"] });
  assert.deepEqual(third.byId, { a: "cached", b: "ran", low: "cached" });
  assert.equal(await Deno.readTextFile(`${dir}/out/chain/low/text.txt`), "alpha");
});

Deno.test("tamper: an object directory with a file added, or a file object replaced by a link", async () => {
  const sandbox = await Deno.makeTempDir({ prefix: "integrity-" });
  const dir = `${sandbox}/proj`;
  await Deno.mkdir(dir);
  await Deno.writeTextFile(`${sandbox}/secret.txt`, "secret");
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, MODEL);
  await run(dir);
  const { model, summary } = recordOf(dir, "train").record.outputs;
  await Deno.writeTextFile(`${objectPath(dir, model)}/sub/extra.txt`, "injected");
  await Deno.remove(objectPath(dir, summary));
  await Deno.symlink(`${sandbox}/secret.txt`, objectPath(dir, summary));
  const again = await run(dir);
  assert.equal(again.byId.train, "ran");
  await assert.rejects(Deno.stat(`${objectPath(dir, model)}/sub/extra.txt`));
  await assert.rejects(Deno.stat(`${dir}/out/m/train/model/sub/extra.txt`));
  assert.ok((await Deno.lstat(objectPath(dir, summary))).isFile);
  assert.equal(await Deno.readTextFile(`${sandbox}/secret.txt`), "secret");
  assert.equal(await Deno.readTextFile(`${dir}/out/m/train/summary.txt`), "4 files");
  assert.deepEqual((await verifyCache(`${dir}/.pipeline`)).problems, []);
});

Deno.test("item 2: the verify command exits 1 naming the stage, --repair removes, then 0", async () => {
  const { runScript } = await import("./_engine_helpers.ts");
  const cliPath = new URL("./testdata/engine/fault_stages.ts", import.meta.url).pathname;
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  assert.equal((await runScript(cliPath, ["verify"], dir)).code, 0);
  const output = recordOf(dir, "doc").record.outputs.doc;
  await flipByte(objectPath(dir, output));
  const found = await runScript(cliPath, ["verify", "pipeline.yaml"], dir);
  assert.equal(found.code, 1, found.stderr);
  assert.match(found.stdout, /^damaged +\.pipeline\/objects\/.* output "doc" of stage "doc"$/m);
  const repaired = await runScript(cliPath, ["verify", "--repair"], dir);
  assert.equal(repaired.code, 1);
  assert.match(repaired.stdout, /removed them/);
  const clean = await runScript(cliPath, ["verify"], dir);
  assert.equal(clean.code, 0, clean.stdout);
  assert.match(clean.stdout, /all intact/);
});
