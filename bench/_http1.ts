/**
 * A lean HTTP/1.1 client for load generation: one kept-alive TCP connection, a request written
 * whole, the answer read to its `Content-Length` (or its chunks). The bench's clients share the
 * machine's cores with the server; `fetch` takes several times the CPU per request that this
 * does, and would measure itself as much as the server (wrk and oha exist for the same reason).
 *
 * @module
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF2 = [13, 10, 13, 10];

/** One connection; one request at a time. */
export class Http1Connection {
  readonly #conn: Deno.TcpConn;
  readonly #host: string;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
  }

  /** Connects to the server of `url` (plain HTTP). */
  static async open(url: URL): Promise<Http1Connection> {
    const port = Number(url.port || 80);
    const conn = await Deno.connect({ hostname: url.hostname, port });
    conn.setNoDelay(true);
    return new Http1Connection(conn, url.host);
  }

  /** POSTs a JSON body; gives the status and the body's bytes. */
  async post(path: string, json: string): Promise<{ status: number; body: Uint8Array }> {
    const body = encoder.encode(json);
    const head = encoder.encode(
      `POST ${path} HTTP/1.1\r\nhost: ${this.#host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${body.length}\r\n\r\n`,
    );
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    for (let at = 0; at < out.length;) at += await this.#conn.write(out.subarray(at));
    return await this.#response();
  }

  /** Closes the connection. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* closed already */ }
  }

  async #fill(): Promise<void> {
    if (this.#start > 0 && this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      const kept = this.#buf.subarray(this.#start, this.#end);
      const bigger = new Uint8Array(Math.max(this.#buf.length, kept.length * 2));
      bigger.set(kept);
      this.#buf = bigger;
      this.#end = kept.length;
      this.#start = 0;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("The server closed the connection");
    this.#end += n;
  }

  /** Index just past the next CRLF CRLF, or -1. */
  #headEnd(): number {
    for (let i = this.#start; i + 3 < this.#end; i++) {
      if (
        this.#buf[i] === CRLF2[0] && this.#buf[i + 1] === CRLF2[1] &&
        this.#buf[i + 2] === CRLF2[2] && this.#buf[i + 3] === CRLF2[3]
      ) return i + 4;
    }
    return -1;
  }

  async #take(n: number): Promise<Uint8Array> {
    while (this.#end - this.#start < n) await this.#fill();
    const bytes = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return bytes;
  }

  async #line(): Promise<string> {
    for (;;) {
      const at = this.#buf.subarray(this.#start, this.#end).indexOf(10);
      if (at >= 0) {
        const line = decoder.decode(this.#buf.subarray(this.#start, this.#start + at)).trim();
        this.#start += at + 1;
        return line;
      }
      await this.#fill();
    }
  }

  async #response(): Promise<{ status: number; body: Uint8Array }> {
    let end: number;
    while ((end = this.#headEnd()) < 0) await this.#fill();
    const head = decoder.decode(this.#buf.subarray(this.#start, end)).split("\r\n");
    this.#start = end;
    const status = Number(head[0]!.split(" ")[1]);
    const headers = new Map(
      head.slice(1).filter((l) => l.includes(":")).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as const;
      }),
    );
    const length = headers.get("content-length");
    if (length !== undefined) return { status, body: await this.#take(Number(length)) };
    if (headers.get("transfer-encoding")?.toLowerCase() !== "chunked") {
      throw new Error("An answer with neither a content-length nor chunks");
    }
    const parts: Uint8Array[] = [];
    for (;;) {
      const size = parseInt(await this.#line(), 16);
      if (size === 0) {
        await this.#line();
        break;
      }
      parts.push(await this.#take(size));
      await this.#take(2);
    }
    const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) body.set(p, (at += p.length) - p.length);
    return { status, body };
  }
}
