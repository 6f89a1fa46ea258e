/**
 * The bounds on YAML that a pipeline file (or a `--set` value) may have, checked before and
 * while it is parsed: nesting no deeper than {@link MAX_DEPTH}, aliases expanding no more than
 * {@link MAX_ALIAS_COUNT} times, and the opener (bracket, brace, quote) that an unclosed
 * construct was left by.
 *
 * @module
 */

import { type CST, Parser } from "yaml";

/**
 * Deepest nesting of mappings and sequences a pipeline file (or a `--set` value) may have: a
 * pipeline needs six or seven levels; thousands exhaust the stack of the parser and the checks.
 */
export const MAX_DEPTH = 64;

/**
 * The yaml library's `maxAliasCount`: how far aliases (`*name`) may expand, so that nested
 * aliases (an "alias bomb", each level repeating the previous one) cannot blow up memory.
 */
export const MAX_ALIAS_COUNT = 100;

/** A flow collection or quoted scalar in the CST: where it opens and whether it closes. */
export interface Construct {
  open: string;
  offset: number;
  closed: boolean;
}

/**
 * Where nesting first goes deeper than {@link MAX_DEPTH}, read from the text alone (the yaml
 * library's parser recurses, and a few thousand levels exhaust its stack): indentation levels,
 * compact `- ` and `? ` indicators, and brackets of flow collections, outside quotes, comments
 * and block scalars. An offset, or undefined.
 */
export function nestingProblem(text: string): number | undefined {
  const indents: number[] = [];
  let flow = 0;
  let quote: string | null = null;
  let blockScalar = -1; // indentation of the line that opened a block scalar (| or >)
  let offset = 0;
  for (const line of text.split("\n")) {
    const start = offset;
    offset += line.length + 1;
    const lead = /^ */.exec(line)![0].length;
    const blank = /^\s*(#.*)?$/.test(line);
    if (blockScalar >= 0) {
      if (blank || lead > blockScalar) continue;
      blockScalar = -1;
    }
    let depth = 0;
    let i = 0;
    if (!flow && !quote) {
      if (blank) continue;
      while (indents.length && indents[indents.length - 1]! >= lead) indents.pop();
      indents.push(lead);
      i = lead;
      for (let m; (m = /^[-?](?: +|$)/.exec(line.slice(i))); i += m[0].length) depth++;
      if (indents.length + depth > MAX_DEPTH) return start + i;
    }
    const base = indents.length + depth;
    let valueStart = true;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (quote) {
        if (c === "\\" && quote === '"') i++;
        else if (c === "'" && quote === "'" && line[i + 1] === "'") i++; // '' is a quote
        else if (c === quote) quote = null;
        continue;
      }
      if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break;
      if (c === " " || c === "\t") continue;
      if ((c === '"' || c === "'") && valueStart) {
        quote = c;
        continue;
      }
      if ((c === "[" || c === "{") && (valueStart || flow > 0)) {
        flow++;
        if (base + flow > MAX_DEPTH) return start + i;
        valueStart = true;
        continue;
      }
      if ((c === "]" || c === "}") && flow > 0) flow--;
      valueStart = c === ":" || c === "," || c === "-" || c === "?" ||
        ((c === "[" || c === "{") && flow > 0);
    }
    if (!flow && !quote && /[:-]\s+[|>][0-9+-]*\s*(#.*)?$/.test(line)) blockScalar = lead;
  }
  return undefined;
}

/** What the CST shows: the first node nested deeper than {@link MAX_DEPTH}, and every opener. */
export function scanCst(text: string): { tooDeep?: number; constructs: Construct[] } {
  const constructs: Construct[] = [];
  // An explicit stack: the point is to survive input nested thousands deep.
  const stack: [CST.Token | undefined, number][] = [];
  for (const token of new Parser().parse(text)) {
    if (token.type === "document") stack.push([token.value, 0]);
  }
  const items = (token: CST.Token): { key?: CST.Token | null; value?: CST.Token }[] =>
    "items" in token ? token.items as { key?: CST.Token | null; value?: CST.Token }[] : [];
  while (stack.length) {
    const [token, depth] = stack.pop()!;
    if (!token) continue;
    switch (token.type) {
      case "block-map":
      case "block-seq":
      case "flow-collection": {
        if (depth + 1 > MAX_DEPTH) return { tooDeep: token.offset, constructs };
        if (token.type === "flow-collection") {
          const close = token.start.source === "[" ? "]" : "}";
          constructs.push({
            open: token.start.source,
            offset: token.start.offset,
            closed: token.end.some((t) => t.source === close),
          });
        }
        for (const item of items(token)) {
          if (item.key) stack.push([item.key, depth + 1]);
          stack.push([item.value, depth + 1]);
        }
        break;
      }
      case "double-quoted-scalar":
      case "single-quoted-scalar": {
        const q = token.source[0]!;
        constructs.push({ open: q, offset: token.offset, closed: quoteClosed(token.source) });
        break;
      }
    }
  }
  return { constructs };
}

/** Whether a quoted scalar's source ends with its closing quote. */
function quoteClosed(source: string): boolean {
  const q = source[0];
  if (q === '"') {
    for (let i = 1; i < source.length; i++) {
      if (source[i] === "\\") i++;
      else if (source[i] === '"') return i === source.length - 1;
    }
    return false;
  }
  // Single quotes escape themselves: the closing one ends an odd run of quotes.
  let run = 0;
  for (let i = source.length - 1; i >= 1 && source[i] === "'"; i--) run++;
  return run % 2 === 1;
}

export const CLOSERS: Record<string, string> = { "[": "]", "{": "}", '"': '"', "'": "'" };
export const OPENER_NAMES: Record<string, string> = {
  "[": "flow sequence",
  "{": "flow mapping",
  '"': "double-quoted string",
  "'": "single-quoted string",
};

/** The opener an "end with a ]" or "Missing closing 'quote" error is about, if it names one. */
export function openerOf(message: string): string | undefined {
  const end = /end with an? ([\]}])/.exec(message);
  if (end) return end[1] === "]" ? "[" : "{";
  const quote = /Missing closing (["'])quote/.exec(message);
  return quote?.[1];
}
