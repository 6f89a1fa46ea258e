/**
 * The bench's load-generating HTTP/1.1 client (bench/_http1.ts) reads answers whole, one after
 * another on one kept-alive connection, whether they give their length or come in chunks.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Http1Connection } from "../bench/_http1.ts";

Deno.test("bench HTTP/1.1 client: many requests on one connection, sized and chunked answers", async () => {
  const connections = new Set<string>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req, info) => {
      connections.add(`${info.remoteAddr.hostname}:${info.remoteAddr.port}`);
      const body = await req.text();
      if (new URL(req.url).pathname === "/chunked") {
        // A stream has no length: Deno sends it in chunks.
        const parts = [body, "-", "x".repeat(70_000)];
        return new Response(
          new ReadableStream({
            pull(c) {
              const next = parts.shift();
              if (next === undefined) c.close();
              else c.enqueue(new TextEncoder().encode(next));
            },
          }),
        );
      }
      return new Response(`${req.method} ${body}`, { status: body === "bad" ? 400 : 200 });
    },
  );
  const connection = await Http1Connection.open(new URL(`http://127.0.0.1:${server.addr.port}/`));
  try {
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    for (let i = 0; i < 50; i++) {
      const text = `{"inputs": "서울에서 ${i}"}`;
      const answer = await connection.post("/predict", text);
      assert.equal(answer.status, 200);
      assert.equal(decode(answer.body), `POST ${text}`);
    }
    assert.equal((await connection.post("/predict", "bad")).status, 400);
    const chunked = await connection.post("/chunked", "abc");
    assert.equal(decode(chunked.body), `abc-${"x".repeat(70_000)}`);
    assert.equal((await connection.post("/", "after")).status, 200);
    assert.equal(connections.size, 1, "one kept-alive connection");
  } finally {
    connection.close();
    await server.shutdown();
  }
});
