// Issue 14: each stage kind's parameters are declared twice, as a JSON Schema (what the engine
// validates and fills defaults from) and as the TypeScript interface the stage's code reads. This
// test reads both and fails when they disagree: a parameter in one and not the other, an optional
// member that the schema requires or gives a default (or the other way round), or a different
// type or list of allowed strings.
import assert from "node:assert/strict";
import { BACKEND_NAMES } from "../ner/bert/backend.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** One member's declared type, reduced to what both declarations can say. */
interface Shape {
  /** Primitive kinds: number, boolean, string, object. */
  kinds: Set<string>;
  /** Allowed string literals (empty: any string, or no string). */
  literals: Set<string>;
  /** Members of an object type written inline. */
  members?: Map<string, Member>;
}

interface Member {
  optional: boolean;
  shape: Shape | undefined; // undefined: a named type this test does not resolve
}

function stripComments(code: string): string {
  return code.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

/** Splits at `sep` outside braces, brackets and parentheses. */
function splitTop(text: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if ("{[(".includes(c)) depth++;
    else if ("}])".includes(c)) depth--;
    else if (c === sep && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== "");
}

function parseMembers(body: string, aliases: Map<string, string>): Map<string, Member> {
  const members = new Map<string, Member>();
  for (const line of splitTop(body.replace(/\n/g, " ").replace(/,(\s*})/g, "$1"), ";")) {
    const m = /^(\w+)(\?)?\s*:\s*([\s\S]+)$/.exec(line);
    assert.ok(m, `cannot read the member "${line}"`);
    members.set(m[1]!, { optional: m[2] === "?", shape: parseType(m[3]!.trim(), aliases) });
  }
  return members;
}

function parseType(type: string, aliases: Map<string, string>): Shape | undefined {
  const shape: Shape = { kinds: new Set(), literals: new Set() };
  for (const alt of splitTop(type, "|")) {
    if (alt === "number" || alt === "boolean" || alt === "string") shape.kinds.add(alt);
    else if (/^"[^"]*"$/.test(alt)) {
      shape.kinds.add("string");
      shape.literals.add(alt.slice(1, -1));
    } else if (alt.startsWith("{") && alt.endsWith("}")) {
      shape.kinds.add("object");
      shape.members = parseMembers(alt.slice(1, -1), aliases);
    } else if (aliases.has(alt)) {
      const inner = parseType(aliases.get(alt)!, aliases);
      if (inner === undefined) return undefined;
      for (const k of inner.kinds) shape.kinds.add(k);
      for (const l of inner.literals) shape.literals.add(l);
      if (inner.members) shape.members = inner.members;
    } else return undefined; // a type named elsewhere
  }
  return shape;
}

/** The members of `export interface <name>` in a module's source. */
function interfaceMembers(code: string, name: string): Map<string, Member> {
  const text = stripComments(code);
  const aliases = new Map<string, string>();
  for (const m of text.matchAll(/^(?:export )?type (\w+) =\s*([^;]+);/gm)) {
    aliases.set(m[1]!, m[2]!.replace(/\s+/g, " ").trim());
  }
  const at = text.search(new RegExp(`interface ${name} \\{`));
  assert.ok(at >= 0, `interface ${name} not found`);
  const open = text.indexOf("{", at);
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) {
      return parseMembers(text.slice(open + 1, i), aliases);
    }
  }
  throw new Error(`interface ${name} is not closed`);
}

type Schema = Record<string, unknown>;

/** What a schema node allows, reduced as {@link Shape}. */
function schemaShape(node: Schema): Shape {
  const shape: Shape = { kinds: new Set(), literals: new Set() };
  // Alternatives (oneOf/anyOf) add what they allow; ones that only constrain (`required`) add
  // nothing.
  for (const alt of (node.oneOf ?? node.anyOf ?? []) as Schema[]) {
    const s = schemaShape(alt);
    for (const k of s.kinds) shape.kinds.add(k);
    for (const l of s.literals) shape.literals.add(l);
    if (s.members) shape.members = s.members;
  }
  const types = node.type === undefined
    ? (node.enum ? [...new Set((node.enum as unknown[]).map((v) => typeof v))] : [])
    : [node.type].flat() as string[];
  for (const t of types) shape.kinds.add(t === "integer" ? "number" : t);
  if (node.enum) {
    for (const v of node.enum as unknown[]) if (typeof v === "string") shape.literals.add(v);
  }
  if (typeof node.const === "string") {
    shape.kinds.add("string");
    shape.literals.add(node.const);
  }
  if (node.properties) {
    shape.kinds.add("object");
    shape.members = schemaMembers(node);
  }
  return shape;
}

function schemaMembers(node: Schema): Map<string, Member> {
  const required = new Set((node.required ?? []) as string[]);
  const members = new Map<string, Member>();
  for (const [key, value] of Object.entries(node.properties as Record<string, Schema>)) {
    // After the engine fills defaults, a member with a default is always there.
    const optional = !required.has(key) && !("default" in value);
    members.set(key, { optional, shape: schemaShape(value) });
  }
  return members;
}

function compare(path: string, code: Map<string, Member>, schema: Map<string, Member>): string[] {
  const problems: string[] = [];
  for (const key of new Set([...code.keys(), ...schema.keys()])) {
    const at = `${path}.${key}`;
    const c = code.get(key);
    const s = schema.get(key);
    if (!c) {
      problems.push(`${at} is in the schema, not in the interface`);
      continue;
    }
    if (!s) {
      problems.push(`${at} is in the interface, not in the schema`);
      continue;
    }
    if (c.optional !== s.optional) {
      problems.push(
        `${at} is ${c.optional ? "optional" : "always there"} in the interface but ${
          s.optional ? "optional" : "required or defaulted"
        } in the schema`,
      );
    }
    if (c.shape === undefined || s.shape === undefined) continue;
    const kinds = (x: Shape) => [...x.kinds].sort().join("|");
    if (kinds(c.shape) !== kinds(s.shape)) {
      problems.push(`${at} is ${kinds(c.shape)} in the interface, ${kinds(s.shape)} in the schema`);
    }
    const literals = (x: Shape) => [...x.literals].sort().join(",");
    if (c.shape.literals.size > 0 && literals(c.shape) !== literals(s.shape)) {
      problems.push(
        `${at} allows ${literals(c.shape)} in the interface, ${literals(s.shape)} in the schema`,
      );
    }
    if (c.shape.members && s.shape.members) {
      problems.push(...compare(at, c.shape.members, s.shape.members));
    }
  }
  return problems;
}

/** Each stage module with a parameter interface: its file, interface and schema. */
async function stageParams(): Promise<{ file: string; name: string; schema: string }[]> {
  const found = [];
  for await (const entry of Deno.readDir(`${ROOT}stages`)) {
    if (!entry.name.endsWith(".ts") || entry.name.startsWith("_")) continue;
    const code = await Deno.readTextFile(`${ROOT}stages/${entry.name}`);
    const define = /defineStage<(\w+)>/.exec(code);
    const schema = /import schema from "\.\.\/schemas\/([\w-]+\.schema\.json)"/.exec(code);
    if (!define || !schema) continue;
    found.push({ file: `stages/${entry.name}`, name: define[1]!, schema: schema[1]! });
  }
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

Deno.test("each stage kind's parameter interface agrees with its JSON Schema", async () => {
  const stages = await stageParams();
  assert.ok(stages.length >= 7, stages.map((s) => s.file).join(", "));
  const problems: string[] = [];
  for (const { file, name, schema } of stages) {
    const node = JSON.parse(await Deno.readTextFile(`${ROOT}schemas/${schema}`)) as Schema;
    const members = schemaMembers(node);
    if (name === "Record") {
      // `defineStage<Record<string, never>>`: no parameters at all.
      if (members.size > 0) problems.push(`${file}: no interface, but ${schema} has parameters`);
      continue;
    }
    const code = interfaceMembers(await Deno.readTextFile(`${ROOT}${file}`), name);
    problems.push(...compare(`${file} ${name}`, code, members));
  }
  assert.deepEqual(problems, []);
});

Deno.test("the agreement check finds a missing member, a wrong type and a wrong optional", () => {
  const code = interfaceMembers(
    `export interface P {\n  a: number;\n  b?: "x" | "y";\n  c: { d: boolean };\n}\n`,
    "P",
  );
  const schema = schemaMembers({
    type: "object",
    required: ["a", "b", "c"],
    properties: {
      a: { type: "string" },
      b: { enum: ["x", "z"] },
      c: { type: "object", properties: { d: { type: "boolean", default: true } } },
      e: { type: "number" },
    },
  });
  assert.deepEqual(compare("P", code, schema), [
    "P.a is number in the interface, string in the schema",
    "P.b is optional in the interface but required or defaulted in the schema",
    "P.b allows x,y in the interface, x,z in the schema",
    "P.e is in the schema, not in the interface",
  ]);
});

Deno.test("the backend parameter of train and validate allows exactly the backend list", async () => {
  for (const stage of ["train", "validate"]) {
    const schema = JSON.parse(await Deno.readTextFile(`${ROOT}schemas/${stage}.schema.json`));
    assert.deepEqual(schema.properties.backend.enum, [...BACKEND_NAMES], stage);
  }
});
