/**
 * The stand-in of `deno task bench --serve` (bench/_standin_serve.ts): the serve command with
 * workers that take a set time for every batch and find no entity, whatever the text.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServe } from "./_serve.ts";
import { MODEL } from "./_serve_inproc.ts";

const STAND_IN = new URL("../bench/_standin_serve.ts", import.meta.url).pathname;
const PROGRAM = ["run", "--allow-all", STAND_IN];

Deno.test("bench's stand-in serves the model's description, takes its set time for a batch and finds nothing", async () => {
  const served = await startServe(
    [MODEL, "--workers", "1"],
    { NERPIPE_BENCH_BATCH_MS: "30,5" },
    PROGRAM,
  );
  try {
    const health = await (await fetch(new URL("health", served.url))).json();
    assert.equal(health.ready, true);
    assert.ok(health.labels.includes("PS"), JSON.stringify(health.labels));
    const texts = ["서울에서 김민준을 만났다.", "Leo Smith lives in Lagos."];
    const start = performance.now();
    const response = await fetch(new URL("predict", served.url), {
      method: "POST",
      body: JSON.stringify({ inputs: texts }),
    });
    const took = performance.now() - start;
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), [[], []]);
    // 30 ms for the batch and 5 for each of its two texts, on the clock: never less.
    assert.ok(took >= 40, `answered in ${took.toFixed(1)} ms`);
  } finally {
    const { code } = await served.stop();
    assert.equal(code, 0);
  }
});

Deno.test("bench's stand-in refuses to start without its batch time", async () => {
  for (const value of [undefined, "fast", "-1,0"]) {
    const env: Record<string, string> = value === undefined
      ? {}
      : { NERPIPE_BENCH_BATCH_MS: value };
    await assert.rejects(startServe([MODEL], env, PROGRAM), (e: unknown) => {
      assert.match((e as Error).message, /NERPIPE_BENCH_BATCH_MS must be "a,b"/);
      return true;
    });
  }
});
