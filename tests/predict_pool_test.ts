/**
 * A predictor pool (what `serve` runs): several workers, each with its own copy of the model,
 * answer as one predictor, with the same entities as a predictor in the calling thread.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPredictor } from "../ner/predict/mod.ts";
import { loadPredictorPool, MAX_RESTARTS, PoolFailedError } from "../ner/predict/pool.ts";
import { workerThreads, workerThreadsEnded } from "../runner/lib/workers.ts";
import { UserError } from "../runner/errors.ts";
import { until } from "./_serve_inproc.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MODEL = `${ROOT}tests/testdata/sample_tiny`;

const TEXTS = (await Deno.readTextFile(`${ROOT}data/sample/validation.txt`))
  .split("\n").filter((l) => l.startsWith("; ")).map((l) => l.slice(2)).slice(0, 24);

Deno.test("a pool of two workers gives the entities a predictor in this thread gives, each call's options its own", async () => {
  const here = await loadPredictor(MODEL, { backend: "wasm" });
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 2);
  try {
    assert.equal(pool.workers, 2);
    assert.deepEqual(pool.labels, here.labels);
    assert.equal(pool.backend.backend, "wasm");
    assert.equal(pool.boundaries.mode, here.boundaries.mode);
    assert.deepEqual([...pool.boundaries.tails].sort(), [...here.boundaries.tails].sort());
    // A long text is cut into windows as predict cuts it.
    const texts = [...TEXTS, TEXTS.slice(0, 12).join(" ")];
    const decode = texts.map((_, i) =>
      i % 3 === 0 ? { aggregation: "simple" as const } : { minScore: i % 3 === 1 ? 0.5 : 0 }
    );
    // Several calls at once go to both workers.
    const calls = [texts.slice(0, 9), texts.slice(9, 18), texts.slice(18)];
    const decodes = [decode.slice(0, 9), decode.slice(9, 18), decode.slice(18)];
    const found = (await Promise.all(calls.map((t, i) => pool.predict(t, decodes[i]!)))).flat();
    const want = await here.predict(texts, decode);
    // The same spans; scores to float32's precision (a batch's shape changes the order of
    // OpenBLAS's sums, and with it the last bits).
    const spans = (all: typeof found) => all.map((es) => es.map(({ score: _, ...rest }) => rest));
    assert.deepEqual(spans(found), spans(want));
    found.flat().forEach((e, i) => {
      const score = want.flat()[i]!.score;
      assert.ok(Math.abs(e.score - score) < 1e-5, `${e.text}: ${e.score} against ${score}`);
    });
    assert.ok(found.some((entities) => entities.length > 0), "the model finds entities");
    // The workers' tensors (the two copies of the weights) do not grow from call to call.
    const tensors = pool.tensors();
    assert.ok(tensors > 0);
    await Promise.all(calls.map((t) => pool.predict(t)));
    assert.equal(pool.tensors(), tensors);
  } finally {
    here.dispose();
    pool.dispose();
  }
});

Deno.test("a pool says what loadPredictor says of a directory it cannot load, and of a bad option", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const expected = await loadPredictor(dir).then(() => null, (e: Error) => e);
    assert.ok(expected instanceof UserError);
    await assert.rejects(() => loadPredictorPool(dir, {}, 2), (e: Error) => {
      assert.ok(e instanceof UserError, "a user's error (exit 2), not a crash");
      assert.equal(e.message, expected.message);
      return true;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 1);
  try {
    await assert.rejects(() => pool.predict(["a"], { minScore: 2 }), RangeError);
    // The worker still answers after a call failed.
    assert.equal((await pool.predict(["서울"])).length, 1);
  } finally {
    pool.dispose();
  }
  await assert.rejects(() => pool.predict(["a"]), /disposed/);
});

Deno.test("a pool gives a call to a free worker, never to one busy with a long call", async () => {
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 2);
  try {
    const order: string[] = [];
    const long = Array.from({ length: 40 }, () => TEXTS.join(" "));
    const started = performance.now();
    const calls = [pool.predict(long).then(() => order.push("long"))];
    for (let i = 0; i < 6; i++) {
      calls.push(pool.predict([TEXTS[i]!]).then(() => order.push(`short ${i}`)));
    }
    await Promise.all(calls);
    const took = performance.now() - started;
    // Each short call went to the free worker, in turn; none waited behind the long one.
    assert.deepEqual(
      order,
      [...Array.from({ length: 6 }, (_, i) => `short ${i}`), "long"],
      `in ${took.toFixed(0)} ms`,
    );
  } finally {
    pool.dispose();
  }
});

Deno.test("a pool's size may depend on the backend its first worker started", async () => {
  const seen: string[] = [];
  const pool = await loadPredictorPool(MODEL, { backend: "cpu" }, (backend) => {
    seen.push(backend);
    return backend === "cpu" ? 1 : 3;
  });
  try {
    assert.deepEqual(seen, ["cpu"]);
    assert.equal(pool.workers, 1);
    assert.equal((await pool.predict(["서울에서"])).length, 1);
  } finally {
    pool.dispose();
  }
});

/** A pool worker that crashes on a call whose first text is {@link CRASH}. */
const CRASHING = new URL("./_crashing_pool_worker.ts", import.meta.url);
/** The text that crashes it (its own constant: importing it here would start a worker's code). */
const CRASH = "crash the worker";

Deno.test("a worker that crashes fails only its own call and is replaced; the pool answers on", async () => {
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 2, {
    workerModule: CRASHING,
  });
  try {
    const want = await pool.predict(TEXTS.slice(0, 4));
    const crash = pool.predict([CRASH]);
    // The other worker answers while the crashed one is replaced.
    const meanwhile = pool.predict(TEXTS.slice(0, 4));
    await assert.rejects(crash, /A predictor's worker failed: .*crashed on cue/);
    assert.deepEqual(await meanwhile, want);
    assert.equal(pool.state().restarts, 1);
    // The replacement loads the model, then takes calls as the first worker did.
    await until(() => pool.state().ready === 2, "the replacement is ready");
    assert.deepEqual(pool.state(), { workers: 2, ready: 2, restarts: 1, failure: null });
    const both = await Promise.all([
      pool.predict(TEXTS.slice(0, 4)),
      pool.predict(TEXTS.slice(0, 4)),
    ]);
    assert.deepEqual(both, [want, want]);
  } finally {
    pool.dispose();
  }
});

Deno.test("a pool whose workers keep crashing stops, and says why to every call", async () => {
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 1, {
    workerModule: CRASHING,
  });
  try {
    // Each crash is followed by a fresh worker, up to MAX_RESTARTS in the window.
    for (let i = 0; i < MAX_RESTARTS; i++) {
      await assert.rejects(pool.predict([CRASH]), /crashed on cue/);
      assert.equal((await pool.predict(["서울에서"]))[0]!.length, 1, `after crash ${i + 1}`);
    }
    assert.equal(pool.state().restarts, MAX_RESTARTS);
    await assert.rejects(pool.predict([CRASH]), /crashed on cue/);
    const state = pool.state();
    assert.equal(state.ready, 0);
    assert.match(state.failure!, /crashed 6 times in 60 s .*: restart the server/);
    await assert.rejects(pool.predict(["서울에서"]), (e: Error) => {
      assert.ok(e instanceof PoolFailedError);
      assert.equal(e.message, state.failure);
      return true;
    });
  } finally {
    pool.dispose();
  }
});

Deno.test("a pool stops when a crashed worker's replacement cannot load the model", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await copyDir(MODEL, dir);
    const pool = await loadPredictorPool(dir, { backend: "wasm" }, 1, { workerModule: CRASHING });
    try {
      await Deno.remove(`${dir}/config.json`);
      await assert.rejects(pool.predict([CRASH]), /crashed on cue/);
      await assert.rejects(pool.predict(["서울에서"]), PoolFailedError);
      assert.match(
        pool.state().failure!,
        /^A worker crashed \(.*crashed on cue\) and its replacement could not load the model: .*config\.json/,
      );
    } finally {
      pool.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function copyDir(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

Deno.test({
  name:
    "workerThreadsEnded waits until terminated workers' threads are gone (serve exits after it)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 2);
    assert.ok(workerThreads()! >= 2);
    pool.dispose();
    // terminate() returns before the threads have torn their isolates down.
    await workerThreadsEnded();
    assert.equal(workerThreads(), 0);
  },
});
