/**
 * `serve` under load and abuse (issue 26): requests that arrive together share batches within
 * their bounds; long texts are cut as `predict` cuts them; a full queue is 503 with
 * Retry-After, a slow body 408; a token guards every route; a text the model fails on fails
 * only its request; nothing a client sends crashes the server or leaves tensors behind.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hfEntities } from "../serve/api.ts";
import { predictStream } from "../ner/predict/stream.ts";
import {
  assertSameEntities,
  gate,
  post,
  predictor,
  queued,
  rawHttp,
  serveInProcess,
  until,
} from "./_serve_inproc.ts";

const opts = { sanitizeResources: false, sanitizeOps: false };
const SAMPLE = (await Deno.readTextFile(new URL("../data/sample/validation.txt", import.meta.url)))
  .split("\n").filter((l) => l.startsWith("; ")).map((l) => l.slice(2));

Deno.test({
  name:
    "serve: requests that arrive together share forward passes, at most 32 texts and the character bound each",
  ...opts,
  async fn() {
    const server = await serveInProcess({ limits: { windowMs: 20, batchChars: 2000 } });
    try {
      const texts = SAMPLE.slice(0, 80);
      const answers = await Promise.all(texts.map((t) => post(server.url, { inputs: t })));
      assert.ok(answers.every((a) => a.status === 200));
      const want = await (await predictor()).predict(texts);
      assertSameEntities(answers.map((a) => a.json), want.map((e) => hfEntities(e)));
      const sizes = server.batches.map((b) => b.length);
      assert.equal(sizes.reduce((a, b) => a + b, 0), 80);
      assert.ok(sizes.length < 20, `80 requests took ${sizes.length} batches: ${sizes}`);
      assert.ok(Math.max(...sizes) > 1, `no batch held two requests: ${sizes}`);
      for (const batch of server.batches) {
        assert.ok(batch.length <= 32);
        const chars = batch.reduce((n, t) => n + t.length, 0);
        assert.ok(batch.length === 1 || chars <= 2000, `a batch of ${chars} characters`);
      }
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: a text over 20,000 characters is cut as predict cuts it, with offsets into the whole text",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const long = [...SAMPLE, ...SAMPLE, ...SAMPLE].join(" ");
      assert.ok(long.length > 40_000);
      const got = await post(server.url, { inputs: long });
      assert.equal(got.status, 200);
      const p = await predictor();
      const want = [];
      for await (
        const part of predictStream(
          p,
          (async function* () {
            yield long;
          })(),
        )
      ) {
        want.push(...part.entities);
      }
      assert.ok(want.length > 100);
      assertSameEntities([got.json], [hfEntities(want)]);
      assert.ok(server.batches.flat().every((t) => t.length <= 20_000));
      for (const e of got.json as { word: string; start: number; end: number }[]) {
        assert.equal(long.slice(e.start, e.end), e.word);
      }
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: a queue past its bound is 503 with Retry-After, and the requests it took are answered",
  ...opts,
  async fn() {
    // The model is held busy with one text: the others wait in the queue, whatever the window.
    const model = gate();
    const server = await serveInProcess({
      limits: { queueTexts: 4 },
      before: (texts) => texts.includes("hold") ? model.opened : undefined,
    });
    try {
      const held = post(server.url, { inputs: "hold" });
      await until(() => server.batches.length === 1, "the model holds its first batch");
      let settled = 0;
      const pending = Array.from(
        { length: 6 },
        (_, i) => post(server.url, { inputs: [SAMPLE[i]!, "Leo"] }).finally(() => settled++),
      );
      await until(() => settled === 4, "four of six requests are answered");
      model.open();
      const answers = await Promise.all(pending);
      assert.equal((await held).status, 200);
      const statuses = answers.map((a) => a.status).sort();
      assert.deepEqual(statuses, [200, 200, 503, 503, 503, 503]);
      for (const a of answers.filter((a) => a.status === 503)) {
        assert.equal(a.headers.get("retry-after"), "1");
        assert.match(
          (a.json as { error: string }).error,
          /^The queue is full \(4 texts, \d+ characters waiting; at most 4 and \d+\): retry in a moment$/,
        );
      }
      assert.equal((await post(server.url, { inputs: "Leo" })).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: characters waiting past their bound, and bodies being read past theirs, are 503 too",
  ...opts,
  async fn() {
    const model = gate();
    const server = await serveInProcess({
      limits: { queueChars: 100, bodiesBytes: 1000, bodyMs: 5000 },
      before: (texts) => texts.includes("hold") ? model.opened : undefined,
    });
    try {
      const held = post(server.url, { inputs: "hold" });
      await until(() => server.batches.length === 1, "the model holds its first batch");
      const first = post(server.url, { inputs: "a ".repeat(40) });
      await until(async () => await queued(server.url) === 1, "the first text waits");
      const second = await post(server.url, { inputs: "b ".repeat(15) });
      model.open();
      assert.equal((await first).status, 200);
      assert.equal((await held).status, 200);
      assert.equal(second.status, 503);
      assert.match(
        (second.json as { error: string }).error,
        /^The queue is full \(1 texts, 80 characters waiting; at most 1024 and 100\)/,
      );
      // A body that arrives slowly holds its 800 bytes; another of 500 would pass the 1,000.
      const body = JSON.stringify({ inputs: "c".repeat(889) });
      assert.ok(body.length > 800 && body.length < 1000);
      const slow = rawHttp(server.url, [
        `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${
          body.slice(0, 800)
        }`,
        body.slice(800),
      ], 600);
      await new Promise((r) => setTimeout(r, 200));
      const refused = await post(server.url, { inputs: "d".repeat(490) });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get("retry-after"), "1");
      assert.match(
        (refused.json as { error: string }).error,
        /^Too many requests are sending bodies now: retry in a moment$/,
      );
      assert.equal((await slow).status, 200);
      assert.equal((await post(server.url, { inputs: "d".repeat(490) })).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: stopping while a body is on its way reads it and answers it; a request that comes meanwhile is 503",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    let stopped = false;
    try {
      const body = JSON.stringify({ inputs: "Leo Smith flew to Lagos." });
      const half = body.length >> 1;
      // Half the body, a pause in which the server is told to stop, then the rest.
      const inFlight = rawHttp(server.url, [
        `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${
          body.slice(0, half)
        }`,
        body.slice(half),
      ], 500);
      await new Promise((r) => setTimeout(r, 200));
      const stopping = server.shutdown().then(() => stopped = true);
      const meanwhile = await post(server.url, { inputs: "Ivy" });
      assert.equal(meanwhile.status, 503);
      assert.match((meanwhile.json as { error: string }).error, /^The server is stopping/);
      const answer = await inFlight;
      assert.equal(answer.status, 200, answer.body);
      const want = (await (await predictor()).predict(["Leo Smith flew to Lagos."]))[0]!;
      assertSameEntities([JSON.parse(answer.body)], [hfEntities(want)]);
      await stopping;
    } finally {
      if (!stopped) await server.shutdown();
    }
  },
});

Deno.test({
  name: "serve: a body that does not arrive in time is 408, and the server goes on",
  ...opts,
  async fn() {
    const server = await serveInProcess({ limits: { bodyMs: 300 } });
    try {
      const slow = await rawHttp(server.url, [
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nConnection: close\r\n\r\n",
        '{"inputs": ',
      ], 10);
      assert.equal(slow.status, 408);
      assert.match(
        JSON.parse(slow.body).error,
        /^The body took over 0.3 s to arrive: send it at once$/,
      );
      assert.equal((await post(server.url, { inputs: "Leo" })).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: with a token every route needs it (401 otherwise: Bearer for the API, Basic for the page)",
  ...opts,
  async fn() {
    const token = "s3cret-token-0123456789";
    const server = await serveInProcess({ token });
    try {
      const bearer = { authorization: `Bearer ${token}` };
      const wrong = [
        {},
        { authorization: `Bearer ${token.slice(0, -1)}x` },
        { authorization: `Bearer ${token}0` },
        { authorization: `Bearer ${token.slice(0, -1)}` },
        { authorization: token },
        { authorization: "Bearer " },
        { authorization: `Basic ${btoa(`${token}:x`)}` },
      ];
      for (const headers of wrong) {
        const got = await post(server.url, { inputs: "Leo" }, headers);
        assert.equal(got.status, 401, JSON.stringify(headers));
        assert.equal(got.headers.get("www-authenticate"), "Bearer");
        assert.match(
          (got.json as { error: string }).error,
          /^Missing or wrong token: send the header "Authorization: Bearer <token>"$/,
        );
      }
      for (const path of ["health", "metadata", "nope"]) {
        const got = await fetch(new URL(path, server.url));
        assert.equal(got.status, 401, path);
        await got.body?.cancel();
      }
      const page = await fetch(server.url);
      assert.equal(page.status, 401);
      assert.match(page.headers.get("www-authenticate")!, /^Basic realm="nerpipe"/);
      await page.body?.cancel();
      assert.equal((await post(server.url, { inputs: "Leo" }, bearer)).status, 200);
      // A browser sends the password it was asked for on the page, and on the page's requests.
      const basic = { authorization: `Basic ${btoa(`anyone:${token}`)}` };
      assert.equal((await post(server.url, { inputs: "Leo" }, basic)).status, 200);
      const opened = await fetch(server.url, { headers: basic });
      assert.equal(opened.status, 200);
      await opened.body?.cancel();
      const health = await fetch(new URL("health", server.url), { headers: bearer });
      assert.equal((await health.json()).ready, true);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: a text the model fails on fails only its own request (500); the rest of its batch is answered",
  ...opts,
  async fn() {
    const model = gate();
    const server = await serveInProcess({
      before(texts) {
        if (texts.includes("poison")) throw new Error("the model cannot take this text");
        return texts.includes("hold") ? model.opened : undefined;
      },
    });
    const quiet = console.error;
    console.error = () => {};
    try {
      // The model is held busy, so that the three wait in the queue and make one batch.
      const held = post(server.url, { inputs: "hold" });
      await until(() => server.batches.length === 1, "the model holds its first batch");
      const texts = ["Leo Smith flew.", "poison", "Ivy met him in Seoul."];
      const pending = texts.map((t) => post(server.url, { inputs: t }));
      await until(async () => await queued(server.url) === 3, "the three texts wait");
      model.open();
      const answers = await Promise.all(pending);
      assert.equal((await held).status, 200);
      assert.deepEqual(answers.map((a) => a.status), [200, 500, 200]);
      assert.match((answers[1]!.json as { error: string }).error, /^Internal error/);
      // They shared one batch first, then were predicted one by one.
      assert.deepEqual([...server.batches[1]!].sort(), [...texts].sort());
      assert.equal(server.batches.length, 5);
    } finally {
      console.error = quiet;
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: nothing a client sends crashes the server: 500 random bodies get 4xx or 200, and no tensor is left behind",
  ...opts,
  async fn() {
    const server = await serveInProcess({ limits: { bodyBytes: 64 * 1024 } });
    try {
      // A seeded generator: the same bodies on every run.
      let seed = 26;
      const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
      const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
      const strings = [
        "",
        "\u0000\u0001",
        "\ud800 lone \udfff",
        "😀 Seoul 서울",
        "\u202e\u200b",
        "a".repeat(30_000),
        "Leo Smith",
        " \n\t ",
      ];
      const value = (depth: number): unknown => {
        const r = rand();
        if (depth > 3 || r < 0.3) return pick([null, true, 1e308, -0, 3.5, pick(strings)]);
        if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
        return Object.fromEntries(
          Array.from({ length: Math.floor(rand() * 3) }, () => [
            pick(["inputs", "parameters", "options", "min_score", "aggregation", "x", "__proto__"]),
            value(depth + 1),
          ]),
        );
      };
      const before = (await (await fetch(new URL("health", server.url))).json()).memory.tensors;
      for (let i = 0; i < 500; i++) {
        const kind = rand();
        const body = kind < 0.2
          ? new Uint8Array(Array.from({ length: Math.floor(rand() * 200) }, () => rand() * 256))
          : kind < 0.3
          ? "[".repeat(20_000) + "]".repeat(20_000)
          : kind < 0.6
          ? { inputs: value(1), parameters: value(2) }
          : JSON.stringify(value(0));
        const got = await post(server.url, body);
        assert.ok(
          [200, 400, 413].includes(got.status),
          `${got.status}: ${JSON.stringify(got.json)}`,
        );
        if (got.status !== 200) {
          assert.equal(typeof (got.json as { error: string }).error, "string");
        }
      }
      const health = await (await fetch(new URL("health", server.url))).json();
      assert.equal(health.ready, true);
      assert.equal(health.memory.tensors, before);
      assert.equal((await post(server.url, { inputs: "Leo Smith" })).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});
