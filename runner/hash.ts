/**
 * Content hashes: files (through a stat cache), directory trees, sorted-key JSON, and the code
 * of a stage (its module and the project modules it imports, transitively).
 *
 * @module
 */

import { hashFileContent, isHash, sha256 } from "./lib/digest.ts";
import { listFiles, type ListFilesOptions } from "./lib/list_files.ts";
import { dirname, fileURLToPath, isAbsolute, relative, resolve } from "./paths.ts";
import { ENGINE_DIR } from "./core/engine.ts";
import {
  isLocal,
  lockedPackages,
  type Manifest,
  mapSpecifier,
  readManifest,
  scanCode,
  ScanMemo,
  type ScannedCode,
} from "./stage_code.ts";

/** A remembered file hash and the stat it was computed under. */
interface StatEntry {
  size: number;
  /** Milliseconds. */
  mtime: number;
  /** Milliseconds (Deno reports whole seconds on Linux). */
  ctime: number;
  ino: number;
  hash: string;
  /** When the content was read (ms, wall clock, taken before reading). */
  checked: number;
}

/**
 * How long after a file's last status change its stat must have been taken to be trusted.
 * Deno reports ctime in whole seconds, so a file changed in the same second as it was hashed
 * could keep its stat (with its mtime restored); such an entry is "racy" and the file is read
 * again next time, as git does for racily clean index entries. The extra 100 ms covers a
 * coarse file system clock.
 */
const RACY_MS = 1100;

function isStatEntry(value: unknown): value is StatEntry {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const e = value as Record<string, unknown>;
  return ["size", "mtime", "ctime", "ino", "checked"].every((k) => Number.isFinite(e[k])) &&
    isHash(e.hash);
}

function statKey(info: Deno.FileInfo) {
  const mtime = info.mtime?.getTime() ?? 0;
  return { size: info.size, mtime, ctime: info.ctime?.getTime() ?? mtime, ino: info.ino ?? 0 };
}

/**
 * File hashes remembered by (path, size, mtime, ctime, inode), so unchanged files are not re-read.
 * Persisted as JSON by the cache. An entry vouches only for the stat it was computed under: any
 * write changes the ctime (which `touch -d` cannot restore), and an entry taken within a second
 * of the file's last change is not trusted (see {@link RACY_MS}). What it cannot see is a change
 * made without a status change (bit rot under the file system, or root resetting the clock):
 * `verify` rereads every object for that.
 */
export class StatCache {
  #entries: Record<string, StatEntry>;
  #dirty = false;

  /**
   * Creates a stat cache from persisted entries; entries of the wrong shape are dropped.
   *
   * @param entries What {@link toJSON} returned, read back (any JSON value).
   */
  constructor(entries: unknown = {}) {
    this.#entries = {};
    if (entries !== null && typeof entries === "object" && !Array.isArray(entries)) {
      for (const [path, entry] of Object.entries(entries)) {
        if (isStatEntry(entry)) this.#entries[path] = entry;
        else this.#dirty = true;
      }
    } else {
      this.#dirty = true;
    }
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
   * @param recheck Files up to this many bytes are read again even when their stat is
   *   unchanged (`Infinity`: every file, as `verify` does).
   * @returns sha256 hex.
   */
  async hashFile(path: string, recheck = 0): Promise<string> {
    const before = Date.now();
    const info = Deno.statSync(path); // sync: see hashFileContent
    const now = statKey(info);
    const known = this.#entries[path];
    if (
      known && info.size > recheck && known.size === now.size && known.mtime === now.mtime &&
      known.ctime === now.ctime && known.ino === now.ino && known.checked >= now.ctime + RACY_MS
    ) {
      return known.hash;
    }
    const hash = await hashFileContent(path);
    const same = known && known.hash === hash && known.size === now.size &&
      known.mtime === now.mtime && known.ctime === now.ctime && known.ino === now.ino &&
      known.checked >= now.ctime + RACY_MS;
    // A small file reread on every hit (recheck) with what was known of it: nothing to save,
    // so a no-op rerun does not rewrite stat.json.
    if (same) return hash;
    this.#entries[path] = { ...now, hash, checked: before };
    this.#dirty = true;
    return hash;
  }

  /**
   * Records a hash known from writing a file, without re-reading it. Call it right after the
   * write, before anything else can change the file.
   */
  async remember(path: string, hash: string): Promise<void> {
    const checked = Date.now();
    this.#entries[path] = { ...statKey(await Deno.stat(path)), hash, checked };
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

  /**
   * Re-keys entries after a rename. A rename keeps size, mtime and inode but may change the
   * ctime of what was renamed, so such an entry is read again next time.
   */
  move(from: string, to: string): void {
    this.forget(to);
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
   * @param recheck As for {@link hashFile}.
   * @param list How links in the tree are treated ({@link listFiles}).
   * @returns sha256 hex.
   */
  async hashDir(dir: string, recheck = 0, list: ListFilesOptions = {}): Promise<string> {
    const files = await listFiles(dir, list);
    const lines: string[] = [];
    for (const rel of files) {
      lines.push(`${rel}\t${await this.hashFile(`${dir}/${rel}`, recheck)}`);
    }
    return await sha256(`tree\n${lines.join("\n")}`);
  }

  /** The hash of a file or a directory (`recheck` as for {@link hashFile}, `list` {@link hashDir}). */
  hashPath(
    path: string,
    kind: "file" | "dir",
    recheck = 0,
    list: ListFilesOptions = {},
  ): Promise<string> {
    return kind === "dir" ? this.hashDir(path, recheck, list) : this.hashFile(path, recheck);
  }
}

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
 * key.ts, which is in every key; editing a comment in `runner/` reruns nothing.
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
      const known = raw === undefined ? undefined : await this.#memo.get(raw);
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
    if (this.#stat) await this.#memo.set(await sha256(bytes), scanned);
    return scanned;
  }

  /** Persists the memo of scans (call while holding the cache lock). */
  save(): Promise<void> {
    return this.#memo.save();
  }
}

/**
 * The project files a module depends on: itself and every local module it imports, statically,
 * with a literal dynamic import or as `new URL("./x.ts", import.meta.url)` (workers),
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
