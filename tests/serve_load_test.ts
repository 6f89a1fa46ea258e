/**
 * A load test of `deno task serve` (issue 26), bounded in count and time, on the loopback: 20
 * clients send 50 requests each, at once; every answer equals what `deno task predict` gives
 * for the same texts, none is an error, and the server's memory stays flat (its tensors exactly,
 * its resident memory within a bound) from a warm-up round of as many to the end.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startServe } from "./_serve.ts";
import type { HfEntity } from "../serve/api.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MODEL = `${ROOT}tests/testdata/sample_tiny`;
const CLIENTS = 20;
const REQUESTS = 50;

/** The sample's validation sentences, Korean and English. */
const SAMPLE = (await Deno.readTextFile(`${ROOT}data/sample/validation.txt`))
  .split("\n").filter((l) => l.startsWith("; ")).map((l) => l.slice(2));

/** The texts of client `c`'s request `r`: one sentence, or three for every fifth request. */
function textsOf(c: number, r: number): string[] {
  const at = (c * REQUESTS + r) * 7;
  return r % 5 === 4 ? [0, 1, 2].map((i) => SAMPLE[(at + i) % SAMPLE.length]!) : [
    SAMPLE[at % SAMPLE.length]!,
  ];
}

Deno.test({
  name: "serve: 20 clients x 50 requests at once: every answer is predict's, no error, memory flat",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // What predict says of every sentence (--json: scores to 4 decimals).
    const dir = await Deno.makeTempDir({ prefix: "serve-load-" });
    await Deno.writeTextFile(`${dir}/texts.txt`, SAMPLE.join("\n") + "\n");
    const predicted = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "--quiet",
        "--config",
        `${ROOT}deno.json`,
        "predict",
        MODEL,
        "--file",
        `${dir}/texts.txt`,
        "--json",
      ],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(120_000),
    }).output();
    assert.equal(predicted.code, 0, new TextDecoder().decode(predicted.stderr));
    const expected = new Map<
      string,
      { start: number; end: number; label: string; text: string; score: number }[]
    >();
    for (const line of new TextDecoder().decode(predicted.stdout).trim().split("\n")) {
      const { text, entities } = JSON.parse(line);
      expected.set(text, entities);
    }
    assert.equal(expected.size, new Set(SAMPLE).size);

    const served = await startServe([MODEL]);
    const deadline = AbortSignal.timeout(240_000);
    const health = async () =>
      (await fetch(new URL("health", served.url), { signal: deadline })).json();
    const round = (requests: number) =>
      Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
        for (let r = 0; r < requests; r++) {
          const texts = textsOf(c, r);
          const response = await fetch(new URL("predict", served.url), {
            method: "POST",
            body: JSON.stringify({ inputs: texts.length === 1 ? texts[0] : texts }),
            signal: deadline,
          });
          const body = await response.json();
          assert.equal(response.status, 200, JSON.stringify(body));
          const answers: HfEntity[][] = texts.length === 1 ? [body] : body;
          answers.forEach((entities, i) => {
            const want = expected.get(texts[i]!)!;
            const what = `client ${c}, request ${r}: ${texts[i]}`;
            assert.deepEqual(
              entities.map((e) => [e.start, e.end, e.entity_group, e.word]),
              want.map((e) => [e.start, e.end, e.label, e.text]),
              what,
            );
            // predict writes 4 decimals; the server gives the score whole.
            entities.forEach((e, j) =>
              assert.ok(Math.abs(e.score - want[j]!.score) <= 0.5e-4 + 1e-6, `${what}: ${e.score}`)
            );
          });
        }
      }));
    try {
      // A warm-up round: the backend's buffers, the JIT, the allocator's arenas (resident
      // memory grows over the first few thousand requests, then stays: 173, 192, 198, 204,
      // 231, 232, 232, 232 MiB after each 2,000 here).
      await round(REQUESTS);
      const before = await health();
      const started = performance.now();
      await round(REQUESTS);
      const seconds = (performance.now() - started) / 1000;
      const after = await health();
      const requests = CLIENTS * REQUESTS;
      console.log(
        `${requests} requests in ${seconds.toFixed(1)} s (${(requests / seconds).toFixed(0)}/s), ` +
          `${after.queue.batches - before.queue.batches} batches; resident memory ` +
          `${(before.memory.rss_bytes / 2 ** 20).toFixed(0)} -> ` +
          `${(after.memory.rss_bytes / 2 ** 20).toFixed(0)} MiB, tensors ` +
          `${before.memory.tensors} -> ${after.memory.tensors}`,
      );
      assert.equal(after.queue.requests - before.queue.requests, requests);
      assert.ok(after.queue.batches - before.queue.batches < requests, "requests were batched");
      assert.equal(after.memory.tensors, before.memory.tensors);
      // Flat: a request that kept what it read (its text, its answer, a window's
      // probabilities: tens of kilobytes) would pass this bound over 1,000 requests.
      const grew = after.memory.rss_bytes - before.memory.rss_bytes;
      assert.ok(grew < 64 * 2 ** 20, `resident memory grew by ${(grew / 2 ** 20).toFixed(1)} MiB`);
      assert.deepEqual(after.queue.texts, 0);
    } finally {
      assert.equal((await served.stop()).code, 0);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
