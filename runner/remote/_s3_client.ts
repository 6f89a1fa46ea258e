/**
 * A small S3 client over `fetch`: GET, HEAD and PUT of single objects, signed with AWS
 * Signature Version 4 (WebCrypto, _sigv4.ts). That is all the remote cache needs, and it costs no npm
 * package: `@aws-sdk/client-s3` is 27 npm packages (22 MB) and takes about 90 ms to import
 * in Deno 2.9 even when cached, and its default request checksums (aws-chunked bodies with
 * trailers) are not understood by every S3-compatible server.
 *
 * Credentials come from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`;
 * the server from `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` (path-style addressing, as
 * MinIO, Ceph, R2 and s3rver expect), else AWS in `AWS_REGION` (virtual-hosted addressing).
 * No error this module makes holds a credential, a signature or a server's error body: only
 * the HTTP status and the S3 error code.
 *
 * It is one class kept whole, a little over 350 lines: the settings read from the AWS
 * variables, one request with its bounds (a first answer within seconds, no stall in a body,
 * nothing read past a limit), the failures it can meet, each in words, and the five calls the
 * remote makes of it; split, each part would only make sense with the others beside it.
 *
 * @module
 */

import { ObjectTooLarge, RemoteFailure } from "./store.ts";
import { amzDate, authorization, EMPTY_SHA256, encodeSegment, sha256Hex } from "./_sigv4.ts";

/** Seconds to wait for a server's first answer (connecting included). */
export const CONNECT_SECONDS = 5;
/**
 * Seconds a download may pause (no bytes at all) before it is given up. However long an answer
 * says it is, its time is bounded by this per pause, not by the length it declares.
 */
export const STALL_SECONDS = 5;
/** The slowest upload tolerated, in bytes per second, on top of {@link CONNECT_SECONDS}. */
const MIN_RATE = 1_000_000;
/** Bytes of an error answer read for its S3 error code. */
const ERROR_BODY_BYTES = 64 * 1024;

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Settings of an S3 client, read from the AWS variables. */
export interface S3Settings {
  bucket: string;
  /** Key prefix, without leading or trailing slash ("" for none). */
  prefix: string;
  env: (name: string) => string | undefined;
}

/** A bucket and prefix on an S3-compatible server. */
export class S3Client {
  /** Where requests go, for messages: `http://127.0.0.1:9000` (never with credentials). */
  readonly server: string;
  #base: URL;
  #pathStyle: boolean;
  #bucket: string;
  #prefix: string;
  #region: string;
  #keyId: string | undefined;
  #secret: string | undefined;
  #token: string | undefined;

  /** @throws {RemoteFailure} when the AWS variables are inconsistent. */
  constructor(settings: S3Settings) {
    const env = (name: string) => settings.env(name) || undefined;
    this.#bucket = settings.bucket;
    this.#prefix = settings.prefix;
    this.#region = env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1";
    if (!/^[a-z0-9-]+$/.test(this.#region)) {
      throw new RemoteFailure(
        "AWS_REGION is not a region name",
        "set AWS_REGION to a region such as us-east-1 (or leave it unset)",
      );
    }
    this.#keyId = env("AWS_ACCESS_KEY_ID");
    this.#secret = env("AWS_SECRET_ACCESS_KEY");
    this.#token = env("AWS_SESSION_TOKEN");
    if ((this.#keyId === undefined) !== (this.#secret === undefined)) {
      throw new RemoteFailure(
        `${this.#keyId === undefined ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID"} is set ` +
          `but ${this.#keyId === undefined ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY"} is not`,
        "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or neither, for a public bucket)",
      );
    }
    const endpoint = env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL");
    if (endpoint !== undefined) {
      let url: URL;
      try {
        url = new URL(endpoint);
      } catch {
        throw new RemoteFailure(
          "AWS_ENDPOINT_URL is not a URL",
          "set it to the server's address, e.g. http://127.0.0.1:9000",
        );
      }
      if (url.protocol !== "http:" && url.protocol !== "https:") {
        throw new RemoteFailure("AWS_ENDPOINT_URL must be http:// or https://", "fix the URL");
      }
      if (url.username || url.password) {
        throw new RemoteFailure(
          "AWS_ENDPOINT_URL holds credentials, which it must not",
          "give them in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and only the server in " +
            "AWS_ENDPOINT_URL",
        );
      }
      url.search = "";
      url.hash = "";
      url.pathname = url.pathname.replace(/\/+$/, "");
      this.#base = url;
      this.#pathStyle = true;
    } else if (!this.#bucket.includes(".")) {
      this.#base = new URL(`https://${this.#bucket}.s3.${this.#region}.amazonaws.com`);
      this.#pathStyle = false;
    } else {
      this.#base = new URL(`https://s3.${this.#region}.amazonaws.com`);
      this.#pathStyle = true;
    }
    this.server = this.#base.origin;
  }

  /** Removes every credential from a text (a last guard: none should be there). */
  scrub(text: string): string {
    let out = text;
    for (const secret of [this.#secret, this.#token, this.#keyId]) {
      if (secret && secret.length >= 4) out = out.split(secret).join("***");
    }
    return out;
  }

  #url(key: string): URL {
    const full = this.#prefix ? `${this.#prefix}/${key}` : key;
    const path = [
      ...(this.#pathStyle ? [this.#bucket] : []),
      ...full.split("/"),
    ].map(encodeSegment).join("/");
    const url = new URL(this.#base.href);
    url.pathname = `${this.#base.pathname.replace(/\/+$/, "")}/${path}`;
    return url;
  }

  async #sign(method: string, url: URL, payloadHash: string): Promise<Headers> {
    const headers: Record<string, string> = {
      host: url.host,
      "x-amz-content-sha256": payloadHash,
      "x-amz-date": amzDate(new Date()),
    };
    if (this.#token) headers["x-amz-security-token"] = this.#token;
    if (this.#keyId !== undefined && this.#secret !== undefined) {
      headers.authorization = await authorization({
        method,
        path: url.pathname,
        headers,
        payloadHash,
        region: this.#region,
        keyId: this.#keyId,
        secret: this.#secret,
      });
    }
    const out = new Headers();
    for (const [name, value] of Object.entries(headers)) if (name !== "host") out.set(name, value);
    return out;
  }

  /**
   * One request. The server must answer within {@link CONNECT_SECONDS} (plus an upload's time
   * at {@link MIN_RATE}); a body then comes in chunks with no pause of {@link STALL_SECONDS} or
   * more, and no longer than `limit` bytes: a longer one (declared, or seen as it comes) is
   * not read further, and is an {@link ObjectTooLarge}. `sink` receives a successful answer's
   * body as it comes (bytes are kept otherwise).
   */
  async #request(
    method: "GET" | "HEAD" | "PUT",
    key: string,
    options: {
      body?: Uint8Array;
      bodyHash?: string;
      ifAbsent?: boolean;
      limit?: number;
      sink?: (chunk: Uint8Array) => Promise<void>;
    } = {},
  ): Promise<{ status: number; body?: Uint8Array; code?: string; bytes: number }> {
    const { body } = options;
    const url = this.#url(key);
    const headers = await this.#sign(
      method,
      url,
      body ? options.bodyHash ?? await sha256Hex(body) : EMPTY_SHA256,
    );
    // A conditional write (AWS since 2024, MinIO, R2): 412 when the object exists.
    if (options.ifAbsent) headers.set("if-none-match", "*");
    const controller = new AbortController();
    let stalled = false;
    let timer = setTimeout(
      () => controller.abort(),
      CONNECT_SECONDS * 1000 + ((body?.length ?? 0) / MIN_RATE) * 1000,
    );
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
        signal: controller.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      throw this.#networkFailure(error, controller.signal.aborted);
    }
    clearTimeout(timer);
    // What is read of an answer that is not a success: enough for its error code.
    const limit = response.ok ? options.limit ?? Infinity : ERROR_BODY_BYTES;
    const declared = Number(response.headers.get("content-length") ?? NaN);
    if (method === "HEAD" || !response.body) {
      await response.body?.cancel().catch(() => {});
      return { status: response.status, body: new Uint8Array(), bytes: 0 };
    }
    if (response.ok && declared > limit) {
      await response.body.cancel().catch(() => {});
      throw new ObjectTooLarge(limit, declared);
    }
    const reader = response.body.getReader();
    const kept: Uint8Array[] = [];
    let bytes = 0;
    const stall = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        reader.cancel().catch(() => {});
        controller.abort();
      }, STALL_SECONDS * 1000);
    };
    try {
      stall();
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await reader.read();
        } catch (error) {
          throw stalled ? this.#stalled() : this.#networkFailure(error, false);
        }
        if (stalled) throw this.#stalled();
        if (next.done) break;
        clearTimeout(timer);
        bytes += next.value.length;
        if (bytes > limit) {
          if (!response.ok) break; // an error answer: its start is enough
          throw new ObjectTooLarge(limit);
        }
        if (response.ok && options.sink) await options.sink(next.value);
        else kept.push(next.value);
        stall();
      }
    } finally {
      clearTimeout(timer);
      reader.cancel().catch(() => {});
    }
    const all = concat(kept);
    if (response.ok) return { status: response.status, body: all, bytes };
    // Only the error code is kept: the rest of an S3 error body can repeat the request.
    const code = /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(new TextDecoder().decode(all))?.[1];
    return { status: response.status, ...(code ? { code } : {}), bytes };
  }

  #stalled(): RemoteFailure {
    return new RemoteFailure(
      `${this.server} stopped sending for ${STALL_SECONDS} s in the middle of an answer`,
      `check that the server at ${this.server} is up and reachable (AWS_ENDPOINT_URL names it)`,
    );
  }

  #networkFailure(error: unknown, timedOut: boolean): RemoteFailure {
    const hint = `check that the server at ${this.server} is up and reachable ` +
      "(AWS_ENDPOINT_URL names it)";
    if (timedOut) {
      return new RemoteFailure(`${this.server} did not answer within ${CONNECT_SECONDS} s`, hint);
    }
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return new RemoteFailure(
        `Deno may not connect to ${this.#base.host}`,
        `grant it with --allow-net=${this.#base.host}`,
      );
    }
    const cause = (error as { cause?: unknown })?.cause;
    const text = `${(error as Error)?.message ?? error} ${cause ? String(cause) : ""}`;
    const why = /refused/i.test(text)
      ? "connection refused"
      : /dns|lookup|resolve|name or service/i.test(text)
      ? "host not found"
      : /certificate|tls|ssl/i.test(text)
      ? "TLS error"
      : /blocked/i.test(text)
      ? "the port is blocked"
      : /reset|closed|broken pipe/i.test(text)
      ? "connection lost"
      : "network error";
    return new RemoteFailure(`${this.server} cannot be reached (${why})`, hint);
  }

  #refused(status: number, code: string | undefined, what: string): RemoteFailure {
    const answer = `${status}${code ? ` ${code}` : ""}`;
    const hint = status === 403 || status === 401
      ? "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) and that they " +
        `may read and write s3://${this.#bucket}`
      : status === 404 || code === "NoSuchBucket"
      ? `create the bucket ${this.#bucket}, or fix the remote's name`
      : `check the server at ${this.server}`;
    return new RemoteFailure(`${this.server} refused to ${what} (${answer})`, hint);
  }

  /**
   * The object's bytes, or undefined when there is none.
   *
   * @param limit The most bytes read.
   * @throws {ObjectTooLarge} When the object is longer.
   */
  async get(key: string, limit: number): Promise<Uint8Array | undefined> {
    const got = await this.#request("GET", key, { limit });
    if (got.status === 404 && got.code !== "NoSuchBucket") return undefined;
    if (got.status >= 300) throw this.#refused(got.status, got.code, "read an object");
    return got.body;
  }

  /**
   * Reads an object as it comes.
   *
   * @param limit The most bytes read.
   * @param sink Receives each chunk (it may keep it).
   * @returns The bytes read, or undefined when there is no such object.
   * @throws {ObjectTooLarge} When the object is longer (`sink` has had its first bytes).
   */
  async read(
    key: string,
    limit: number,
    sink: (chunk: Uint8Array) => Promise<void>,
  ): Promise<number | undefined> {
    const got = await this.#request("GET", key, { limit, sink });
    if (got.status === 404 && got.code !== "NoSuchBucket") return undefined;
    if (got.status >= 300) throw this.#refused(got.status, got.code, "read an object");
    return got.bytes;
  }

  /** Whether the object exists. */
  async has(key: string): Promise<boolean> {
    const got = await this.#request("HEAD", key);
    // A HEAD answer has no body, so no error code: a missing bucket shows on the next PUT.
    if (got.status === 404) return false;
    if (got.status >= 300) throw this.#refused(got.status, got.code, "look an object up");
    return true;
  }

  /**
   * Writes an object in one request (up to 5 GiB). `sha256` (hex), when known, is sent as the
   * payload hash, so that the server checks what it received.
   */
  async put(key: string, body: Uint8Array, sha256?: string): Promise<void> {
    const got = await this.#request("PUT", key, { body, ...(sha256 ? { bodyHash: sha256 } : {}) });
    if (got.status >= 300) throw this.#refused(got.status, got.code, "store an object");
  }

  /**
   * Writes an object unless one is there (`If-None-Match: *`): false when the server answers
   * that one is (412, or 409 while another such write is in progress). A server that ignores
   * the condition writes anyway; one that refuses it (501) is asked again without it.
   */
  async create(key: string, body: Uint8Array): Promise<boolean> {
    let got = await this.#request("PUT", key, { body, ifAbsent: true });
    if (got.status === 501 || got.code === "NotImplemented") {
      got = await this.#request("PUT", key, { body });
    }
    if (got.status === 412 || got.status === 409) return false;
    if (got.status >= 300) throw this.#refused(got.status, got.code, "store an object");
    return true;
  }
}
