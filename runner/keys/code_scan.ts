/**
 * What a code file gives a stage's key: its code hash and the specifiers it imports (statically,
 * by a literal dynamic import, or as a worker's `new URL(..., import.meta.url)`), remembered
 * between runs by content (`.pipeline/code.json`) so that an unchanged file is not read again.
 *
 * @module
 */

import { writeAtomic } from "../lib/atomic.ts";
import { dirname } from "../paths.ts";

/** What a code file's content gives: its code hash and the specifiers it names. */
export interface ScannedCode {
  /** sha256 of the file's code text (`codeText` in code_text.ts). */
  hash: string;
  /** Specifiers of its (not type-only) static and literal dynamic imports, as written. */
  specs: string[];
  /** Relative paths it loads as `new URL("./x", import.meta.url)` (workers). */
  urls: string[];
}

const STATIC =
  /(?:^|[;\n}])\s*(import|export)\s+(type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["']([^"']+)["']/g;
const DYNAMIC = /\bimport\s*\(\s*["']([^"']+)["']\s*[,)]/g;
/** A module loaded by URL, e.g. a worker: `new URL("../worker.ts", import.meta.url)`. */
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
  // The tokenizer is imported when a file must be read: a rerun finds every scan in the memo.
  const { codeText } = await import(
    new URL("./code_text.ts", import.meta.url).href
  ) as typeof import("./code_text.ts");
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

  #load(): Record<string, ScannedCode> {
    if (this.#entries) return this.#entries;
    const entries: Record<string, ScannedCode> = {};
    if (this.path) {
      try {
        const value = JSON.parse(Deno.readTextFileSync(this.path));
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
  get(raw: string): ScannedCode | undefined {
    const entry = this.#load()[raw];
    if (entry) this.#used.add(raw);
    return entry;
  }

  /** Remembers a scan. */
  set(raw: string, scan: ScannedCode): void {
    this.#load()[raw] = scan;
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
    await writeAtomic(this.path, JSON.stringify(entries));
    this.#dirty = false;
  }
}
