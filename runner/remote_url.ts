/**
 * Where the shared remote cache is (`remote:` in a pipeline, or `NERPIPE_REMOTE`), and a lazy
 * handle on it. This module is small on purpose: the engine imports it on every run, while the
 * client (`remote.ts`) is imported only when a stage misses the local cache, so a run that the
 * local cache answers entirely neither loads the client nor contacts the remote.
 *
 * @module
 */

import { fileURLToPath } from "./paths.ts";
import type { RemoteCache } from "./remote.ts";
import type { Reporter } from "./report.ts";
import type { EnvVar } from "./env.ts";

/** A parsed remote location. `display` is safe to print: it never holds credentials. */
export type RemoteSpec =
  | { kind: "s3"; bucket: string; prefix: string; display: string }
  | { kind: "file"; dir: string; display: string };

/** Why a remote location was refused, and how to fix it (neither repeats the value). */
export interface RemoteProblem {
  problem: string;
  hint: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_PART = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** `NERPIPE_REMOTE`, as the CLI checks it when it starts (its value is never repeated). */
export const REMOTE_ENV_VAR: EnvVar = {
  name: "NERPIPE_REMOTE",
  allowed: "s3://<bucket>/<prefix> (credentials in the AWS variables) or file:///absolute/dir",
  secret: true,
  check(value) {
    const spec = parseRemote(value);
    if (!("problem" in spec)) return true;
    return `is not a remote cache (${spec.problem.charAt(0).toLowerCase()}${
      spec.problem.slice(1)
    })`;
  },
};

/**
 * Parses `s3://bucket/prefix` or `file:///absolute/dir`. Messages never repeat the value: a
 * mistaken value may hold a secret (`s3://KEY:SECRET@bucket`).
 */
export function parseRemote(url: string): RemoteSpec | RemoteProblem {
  const s3 = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/.exec(url);
  if (s3) {
    const [, bucket = "", path = ""] = s3;
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
    return { kind: "s3", bucket, prefix, display: `s3://${bucket}${prefix ? `/${prefix}` : ""}` };
  }
  if (url.startsWith("file://")) {
    if (!url.startsWith("file:///") || /[?#]/.test(url)) {
      return {
        problem: "A file remote must be an absolute file URL",
        hint: "write file:///absolute/path/to/the/shared/cache",
      };
    }
    let dir: string;
    try {
      dir = fileURLToPath(url).replace(/\/+$/, "") || "/";
    } catch {
      return { problem: "The file remote is not a valid file URL", hint: "write file:///path" };
    }
    return { kind: "file", dir, display: `file://${dir}` };
  }
  return {
    problem: "The remote must be an s3:// or a file:// URL",
    hint: "write remote: s3://<bucket>/<prefix> (S3, MinIO, R2, Ceph...) or " +
      "remote: file:///shared/cache (a directory, e.g. on NFS)",
  };
}

/** What a run does with the remote. */
export interface RemoteOptions {
  /** The remote; default `NERPIPE_REMOTE`, then the pipeline's `remote:`. */
  url?: string;
  /** Look a local miss up in the remote (default true). */
  pull?: boolean;
  /** Upload what a stage made (default true). */
  push?: boolean;
  /** A remote that cannot be used is an error (exit 2), not a warning. */
  require?: boolean;
  /** Environment (AWS variables); default `Deno.env`. */
  env?: (name: string) => string | undefined;
}

/** The remote a run uses: `options.url`, else `NERPIPE_REMOTE`, else the pipeline's. */
export function remoteUrl(
  pipelineRemote: string | undefined,
  options: RemoteOptions | undefined,
): string | undefined {
  const env = options?.env ?? ((name: string) => Deno.env.get(name));
  return options?.url || env("NERPIPE_REMOTE") || pipelineRemote || undefined;
}

/**
 * A remote loaded on first use. `get()` imports the client, once; it gives undefined when there
 * is no remote, when neither pulling nor pushing is on for `use`, or when the remote failed
 * earlier in the run (it warned once then).
 */
export class LazyRemote {
  readonly url: string | undefined;
  readonly options: RemoteOptions;
  #reporter: Reporter;
  #loaded: Promise<RemoteCache> | undefined;

  /**
   * @param url The remote (see {@link remoteUrl}), or undefined for none.
   * @param options What to do with it.
   * @param reporter Where its single warning goes.
   */
  constructor(url: string | undefined, options: RemoteOptions, reporter: Reporter) {
    this.url = url;
    this.options = options;
    this.#reporter = reporter;
  }

  /** The client, when the remote is to be used for `use`. */
  async get(use: "pull" | "push"): Promise<RemoteCache | undefined> {
    if (this.url === undefined) return undefined;
    if (use === "pull" ? this.options.pull === false : this.options.push === false) {
      return undefined;
    }
    this.#loaded ??= import("./remote.ts").then((m) =>
      m.openRemote(this.url!, {
        require: this.options.require ?? false,
        env: this.options.env ?? ((name: string) => Deno.env.get(name)),
        warn: (text) => this.#reporter.line(text),
      })
    );
    const remote = await this.#loaded;
    return remote.usable ? remote : undefined;
  }
}
