/**
 * Sweeps: a pipeline run once per combination of values, from `--set` lists
 * (`--set stages.train.with.learning_rate=1e-3,5e-4,1e-4`) or the file's `matrix:` block.
 *
 * A `--set` value with a comma at its top level (outside quotes and brackets) is a list of
 * variants; a literal comma is written quoted (`--set 'k="a,b"'`) or inside a flow value
 * (`k=[1,2]` is one list value). Several lists give their product. The command line wins over
 * the file: a path given with `--set` is no longer an axis of the matrix.
 *
 * @module
 */

import { loadPipeline } from "./load.ts";
import type { MatrixAxis, Pipeline } from "../core/pipeline.ts";
import { UserError } from "../errors.ts";
import type { LoadOptions } from "./options.ts";
import { stableJson } from "../lib/digest.ts";

/** One variant of a sweep, checked. */
export interface SweepVariant {
  /** The variant's pipeline. */
  pipeline: Pipeline;
  /** Its label (`learning_rate=0.001`); absent for a plain run. */
  label?: string;
  /** The swept values as `<config path>=<value>`, for the history. */
  overrides: string[];
}

/** What {@link expandSweep} found. */
export interface Sweep {
  /** The pipeline with the first value of each `--set` list (the file's own matrix values). */
  base: Pipeline;
  /** The variants; empty when nothing is swept. */
  variants: SweepVariant[];
}

/** Most variants one sweep may have. */
export const MAX_VARIANTS = 64;

/**
 * Splits a `--set` value at its top-level commas: not inside quotes, brackets or braces.
 *
 * @returns The items as written (one item when there is no such comma).
 */
export function splitList(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (quote === '"' && c === "\\") i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === "[" || c === "{") depth++;
    else if ((c === "]" || c === "}") && depth > 0) depth--;
    else if (c === "," && depth === 0) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}

/** A value as a label shows it: numbers as JavaScript prints them, strings bare. */
function display(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean" || value === null) {
    return String(value);
  }
  return stableJson(value);
}

/** A value made safe for a directory name (at most 40 characters). */
function safe(text: string): string {
  const clean = text.replace(/[^A-Za-z0-9_.+-]/g, "_");
  return clean.length > 40 ? clean.slice(0, 40) : clean;
}

/** The shortest tail of each path (`learning_rate`, `train.with.seed`) that tells them apart. */
function shortNames(paths: string[]): string[] {
  return paths.map((path) => {
    const parts = path.split(".");
    for (let n = 1; n <= parts.length; n++) {
      const tail = parts.slice(-n).join(".");
      const clash = paths.some((p) => p !== path && (p === tail || p.endsWith(`.${tail}`)));
      if (!clash) return tail;
    }
    return path;
  });
}

interface Axis {
  path: string;
  /** The values, parsed. */
  values: unknown[];
  /** For a `--set` list: each item's text; absent for a matrix axis. */
  texts?: string[];
}

/**
 * Expands `--set` lists and the file's `matrix:` block into checked variants.
 *
 * @param file The pipeline file.
 * @param sets The `--set` flags as given.
 * @param options How to load the pipeline (registry, outside paths, cache).
 * @throws {PipelineValidationError} When the base or a variant does not check.
 * @throws {UserError} For an empty list item, a value listed twice, or too many variants.
 */
export async function expandSweep(
  file: string,
  sets: string[],
  options: Omit<LoadOptions, "sets" | "variant">,
): Promise<Sweep> {
  const fixed: string[] = [];
  const listed: { path: string; texts: string[] }[] = [];
  for (const flag of sets) {
    const eq = flag.indexOf("=");
    const items = eq > 0 ? splitList(flag.slice(eq + 1)) : [];
    if (items.length < 2) {
      fixed.push(flag); // a malformed flag is the loader's to report
      continue;
    }
    const path = flag.slice(0, eq);
    const empty = items.findIndex((t) => !t.trim());
    if (empty >= 0) {
      throw new UserError(
        `--set ${flag}: item ${empty + 1} of the list is empty: separate the values of a sweep ` +
          `with single commas (${path}=a,b), and quote a value that holds a comma ('${path}="a,b"')`,
      );
    }
    listed.push({ path, texts: items });
  }
  const setPaths = [...fixed.map((f) => f.slice(0, f.indexOf("="))), ...listed.map((l) => l.path)];
  const twice = listed.find((l) => setPaths.filter((p) => p === l.path).length > 1);
  if (twice) {
    throw new UserError(
      `--set ${twice.path} is given more than once, once as a list: give it once, with every ` +
        "value of the sweep in one list",
    );
  }
  const first = listed.map((l) => `${l.path}=${l.texts[0]}`);
  const base = await loadPipeline(file, { ...options, sets: [...fixed, ...first] });
  const matrix: MatrixAxis[] = (base.matrix ?? []).filter((a) => !setPaths.includes(a.path));
  if (!listed.length && !matrix.length) return { base, variants: [] };

  const { parseSetValue } = await import(
    new URL("./yaml.ts", import.meta.url).href
  ) as typeof import("./yaml.ts");
  const axes: Axis[] = matrix.map((a) => ({ path: a.path, values: a.values }));
  for (const l of listed) {
    const values = l.texts.map((t) => {
      const parsed = parseSetValue(t);
      return "value" in parsed ? parsed.value : t; // a bad one is the loader's to report
    });
    const seen = new Set<string>();
    for (const v of values) {
      if (seen.has(stableJson(v))) {
        throw new UserError(
          `--set ${l.path} lists the value ${display(v)} twice: list each value once (each is ` +
            "one variant)",
        );
      }
      seen.add(stableJson(v));
    }
    axes.push({ path: l.path, values, texts: l.texts });
  }
  const count = axes.reduce((n, a) => n * a.values.length, 1);
  if (count > MAX_VARIANTS) {
    throw new UserError(
      `The sweep has ${count} variants (${axes.map((a) => a.values.length).join(" x ")}), more ` +
        `than ${MAX_VARIANTS}: sweep fewer values, or split it into several runs`,
    );
  }
  // Every combination, the first axis varying slowest.
  let combos: number[][] = [[]];
  for (const a of axes) combos = combos.flatMap((c) => a.values.map((_, i) => [...c, i]));
  const names = shortNames(axes.map((a) => a.path));
  const labels = new Map<string, number>();
  const variants: SweepVariant[] = [];
  for (const combo of combos) {
    const variant: Record<string, number> = {};
    const flags = [...fixed];
    const parts: string[] = [];
    const overrides: string[] = [];
    combo.forEach((i, n) => {
      const a = axes[n]!;
      if (a.texts) flags.push(`${a.path}=${a.texts[i]}`);
      else variant[a.path] = i;
      parts.push(`${names[n]}=${safe(display(a.values[i]))}`);
      overrides.push(`${a.path}=${display(a.values[i])}`);
    });
    let label = parts.join(",");
    const seen = labels.get(label) ?? 0;
    labels.set(label, seen + 1);
    if (seen) label = `${label}-${seen + 1}`;
    const pipeline = await loadPipeline(file, { ...options, sets: flags, variant });
    variants.push({ pipeline, label, overrides });
  }
  return { base, variants };
}
