/**
 * `serve`'s API (issue 26): what Hugging Face's token-classification inference API answers,
 * with predict's entities; the parameters of a request; a clear 4xx with `{"error": ...}` for
 * every bad request; `/health`, `/metadata` and the page.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hfEntities } from "../serve/api.ts";
import { assertSameEntities, post, predictor, rawHttp, serveInProcess } from "./_serve_inproc.ts";

const KO = "김민준은 3월 5일 부산에서 삼성전자 사람들을 만났다.";
const EN = "Leo Smith flew to Lagos on Monday.";

const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name:
    "serve: POST /predict answers as Hugging Face's API: a list of entities for one text, a list of lists for several, predict's entities",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const p = await predictor();
      const [ko, en] = await p.predict([KO, EN]);
      const one = await post(server.url, { inputs: KO });
      assert.equal(one.status, 200);
      assert.match(one.headers.get("content-type")!, /^application\/json/);
      assertSameEntities([one.json], [hfEntities(ko!)]);
      // The fields and their meaning: the text's slice, UTF-16 offsets, a score in [0, 1].
      const first = (one.json as object[])[0]!;
      assert.deepEqual(Object.keys(first).sort(), [
        "end",
        "entity_group",
        "score",
        "start",
        "word",
      ]);
      assert.deepEqual(
        (one.json as { word: string; entity_group: string }[]).map((e) => [e.word, e.entity_group]),
        [["김민준", "PS"], ["3월 5일", "DT"], ["부산", "LC"], ["삼성전자", "OG"]],
      );
      for (const e of one.json as { word: string; start: number; end: number; score: number }[]) {
        assert.equal(KO.slice(e.start, e.end), e.word);
        assert.ok(e.score > 0 && e.score <= 1);
      }
      const several = await post(server.url, { inputs: [KO, EN, ""] });
      assert.equal(several.status, 200);
      assertSameEntities(several.json, [hfEntities(ko!), hfEntities(en!), []]);
      assert.deepEqual((await post(server.url, { inputs: [] })).json, []);
      // POST / is the same API: the address Hugging Face's clients post to.
      const root = await fetch(server.url, {
        method: "POST",
        body: JSON.stringify({ inputs: EN }),
      });
      assertSameEntities([await root.json()], [hfEntities(en!)]);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: aggregation_strategy (or aggregation), min_score and ignore_labels are request parameters",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const p = await predictor();
      for (const aggregation of ["simple", "first", "average", "max", "exact"] as const) {
        const want = (await p.predict([KO, EN], { aggregation })).map((e) => hfEntities(e));
        for (const name of ["aggregation_strategy", "aggregation"]) {
          const got = await post(server.url, {
            inputs: [KO, EN],
            parameters: { [name]: aggregation },
          });
          assertSameEntities(got.json, want, `${name}: ${aggregation}`);
        }
      }
      const strict = (await p.predict([KO], { minScore: 0.8 }))[0]!;
      const all = (await p.predict([KO]))[0]!;
      assert.ok(strict.length < all.length);
      const got = await post(server.url, { inputs: KO, parameters: { min_score: 0.8 } });
      assertSameEntities([got.json], [hfEntities(strict)]);
      const ignored = await post(server.url, {
        inputs: KO,
        parameters: { ignore_labels: ["O", "PS", "DT"] },
        options: { wait_for_model: true, use_cache: false },
      });
      assert.deepEqual(
        (ignored.json as { entity_group: string }[]).map((e) => e.entity_group),
        ["LC", "OG"],
      );
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: malformed JSON, a body that is not UTF-8 and every wrong shape are 400 with a JSON error that says what to send",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const cases: [unknown, RegExp][] = [
        ['{"inputs": "a"', /^Malformed JSON: /],
        [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /^The body is not UTF-8: send JSON in UTF-8$/],
        ["", /^Malformed JSON/],
        [[1, 2], /^The body is an array: expected \{"inputs": "text"\} or/],
        ["null", /^The body is null: expected/],
        [{ input: "x" }, /^Unknown field "input": did you mean "inputs"$/],
        [
          { parameters: {} },
          /^No "inputs": expected \{"inputs": "text"\} or \{"inputs": \["text", \.\.\.\]\}$/,
        ],
        [{ inputs: 3 }, /^"inputs" is a number: expected/],
        [{ inputs: { text: "x" } }, /^"inputs" is an object: expected/],
        [{ inputs: ["a", null] }, /^inputs\[1\] is null: expected a string$/],
        [{ inputs: "a", parameters: [] }, /^"parameters" is an array: expected an object$/],
        [{ inputs: "a", options: "x" }, /^"options" is a string: expected an object$/],
        [
          { inputs: "a", parameters: { min_scor: 0.5 } },
          /^Unknown parameter "min_scor": did you mean "min_score"$/,
        ],
        [
          { inputs: "a", parameters: { min_score: 2 } },
          /^parameters\.min_score 2: expected a number from 0 to 1$/,
        ],
        [
          { inputs: "a", parameters: { min_score: "0.5" } },
          /^parameters\.min_score a string: expected/,
        ],
        [
          { inputs: "a", parameters: { aggregation_strategy: "none" } },
          /^parameters\.aggregation_strategy "none" \(one entity per word-piece\) is not served: expected one of "exact", "simple"/,
        ],
        [
          { inputs: "a", parameters: { aggregation: "mean" } },
          /^parameters\.aggregation "mean" is unknown: expected one of "exact"/,
        ],
        [
          { inputs: "a", parameters: { aggregation: "max", aggregation_strategy: "first" } },
          /differ: give one$/,
        ],
        [
          { inputs: "a", parameters: { ignore_labels: "PS" } },
          /^parameters\.ignore_labels is a string: expected an array of entity types$/,
        ],
      ];
      for (const [body, message] of cases) {
        const got = await post(server.url, body);
        assert.equal(got.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(got.json)}`);
        assert.match((got.json as { error: string }).error, message, JSON.stringify(body));
      }
      const none = await rawHttp(server.url, [
        "POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ]);
      assert.equal(none.status, 400);
      assert.match(JSON.parse(none.body).error, /^(The request has no body|Malformed JSON)/);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: a body over the limit is 413 (before it is read when it says its length), and so are too many texts",
  ...opts,
  async fn() {
    const server = await serveInProcess({ limits: { bodyBytes: 4096, texts: 8 } });
    try {
      const big = await post(server.url, { inputs: "a".repeat(5000) });
      assert.equal(big.status, 413);
      assert.match(
        (big.json as { error: string }).error,
        /^The body is over 4096 bytes: send fewer or shorter texts per request$/,
      );
      // A declared length over the limit is refused without waiting for the body.
      const declared = await rawHttp(server.url, [
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n",
      ]);
      assert.equal(declared.status, 413);
      // A chunked body is counted as it comes.
      const chunk = `{"inputs": "${"a".repeat(3000)}`;
      const chunked = await rawHttp(server.url, [
        "POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
        `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
      ]);
      assert.equal(chunked.status, 413);
      const many = await post(server.url, { inputs: Array(9).fill("Leo") });
      assert.equal(many.status, 413);
      assert.match(
        (many.json as { error: string }).error,
        /^9 texts in one request: at most 8: send them in several$/,
      );
      assert.equal((await post(server.url, { inputs: Array(8).fill("Leo") })).status, 200);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "serve: unknown routes are 404 and other methods 405 with Allow, in JSON",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const missing = await fetch(new URL("predictions", server.url));
      assert.equal(missing.status, 404);
      assert.match(
        (await missing.json()).error,
        /^No route "\/predictions": the routes are GET \/, POST \/predict/,
      );
      const get = await fetch(new URL("predict", server.url));
      assert.equal(get.status, 405);
      assert.equal(get.headers.get("allow"), "POST");
      assert.match((await get.json()).error, /^GET \/predict is not served: use POST$/);
      const del = await fetch(new URL("health", server.url), { method: "DELETE" });
      assert.equal(del.status, 405);
      assert.equal(del.headers.get("allow"), "GET, HEAD");
      await del.body?.cancel();
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "serve: GET /health and GET /metadata describe the model, its labels and backend",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const health = await (await fetch(new URL("health", server.url))).json();
      assert.equal(health.status, "ok");
      assert.equal(health.ready, true);
      assert.equal(health.model, "sample_tiny");
      assert.deepEqual(health.labels, ["DT", "LC", "OG", "PS", "QT", "TI"]);
      assert.equal(health.backend, (await predictor()).backend.backend);
      assert.deepEqual(health.queue, { texts: 0, chars: 0, requests: 0, batches: 0, clients: 0 });
      const meta = await (await fetch(new URL("metadata", server.url))).json();
      assert.deepEqual(meta.labels, health.labels);
      assert.equal(meta.tags[0], "O");
      assert.equal(meta.config.hidden_size, 16);
      assert.equal(meta.config.id2label["4"], "B-PS");
      assert.equal(meta.decoding.aggregation, "exact");
      assert.equal(meta.limits.bodyBytes, 1024 * 1024);
      assert.equal(meta.limits.texts, 64);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name:
    "serve: GET / is one self-contained page: no address outside the server, only its own script may run",
  ...opts,
  async fn() {
    const server = await serveInProcess();
    try {
      const response = await fetch(server.url);
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type")!, /^text\/html; charset=utf-8$/);
      const csp = response.headers.get("content-security-policy")!;
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'sha256-[A-Za-z0-9+/]+=*'/);
      assert.match(csp, /connect-src 'self'/);
      const html = await response.text();
      assert.doesNotMatch(html, /https?:\/\//, "no address outside the server");
      assert.doesNotMatch(html, /<(link|img|iframe)\b|src=/i);
      assert.doesNotMatch(html, /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
      const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
      const hash = new Uint8Array(
        await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script)),
      );
      assert.ok(csp.includes(`'sha256-${btoa(String.fromCharCode(...hash))}'`));
    } finally {
      await server.shutdown();
    }
  },
});
