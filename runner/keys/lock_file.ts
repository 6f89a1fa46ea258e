/**
 * The npm (and JSR) packages a stage's code imports, resolved as Deno resolves them: through
 * deno.json's `imports` (or its import map) and `deno.lock`, with every package they depend on,
 * so that upgrading one reruns exactly the stages that import it.
 *
 * @module
 */

import { dirname, resolve } from "../paths.ts";

/** One locked package: its resolved version (with peer suffix) and integrity hash. */
export interface LockedPackage {
  /** `npm` or `jsr`. */
  registry: string;
  /** Package name, e.g. `@tensorflow/tfjs-core`. */
  name: string;
  /** Resolved version as deno.lock writes it, e.g. `4.22.0` or `4.22.0_@x+y@1.0.0`. */
  version: string;
  /** Integrity hash from deno.lock; empty when the lock has none. */
  integrity: string;
}

/** deno.json's import map and deno.lock of a project, read once per run. */
export interface Manifest {
  /** Directory of deno.json (import map targets are relative to it). */
  dir: string;
  /** deno.json's `imports`. */
  imports: Record<string, string>;
  /** deno.lock's `specifiers`. */
  specifiers: Record<string, string>;
  /** deno.lock's `npm` and `jsr` sections. */
  packages: Record<"npm" | "jsr", Record<string, { integrity?: string; dependencies?: string[] }>>;
}

async function readJsonFile(path: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // deno.jsonc: comments allowed.
    const { normalizeScript } = await import(
      new URL("./code_text.ts", import.meta.url).href
    ) as typeof import("./code_text.ts");
    const stripped = normalizeScript(text);
    try {
      value = stripped === null ? undefined : JSON.parse(stripped);
    } catch {
      return undefined;
    }
  }
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

function stringRecord(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === "string") out[k] = v;
  return out;
}

function packageRecord(value: unknown): Manifest["packages"]["npm"] {
  const out: Manifest["packages"]["npm"] = {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === null || typeof v !== "object") continue;
    const entry = v as Record<string, unknown>;
    out[k] = {
      ...(typeof entry.integrity === "string" ? { integrity: entry.integrity } : {}),
      ...(Array.isArray(entry.dependencies)
        ? { dependencies: entry.dependencies.filter((d): d is string => typeof d === "string") }
        : {}),
    };
  }
  return out;
}

/**
 * Reads a project's deno.json (or deno.jsonc), the import map it names, and its lock file.
 * Anything missing or unreadable counts as empty: the key then holds what the specifiers say.
 *
 * @param root The project root.
 */
export async function readManifest(root: string): Promise<Manifest> {
  let configPath = `${root}/deno.json`;
  let config = await readJsonFile(configPath);
  if (!config) {
    configPath = `${root}/deno.jsonc`;
    config = await readJsonFile(configPath);
  }
  let imports = stringRecord(config?.imports);
  if (typeof config?.importMap === "string") {
    const map = await readJsonFile(resolve(root, config.importMap));
    imports = { ...stringRecord(map?.imports), ...imports };
  }
  const lockOption = config?.lock;
  const lockPath = lockOption === false
    ? undefined
    : typeof lockOption === "string"
    ? resolve(root, lockOption)
    : lockOption !== null && typeof lockOption === "object" &&
        typeof (lockOption as Record<string, unknown>).path === "string"
    ? resolve(root, (lockOption as { path: string }).path)
    : `${root}/deno.lock`;
  const lock = lockPath ? await readJsonFile(lockPath) : undefined;
  return {
    dir: dirname(configPath),
    imports,
    specifiers: stringRecord(lock?.specifiers),
    packages: { npm: packageRecord(lock?.npm), jsr: packageRecord(lock?.jsr) },
  };
}

/**
 * A bare specifier through the import map (exact entry, or the longest `prefix/` entry).
 *
 * @returns The mapped specifier, or the specifier itself when no entry matches.
 */
export function mapSpecifier(spec: string, manifest: Manifest): string {
  const exact = manifest.imports[spec];
  if (exact !== undefined) return exact;
  let best = "";
  for (const key of Object.keys(manifest.imports)) {
    if (key.endsWith("/") && spec.startsWith(key) && key.length > best.length) best = key;
  }
  return best ? manifest.imports[best]! + spec.slice(best.length) : spec;
}

/** `npm:@scope/name@1.2/sub` -> registry, name and version requirement (`*` when none). */
function parsePackageSpecifier(
  spec: string,
): { registry: "npm" | "jsr"; name: string; req: string } | undefined {
  const m = /^(npm|jsr):\/?((?:@[^/@]+\/)?[^/@]+)(?:@([^/]*))?/.exec(spec);
  if (!m) return undefined;
  return { registry: m[1] as "npm" | "jsr", name: m[2]!, req: m[3] || "*" };
}

/** Splits a lock id `name@version` (the name may start with `@`). */
function splitId(id: string): { name: string; version: string } {
  const at = id.indexOf("@", 1);
  return at < 0 ? { name: id, version: "" } : { name: id.slice(0, at), version: id.slice(at + 1) };
}

/** Lock ids a dependency entry of deno.lock stands for (`name`, `name@version`, aliases). */
function dependencyIds(dep: string, registry: "npm" | "jsr", manifest: Manifest): string[] {
  const section = manifest.packages[registry];
  let entry = dep;
  let target = registry;
  const prefixed = /^(npm|jsr):(.*)$/.exec(dep);
  if (prefixed) {
    target = prefixed[1] as "npm" | "jsr";
    entry = prefixed[2]!;
    const resolved = manifest.specifiers[dep];
    if (resolved !== undefined) {
      return [`${target}:${splitId(entry).name}@${resolved}`];
    }
  }
  // An alias: `alias@npm:real@1.0.0`.
  const alias = /^[^@]*(?:@[^@]+)?@(npm|jsr):(.*)$/.exec(entry);
  if (alias) {
    target = alias[1] as "npm" | "jsr";
    entry = alias[2]!;
  }
  const ids = target === registry ? section : manifest.packages[target];
  if (entry in ids) return [`${target}:${entry}`];
  const wanted = splitId(entry).name;
  const named = Object.keys(ids).filter((id) => splitId(id).name === wanted);
  return named.sort().map((id) => `${target}:${id}`);
}

/**
 * The packages that bare (or `npm:`/`jsr:`) specifiers resolve to, with every package they
 * depend on as deno.lock lists them.
 *
 * @param specs Specifiers as written in code files (local and `node:` ones are ignored).
 * @param manifest The project's import map and lock.
 * @returns By `registry:name`, the locked versions (normally one).
 */
export function lockedPackages(
  specs: Iterable<string>,
  manifest: Manifest,
): Map<string, LockedPackage[]> {
  const queue: string[] = [];
  const unlocked: LockedPackage[] = [];
  for (const spec of specs) {
    const mapped = mapSpecifier(spec, manifest);
    const parsed = parsePackageSpecifier(mapped);
    if (!parsed) {
      if (!isLocal(mapped) && !mapped.startsWith("node:") && !/^[a-z]+:/.test(mapped)) {
        // A bare specifier that nothing maps: Deno cannot resolve it either; keyed as written.
        unlocked.push({ registry: "npm", name: mapped, version: "unresolved", integrity: "" });
      }
      continue;
    }
    const key = `${parsed.registry}:${parsed.name}@${parsed.req}`;
    const resolved = manifest.specifiers[key];
    if (resolved !== undefined) queue.push(`${parsed.registry}:${parsed.name}@${resolved}`);
    else {
      unlocked.push({
        registry: parsed.registry,
        name: parsed.name,
        version: `${parsed.req} (not in deno.lock)`,
        integrity: "",
      });
    }
  }
  const seen = new Set<string>();
  const out = new Map<string, LockedPackage[]>();
  const add = (p: LockedPackage) => {
    const name = `${p.registry}:${p.name}`;
    const list = out.get(name) ?? [];
    if (!list.some((q) => q.version === p.version && q.integrity === p.integrity)) list.push(p);
    out.set(name, list);
  };
  unlocked.forEach(add);
  while (queue.length) {
    const full = queue.pop()!;
    if (seen.has(full)) continue;
    seen.add(full);
    const registry = full.slice(0, 3) as "npm" | "jsr";
    const id = full.slice(4);
    const entry = manifest.packages[registry][id];
    const { name, version } = splitId(id);
    add({ registry, name, version, integrity: entry?.integrity ?? "" });
    for (const dep of entry?.dependencies ?? []) {
      queue.push(...dependencyIds(dep, registry, manifest));
    }
  }
  for (const list of out.values()) list.sort((a, b) => a.version.localeCompare(b.version));
  return out;
}

/** Whether a specifier names a file (relative, absolute or `file:`). */
export function isLocal(spec: string): boolean {
  return spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/") ||
    spec.startsWith("file:");
}
