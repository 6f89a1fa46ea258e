/**
 * `stages [<kind> | <module.ts>] [--json]`: the registered stage kinds, or one kind's parameters,
 * inputs and outputs (ops/describe_stage.ts).
 *
 * @module
 */

import { projectRoot } from "../config/load.ts";
import { resolveKind } from "../config/kinds.ts";
import { makeBounds } from "../config/paths.ts";
import { UserError } from "../errors.ts";
import { parseArgs } from "../lib/args.ts";
import { wrap } from "../lib/wrap.ts";
import { describeKind, type KindDoc, listKinds } from "../ops/describe_stage.ts";
import { resolve } from "../paths.ts";
import type { Registry } from "../registry.ts";
import { helpOf, usageOf } from "./help.ts";

const WIDTH = 100;

/**
 * Runs `stages`.
 *
 * @param args Its arguments.
 * @param registry The registered stage kinds.
 * @returns The exit code (0).
 * @throws {UserError} For an unknown kind (with the closest), or a stage module that cannot be
 *   loaded.
 */
export async function stagesCommand(args: string[], registry: Registry): Promise<number> {
  const usage = usageOf("stages");
  const { values, positionals } = parseArgs(args, { json: { type: "boolean" } }, {
    usage,
    command: "stages",
    help: () => helpOf("stages"),
  });
  if (positionals.length > 1) {
    throw new UserError(`Unexpected argument "${positionals[1]}": give one stage kind\n${usage}`);
  }
  const json = values.json ?? false;
  const name = positionals[0];
  if (name === undefined) {
    const kinds = listKinds(registry);
    if (json) {
      console.log(JSON.stringify(kinds, null, 2));
      return 0;
    }
    const width = Math.max(...kinds.map((k) => k.name.length));
    console.log("stage kinds (uses: <kind> in a pipeline):");
    for (const k of kinds) console.log(`  ${k.name.padEnd(width)}  ${k.description}`);
    console.log(
      "\nstages <kind> describes one; a stage module of your project is used and described by " +
        "its path (uses: ./count.ts; stages ./count.ts)",
    );
    return 0;
  }
  // A path (`./count.ts`, `stages/x.ts`) is a stage module; anything else a registered name.
  const isPath = name.includes("/") || /\.[jt]sx?$/.test(name);
  const root = projectRoot(resolve("deno.json"));
  const found = await resolveKind(isPath ? resolve(name) : name, makeBounds(root, []), registry, {
    file: "command line",
    line: 0,
    column: 0,
    path: "",
  });
  if (!("run" in found)) {
    throw new UserError(found.hint ? `${found.message}: ${found.hint}` : found.message);
  }
  const doc = describeKind(found);
  console.log(json ? JSON.stringify(doc, null, 2) : formatKind(doc));
  return 0;
}

/** A value as the description shows it: JSON. */
function shown(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

/**
 * A stage kind as `stages <kind>` prints it: a heading, then each parameter, input and output
 * on a line of its own with its description wrapped under it.
 */
export function formatKind(doc: KindDoc): string {
  const item = (head: string, description: string) =>
    description ? `  ${head}\n${wrap(description, WIDTH, "      ")}` : `  ${head}`;
  const lines = [
    wrap(`${doc.name} (version ${doc.version}): ${doc.description}`, WIDTH),
    `module: ${doc.module}`,
  ];
  if (doc.exclusive) lines.push(`never runs at once with another "${doc.exclusive}" stage`);
  lines.push("", doc.params.length ? "parameters (with:):" : "parameters (with:): none");
  for (const p of doc.params) {
    const facts = [p.type, ...p.bounds];
    if (p.path_kind) {
      const what = p.path_kind === "dir" ? "directory" : "file";
      facts.push(`the path of a ${what} (its content is part of the key)`);
    }
    facts.push(
      "default" in p ? `default ${shown(p.default)}` : p.required ? "required" : "optional",
    );
    lines.push(item(`${p.path}: ${facts.join(", ")}`, p.description));
  }
  lines.push("", doc.inputs.length ? "inputs (inputs:):" : "inputs (inputs:): none");
  for (const i of doc.inputs) {
    lines.push(item(`${i.name}: ${i.type}${i.optional ? ", optional" : ""}`, i.description));
  }
  lines.push("", "outputs:");
  for (const o of doc.outputs) {
    const form = o.kind === "dir"
      ? "a directory"
      : `a file${o.extension ? ` (${o.extension})` : ""}`;
    lines.push(item(`${o.name}: ${o.type}, ${form}`, o.description));
  }
  return lines.join("\n");
}
