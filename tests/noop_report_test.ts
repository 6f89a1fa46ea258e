/**
 * The run report on a no-op rerun (issue 13): a run in which every stage was cached with the
 * keys of the run the report was written for leaves `out/<pipeline>/report.html` as it is; any
 * other run (something ran, other keys, no report there) writes it. Nor is stat.json rewritten
 * when all a cached run did was reread small files that did not change.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { writePipelineReport } from "../runner/report/write.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";
import { StatCache } from "../runner/store/stat_cache.ts";
import { runPipeline } from "../runner/run/variants.ts";

const PIPELINE = `name: rep
stages:
  a: { uses: emit, with: { text: Hello } }
  b: { uses: lower, inputs: { text: a.text } }
`;

/** Runs the pipeline and writes its report; the report's inode (a rewrite is a new file). */
async function runAndReport(dir: string, sets: string[] = []) {
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry(), sets });
  const summary = await runPipeline(pipeline, { reporter: memoryReporter() });
  const path = await writePipelineReport(pipeline, summary, { seconds: 0.1 });
  return { statuses: summary.stages.map((s) => s.status), ino: (await Deno.stat(path)).ino, path };
}

Deno.test("a no-op rerun leaves the report of the same stages and keys as it is", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const first = await runAndReport(dir);
  assert.deepEqual(first.statuses, ["ran", "ran"]);
  assert.match(
    await Deno.readTextFile(first.path),
    /^<!DOCTYPE html>\n<!-- nerpipe report [0-9a-f]{64} -->\n<html/,
  );
  // Cached after a run that ran: the report changes (the stages are cached now).
  const second = await runAndReport(dir);
  assert.deepEqual(second.statuses, ["cached", "cached"]);
  assert.notEqual(second.ino, first.ino, "rewritten");
  assert.match(await Deno.readTextFile(second.path), /class="status-cached"/);
  // Cached again, same keys: left as it is.
  const third = await runAndReport(dir);
  assert.equal(third.ino, second.ino, "not rewritten");
  // Other keys (a stage ran): written.
  const changed = await runAndReport(dir, ["stages.a.with.text=Bye"]);
  assert.deepEqual(changed.statuses, ["ran", "ran"]);
  assert.notEqual(changed.ino, third.ino);
  assert.match(await Deno.readTextFile(changed.path), /Bye/);
  // Back to the first keys, all cached: the report (of other keys) is written.
  const back = await runAndReport(dir);
  assert.deepEqual(back.statuses, ["cached", "cached"]);
  assert.notEqual(back.ino, changed.ino);
  assert.doesNotMatch(await Deno.readTextFile(back.path), /Bye/);
  // A deleted report is written again.
  await Deno.remove(back.path);
  const restored = await runAndReport(dir);
  assert.match(await Deno.readTextFile(restored.path), /class="status-cached"/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a small file reread on a cache hit, unchanged, leaves stat.json as it is", async () => {
  const dir = await Deno.makeTempDir({ prefix: "noop-stat-" });
  const path = `${dir}/small.txt`;
  await Deno.writeTextFile(path, "small");
  await new Promise((r) => setTimeout(r, 1200)); // past the racy window of its ctime
  const first = new StatCache();
  const hash = await first.hashFile(path, Infinity);
  assert.ok(first.dirty);
  const again = new StatCache(JSON.parse(JSON.stringify(first)));
  assert.equal(await again.hashFile(path, Infinity), hash);
  assert.equal(again.dirty, false, "nothing new to save");
  await Deno.writeTextFile(path, "other");
  assert.notEqual(await again.hashFile(path, Infinity), hash);
  assert.ok(again.dirty, "a changed file is saved");
  await Deno.remove(dir, { recursive: true });
});
