/**
 * What the last run of each stage was keyed on (`.pipeline/state/<pipeline>/<id>.json`), kept to
 * say why a stage is stale: `status`, `--dry-run` and the `running` line of a run compare it with
 * the stage's key now (keys/explain.ts).
 *
 * @module
 */

import type { KeyParts } from "./stage_key.ts";
import { isHash } from "../lib/digest.ts";
import type { Cache } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return isObject(value) && Object.values(value).every((v) => typeof v === "string");
}

/** Key parts read back from `state/`, or undefined when they are not of that shape. */
function asKeyParts(value: unknown): (KeyParts & { key: string }) | undefined {
  if (!isObject(value) || !isHash(value.key)) return undefined;
  if (typeof value.kind !== "string" || typeof value.version !== "number") return undefined;
  for (const field of ["code", "inputs", "files"]) {
    if (!isStringRecord(value[field])) return undefined;
  }
  if ("packages" in value && !isStringRecord(value.packages)) return undefined;
  if ("engine" in value && typeof value.engine !== "number") return undefined;
  return value as unknown as KeyParts & { key: string };
}

/**
 * What the last run of a stage of a pipeline was keyed on.
 *
 * @returns Its key and parts, or undefined when there is none or it is not well-formed.
 */
export function lastKeyParts(
  cache: Cache,
  pipeline: string,
  id: string,
): Promise<(KeyParts & { key: string }) | undefined> {
  return Promise.resolve(
    asKeyParts(cache.readJson(cachePath(cache.dir, "state", pipeline, `${id}.json`))),
  );
}

/** Remembers what a stage's key was computed from (skipped when the cache is read-only). */
export async function saveKeyParts(
  cache: Cache,
  pipeline: string,
  id: string,
  parts: KeyParts & { key: string },
): Promise<void> {
  if (cache.readOnly !== undefined) return;
  await cache.writeFile(
    cachePath(cache.dir, "state", pipeline, `${id}.json`),
    JSON.stringify(parts, null, 1),
    `what stage "${id}" ran on must be remembered`,
  );
}
