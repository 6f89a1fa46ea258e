/**
 * What a stage's code key is made of, besides the list of its files (see `moduleFiles` in
 * hash.ts): the text of each code file with comments and layout taken out, and the npm (and
 * JSR) packages its files import, resolved through deno.json's `imports` and `deno.lock`.
 *
 * @module
 */

import { dirname, resolve } from "./paths.ts";

const LINE_BREAK = /[\n\r\u2028\u2029]/;

/** Words after which a `/` starts a regular expression rather than a division. */
const BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/** Keywords whose parenthesised head may be followed by a statement starting with a regex. */
const HEAD_KEYWORDS = new Set(["if", "while", "for", "with"]);

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ||
    c === 36 || c === 92 || c >= 128;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || c === 0xa0 || c === 0xfeff ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000 ||
    c === 0x1680;
}

function isBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
}

/**
 * JavaScript or TypeScript source with its comments removed and its layout reduced to what can
 * change the meaning: every run of whitespace and comments becomes one newline if it holds a
 * line break (automatic semicolon insertion depends on those), otherwise one space. Tokens are
 * kept as written, so two texts that differ in anything but comments, indentation, blank lines
 * and trailing spaces normalise differently.
 *
 * Strings, template literals (with nested `${}`) and regex literals are copied verbatim. Whether
 * a `/` starts a regex is decided from the token before it, as JavaScript tokenizers that have
 * no parser do (after `)` only when it closes the head of `if`/`while`/`for`/`with`; after `}`
 * always). Anything the scanner does not expect (an unterminated string, comment, template or
 * regex) gives `null`: hash the raw text then.
 *
 * @param text The source.
 * @returns The normalised source, or `null` when it could not be scanned with certainty.
 */
export function normalizeScript(text: string): string | null {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  // Pending separator: 0 none, 1 a space, 2 a line break.
  let gap = 0;
  // Whether a `/` here would start a regex.
  let regexOk = true;
  // The previous token was `.` or `?.` or `#` (so a word after it is a property name).
  let afterDot = false;
  let lastWord = "";
  let braces = 0;
  const templates: number[] = [];
  const parens: boolean[] = [];
  const emit = (start: number, end: number) => {
    if (gap && out.length) out.push(gap === 2 ? "\n" : " ");
    gap = 0;
    out.push(text.slice(start, end));
  };
  /** Scans template characters from `j` (after `` ` `` or `}`); returns the end index, or -1. */
  const template = (j: number): number => {
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 92) j += 2;
      else if (c === 96) return j + 1;
      else if (c === 36 && text.charCodeAt(j + 1) === 123) {
        templates.push(braces);
        braces++;
        return j + 2;
      } else j++;
    }
    return -1;
  };
  /**
   * Takes a template's text from `start` (a backtick, or the `}` closing a `${`) to the next
   * `${` or closing backtick; false when the text ends first.
   */
  const templateText = (start: number): boolean => {
    const end = template(start + 1);
    if (end < 0) return false;
    i = end;
    emit(start, i);
    // After `${` an expression follows; after the closing backtick, an operator.
    regexOk = text.charCodeAt(i - 1) !== 96;
    afterDot = false;
    lastWord = "";
    return true;
  };
  if (text.startsWith("#!")) {
    const end = text.search(LINE_BREAK);
    i = end < 0 ? n : end;
    emit(0, i);
  }
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      if (!gap) gap = 1;
      i++;
      continue;
    }
    if (isBreak(c)) {
      gap = 2;
      i++;
      continue;
    }
    const start = i;
    if (c === 47) {
      const next = text.charCodeAt(i + 1);
      if (next === 47) {
        while (i < n && !isBreak(text.charCodeAt(i))) i++;
        if (!gap) gap = 1;
        continue;
      }
      if (next === 42) {
        const end = text.indexOf("*/", i + 2);
        if (end < 0) return null;
        if (LINE_BREAK.test(text.slice(i + 2, end))) gap = 2;
        else if (!gap) gap = 1;
        i = end + 2;
        continue;
      }
      if (regexOk) {
        i++;
        let inClass = false;
        for (;;) {
          if (i >= n) return null;
          const r = text.charCodeAt(i);
          if (isBreak(r)) return null;
          if (r === 92) {
            if (i + 1 >= n || isBreak(text.charCodeAt(i + 1))) return null;
            i += 2;
            continue;
          }
          i++;
          if (r === 91) inClass = true;
          else if (r === 93) inClass = false;
          else if (r === 47 && !inClass) break;
        }
        while (i < n && isWordChar(text.charCodeAt(i))) i++;
        emit(start, i);
        regexOk = false;
        afterDot = false;
        lastWord = "";
        continue;
      }
      i += next === 61 ? 2 : 1;
      emit(start, i);
      regexOk = true;
      afterDot = false;
      continue;
    }
    if (c === 34 || c === 39) {
      i++;
      for (;;) {
        if (i >= n) return null;
        const s = text.charCodeAt(i);
        if (s === 92) {
          // An escaped CRLF is one line continuation.
          i += text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10 ? 3 : 2;
          continue;
        }
        if (s === 10 || s === 13) return null;
        i++;
        if (s === c) break;
      }
      emit(start, i);
      regexOk = false;
      afterDot = false;
      lastWord = "";
      continue;
    }
    if (c === 96) {
      if (!templateText(start)) return null;
      continue;
    }
    if (isWordChar(c)) {
      // A number takes its dots (`1.5`, `1.`), so that `1./2` divides.
      const number = c >= 48 && c <= 57;
      while (i < n && (isWordChar(text.charCodeAt(i)) || (number && text.charCodeAt(i) === 46))) {
        i++;
      }
      emit(start, i);
      const word = text.slice(start, i);
      regexOk = !afterDot && BEFORE_EXPRESSION.has(word);
      lastWord = afterDot ? "" : word;
      afterDot = false;
      continue;
    }
    // Punctuation, one character at a time (`++` and `--` as one).
    if (c === 125 && templates.length && templates[templates.length - 1] === braces - 1) {
      templates.pop();
      braces--;
      if (!templateText(start)) return null;
      continue;
    }
    i++;
    if ((c === 43 || c === 45) && text.charCodeAt(i) === c) i++;
    emit(start, i);
    const double = i - start === 2;
    if (c === 40) parens.push(HEAD_KEYWORDS.has(lastWord));
    if (c === 123) braces++;
    if (c === 125) braces--;
    // `x! / 2`: a `!` right after a value is TypeScript's non-null assertion, not a negation.
    if (c === 33 && text.charCodeAt(i) !== 61) {
      afterDot = false;
      lastWord = "";
      continue;
    }
    regexOk = double ? false : c === 41 ? parens.pop() ?? false : c !== 93;
    afterDot = c === 46 || c === 35;
    lastWord = "";
  }
  if (templates.length) return null;
  return out.join("");
}

/** JSON text re-serialised without layout, or `null` when it does not parse. */
export function normalizeJson(text: string): string | null {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return null;
  }
}

/**
 * The text a code file is hashed by: for scripts, {@link normalizeScript}; for `.json`,
 * {@link normalizeJson}; for anything else (or a script the scanner is not sure of), the file
 * itself. Each form is tagged, so two forms never hash alike.
 *
 * @param path The file's path (its extension decides).
 * @param bytes Its content.
 */
export function codeText(path: string, bytes: Uint8Array): string | Uint8Array {
  const script = /\.[cm]?[jt]s$/.test(path);
  const json = /\.json$/.test(path);
  if (!script && !json) return bytes;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bytes;
  }
  const normal = script ? normalizeScript(text) : normalizeJson(text);
  return normal === null ? bytes : `${script ? "script" : "json"}\n${normal}`;
}

/** What a code file's content gives: its code hash and the specifiers it names. */
export interface ScannedCode {
  /** sha256 of {@link codeText}. */
  hash: string;
  /** Specifiers of its (not type-only) static and literal dynamic imports, as written. */
  specs: string[];
  /** Relative paths it loads as `new URL("./x", import.meta.url)` (workers). */
  urls: string[];
}

const STATIC =
  /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*[,)]/g;
/** A module loaded by URL, e.g. a worker: `new URL("./worker.ts", import.meta.url)`. */
const URL_REF = /\bnew\s+URL\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Scans a code file: its code hash and what it imports (read from the text without comments
 * when the scanner could make it, so that an import in a comment is not one).
 *
 * @param path The file's path (its extension decides how it is read).
 * @param bytes Its content.
 * @param sha256 The hash function.
 */
export async function scanCode(
  path: string,
  bytes: Uint8Array,
  sha256: (data: string | Uint8Array) => Promise<string>,
): Promise<ScannedCode> {
  const text = codeText(path, bytes);
  const hash = await sha256(text);
  if (!/\.[cm]?[jt]sx?$/.test(path)) return { hash, specs: [], urls: [] };
  const source = typeof text === "string" ? text : new TextDecoder().decode(bytes);
  const specs: string[] = [];
  for (const m of source.matchAll(STATIC)) if (!m[2]) specs.push(m[3]!);
  for (const m of source.matchAll(DYNAMIC)) specs.push(m[1]!);
  const urls = [...source.matchAll(URL_REF)].map((m) => m[1]!);
  return { hash, specs, urls };
}

function isScannedCode(value: unknown): value is ScannedCode {
  if (value === null || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === "string");
  return typeof v.hash === "string" && /^[0-9a-f]{64}$/.test(v.hash) && strings(v.specs) &&
    strings(v.urls);
}

/** Past scans kept to let a code file whose content is unchanged go unread. */
const MEMO_LIMIT = 4096;

/**
 * Scans of code files by the sha256 of their bytes, persisted between runs (in
 * `.pipeline/code.json`): a file whose stat cache entry still holds is neither read nor scanned
 * again. Content-addressed, so an entry is right for any file with those bytes; entries of the
 * wrong shape are dropped.
 */
export class ScanMemo {
  readonly path: string | undefined;
  #entries: Record<string, ScannedCode> | undefined;
  #used = new Set<string>();
  #dirty = false;

  /** @param path Where the memo is kept; none: kept for this process only. */
  constructor(path?: string) {
    this.path = path;
  }

  async #load(): Promise<Record<string, ScannedCode>> {
    if (this.#entries) return this.#entries;
    const entries: Record<string, ScannedCode> = {};
    if (this.path) {
      try {
        const value = JSON.parse(await Deno.readTextFile(this.path));
        if (value !== null && typeof value === "object" && !Array.isArray(value)) {
          for (const [raw, entry] of Object.entries(value)) {
            if (/^[0-9a-f]{64}$/.test(raw) && isScannedCode(entry)) entries[raw] = entry;
          }
        }
      } catch { /* none yet, or unreadable: scan again */ }
    }
    return this.#entries ??= entries;
  }

  /** The scan of content with this raw hash, if remembered. */
  async get(raw: string): Promise<ScannedCode | undefined> {
    const entry = (await this.#load())[raw];
    if (entry) this.#used.add(raw);
    return entry;
  }

  /** Remembers a scan. */
  async set(raw: string, scan: ScannedCode): Promise<void> {
    (await this.#load())[raw] = scan;
    this.#used.add(raw);
    this.#dirty = true;
  }

  /** Writes the memo (temp file and rename) if it changed; past the limit, only what was used. */
  async save(): Promise<void> {
    if (!this.path || !this.#dirty || !this.#entries) return;
    let entries = this.#entries;
    if (Object.keys(entries).length > MEMO_LIMIT) {
      entries = Object.fromEntries([...this.#used].map((k) => [k, this.#entries![k]!]));
    }
    await Deno.mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    await Deno.writeTextFile(tmp, JSON.stringify(entries));
    await Deno.rename(tmp, this.path);
    this.#dirty = false;
  }
}

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
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // deno.jsonc: comments allowed.
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
