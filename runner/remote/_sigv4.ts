/**
 * AWS Signature Version 4 for S3 requests, with WebCrypto: the `Authorization` header a request
 * carries, and the encodings it is computed over.
 *
 * @module
 */

/** sha256 of an empty body, as `x-amz-content-sha256` names it. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const encoder = new TextEncoder();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex sha256 of bytes or text. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

async function hmac(key: Uint8Array | ArrayBuffer, text: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return await crypto.subtle.sign("HMAC", k, encoder.encode(text));
}

/** RFC 3986 encoding of one path segment, as SigV4 wants it. */
export function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** `20130524T000000Z`: the form of `x-amz-date`. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/** What {@link authorization} signs. */
export interface SignInput {
  method: string;
  /** The URI path, already encoded; no query string (none is used). */
  path: string;
  /** Headers to sign, lower-case names; `host` and `x-amz-date` among them. */
  headers: Record<string, string>;
  /** Hex sha256 of the body (`x-amz-content-sha256`). */
  payloadHash: string;
  region: string;
  keyId: string;
  secret: string;
}

/** The `Authorization` header of an S3 request, AWS Signature Version 4. */
export async function authorization(input: SignInput): Promise<string> {
  const now = input.headers["x-amz-date"]!;
  const date = now.slice(0, 8);
  const names = Object.keys(input.headers).sort();
  const canonical = [
    input.method,
    input.path,
    "",
    ...names.map((n) => `${n}:${input.headers[n]!.trim().replace(/\s+/g, " ")}`),
    "",
    names.join(";"),
    input.payloadHash,
  ].join("\n");
  const scope = `${date}/${input.region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", now, scope, await sha256Hex(canonical)].join("\n");
  let key = await hmac(encoder.encode(`AWS4${input.secret}`), date);
  for (const part of [input.region, "s3", "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  return `AWS4-HMAC-SHA256 Credential=${input.keyId}/${scope}, ` +
    `SignedHeaders=${names.join(";")}, Signature=${signature}`;
}
