/**
 * A tiny S3 look-alike on loopback for the remote cache's fault tests: it keeps what is PUT in
 * memory and serves it back (no signatures checked), until a test turns it hostile for some
 * keys: it then lies about lengths, streams zeros without end, or stops sending in the middle
 * of an answer. HTTP/1.1 is written by hand on a TCP socket, so that nothing between the test
 * and the client corrects a lie.
 *
 * @module
 */

/** How the server answers a GET of a key that {@link HostileS3.hostile} selects. */
export type Hostility =
  /** `Content-Length: 6000000000`, then zeros. */
  | "huge"
  /** No `Content-Length` (the body ends when the connection does), then zeros without end. */
  | "endless"
  /** No `Content-Length`, 16 bytes, then nothing, the connection left open. */
  | "stall";

/** A running server. */
export interface HostileS3 {
  /** `http://127.0.0.1:<port>`, for AWS_ENDPOINT_URL. */
  endpoint: string;
  /** What was PUT, by path (`/<bucket>/<key>`). */
  objects: Map<string, Uint8Array>;
  /** Which keys are answered with hostility, and how; none when unset. */
  hostile?: { match: (path: string) => boolean; how: Hostility };
  /** Bytes of hostile bodies written to sockets so far (what the client let through). */
  streamed: number;
  /** Stops it, closing every connection. */
  close(): Promise<void>;
}

/** A hostile body is cut after this many bytes, so that a client without a cap ends too. */
const GUARD = 256 * 1024 * 1024;

const encoder = new TextEncoder();

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

/** Reads one request: its method, path, headers and body. */
async function readRequest(conn: Deno.Conn) {
  let buffer = new Uint8Array(0);
  const chunk = new Uint8Array(64 * 1024);
  const more = async () => {
    const n = await conn.read(chunk);
    if (n === null) throw new Error("closed");
    const next = new Uint8Array(buffer.length + n);
    next.set(buffer);
    next.set(chunk.subarray(0, n), buffer.length);
    buffer = next;
  };
  let end = -1;
  while ((end = new TextDecoder().decode(buffer).indexOf("\r\n\r\n")) < 0) await more();
  const head = new TextDecoder().decode(buffer.subarray(0, end)).split("\r\n");
  const [method, path] = head[0]!.split(" ") as [string, string];
  const headers = new Map(
    head.slice(1).map((line) => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
    }),
  );
  const length = Number(headers.get("content-length") ?? 0);
  const start = encoder.encode(new TextDecoder().decode(buffer.subarray(0, end)) + "\r\n\r\n")
    .length;
  while (buffer.length < start + length) await more();
  return {
    method,
    path: decodeURIComponent(path),
    headers,
    body: buffer.slice(start, start + length),
  };
}

/**
 * Starts the server.
 *
 * @returns The server, honest until {@link HostileS3.hostile} is set.
 */
export function startHostileS3(): HostileS3 {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const server: HostileS3 = {
    endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    objects: new Map(),
    streamed: 0,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      await served;
    },
  };
  const answer = async (conn: Deno.Conn) => {
    const { method, path, headers, body } = await readRequest(conn);
    const reply = async (status: string, payload: Uint8Array, extra = "") => {
      const head = `HTTP/1.1 ${status}\r\nContent-Length: ${payload.length}\r\n` +
        `Connection: close\r\n${extra}\r\n`;
      await writeAll(conn, encoder.encode(head));
      if (method !== "HEAD") await writeAll(conn, payload);
    };
    if (method === "PUT") {
      if (headers.get("if-none-match") === "*" && server.objects.has(path)) {
        return await reply("412 Precondition Failed", new Uint8Array());
      }
      server.objects.set(path, body);
      return await reply("200 OK", new Uint8Array());
    }
    const how = method === "GET" && server.hostile?.match(path) ? server.hostile.how : undefined;
    if (how) {
      const head = how === "huge"
        ? "HTTP/1.1 200 OK\r\nContent-Length: 6000000000\r\nConnection: close\r\n\r\n"
        : "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
      await writeAll(conn, encoder.encode(head));
      if (how === "stall") {
        await writeAll(conn, new Uint8Array(16));
        server.streamed += 16;
        // Nothing more, until the client gives up and closes.
        await conn.read(new Uint8Array(1)).catch(() => null);
        return;
      }
      const zeros = new Uint8Array(64 * 1024);
      while (server.streamed < GUARD) {
        await writeAll(conn, zeros);
        server.streamed += zeros.length;
      }
      return;
    }
    const stored = server.objects.get(path);
    if (stored === undefined) {
      const xml = "<Error><Code>NoSuchKey</Code></Error>";
      return await reply("404 Not Found", encoder.encode(method === "HEAD" ? "" : xml));
    }
    await reply("200 OK", stored);
  };
  const served = (async () => {
    const pending: Promise<void>[] = [];
    try {
      for await (const conn of listener) {
        conns.add(conn);
        pending.push(
          answer(conn).catch(() => {}).finally(() => {
            conns.delete(conn);
            try {
              conn.close();
            } catch { /* closed */ }
          }),
        );
      }
    } catch { /* listener closed */ }
    await Promise.all(pending);
  })();
  return server;
}
