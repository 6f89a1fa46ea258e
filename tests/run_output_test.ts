/**
 * `predict <pipeline.yaml> --run <id prefix>|last` (issue 25), in the engine: the output of a
 * type (`model`) of a recorded run, found through the key its stage had in that run, whatever
 * the file's parameters are now; and what it says when the run cannot give one.
 *
 * @module
 */

import assert from "node:assert/strict";
import { UserError } from "../runner/errors.ts";
import { listRuns } from "../runner/history/record.ts";
import { runOutput } from "../runner/ops/history.ts";
import { project, runScript } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

const PIPELINE = `name: fits
stages:
  a: { uses: emit, with: { text: Hi } }
  m: { uses: make-model, inputs: { text: a.text }, with: { size: 1 } }
`;

Deno.test("runOutput gives the model of the run named, by prefix or last, whatever the file says now", async () => {
  const dir = await project({ "deno.json": "{}", "pipeline.yaml": PIPELINE });
  const file = `${dir}/pipeline.yaml`;
  const find = (which: string, stage?: string) =>
    runOutput(file, which, {
      registry: testRegistry(),
      type: "model",
      ...(stage ? { stage } : {}),
    });
  const refused = (which: string, stage?: string) => find(which, stage).then(() => null, (e) => e);
  try {
    const none = await refused("last");
    assert.ok(none instanceof UserError);
    assert.equal(none.message, 'No run of "fits" is recorded: run it first (deno task run)');

    for (const size of [1, 3, 2]) {
      const out = await runScript(CLI, [
        "run",
        "pipeline.yaml",
        "--set",
        `stages.m.with.size=${size}`,
      ], dir);
      assert.equal(out.code, 0, out.stderr);
    }
    // A configuration run again, everything cached, is then the last one.
    assert.equal(
      (await runScript(CLI, ["run", "pipeline.yaml", "--set", "stages.m.with.size=3"], dir)).code,
      0,
    );
    const runs = await listRuns(`${dir}/.pipeline`, "fits");
    const bySize = (n: number) => runs.find((r) => r.params["m.size"] === n)!;
    const weights = async (which: string) =>
      Deno.readTextFile(`${(await find(which)).path}/weights.txt`);
    assert.equal(await weights("last"), "3");
    assert.equal(await weights(bySize(1).id.slice(0, 8)), "1");
    assert.equal(await weights(bySize(2).id.slice(0, 6)), "2");
    const found = await find("last");
    assert.deepEqual([found.run.id, found.stage, found.output], [bySize(3).id, "m", "model"]);
    assert.match(found.path, /\/\.pipeline\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}\.d$/);

    const noStage = await refused("last", "a");
    assert.equal(
      noStage.message,
      `Stage "a" of run ${
        bySize(3).id.slice(0, 8)
      } has no output of type "model": choose one of "m"`,
    );
    const unknown = await refused("ffffffff");
    assert.match(unknown.message, /^No run "ffffffff" in the history/);

    // Once gc removed a run's model, that run says so and what to do.
    const gc = await runScript(CLI, ["gc"], dir);
    assert.equal(gc.code, 0, gc.stderr);
    const gone = await refused(bySize(2).id.slice(0, 8));
    assert.match(
      gone.message,
      /^The model of run [0-9a-f]{8} is no longer in the cache \(removed since it ran\): run that configuration again/,
    );
    assert.equal(await weights(bySize(1).id.slice(0, 8)), "1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runOutput: a run in which the stage did not finish is refused, naming its status", async () => {
  const dir = await project({
    "deno.json": "{}",
    "pipeline.yaml": `name: broken
stages:
  f: { uses: fail }
  m: { uses: make-model, inputs: { text: f.text } }
`,
  });
  try {
    const out = await runScript(CLI, ["run", "pipeline.yaml"], dir);
    assert.equal(out.code, 1);
    const error = await runOutput(`${dir}/pipeline.yaml`, "last", {
      registry: testRegistry(),
      type: "model",
    }).then(() => null, (e) => e);
    assert.ok(error instanceof UserError);
    assert.match(
      error.message,
      /^Stage "m" did not finish in run [0-9a-f]{8} \(skipped\): pick another run: deno task runs .*pipeline\.yaml lists the runs$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
