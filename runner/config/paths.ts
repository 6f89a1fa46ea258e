/**
 * Paths a pipeline names: where they may lead (the project and the paths allowed outside it),
 * whether each exists, is in bounds and can be read, how a problem is worded, and which
 * parameters are paths (`x-path` in a stage kind's schema).
 *
 * @module
 */

import { dirname, resolve, sep } from "../paths.ts";
import { UserError } from "../errors.ts";
import type { JsonSchema } from "../stage.ts";
import type { PathParam } from "../core/pipeline.ts";
import { listFiles } from "../lib/list_files.ts";

/**
 * Where paths may lead: the project root, and the directories and files the user allowed
 * explicitly; all as real paths (symbolic links resolved).
 */
export interface Bounds {
  root: string;
  realRoot: string;
  allowed: string[];
}

/** Whether something is at `path` (a link counts by what it points to). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The real path of `path`, or of the nearest existing directory above it joined with the rest. */
function realOrLexical(path: string): string {
  let head = path;
  const rest: string[] = [];
  for (;;) {
    try {
      return resolve(Deno.realPathSync(head), ...rest);
    } catch {
      const up = dirname(head);
      if (up === head) return path;
      rest.unshift(head.slice(up.length).replace(/^[/\\]/, ""));
      head = up;
    }
  }
}

export function makeBounds(root: string, allowed: string[]): Bounds {
  return {
    root,
    realRoot: realOrLexical(root),
    allowed: allowed.map((p) => realOrLexical(resolve(root, p))),
  };
}

/** Whether a real path is the project root or an allowed path, or under one. */
export function inBounds(real: string, bounds: Bounds): boolean {
  return [bounds.realRoot, ...bounds.allowed].some((base) =>
    real === base || real.startsWith(base.endsWith(sep) ? base : `${base}${sep}`)
  );
}

/** Why a path cannot be used. */
export interface PathProblem {
  reason: "missing" | "dangling" | "outside" | "kind" | "unreadable";
  /** What is wrong, after the path's description. */
  detail: string;
  /** How to fix it, when the detail does not say. */
  hint?: string;
  /** For `outside`: whether a symbolic link in the project led there. */
  viaLink?: boolean;
}

/**
 * Checks a path that a pipeline names: it exists, its real path (symbolic links resolved) is in
 * bounds, it is of the expected kind and can be read; a directory is listed as the cache lists
 * it, every link in it followed and kept in bounds.
 */
export async function checkPath(
  abs: string,
  kind: "file" | "dir" | "any",
  bounds: Bounds,
): Promise<PathProblem | undefined> {
  const unreadable = (error: unknown): PathProblem => ({
    reason: "unreadable",
    detail: error instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : `cannot be read (${(error as Error).message})`,
    hint: "check its permissions",
  });
  try {
    Deno.lstatSync(abs);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { reason: "missing", detail: "does not exist" };
    }
    return unreadable(error);
  }
  let real: string;
  try {
    real = Deno.realPathSync(abs);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) return unreadable(error);
    return {
      reason: "dangling",
      detail: "is a symbolic link to nothing (dangling)",
      hint: "restore its target, or give the path of the data itself",
    };
  }
  if (!inBounds(real, bounds)) {
    // Say whether a link led outside, without saying where: that place was not allowed.
    const lexical = inBounds(resolve(abs), { ...bounds, realRoot: resolve(bounds.root) });
    return { reason: "outside", detail: "is outside the project", viaLink: lexical };
  }
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(real);
  } catch (error) {
    return unreadable(error);
  }
  if (kind === "file" && !info.isFile) return { reason: "kind", detail: "is not a file" };
  if (kind === "dir" && !info.isDirectory) return { reason: "kind", detail: "is not a directory" };
  if (!info.isFile && !info.isDirectory) {
    return { reason: "kind", detail: "is neither a file nor a directory" };
  }
  if (info.isFile) {
    try {
      Deno.openSync(real, { read: true }).close();
    } catch (error) {
      return unreadable(error);
    }
    return undefined;
  }
  try {
    await listFiles(abs, { follow: (target) => inBounds(target, bounds) });
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    return { reason: "unreadable", detail: `cannot be used: ${error.message}` };
  }
  return undefined;
}

/** The message and hint of a diagnostic for a path problem; `what` names the path. */
export function describePathProblem(
  what: string,
  problem: PathProblem,
  root: string,
): { message: string; hint?: string } {
  if (problem.reason === "outside") {
    const where = problem.viaLink
      ? `leads outside the project ${root} through a symbolic link`
      : `is outside the project ${root}`;
    return {
      message: `${what} ${where}`,
      hint: "paths stay inside the project unless allowed: list the file or a directory above " +
        "it under allow_outside: in the pipeline file, or run with --allow-outside <path>",
    };
  }
  if (problem.reason === "missing") {
    return {
      message: `${what} ${problem.detail}`,
      hint: `paths are relative to the project root ${root}`,
    };
  }
  return { message: `${what} ${problem.detail}`, ...(problem.hint ? { hint: problem.hint } : {}) };
}

/** Paths inside `value` that the schema marks with `x-path`. */
export function findPaths(
  value: unknown,
  schema: JsonSchema,
  path: string,
): Omit<PathParam, "abs">[] {
  const out: Omit<PathParam, "abs">[] = [];
  const mark = schema["x-path"];
  if (typeof value === "string" && (mark === "file" || mark === "dir")) {
    out.push({ param: path, path: value, kind: mark });
    return out;
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const props = (schema.properties ?? {}) as Record<string, JsonSchema>;
    for (const [k, v] of Object.entries(value)) {
      const sub = props[k];
      if (sub) out.push(...findPaths(v, sub, `${path}.${k}`));
    }
  }
  for (
    const branch of [
      ...(schema.oneOf ?? []) as JsonSchema[],
      ...(schema.anyOf ?? []) as JsonSchema[],
    ]
  ) {
    out.push(...findPaths(value, branch, path));
  }
  return out;
}
