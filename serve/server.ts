/**
 * The HTTP server of `serve`: routes, credentials, the bounds on what a client sends, and the
 * answers, in JSON (`{"error": ...}` for a request that cannot be answered). The texts of
 * requests go through one {@link Batcher}; the page is `page.html`.
 *
 * | route               | answer                                                            |
 * | ------------------- | ----------------------------------------------------------------- |
 * | `GET /`             | the page                                                          |
 * | `POST /predict`, `POST /` | entities, as Hugging Face's token-classification API        |
 * | `GET /health`       | ready (503 when not), the model, its types, the backend, the queue |
 * | `GET /metadata`     | the model's config.json, its tags, where it came from, the limits |
 *
 * @module
 */

import type { DecodeOptions, PredictedEntity } from "../ner/predict/mod.ts";
import { PoolFailedError, type PoolState } from "../ner/predict/pool.ts";
import {
  DEFAULT_REQUEST_LIMITS,
  hfEntities,
  parsePredictRequest,
  RequestError,
  type RequestLimits,
} from "./api.ts";
import { TokenCheck } from "./auth.ts";
import { Batcher, type BatcherLimits, DEFAULT_BATCHER_LIMITS, QueueFullError } from "./batcher.ts";

/** Every bound of a server (see docs/serve.md). */
export interface ServerLimits extends RequestLimits, BatcherLimits {
  /** Milliseconds a request's body may take to arrive; past them it is answered 408. */
  bodyMs: number;
  /** Bytes of bodies being read at once, over every request; past them a request gets 503. */
  bodiesBytes: number;
}

/** The bounds a server has unless told otherwise. */
export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = {
  ...DEFAULT_REQUEST_LIMITS,
  ...DEFAULT_BATCHER_LIMITS,
  bodyMs: 10_000,
  bodiesBytes: 64 * 1024 * 1024,
};

/** What the server says of its model (`/health`, `/metadata`). */
export interface ModelInfo {
  /** The model directory, as shown to people. */
  model: string;
  /** The tfjs backend, and why it was chosen. */
  backend: { backend: string; reason: string };
  /** The tag of each class id (`O`, `B-PS`, ...). */
  tags: readonly string[];
  /** The model's `config.json`. */
  config: unknown;
  /** The server's decoding when a request does not choose: aggregation, min score, boundaries. */
  decoding: Record<string, unknown>;
  /** Where the model came from: a pipeline file, its stage, the stage's cache key, a run. */
  source: Record<string, string> | null;
  /** Live figures for `/health` (the tensors the backend holds, say). */
  stats?: () => Record<string, number>;
  /** The model's workers, when it has some: a pool that stopped makes the server not ready. */
  workers?: () => PoolState;
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** The address to listen on. */
  host: string;
  /** The port; 0 picks a free one. */
  port: number;
  /** The token every request must carry; none: no credentials asked. */
  token?: string;
  /** Bounds over {@link DEFAULT_SERVER_LIMITS}. */
  limits?: Partial<ServerLimits>;
}

/** A server that is listening. */
export interface RunningServer {
  /** `http://host:port/`. */
  url: string;
  /** The port it listens on. */
  port: number;
  /**
   * Stops taking requests (a prediction that comes while the bodies on their way are read is
   * 503), stops accepting connections, finishes the requests in flight, then resolves.
   */
  shutdown(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** The entity types of a model's tags, in class order (`B-PS`, `I-PS` → `PS`). */
export function entityTypes(tags: readonly string[]): string[] {
  const types = tags.filter((t) => t !== "O").map((t) => t.replace(/^[BIES]-/, ""));
  return [...new Set(types)];
}

const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
};

function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** The page, with a content security policy that lets only its own script run. */
async function loadPage(): Promise<{ html: string; csp: string }> {
  const html = await (await fetch(new URL("./page.html", import.meta.url))).text();
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? "";
  const hash = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(script)),
  );
  const csp = [
    "default-src 'none'",
    `script-src 'sha256-${btoa(String.fromCharCode(...hash))}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
  return { html, csp };
}

/** Bytes of bodies being read, over every request, and how many are being read. */
class BodyBudget {
  used = 0;
  #reading = 0;
  #drained: (() => void)[] = [];
  constructor(readonly max: number) {}

  /** A body starts to be read. */
  start(): void {
    this.#reading++;
  }

  /** A body was read, or failed. */
  end(): void {
    if (--this.#reading === 0) { for (const resolve of this.#drained.splice(0)) resolve(); }
  }

  /** Resolves when no body is being read. */
  drained(): Promise<void> {
    if (this.#reading === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }
}

/**
 * Reads a request's body within its bounds.
 *
 * @throws {RequestError} 413 past `bodyBytes`, 408 past `bodyMs`, 503 past the bodies' budget,
 *   400 without a body.
 */
async function readBody(req: Request, limits: ServerLimits, budget: BodyBudget) {
  const shape = `{"inputs": "text"} or {"inputs": ["text", ...]}`;
  const tooLarge = () =>
    new RequestError(
      413,
      `The body is over ${limits.bodyBytes} bytes: send fewer or shorter texts per request`,
    );
  const busy = () =>
    new RequestError(503, "Too many requests are sending bodies now: retry in a moment");
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > limits.bodyBytes) throw tooLarge();
  const known = Number.isInteger(declared) && declared > 0;
  // (req.body is not touched when the length is known: making its stream slows req.bytes().)
  if (!known && !req.body) {
    throw new RequestError(400, `The request has no body: expected ${shape}`);
  }
  // A 408 past the time bound; `stop` clears its timer (call it in a finally).
  const deadline = () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new RequestError(
              408,
              `The body took over ${limits.bodyMs / 1000} s to arrive: send it at once`,
            ),
          ),
        limits.bodyMs,
      );
    });
    return { late, stop: () => clearTimeout(timer) };
  };
  if (known) {
    // A declared length bounds the body (the HTTP layer reads that many bytes and no more): it
    // is read at once, about 20 us less of the main thread per request than a read chunk by
    // chunk, and its bytes count against the budget from the start.
    budget.start();
    budget.used += declared;
    const { late, stop } = deadline();
    try {
      if (budget.used > budget.max) throw busy();
      const reading = req.bytes();
      reading.catch(() => {}); // abandoned past the time bound
      return await Promise.race([reading, late]);
    } finally {
      stop();
      budget.used -= declared;
      budget.end();
    }
  }
  const reader = req.body!.getReader();
  budget.start();
  const { late, stop } = deadline();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), late]);
      if (done) break;
      size += value.length;
      budget.used += value.length;
      chunks.push(value);
      if (size > limits.bodyBytes) throw tooLarge();
      if (budget.used > budget.max) throw busy();
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  } finally {
    stop();
    budget.used -= size;
    budget.end();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return bytes;
}

/** Parses a body as JSON, or says what is wrong with it (400). */
function parseJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new RequestError(400, "The body is not UTF-8: send JSON in UTF-8");
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, `Malformed JSON: ${(error as Error).message}`);
  }
}

const ROUTES: Record<string, readonly string[]> = {
  "/": ["GET", "HEAD", "POST"],
  "/predict": ["POST"],
  "/health": ["GET", "HEAD"],
  "/metadata": ["GET", "HEAD"],
};

/**
 * Starts the server.
 *
 * @param predict Predicts a batch of texts, each with its own decode options
 *   (`Predictor.predict`).
 * @param info What `/health` and `/metadata` say of the model.
 * @param options Address, port, token and bounds.
 * @returns The running server.
 * @throws {Deno.errors.AddrInUse} When the port is taken (and the errors of `Deno.serve`).
 */
export async function startServer(
  predict: (
    texts: readonly string[],
    decode: readonly DecodeOptions[],
  ) => Promise<PredictedEntity[][]>,
  info: ModelInfo,
  options: ServerOptions,
): Promise<RunningServer> {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const batcher = new Batcher(predict, limits);
  const budget = new BodyBudget(limits.bodiesBytes);
  const auth = options.token !== undefined ? new TokenCheck(options.token) : undefined;
  const page = await loadPage();
  const labels = entityTypes(info.tags);
  let closing = false;

  const health = () => {
    const workers = info.workers?.();
    const failing = workers?.failure != null;
    return {
      status: closing ? "stopping" : failing ? "failing" : "ok",
      ready: !closing && !failing,
      ...(failing ? { error: workers!.failure } : {}),
      model: info.model,
      labels,
      backend: info.backend.backend,
      ...(workers
        ? { workers: { total: workers.workers, ready: workers.ready, restarts: workers.restarts } }
        : {}),
      queue: batcher.stats,
      memory: { rss_bytes: Deno.memoryUsage().rss, ...info.stats?.() },
    };
  };
  const metadata = () => ({
    model: info.model,
    labels,
    tags: info.tags,
    backend: info.backend,
    decoding: info.decoding,
    pipeline: info.source,
    config: info.config,
    limits,
  });

  const predictRoute = async (req: Request, client: string): Promise<Response> => {
    batcher.heardFrom(client);
    const request = parsePredictRequest(parseJson(await readBody(req, limits, budget)), limits);
    const found = await batcher.submit(request.texts, request.decode, client);
    const answers = found.map((entities) => hfEntities(entities, request.ignore));
    return json(200, request.single ? answers[0] : answers);
  };

  const handle = async (req: Request, client: string): Promise<Response> => {
    if (auth && !(await auth.allows(req.headers.get("authorization")))) {
      const opensPage = new URL(req.url).pathname === "/" && req.method !== "POST";
      return json(
        401,
        { error: `Missing or wrong token: send the header "Authorization: Bearer <token>"` },
        // A browser asks for the token as a password where the page is opened.
        { "www-authenticate": opensPage ? `Basic realm="nerpipe", charset="UTF-8"` : "Bearer" },
      );
    }
    const path = new URL(req.url).pathname;
    const methods = Object.hasOwn(ROUTES, path) ? ROUTES[path]! : undefined;
    if (!methods) {
      return json(404, {
        error: `No route "${path}": the routes are GET /, POST /predict, GET /health, ` +
          "GET /metadata",
      });
    }
    if (!methods.includes(req.method)) {
      return json(405, { error: `${req.method} ${path} is not served: use ${methods[0]}` }, {
        allow: methods.join(", "),
      });
    }
    if (req.method === "POST") {
      if (closing) {
        return json(503, { error: "The server is stopping: send it to another" }, {
          "retry-after": "1",
          connection: "close",
        });
      }
      return await predictRoute(req, client);
    }
    if (path === "/health") {
      // A load balancer's probe reads the status: 503 while the server cannot answer.
      const now = health();
      return json(now.ready ? 200 : 503, now);
    }
    if (path === "/metadata") return json(200, metadata());
    return new Response(page.html, {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": page.csp,
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      },
    });
  };

  let listening: (addr: Deno.NetAddr) => void;
  const ready = new Promise<Deno.NetAddr>((resolve) => listening = resolve);
  const server = Deno.serve({
    hostname: options.host,
    port: options.port,
    onListen: (addr) => listening(addr as Deno.NetAddr),
    onError: (error) => {
      console.error(`error: a request failed: ${(error as Error)?.stack ?? error}`);
      return json(500, { error: "Internal error: the server's log says more" });
    },
  }, async (req, info) => {
    try {
      // A client is a connection: its requests come one after another.
      const { hostname, port } = info.remoteAddr as Deno.NetAddr;
      return await handle(req, `${hostname}:${port}`);
    } catch (error) {
      if (error instanceof RequestError) {
        return json(
          error.status,
          { error: error.message },
          error.status === 503 ? { "retry-after": "1" } : {},
        );
      }
      if (error instanceof QueueFullError) {
        return json(503, { error: error.message }, { "retry-after": "1" });
      }
      // The model's workers stopped: this server answers no more texts (another may).
      if (error instanceof PoolFailedError) return json(503, { error: error.message });
      throw error;
    }
  });
  const addr = await ready;
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  return {
    url: `http://${host}:${addr.port}/`,
    port: addr.port,
    shutdown: async () => {
      closing = true;
      // The bodies on their way are read first (each within bodyMs; new requests get 503 in the
      // meantime): Deno 2.9's shutdown() makes a body being read unreadable
      // (denoland/deno#36809), which would turn a request in flight into a 500.
      await budget.drained();
      await server.shutdown();
      await batcher.idle();
    },
    finished: server.finished,
  };
}
