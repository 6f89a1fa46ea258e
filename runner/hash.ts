/**
 * Content hashes: files (through a stat cache), directory trees, sorted-key JSON, and the code
 * of a stage (its module and the project modules it imports, transitively).
 *
 * @module
 */

import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** sha256 of a string or bytes, as hex (WebCrypto: no node:crypto import on the hot path). */
export async function sha256(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** Files up to this size are hashed in one piece; larger ones are streamed. */
const WHOLE_FILE_LIMIT = 64 * 1024 * 1024;

/** JSON with object keys sorted at every level, so equal values give equal text. */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

/** sha256 of a file's bytes; large files are read in chunks. */
export async function hashFileContent(path: string): Promise<string> {
  const info = await Deno.stat(path);
  if (info.size <= WHOLE_FILE_LIMIT) return sha256(await Deno.readFile(path));
  const { createHash } = await import("node:crypto");
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buffer);
    if (n === null) break;
    hash.update(buffer.subarray(0, n));
  }
  return hash.digest("hex");
}

interface StatEntry {
  size: number;
  mtime: number;
  ino: number;
  hash: string;
}

/**
 * File hashes remembered by (path, size, mtime, inode), so unchanged files are not re-read.
 * Persisted as JSON by the cache.
 */
export class StatCache {
  #entries: Record<string, StatEntry>;
  #dirty = false;

  constructor(entries: Record<string, StatEntry> = {}) {
    this.#entries = entries;
  }

  /** Entries to persist. */
  toJSON(): Record<string, StatEntry> {
    return this.#entries;
  }

  /** Whether entries changed since loading. */
  get dirty(): boolean {
    return this.#dirty;
  }

  /**
   * The content hash of a file, from the cache when its stat is unchanged.
   *
   * @param path Absolute path.
   * @returns sha256 hex.
   */
  async hashFile(path: string): Promise<string> {
    const info = await Deno.stat(path);
    const mtime = info.mtime?.getTime() ?? 0;
    const ino = info.ino ?? 0;
    const known = this.#entries[path];
    if (known && known.size === info.size && known.mtime === mtime && known.ino === ino) {
      return known.hash;
    }
    const hash = await hashFileContent(path);
    this.#entries[path] = { size: info.size, mtime, ino, hash };
    this.#dirty = true;
    return hash;
  }

  /** Records a hash known from writing a file, without re-reading it. */
  async remember(path: string, hash: string): Promise<void> {
    const info = await Deno.stat(path);
    this.#entries[path] = {
      size: info.size,
      mtime: info.mtime?.getTime() ?? 0,
      ino: info.ino ?? 0,
      hash,
    };
    this.#dirty = true;
  }

  /** Forgets a path and everything under it. */
  forget(path: string): void {
    for (const key of Object.keys(this.#entries)) {
      if (key === path || key.startsWith(`${path}/`)) {
        delete this.#entries[key];
        this.#dirty = true;
      }
    }
  }

  /** Re-keys entries after a rename (a rename keeps size, mtime and inode). */
  move(from: string, to: string): void {
    for (const key of Object.keys(this.#entries)) {
      if (key === from || key.startsWith(`${from}/`)) {
        this.#entries[to + key.slice(from.length)] = this.#entries[key]!;
        delete this.#entries[key];
        this.#dirty = true;
      }
    }
  }

  /**
   * The hash of a directory tree: sha256 over its sorted relative file paths and their hashes.
   *
   * @param dir Absolute path.
   * @returns sha256 hex.
   */
  async hashDir(dir: string): Promise<string> {
    const files = await listFiles(dir);
    const lines: string[] = [];
    for (const rel of files) lines.push(`${rel}\t${await this.hashFile(`${dir}/${rel}`)}`);
    return await sha256(`tree\n${lines.join("\n")}`);
  }

  /** The hash of a file or a directory. */
  hashPath(path: string, kind: "file" | "dir"): Promise<string> {
    return kind === "dir" ? this.hashDir(path) : this.hashFile(path);
  }
}

/** Relative paths of all files under a directory, sorted. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (sub: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const entry of Deno.readDir(sub ? `${dir}/${sub}` : dir)) entries.push(entry);
    for (const entry of entries) {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory) await walk(rel);
      else out.push(rel);
    }
  };
  await walk("");
  return out.sort();
}

const STATIC =
  /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*[,)]/g;
/** A module loaded by URL, e.g. a worker: `new URL("./worker.ts", import.meta.url)`. */
const URL_REF = /\bnew\s+URL\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g;

/**
 * The project files a module depends on: itself and every local module it imports, statically,
 * with a literal dynamic import or as `new URL("./x.ts", import.meta.url)` (workers),
 * transitively. Type-only imports are left out.
 *
 * @param moduleUrl `import.meta.url` of the module.
 * @param root The project root; files outside it are left out.
 * @param imports Each file's local imports, shared by the stages of one run so that a module
 *   imported by several stages is read once (null: not a readable project file).
 * @returns Absolute paths, sorted.
 */
export async function moduleFiles(
  moduleUrl: string,
  root: string,
  imports: Map<string, string[] | null> = new Map(),
): Promise<string[]> {
  if (!moduleUrl.startsWith("file:")) return [];
  const seen = new Set<string>();
  const queue = [fileURLToPath(moduleUrl)];
  while (queue.length) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    const rel = relative(root, path);
    if (rel.startsWith("..")) continue;
    if (!imports.has(path)) imports.set(path, await localImports(path));
    const deps = imports.get(path);
    if (deps === null || deps === undefined) continue;
    seen.add(path);
    queue.push(...deps);
  }
  return [...seen].sort();
}

/** The local files a file imports (absolute paths), or null when it cannot be read. */
async function localImports(path: string): Promise<string[] | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return null;
  }
  if (!/\.[cm]?[jt]sx?$/.test(path)) return [];
  const specifiers: string[] = [];
  for (const m of text.matchAll(STATIC)) if (!m[2]) specifiers.push(m[3]!);
  for (const m of text.matchAll(DYNAMIC)) specifiers.push(m[1]!);
  for (const m of text.matchAll(URL_REF)) specifiers.push(m[1]!);
  const out: string[] = [];
  for (const spec of specifiers) {
    if (spec.startsWith("./") || spec.startsWith("../")) out.push(resolve(dirname(path), spec));
    else if (spec.startsWith("file:")) out.push(fileURLToPath(spec));
  }
  return out;
}

/**
 * Hashes of a stage's code files, keyed by path relative to the project root.
 *
 * @param moduleUrl `import.meta.url` of the stage's module.
 * @param root The project root.
 * @param stat The stat cache.
 * @param imports Import lists shared by the stages of one run (see {@link moduleFiles}).
 */
export async function codeHashes(
  moduleUrl: string,
  root: string,
  stat: StatCache,
  imports?: Map<string, string[] | null>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of await moduleFiles(moduleUrl, root, imports)) {
    out[relative(root, file)] = await stat.hashFile(file);
  }
  return out;
}
