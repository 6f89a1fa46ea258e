/**
 * YAML parsing that remembers where every key and value is (source_map.ts), so that errors can
 * name `file:line:col` for a config path, within the bounds of yaml_bounds.ts. It imports the
 * yaml package: loading a pipeline imports it only when the file must be checked again.
 *
 * @module
 */

import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from "yaml";
import type { Diagnostic } from "../errors.ts";
import { type Position, SourceMap } from "./source_map.ts";
import {
  CLOSERS,
  MAX_ALIAS_COUNT,
  MAX_DEPTH,
  nestingProblem,
  OPENER_NAMES,
  openerOf,
  scanCst,
} from "./yaml_bounds.ts";

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
  const source = new SourceMap(file);
  const diagnostics: Diagnostic[] = [];
  const linePos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    const inserted = quoted.inserted.get(p.line) ?? [];
    return { line: p.line, col: p.col - inserted.filter((c) => c < p.col).length };
  };
  const tooDeep = (offset: number) => {
    // The line counter is filled by parsing; counting newlines gives the same positions.
    lineCounter.addNewLine(0);
    for (let i = quoted.text.indexOf("\n"); i >= 0; i = quoted.text.indexOf("\n", i + 1)) {
      lineCounter.addNewLine(i + 1);
    }
    const pos = linePos(offset);
    diagnostics.push({
      file,
      line: pos.line,
      column: pos.col,
      path: "",
      message: `Mappings and sequences are nested more than ${MAX_DEPTH} levels deep`,
      hint: "a pipeline file needs a handful of levels: flatten this value",
    });
    return { value: undefined, source, diagnostics };
  };
  // The text is measured first: the parser would exhaust its stack on a few thousand levels.
  const deepAt = nestingProblem(quoted.text);
  if (deepAt !== undefined) return tooDeep(deepAt);
  let scan: ReturnType<typeof scanCst>;
  let doc: ReturnType<typeof parseDocument>;
  try {
    scan = scanCst(quoted.text);
    if (scan.tooDeep !== undefined) return tooDeep(scan.tooDeep);
    doc = parseDocument(quoted.text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return tooDeep(0);
  }
  const errors = [...doc.errors, ...doc.warnings];
  const unclosed = scan.constructs.filter((c) => !c.closed);
  for (const error of errors.slice(0, MAX_SYNTAX_ERRORS)) {
    const pos = linePos(error.pos[0]);
    const duplicate = error.code === "DUPLICATE_KEY";
    const d: Diagnostic = {
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
    };
    // The parser notices an unclosed bracket or quote where something else begins, often on
    // the next line: say where it was opened.
    const opener = duplicate ? undefined : openerOf(error.message);
    const candidates = unclosed.filter((c) => c.open === opener && c.offset <= error.pos[0]);
    const construct = candidates[candidates.length - 1];
    if (construct) {
      unclosed.splice(unclosed.indexOf(construct), 1);
      const at = linePos(construct.offset);
      const closer = CLOSERS[construct.open]!;
      d.message = `Unclosed ${OPENER_NAMES[construct.open]}: ` + (
        closer === "]" || closer === "}"
          ? `"${construct.open}" opened at ${at.line}:${at.col} has no matching "${closer}"`
          : `the quote opened at ${at.line}:${at.col} is never closed`
      );
      d.hint = `close it on line ${at.line}, or check indentation and quotes`;
    }
    diagnostics.push(d);
  }
  if (errors.length > MAX_SYNTAX_ERRORS) {
    const last = diagnostics[diagnostics.length - 1]!;
    diagnostics.push({
      ...last,
      message: `${errors.length - MAX_SYNTAX_ERRORS} more syntax errors follow from the ones above`,
      hint: "fix the first error, then run again",
    });
  }
  let value: unknown;
  if (!doc.errors.length) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      if (!(error instanceof ReferenceError)) throw error;
      // "Excessive alias count" (nested aliases) or an alias to an unknown anchor.
      let first: number | undefined;
      visit(doc, {
        Alias(_, node) {
          first = node.range?.[0];
          return visit.BREAK;
        },
      });
      const pos = linePos(first ?? 0);
      const bomb = /alias count/i.test(error.message);
      diagnostics.push({
        file,
        line: pos.line,
        column: pos.col,
        path: "",
        message: bomb
          ? `Aliases (*name) expand to too many values (more than the limit of ${MAX_ALIAS_COUNT})`
          : `Alias cannot be resolved: ${error.message}`,
        hint: bomb
          ? "aliases of values that hold aliases multiply: write the values out instead"
          : "define the anchor (&name) before the alias that uses it",
      });
    }
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
  return { value, source, diagnostics };
}

/**
 * Reads a `--set` value as YAML with the same bounds as a pipeline file (nesting, aliases).
 *
 * @param text The value as written after `=`.
 * @returns The value (the text itself when it is not valid YAML), or what exceeds a bound.
 */
export function parseSetValue(text: string): { value: unknown } | { problem: string } {
  const deep = { problem: `the value is nested more than ${MAX_DEPTH} levels deep` };
  if (nestingProblem(text) !== undefined) return deep;
  let doc: ReturnType<typeof parseDocument>;
  try {
    if (scanCst(text).tooDeep !== undefined) return deep;
    doc = parseDocument(text, { prettyErrors: false });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    return deep;
  }
  if (doc.errors.length) return { value: text };
  try {
    return { value: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    return { problem: `its aliases cannot be expanded (${error.message})` };
  }
}
