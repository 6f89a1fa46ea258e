/**
 * Where the shared remote cache is (`remote:` in a pipeline, or `NERPIPE_REMOTE`), read through
 * the registry of schemes ({@link SCHEMES}): a new scheme (`gs://`, say) is one module exporting
 * a `Scheme` (store.ts) and one line here. The engine imports this module on every run and
 * whenever a pipeline is checked; the client of a remote is imported only when a stage misses
 * the local cache (lazy.ts), so a run that the local cache answers entirely neither loads it
 * nor contacts the remote.
 *
 * @module
 */

import type { EnvVar } from "../env.ts";
import { file } from "./file.ts";
import { s3 } from "./s3.ts";
import type { ParsedRemote, RemoteProblem, Scheme } from "./store.ts";

/** The schemes of remote locations, tried by their prefix. */
export const SCHEMES: readonly Scheme[] = [s3, file];

/**
 * Parses a remote location by its scheme. Messages never repeat the value: a mistaken value
 * may hold a secret (`s3://KEY:SECRET@bucket`).
 */
export function parseRemote(url: string): ParsedRemote | RemoteProblem {
  const scheme = SCHEMES.find((s) => url.startsWith(s.prefix));
  if (scheme) return scheme.parse(url);
  return {
    problem: `The remote must be a URL of one of the schemes ${
      SCHEMES.map((s) => s.prefix).join(", ")
    }`,
    hint: `write remote: ${SCHEMES.map((s) => s.example).join(" or remote: ")}`,
  };
}

/** `NERPIPE_REMOTE`, as the CLI checks it when it starts (its value is never repeated). */
export const REMOTE_ENV_VAR: EnvVar = {
  name: "NERPIPE_REMOTE",
  allowed: SCHEMES.map((s) => s.example).join(" or "),
  secret: true,
  check(value) {
    const spec = parseRemote(value);
    if (!("problem" in spec)) return true;
    return `is not a remote cache (${spec.problem.charAt(0).toLowerCase()}${
      spec.problem.slice(1)
    })`;
  },
};

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
