/**
 * A `serve` server in the test's own process, on a free loopback port, with the model of
 * tests/testdata/sample_tiny loaded once for every test of a file; and a raw HTTP/1.1 client
 * for what `fetch` will not send (a body that stops half-way, a length it does not keep).
 *
 * @module
 */

import assert from "node:assert/strict";
import type { DecodeOptions, Predictor } from "../ner/predict/mod.ts";
import { loadPredictor } from "../ner/predict/mod.ts";
import { type RunningServer, type ServerLimits, startServer } from "../serve/server.ts";
import type { HfEntity } from "../serve/api.ts";

/** The model the tests serve: small, and it finds entities in Korean and English. */
export const MODEL = new URL("./testdata/sample_tiny", import.meta.url).pathname;

let shared: Promise<Predictor> | undefined;

/** The predictor of {@link MODEL}, loaded on first use. */
export function predictor(): Promise<Predictor> {
  return shared ??= loadPredictor(MODEL, { batchSize: 32 });
}

/** A server of {@link MODEL}, with the batches it ran. */
export interface TestServer extends RunningServer {
  /** The texts of each batch the model was given, in order. */
  batches: string[][];
}

/**
 * Starts a server of the shared predictor.
 *
 * @param options A token, bounds, and a function run on each batch before the model (to fail
 *   one, or to hold the model busy until a test lets it go).
 * @returns The running server; shut it down at the end of the test.
 */
export async function serveInProcess(
  options: {
    token?: string;
    limits?: Partial<ServerLimits>;
    before?: (texts: readonly string[]) => void | Promise<void>;
  } = {},
): Promise<TestServer> {
  const p = await predictor();
  const batches: string[][] = [];
  const predict = async (texts: readonly string[], decode: readonly DecodeOptions[]) => {
    batches.push([...texts]);
    await options.before?.(texts);
    return p.predict(texts, decode);
  };
  const server = await startServer(predict, {
    model: "sample_tiny",
    backend: p.backend,
    tags: p.labels,
    config: JSON.parse(await Deno.readTextFile(`${MODEL}/config.json`)),
    decoding: { aggregation: p.aggregation, min_score: p.minScore },
    source: null,
  }, {
    host: "127.0.0.1",
    port: 0,
    ...(options.token !== undefined ? { token: options.token } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
  });
  return Object.assign(server, { batches });
}

/** POSTs a JSON value (or a string as it is) and reads the answer. */
export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; json: unknown }> {
  const response = await fetch(new URL("predict", url), {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string"
      ? body
      : body instanceof Uint8Array
      ? new Blob([body as Uint8Array<ArrayBuffer>])
      : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, json };
}

/**
 * Sends raw bytes over a new connection and reads the answer's status and body (until the
 * server closes the connection, or its Content-Length is read).
 *
 * @param url The server.
 * @param parts Written in order, with `pauseMs` between them.
 * @param pauseMs The pause after each part but the last.
 * @returns The status and the body's text.
 */
export async function rawHttp(
  url: string,
  parts: (string | Uint8Array)[],
  pauseMs = 0,
): Promise<{ status: number; body: string }> {
  const { port, hostname } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      const bytes = typeof part === "string" ? new TextEncoder().encode(part) : part;
      for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
      if (i < parts.length - 1 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
    const got: number[] = [];
    const buffer = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      got.push(...buffer.subarray(0, n));
      const head = new TextDecoder().decode(new Uint8Array(got)).indexOf("\r\n\r\n");
      if (head < 0) continue;
      const headText = new TextDecoder().decode(new Uint8Array(got.slice(0, head)));
      const length = /content-length: *(\d+)/i.exec(headText)?.[1];
      if (length !== undefined && got.length >= head + 4 + Number(length)) break;
    }
    const text = new TextDecoder().decode(new Uint8Array(got));
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  } finally {
    conn.close();
  }
}

/**
 * Asserts that two answers have the same entities: types, words and offsets exactly, scores
 * within 1e-5. A text predicted in another batch is padded to another length and its sums run
 * in another order (OpenBLAS, XNNPACK), so its probabilities can differ in the last bits.
 *
 * @param got The answer (one list of entities per text).
 * @param want The expected answer.
 * @param what Named in the message.
 */
export function assertSameEntities(got: unknown, want: unknown, what = ""): void {
  const spans = (x: unknown) =>
    (x as HfEntity[][]).map((es) => es.map((e) => [e.entity_group, e.word, e.start, e.end]));
  assert.deepEqual(spans(got), spans(want), what);
  (got as HfEntity[][]).forEach((es, i) =>
    es.forEach((e, j) => {
      const w = (want as HfEntity[][])[i]![j]!;
      assert.ok(Math.abs(e.score - w.score) <= 1e-5, `${what}: score ${e.score} vs ${w.score}`);
    })
  );
}

/** A promise a test resolves when it chooses: `opened` waits for `open()`. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => open = resolve);
  return { opened, open };
}

/** Waits until `done()` holds (checked every 10 ms), failing after 20 s with `what`. */
export async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const end = Date.now() + 20_000;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The texts waiting in a server's queue (its `/health`). */
export async function queued(url: string): Promise<number> {
  const health = await (await fetch(`${url}health`)).json();
  return health.queue.texts;
}
