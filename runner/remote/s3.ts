/**
 * The `s3://` scheme: a remote cache in a bucket of an S3-compatible server (S3, MinIO, R2,
 * Ceph...). The client (_s3_client.ts) is imported when the remote is first used, so that
 * checking a pipeline's `remote:` costs no more than this file.
 *
 * @module
 */

import type { RemoteStore, Scheme } from "./store.ts";

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** `s3://<bucket>/<prefix>`; credentials and the server come from the AWS variables. */
export const s3: Scheme = {
  prefix: "s3://",
  example: "s3://<bucket>/<prefix> (credentials in the AWS variables)",
  parse(url) {
    const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/.exec(url);
    if (!m) {
      return {
        problem: "The remote's address has a query or a fragment",
        hint: "write s3://<bucket>/<prefix>",
      };
    }
    const [, bucket = "", path = ""] = m;
    if (bucket.includes("@") || bucket.includes(":")) {
      return {
        problem: "The remote's address holds credentials or a port, which it must not",
        hint: "write s3://<bucket>/<prefix>, and give credentials in AWS_ACCESS_KEY_ID and " +
          "AWS_SECRET_ACCESS_KEY and a server in AWS_ENDPOINT_URL",
      };
    }
    if (!BUCKET.test(bucket)) {
      return {
        problem: "The remote's bucket name is not a valid S3 bucket name",
        hint: "use 3 to 63 lower-case letters, digits, '.' and '-': s3://<bucket>/<prefix>",
      };
    }
    const parts = path.split("/").filter((p) => p !== "");
    if (!parts.every((p) => PREFIX_PART.test(p) && p !== "." && p !== "..")) {
      return {
        problem: "The remote's prefix has a part that is not a plain name",
        hint: "use letters, digits, '.', '_' and '-' between the slashes of the prefix",
      };
    }
    const prefix = parts.join("/");
    return {
      display: `s3://${bucket}${prefix ? `/${prefix}` : ""}`,
      async open(env): Promise<RemoteStore> {
        const { S3Client } = await import(
          new URL("./_s3_client.ts", import.meta.url).href
        ) as typeof import("./_s3_client.ts");
        const client = new S3Client({ bucket, prefix, env });
        return {
          where: client.server,
          read: (key, limit, sink) => client.read(key, limit, sink),
          has: (key) => client.has(key),
          put: (key, body, hash) => client.put(key, body, hash),
          create: (key, body) => client.create(key, body),
          scrub: (text) => client.scrub(text),
        };
      },
    };
  },
};
