/**
 * The code of a stage as its key sees it: its module and every project module it imports,
 * transitively (each file's code hash), and the locked packages they import. The engine's own
 * files (`runner/`, core/engine.ts) are left out.
 *
 * @module
 */

import type { Cache } from "../store/cache.ts";
import { cachePath } from "../store/layout.ts";
import type { StatCache } from "../store/stat_cache.ts";
import { sha256 } from "../lib/digest.ts";
import { dirname, fileURLToPath, isAbsolute, relative, resolve } from "../paths.ts";
import { ENGINE_DIR } from "../core/engine.ts";
import { scanCode, ScanMemo, type ScannedCode } from "./code_scan.ts";
import { isLocal, lockedPackages, type Manifest, mapSpecifier, readManifest } from "./lock_file.ts";

/** What one code file contributes to a stage's key. */
export interface CodeFile {
  /** sha256 of the file's code text, without comments and layout (see `codeText`). */
  hash: string;
  /** Project files it imports, loads or starts as a worker (absolute paths). */
  local: string[];
  /** Package specifiers it imports: bare (`yaml`), `npm:` or `jsr:`. */
  packages: string[];
}

/** Options of a {@link CodeIndex}. */
export interface CodeIndexOptions {
  /** The engine's directory, whose files are left out of stage code (default: `runner/`). */
  engineDir?: string;
  /** The stat cache: a code file whose stat is unchanged is then looked up in `memo` unread. */
  stat?: StatCache;
  /** Where scans of code files are remembered between runs (`.pipeline/code.json`). */
  memo?: string;
}

/**
 * What the stages of one run share: each code file's hash and imports (read once, however many
 * stages import it, and not at all when its stat and the memo of past scans vouch for it) and
 * the project's deno.json and deno.lock (read once).
 *
 * The engine's files (`runner/`) are not part of any stage's code: a stage reaches the engine
 * only through `defineStage` (an identity function), `UserError` (a class) and `formatSeconds`
 * (log text), none of which shapes what a stage writes. A change in how the engine runs stages
 * (what it passes them, how it keys them) is marked instead by bumping `ENGINE_KEY_VERSION` in
 * keys/stage_key.ts, which is in every key; editing a comment in `runner/` reruns nothing.
 */
export class CodeIndex {
  /** By absolute path; null: not a readable file. */
  readonly files: Map<string, CodeFile | null> = new Map();
  /** The engine's directory, whose files are left out of stage code. */
  readonly engineDir: string;
  readonly #stat: StatCache | undefined;
  readonly #memo: ScanMemo;
  #manifests = new Map<string, Promise<Manifest>>();
  /** Each module's files ({@link moduleFiles}), by module and root: stages share most of them. */
  readonly graphs: Map<string, Promise<string[]>> = new Map();
  /** Locked packages of a set of specifiers ({@link codePackages}), by the sorted set. */
  readonly locked: Map<string, Record<string, string>> = new Map();

  /** @param options Engine directory, stat cache and memo path. */
  constructor(options: CodeIndexOptions = {}) {
    this.engineDir = options.engineDir ?? ENGINE_DIR;
    this.#stat = options.stat;
    this.#memo = new ScanMemo(options.memo);
  }

  /**
   * The index of a run on a cache: file hashes from its stat cache, scans remembered in its
   * `code.json` ({@link save} it while holding the cache lock).
   */
  static of(cache: Cache): CodeIndex {
    return new CodeIndex({ stat: cache.stat, memo: cachePath(cache.dir, "code.json") });
  }

  /** The project's import map and lock, read on first use. */
  manifest(root: string): Promise<Manifest> {
    let found = this.#manifests.get(root);
    if (!found) this.#manifests.set(root, found = readManifest(root));
    return found;
  }

  /** Whether a path is one of the engine's files. */
  isEngine(path: string): boolean {
    const rel = relative(this.engineDir, path);
    return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
  }

  /** A code file's scan, from the memo when its stat vouches for its content; null: unreadable. */
  async scan(path: string): Promise<ScannedCode | null> {
    if (this.#stat) {
      let raw: string | undefined;
      try {
        raw = await this.#stat.hashFile(path);
      } catch { /* unreadable: read below, which says so */ }
      const known = raw === undefined ? undefined : this.#memo.get(raw);
      if (known) return known;
    }
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(path);
    } catch {
      return null;
    }
    const scanned = await scanCode(path, bytes, sha256);
    // Keyed by the bytes scanned (the file may have changed since its stat was taken).
    if (this.#stat) this.#memo.set(await sha256(bytes), scanned);
    return scanned;
  }

  /** Persists the memo of scans (call while holding the cache lock). */
  save(): Promise<void> {
    return this.#memo.save();
  }
}

/**
 * The project files a module depends on: itself and every local module it imports, statically,
 * with a literal dynamic import or as `new URL("../x.ts", import.meta.url)` (workers),
 * transitively, including bare specifiers that the import map sends to a project file.
 * Type-only imports and imports in comments are left out, and so are the engine's own files
 * (see {@link CodeIndex}).
 *
 * @param moduleUrl `import.meta.url` of the module.
 * @param root The project root; files outside it are left out.
 * @param index What the stages of one run share (a fresh one by default).
 * @returns Absolute paths, sorted.
 */
export async function moduleFiles(
  moduleUrl: string,
  root: string,
  index: CodeIndex = new CodeIndex(),
): Promise<string[]> {
  if (!moduleUrl.startsWith("file:")) return [];
  const id = `${root}\0${moduleUrl}`;
  let graph = index.graphs.get(id);
  if (!graph) index.graphs.set(id, graph = walkModules(moduleUrl, root, index));
  return [...await graph];
}

async function walkModules(moduleUrl: string, root: string, index: CodeIndex): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [fileURLToPath(moduleUrl)];
  while (queue.length) {
    const path = queue.pop()!;
    if (seen.has(path)) continue;
    const rel = relative(root, path);
    if (rel.startsWith("..") || isAbsolute(rel) || index.isEngine(path)) continue;
    if (!index.files.has(path)) index.files.set(path, await localImports(path, root, index));
    const file = index.files.get(path);
    if (!file) continue;
    seen.add(path);
    queue.push(...file.local);
  }
  return [...seen].sort();
}

/** A code file's hash, the local files and the packages it imports; null: unreadable. */
async function localImports(
  path: string,
  root: string,
  index: CodeIndex,
): Promise<CodeFile | null> {
  const scanned = await index.scan(path);
  if (!scanned) return null;
  const local = scanned.urls.map((url) => resolve(dirname(path), url));
  const packages: string[] = [];
  for (const spec of scanned.specs) {
    if (spec.startsWith("./") || spec.startsWith("../")) local.push(resolve(dirname(path), spec));
    else if (spec.startsWith("file:")) local.push(fileURLToPath(spec));
    else if (spec.startsWith("/")) local.push(spec);
    else if (!spec.startsWith("node:") && !/^(https?|data|blob):/.test(spec)) {
      const manifest = await index.manifest(root);
      const mapped = mapSpecifier(spec, manifest);
      if (isLocal(mapped)) {
        local.push(
          mapped.startsWith("file:") ? fileURLToPath(mapped) : resolve(manifest.dir, mapped),
        );
      } else packages.push(spec);
    }
  }
  return { hash: scanned.hash, local, packages };
}

/**
 * Hashes of a stage's code files, keyed by path relative to the project root.
 *
 * @param moduleUrl `import.meta.url` of the stage's module.
 * @param root The project root.
 * @param index What the stages of one run share (see {@link CodeIndex}).
 */
export async function codeHashes(
  moduleUrl: string,
  root: string,
  index: CodeIndex = new CodeIndex(),
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const file of await moduleFiles(moduleUrl, root, index)) {
    out[relative(root, file)] = index.files.get(file)!.hash;
  }
  return out;
}

/**
 * The npm and JSR packages a stage's code files import, resolved through deno.json's `imports`
 * and deno.lock, with the packages they depend on as the lock lists them: by name (`jsr:` in
 * front for JSR), the resolved version and integrity hash (`4.22.0 sha512-…`; several versions
 * of one package are joined by `, `). A specifier deno.lock does not resolve is keyed as
 * written (`2.9.1 (not in deno.lock)`).
 *
 * @param moduleUrl `import.meta.url` of the stage's module.
 * @param root The project root (where deno.json and deno.lock are).
 * @param index What the stages of one run share (see {@link CodeIndex}).
 */
export async function codePackages(
  moduleUrl: string,
  root: string,
  index: CodeIndex = new CodeIndex(),
): Promise<Record<string, string>> {
  const specs = new Set<string>();
  for (const file of await moduleFiles(moduleUrl, root, index)) {
    for (const spec of index.files.get(file)!.packages) specs.add(spec);
  }
  if (!specs.size) return {};
  const id = `${root}\0${[...specs].sort().join("\0")}`;
  const known = index.locked.get(id);
  if (known) return { ...known };
  const out: Record<string, string> = {};
  for (const [name, list] of lockedPackages(specs, await index.manifest(root))) {
    out[name.startsWith("npm:") ? name.slice(4) : name] = list
      .map((p) => p.integrity ? `${p.version} ${p.integrity}` : p.version)
      .join(", ");
  }
  index.locked.set(id, out);
  return { ...out };
}
