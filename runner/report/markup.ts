/**
 * Markup for the run report: {@link Html}, the {@link html} template that escapes every value
 * it interpolates, and {@link formatNumber}. Stage code imports them from `runner/html_report.ts`
 * (or `mod.ts`).
 *
 * @module
 */

/** Markup that is already safe to put in a page: built by {@link html} or the helpers. */
export class Html {
  /** The markup. */
  readonly markup: string;
  /** Wraps markup as is; give it only markup you built, never text from elsewhere. */
  constructor(markup: string) {
    this.markup = markup;
  }
  /** The markup. */
  toString(): string {
    return this.markup;
  }
}

/** A value {@link html} can interpolate. */
export type HtmlValue = Html | string | number | boolean | null | undefined | HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function interpolate(value: HtmlValue): string {
  if (value instanceof Html) return value.markup;
  if (Array.isArray(value)) return value.map(interpolate).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeHtml(String(value));
}

/**
 * A template tag for markup: the literal parts are kept, every interpolated value is escaped
 * unless it is {@link Html} (arrays are joined; `null`, `undefined` and `false` give nothing).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { html } from "../html_report.ts";
 *
 * const name = "<script>";
 * assert.equal(html`<b>${name}</b>`.markup, "<b>&lt;script&gt;</b>");
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  values.forEach((v, i) => out += interpolate(v) + strings[i + 1]!);
  return new Html(out);
}

/** Formats a number for a table or an axis: up to `digits` significant digits, no `-0`. */
export function formatNumber(x: number, digits = 4): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) {
    const [m, e] = x.toExponential(Math.max(0, digits - 2)).split("e");
    return `${m!.includes(".") ? m!.replace(/\.?0+$/, "") : m}e${e!.replace("+", "")}`;
  }
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(digits)));
}
