/**
 * A run's outcome is never misreported (issue 23): what `--dry-run` says would run, and how a
 * stage's own mistakes are reported.
 *
 * @module
 */

import assert from "node:assert/strict";
import { project, runScript } from "./_engine_helpers.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

const CHAIN = `name: chain
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text } }
  c: { uses: lower, inputs: { text: b.text } }
`;

Deno.test("issue 23 item 9: --dry-run of a pipeline that never ran lists every stage with its reason", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const dry = await runScript(CLI, ["run", "pipeline.yaml", "--dry-run"], dir);
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stderr.split("\n").filter((l) => l.includes("would run"));
  assert.deepEqual(lines, [
    "  would run  a: never run",
    '  would run  b: never run; upstream "a" would run first',
    '  would run  c: never run; upstream "b" would run first',
    "3 would run, 0 cached, 0 skipped (dry run: nothing ran)",
  ]);
  // `status` gives the same reasons.
  const status = await runScript(CLI, ["status", "pipeline.yaml", "--json"], dir);
  const rows = JSON.parse(status.stdout).stages as { id: string; reasons: string[] }[];
  assert.deepEqual(rows.map((r) => r.reasons), [
    ["never run"],
    ["never run", 'upstream "a" would run first'],
    ["never run", 'upstream "b" would run first'],
  ]);
  // Once a ran, a changed parameter of a is explained, and what follows waits for it.
  assert.equal((await runScript(CLI, ["run", "pipeline.yaml"], dir)).code, 0);
  const changed = await runScript(
    CLI,
    ["run", "pipeline.yaml", "--dry-run", "--set", "stages.a.with.text=Yo"],
    dir,
  );
  assert.match(changed.stderr, /^ {2}would run {2}a: parameter "text" changed \("Hi" -> "Yo"\)$/m);
  assert.match(changed.stderr, /^ {2}would run {2}b: upstream "a" would run first$/m);
  assert.match(changed.stderr, /^ {2}would run {2}c: upstream "b" would run first$/m);
});
