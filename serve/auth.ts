/**
 * Who may ask: a server on a loopback address answers this machine only; one bound to any other
 * address needs a token, and then every request must carry it, as `Authorization: Bearer
 * <token>` (or, so that a browser can open the page, as the password of HTTP Basic
 * authentication). Tokens are compared in constant time: the SHA-256 digests of the two, byte
 * by byte, to the end.
 *
 * @module
 */

import type { EnvVar } from "../runner/env.ts";

/** The token's length at least: a guessable token is refused when the server starts. */
export const MIN_TOKEN_LENGTH = 16;

/** Printable ASCII without spaces: what an `Authorization` header carries as it is. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/**
 * What is wrong with a token, or undefined when it will do.
 *
 * @param token The token.
 * @returns The problem, in words, or undefined.
 */
export function tokenProblem(token: string): string | undefined {
  if (!TOKEN_CHARS.test(token)) return "holds characters other than printable ASCII";
  if (token.length < MIN_TOKEN_LENGTH) {
    return `is ${token.length} characters long, under ${MIN_TOKEN_LENGTH}`;
  }
  return undefined;
}

/** `NERPIPE_SERVE_TOKEN`: the token of `serve` when `--token` is not given. */
export const SERVE_TOKEN_ENV_VAR: EnvVar = {
  name: "NERPIPE_SERVE_TOKEN",
  allowed: `at least ${MIN_TOKEN_LENGTH} printable ASCII characters without spaces (the ` +
    "bearer token every request to `serve` must carry)",
  check: (value) => tokenProblem(value) ?? true,
  secret: true,
};

/**
 * Whether a host name or address is this machine's loopback: `localhost`, 127.0.0.0/8 or ::1.
 *
 * @param host As given to `--host`.
 * @returns True for a loopback address.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./auth.ts";
 * assert.ok(isLoopback("127.0.0.1") && isLoopback("::1") && isLoopback("localhost"));
 * assert.ok(!isLoopback("0.0.0.0") && !isLoopback("192.168.1.4"));
 * ```
 */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m !== null && m.slice(1).every((part) => Number(part) <= 255);
}

async function digest(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Checks requests' credentials against one token. */
export class TokenCheck {
  readonly #want: Promise<Uint8Array>;

  /**
   * Creates the check.
   *
   * @param token The token every request must carry.
   */
  constructor(token: string) {
    this.#want = digest(token);
  }

  /**
   * Whether a request's `Authorization` header carries the token: `Bearer <token>`, or
   * `Basic` with the token as the password (any user name).
   *
   * @param header The header's value, or null when there is none.
   * @returns True when it does.
   */
  async allows(header: string | null): Promise<boolean> {
    let given = "";
    const m = /^(Bearer|Basic)[ \t]+(\S+)[ \t]*$/i.exec(header ?? "");
    if (m && m[1]!.toLowerCase() === "bearer") given = m[2]!;
    if (m && m[1]!.toLowerCase() === "basic") {
      try {
        const pair = atob(m[2]!);
        given = pair.slice(pair.indexOf(":") + 1);
      } catch { /* not base64: no token */ }
    }
    const [a, b] = [await digest(given), await this.#want];
    let diff = given === "" ? 1 : 0;
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
    return diff === 0;
  }
}
