/**
 * YAML parsing that remembers where every key and value is, so that errors can name
 * `file:line:col` for a config path.
 *
 * @module
 */

import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { Diagnostic } from "./errors.ts";

/** A 1-based position in a file. */
export interface Position {
  line: number;
  column: number;
}

/** Positions of keys and values by config path (`stages.train.with.epochs`). */
export class SourceMap {
  readonly file: string;
  readonly #keys = new Map<string, Position>();
  readonly #values = new Map<string, Position>();

  constructor(file: string) {
    this.file = file;
  }

  /** @internal */
  set(path: string, key: Position | undefined, value: Position | undefined): void {
    if (key) this.#keys.set(path, key);
    if (value) this.#values.set(path, value);
  }

  /** Where the key of `path` is written, falling back to its value, then to its parent. */
  key(path: string): Position {
    return this.#keys.get(path) ?? this.#values.get(path) ?? this.#parent(path, true);
  }

  /** Where the value of `path` is written, falling back to its key, then to its parent. */
  value(path: string): Position {
    return this.#values.get(path) ?? this.#keys.get(path) ?? this.#parent(path, false);
  }

  /** Whether the file wrote this path (false for values set on the command line). */
  has(path: string): boolean {
    return this.#keys.has(path) || this.#values.has(path);
  }

  #parent(path: string, key: boolean): Position {
    const cut = path.lastIndexOf(".");
    if (cut < 0) return { line: 1, column: 1 };
    const parent = path.slice(0, cut);
    return key ? this.key(parent) : this.value(parent);
  }
}

/** Syntax errors reported before the rest are summed up (later ones often follow from the first). */
const MAX_SYNTAX_ERRORS = 3;

/**
 * Puts double quotes around `${...}` written outside quotes, so that `{ n: ${vars.n} }` is a
 * string in a flow mapping rather than a nested mapping. Returns the new text and, per line,
 * the (new) columns where a quote was inserted, to map positions back.
 */
export function quoteInterpolations(
  text: string,
): { text: string; inserted: Map<number, number[]> } {
  const inserted = new Map<number, number[]>();
  const lines = text.split("\n").map((line, index) => {
    if (!line.includes("${")) return line;
    let out = "";
    let quote: string | null = null;
    const cols: number[] = [];
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (quote) {
        if (c === "\\" && quote === '"') {
          out += c + (line[i + 1] ?? "");
          i++;
          continue;
        }
        if (c === quote) quote = null;
        out += c;
        continue;
      }
      if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) {
        out += line.slice(i);
        break;
      }
      if (c === '"' || c === "'") {
        const before = out.trimEnd();
        // A quote opens a scalar only where a scalar may start.
        if (before === "" || /[:\-\[{,]$/.test(before)) quote = c;
        out += c;
        continue;
      }
      if (c === "$" && line[i + 1] === "{") {
        const end = line.indexOf("}", i);
        if (end > 0) {
          cols.push(out.length + 1, out.length + 2 + (end - i + 1));
          out += `"${line.slice(i, end + 1)}"`;
          i = end;
          continue;
        }
      }
      out += c;
    }
    if (cols.length) inserted.set(index + 1, cols);
    return out;
  });
  return { text: lines.join("\n"), inserted };
}

/** Result of parsing: the plain value, its source map, and syntax problems. */
export interface ParsedYaml {
  value: unknown;
  source: SourceMap;
  diagnostics: Diagnostic[];
}

/**
 * Parses YAML text and records the position of every key and value.
 *
 * @param text The YAML text.
 * @param file The file name used in diagnostics.
 * @returns The value, a source map and any syntax errors (duplicate keys included).
 */
export function parseYamlWithPositions(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const quoted = quoteInterpolations(text);
  const doc = parseDocument(quoted.text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const source = new SourceMap(file);
  const diagnostics: Diagnostic[] = [];
  const linePos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    const inserted = quoted.inserted.get(p.line) ?? [];
    return { line: p.line, col: p.col - inserted.filter((c) => c < p.col).length };
  };
  const errors = [...doc.errors, ...doc.warnings];
  for (const error of errors.slice(0, MAX_SYNTAX_ERRORS)) {
    const pos = linePos(error.pos[0]);
    const duplicate = error.code === "DUPLICATE_KEY";
    diagnostics.push({
      file,
      line: pos.line,
      column: pos.col,
      path: "",
      message: duplicate ? "Duplicate key: each key (and each stage id) may appear once" : (
        error.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, "").replace(/\.$/, "")
      ),
      hint: duplicate
        ? "rename or remove the second one"
        : "check indentation, quotes and brackets",
    });
  }
  if (errors.length > MAX_SYNTAX_ERRORS) {
    const last = diagnostics[diagnostics.length - 1]!;
    diagnostics.push({
      ...last,
      message: `${errors.length - MAX_SYNTAX_ERRORS} more syntax errors follow from the ones above`,
      hint: "fix the first error, then run again",
    });
  }
  const at = (offset: number | undefined): Position | undefined => {
    if (offset === undefined) return undefined;
    const p = linePos(offset);
    return { line: p.line, column: p.col };
  };
  const walk = (node: unknown, path: string) => {
    if (isMap(node)) {
      for (const item of node.items) {
        if (!isPair(item)) continue;
        const keyNode = item.key;
        const key = isScalar(keyNode) ? String(keyNode.value) : String(keyNode);
        const child = path ? `${path}.${key}` : key;
        const keyPos = at((keyNode as { range?: [number, number, number] } | null)?.range?.[0]);
        const valueNode = item.value as { range?: [number, number, number] } | null;
        source.set(child, keyPos, at(valueNode?.range?.[0]));
        walk(item.value, child);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        const child = `${path}.${i}`;
        source.set(child, undefined, at((item as { range?: [number] } | null)?.range?.[0]));
        walk(item, child);
      });
    }
  };
  walk(doc.contents, "");
  return { value: doc.errors.length ? undefined : doc.toJS(), source, diagnostics };
}
