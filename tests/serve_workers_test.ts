/**
 * `serve` with its model in a pool of workers when a worker crashes: the request whose text
 * crashed it fails, the others are answered, the worker is replaced; when the pool stops (a
 * replacement cannot load the model), `/health` says so with 503 and so does every request.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPredictorPool, type PredictorPool } from "../ner/predict/pool.ts";
import { startServer } from "../serve/server.ts";
import { MODEL, post, until } from "./_serve_inproc.ts";

/** The text tests/_crashing_pool_worker.ts crashes on. */
const CRASH = "crash the worker";
const CRASHING = new URL("./_crashing_pool_worker.ts", import.meta.url);

async function serve(pool: PredictorPool) {
  return await startServer((texts, decode) => pool.predict(texts, decode), {
    model: "sample_tiny",
    backend: pool.backend,
    tags: pool.labels,
    config: {},
    decoding: {},
    source: null,
    workers: () => pool.state(),
  }, { host: "127.0.0.1", port: 0, limits: { inFlight: 2 } });
}

interface Health {
  status: string;
  ready: boolean;
  error?: string;
  workers?: { total: number; ready: number; restarts: number };
}

async function health(url: string): Promise<{ status: number; body: Health }> {
  const response = await fetch(new URL("health", url));
  return { status: response.status, body: await response.json() };
}

Deno.test("serve: a crashed worker fails only the request whose text crashed it, and is replaced", async () => {
  const pool = await loadPredictorPool(MODEL, { backend: "wasm" }, 2, {
    workerModule: CRASHING,
  });
  const server = await serve(pool);
  try {
    const before = await post(server.url, { inputs: "서울에서 김민준을 만났다." });
    assert.equal(before.status, 200);
    // One request with the crashing text beside a good one, another request at once.
    const [crashed, other] = await Promise.all([
      post(server.url, { inputs: ["서울에서 김민준을 만났다.", CRASH] }),
      post(server.url, { inputs: "서울에서 김민준을 만났다." }),
    ]);
    assert.equal(crashed.status, 500);
    assert.equal(other.status, 200);
    assert.deepEqual(other.json, before.json);
    // A fresh worker took the crashed one's place (two, when the crashing text shared a batch:
    // it crashed again when retried alone).
    await until(
      async () => (await health(server.url)).body.workers?.ready === 2,
      "the replacement is ready",
    );
    const h = await health(server.url);
    assert.equal(h.status, 200);
    assert.equal(h.body.status, "ok");
    const { total, restarts } = h.body.workers!;
    assert.equal(total, 2);
    assert.ok(restarts === 1 || restarts === 2, `${restarts} replaced`);
    const after = await post(server.url, { inputs: "서울에서 김민준을 만났다." });
    assert.equal(after.status, 200);
    assert.deepEqual(after.json, before.json);
  } finally {
    await server.shutdown();
    pool.dispose();
  }
});

Deno.test("serve: when the model's workers stop, /health answers 503 and says why, and so does every request", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for await (const e of Deno.readDir(MODEL)) {
      await Deno.copyFile(`${MODEL}/${e.name}`, `${dir}/${e.name}`);
    }
    const pool = await loadPredictorPool(dir, { backend: "wasm" }, 1, {
      workerModule: CRASHING,
    });
    const server = await serve(pool);
    try {
      assert.equal((await health(server.url)).status, 200);
      // The replacement of the crashed worker cannot load the model: it is gone.
      await Deno.remove(`${dir}/model.safetensors`);
      assert.equal((await post(server.url, { inputs: CRASH })).status, 500);
      await until(async () => (await health(server.url)).status === 503, "the pool stopped");
      const h = await health(server.url);
      assert.equal(h.body.status, "failing");
      assert.equal(h.body.ready, false);
      assert.match(String(h.body.error), /replacement could not load the model/);
      assert.deepEqual(h.body.workers, { total: 1, ready: 0, restarts: 1 });
      const answer = await post(server.url, { inputs: "서울에서 김민준을 만났다." });
      assert.equal(answer.status, 503);
      assert.equal((answer.json as { error: string }).error, h.body.error);
    } finally {
      await server.shutdown();
      pool.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
