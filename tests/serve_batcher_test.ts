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

Deno.test("serve batcher: with two batches in flight a batch holds half the clients, and the next runs while the first computes", async () => {
  const model = heldModel();
  const batcher = new Batcher(model.predict, { windowMs: 60_000, inFlight: 2 });
  for (const c of ["A", "B", "C", "D"]) batcher.heardFrom(c);
  const answers = [batcher.submit(["a"], {}, "A"), batcher.submit(["b"], {}, "B")];
  assert.deepEqual(model.batches, [["a", "b"]], "two texts are half of four clients' share");
  answers.push(batcher.submit(["c"], {}, "C"));
  await settle();
  assert.equal(model.batches.length, 1, "C's text waits for D's: A and B are being computed");
  answers.push(batcher.submit(["d"], {}, "D"));
  assert.deepEqual(model.batches, [["a", "b"], ["c", "d"]], "the second runs with the first held");
  model.release();
  model.release();
  await Promise.all(answers);
  // Alone, a client's text runs at once in a batch of one.
  const one = new Batcher(model.predict, { windowMs: 60_000, inFlight: 2 });
  const e = one.submit(["e"], {}, "E");
  assert.deepEqual(model.batches.at(-1), ["e"]);
  model.release();
  await e;
});

Deno.test("serve batcher: batches are an even share of the clients over the batches in flight, so each worker has one waiting", async () => {
  const model = heldModel();
  // Two workers, each with a batch computing and one waiting: 8 clients make 4 batches of 2.
  const batcher = new Batcher(model.predict, { windowMs: 60_000, inFlight: 4 });
  const clients = ["A", "B", "C", "D", "E", "F", "G", "H"];
  for (const c of clients) batcher.heardFrom(c);
  const answers = clients.slice(0, 6).map((c) => batcher.submit([c.toLowerCase()], {}, c));
  await settle();
  assert.deepEqual(model.batches, [["a", "b"], ["c", "d"], ["e", "f"]]);
  answers.push(batcher.submit(["g"], {}, "G"));
  await settle();
  assert.equal(model.batches.length, 3, "G's text waits for H's");
  answers.push(batcher.submit(["h"], {}, "H"));
  assert.deepEqual(model.batches.at(-1), ["g", "h"]);
  for (let i = 0; i < 4; i++) model.release();
  await Promise.all(answers);
});

Deno.test("serve batcher: one batch at a time unless inFlight says more", async () => {
  const model = heldModel();
  const batcher = new Batcher(model.predict, { windowMs: 0, batchTexts: 1 });
  const answers = [batcher.submit(["a"]), batcher.submit(["b"])];
  await settle();
  assert.deepEqual(model.batches, [["a"]]);
  model.release();
  await answers[0];
  await settle();
  assert.deepEqual(model.batches, [["a"], ["b"]]);
  model.release();
  await answers[1];
  const two = new Batcher(model.predict, { windowMs: 0, batchTexts: 1, inFlight: 2 });
  const more = [two.submit(["c"]), two.submit(["d"]), two.submit(["e"])];
  await settle();
  assert.deepEqual(model.batches.slice(2), [["c"], ["d"]]);
  model.release();
  model.release();
  await Promise.all(more.slice(0, 2));
  await settle();
  assert.deepEqual(model.batches.slice(4), [["e"]]);
  model.release();
  await more[2];
  await two.idle();
});
