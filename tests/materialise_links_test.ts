/**
 * `out/` without copies (issue 13): an output file of `LINK_MIN_BYTES` or more is a read-only
 * hard link to its cache object, a smaller one a copy; a link that fails (another device) is a
 * copy, turned into a link by a later run that can make one; a write in place through a link
 * damages the object, which is found and made again, and the changed file is moved aside.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { faultRegistry } from "./testdata/engine/fault_stages.ts";
import { LINK_MIN_BYTES } from "../runner/materialise/place.ts";
import type { RunOptions } from "../runner/run/options.ts";
import { runPipeline } from "../runner/run/variants.ts";

/** A JSON document past LINK_MIN_BYTES, and a small count of its items. */
const BIG = `name: big
stages:
  doc: { uses: json-out, with: { count: 12000 } }
  parse: { uses: parse, inputs: { doc: doc.doc } }
`;

async function run(dir: string, options: Partial<RunOptions> = {}) {
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: faultRegistry() });
  const reporter = memoryReporter();
  const summary = await runPipeline(pipeline, { reporter, ...options });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId, lines: reporter.lines };
}

/** The object file of a stage's output, from its run record. */
function objectOf(dir: string, stage: string, output: string): string {
  for (const entry of Deno.readDirSync(`${dir}/.pipeline/runs`)) {
    const record = JSON.parse(Deno.readTextFileSync(`${dir}/.pipeline/runs/${entry.name}`));
    if (record.stage !== stage) continue;
    const { hash, kind } = record.outputs[output];
    return `${dir}/.pipeline/objects/${hash.slice(0, 2)}/${hash}${kind === "dir" ? ".d" : ""}`;
  }
  throw new Error(`no record of ${stage}`);
}

/** Runs `body` with `Deno.link` failing as it does across devices (EXDEV). */
async function withoutLinks<T>(body: () => Promise<T>): Promise<T> {
  const link = Deno.link;
  let calls = 0;
  Object.defineProperty(Deno, "link", {
    value: (from: string, to: string) => {
      calls++;
      return Promise.reject(
        Object.assign(new Error(`Invalid cross-device link (os error 18): ${from} -> ${to}`), {
          code: "EXDEV",
        }),
      );
    },
    configurable: true,
    writable: true,
  });
  try {
    return await body();
  } finally {
    Object.defineProperty(Deno, "link", { value: link, configurable: true, writable: true });
    assert.ok(calls > 0, "the materialiser tried to link");
  }
}

Deno.test("a large output is a read-only hard link to its object; a small one is a copy", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  assert.deepEqual((await run(dir)).byId, { doc: "ran", parse: "ran" });
  const object = objectOf(dir, "doc", "doc");
  const out = `${dir}/out/big/doc/doc.json`;
  const [o, f] = [await Deno.stat(object), await Deno.stat(out)];
  assert.ok(o.size >= LINK_MIN_BYTES, "the fixture is large enough to be linked");
  assert.equal(f.ino, o.ino, "out/ file and object are one file");
  assert.ok(f.nlink! >= 2, `nlink ${f.nlink}`);
  assert.equal(f.mode! & 0o222, 0, "read-only");
  const small = await Deno.stat(`${dir}/out/big/parse/count.txt`);
  assert.notEqual(small.ino, (await Deno.stat(objectOf(dir, "parse", "count"))).ino);
  assert.equal(small.mode! & 0o200, 0o200, "a copy stays writable");
  // A cached run leaves the link as it is.
  assert.deepEqual((await run(dir)).byId, { doc: "cached", parse: "cached" });
  assert.equal((await Deno.stat(out)).ino, o.ino);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/.pipeline/out/big.json`));
  assert.deepEqual(manifest.links, { "doc/doc.json": o.ino });
});

Deno.test("a link that fails (cross-device) is a copy; a later run makes the link", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await withoutLinks(() => run(dir));
  const object = objectOf(dir, "doc", "doc");
  const out = `${dir}/out/big/doc/doc.json`;
  assert.notEqual((await Deno.stat(out)).ino, (await Deno.stat(object)).ino, "a copy");
  assert.equal(await Deno.readTextFile(out), await Deno.readTextFile(object));
  assert.equal((await Deno.stat(out)).mode! & 0o200, 0o200, "a copy is writable");
  // Links work again: the cached run replaces the copy (an older engine's too) by a link.
  const again = await run(dir);
  assert.deepEqual(again.byId, { doc: "cached", parse: "cached" });
  assert.equal((await Deno.stat(out)).ino, (await Deno.stat(object)).ino, "now a link");
  assert.ok(!again.lines.some((l) => /changed|kept/.test(l)), again.lines.join("\n"));
});

/** /dev/shm when it is on another device than the temp directories the projects are made in. */
const shm = (() => {
  try {
    const probe = Deno.makeTempDirSync({ prefix: "links-probe-" });
    const dev = Deno.statSync(probe).dev;
    Deno.removeSync(probe);
    return Deno.statSync("/dev/shm").isDirectory && Deno.statSync("/dev/shm").dev !== dev
      ? "/dev/shm"
      : undefined;
  } catch {
    return undefined;
  }
})();

Deno.test({
  name: "out/ on another device than the cache: copies",
  ignore: shm === undefined,
  fn: async () => {
    const dir = await project({ "pipeline.yaml": BIG });
    const outDir = await Deno.makeTempDir({ dir: shm!, prefix: "links-out-" });
    try {
      assert.deepEqual((await run(dir, { outDir })).byId, { doc: "ran", parse: "ran" });
      const object = objectOf(dir, "doc", "doc");
      const out = `${outDir}/big/doc/doc.json`;
      assert.equal(await Deno.readTextFile(out), await Deno.readTextFile(object));
      assert.equal((await Deno.stat(out)).nlink, 1);
      const again = await run(dir, { outDir });
      assert.deepEqual(again.byId, { doc: "cached", parse: "cached" });
      assert.ok(!again.lines.some((l) => /changed|kept/.test(l)), again.lines.join("\n"));
    } finally {
      await Deno.remove(outDir, { recursive: true });
    }
  },
});

Deno.test("a write through a linked out/ file: the object is made again, the edit moved aside", async () => {
  const dir = await project({ "pipeline.yaml": BIG });
  await run(dir);
  const object = objectOf(dir, "doc", "doc");
  const out = `${dir}/out/big/doc/doc.json`;
  const good = await Deno.readTextFile(out);
  // What an editor that writes in place does, past the read-only mode (as root, or `:w!`).
  await Deno.chmod(out, 0o644);
  await Deno.writeTextFile(out, "my edit");
  assert.equal(await Deno.readTextFile(object), "my edit", "the object was written too");
  const again = await run(dir);
  assert.equal(again.byId.doc, "ran", "the damaged object was found");
  assert.equal(again.byId.parse, "cached", "same bytes again: early cutoff");
  assert.equal(await Deno.readTextFile(object), good);
  assert.equal(await Deno.readTextFile(out), good, "the pipeline's version is back");
  assert.equal((await Deno.stat(out)).ino, (await Deno.stat(object)).ino, "linked again");
  const aside = [...Deno.readDirSync(`${dir}/out/big/doc`)]
    .map((e) => e.name).filter((n) => n.startsWith("doc.json.changed-"));
  assert.equal(aside.length, 1, aside.join(", "));
  assert.equal(await Deno.readTextFile(`${dir}/out/big/doc/${aside[0]}`), "my edit");
  assert.ok(
    again.lines.some((l) => /doc\.json .*was written in place.*moved aside/.test(l)),
    again.lines.join("\n"),
  );
  // A file the user puts in place of the link (a new file, as most editors save) is theirs.
  await Deno.remove(out);
  await Deno.writeTextFile(out, "mine");
  const third = await run(dir);
  assert.deepEqual(third.byId, { doc: "cached", parse: "cached" });
  assert.equal(await Deno.readTextFile(out), "mine");
  assert.ok(
    third.lines.some((l) => /doc\.json was changed .*kept/.test(l)),
    third.lines.join("\n"),
  );
});
