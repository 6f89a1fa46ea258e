/**
 * The serve queue's batching rule, with a model the test controls: a batch runs when it is
 * full, when every client heard from lately has texts waiting, or when the window ends.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Batcher, MAX_CLIENTS } from "../serve/batcher.ts";
import type { PredictedEntity } from "../ner/predict/mod.ts";

/** A model that records each batch and answers when the test releases it. */
function heldModel() {
  const batches: string[][] = [];
  const held: (() => void)[] = [];
  const predict = (texts: readonly string[]) => {
    batches.push([...texts]);
    return new Promise<PredictedEntity[][]>((resolve) =>
      held.push(() => resolve(texts.map(() => [])))
    );
  };
  return { batches, predict, release: () => held.shift()!() };
}

/** Lets the promise jobs and timers that are due run. */
const settle = () => new Promise((r) => setTimeout(r, 0));

Deno.test("serve batcher: the only client's request runs at once, without waiting for the window", async () => {
  const model = heldModel();
  const batcher = new Batcher(model.predict, { windowMs: 60_000 });
  const first = batcher.submit(["a"], {}, "10.0.0.1:5000");
  assert.deepEqual(model.batches, [["a"]]);
  model.release();
  await first;
  const second = batcher.submit(["b"], {}, "10.0.0.1:5000");
  assert.deepEqual(model.batches, [["a"], ["b"]]);
  model.release();
  await second;
  assert.equal(batcher.stats.clients, 1);
});

Deno.test("serve batcher: with two clients a batch waits for the other one's text, then runs at once", async () => {
  const model = heldModel();
  const batcher = new Batcher(model.predict, { windowMs: 60_000 });
  const a1 = batcher.submit(["a1"], {}, "A");
  const b1 = batcher.submit(["b1"], {}, "B"); // the model is busy with a1: it waits
  model.release();
  await a1;
  await settle();
  assert.deepEqual(model.batches, [["a1"], ["b1"]]);
  model.release();
  await b1;
  // B was heard from and has nothing waiting: A's next text waits for it.
  const a2 = batcher.submit(["a2"], {}, "A");
  await settle();
  assert.equal(model.batches.length, 2);
  const b2 = batcher.submit(["b2"], {}, "B");
  assert.deepEqual(model.batches[2], ["a2", "b2"]);
  model.release();
  await Promise.all([a2, b2]);
});

Deno.test("serve batcher: a request that names no client waits for the window, as before", async () => {
  const model = heldModel();
  const batcher = new Batcher(model.predict, { windowMs: 20 });
  const answer = batcher.submit(["a"]);
  assert.equal(model.batches.length, 0);
  while (model.batches.length === 0) await settle();
  model.release();
  await answer;
  assert.equal(batcher.stats.clients, 0);
});

Deno.test("serve batcher: the clients it remembers are bounded", async () => {
  const batcher = new Batcher(
    (texts) => Promise.resolve(texts.map(() => [])),
    { windowMs: 0 },
  );
  for (let i = 0; i < MAX_CLIENTS + 500; i++) await batcher.submit(["a"], {}, `client ${i}`);
  assert.equal(batcher.stats.clients, MAX_CLIENTS);
});
