/**
 * `stages` (issue 25): the registered kinds, and a kind's parameters read from its schema (types,
 * defaults, bounds, descriptions), inputs and outputs, as text and as JSON.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { JsonSchema } from "../runner/stage.ts";
import { boundsOf, describeKind, typeOf } from "../runner/ops/describe_stage.ts";
import { BUILTIN_STAGES } from "../stages/mod.ts";
import { project, runScript } from "./_engine_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

const nerpipe = (args: string[], cwd: string) =>
  runScript(MAIN, args, cwd, ["--allow-read", "--allow-env"]);

Deno.test("stages lists every registered kind with its description", async () => {
  const out = await nerpipe(["stages"], Deno.cwd());
  assert.equal(out.code, 0, out.stderr);
  for (const kind of BUILTIN_STAGES) {
    assert.match(
      out.stdout,
      new RegExp(`^ {2}${kind.name} +${RegExp.escape(kind.description)}$`, "m"),
    );
  }
  const json = JSON.parse((await nerpipe(["stages", "--json"], Deno.cwd())).stdout);
  assert.deepEqual(
    json.map((k: { name: string }) => k.name),
    BUILTIN_STAGES.map((k) => k.name).sort(),
  );
});

Deno.test("stages <kind> prints each parameter of its schema with type, bounds, default and description", async () => {
  const out = await nerpipe(["stages", "train"], Deno.cwd());
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /^train \(version \d+\): Trains a BERT token classifier/);
  assert.match(
    out.stdout,
    /^ {2}epochs: integer, 1 to 1000, default 3\n {6}Passes over the training batches\.$/m,
  );
  assert.match(out.stdout, /^ {2}learning_rate: number, > 0 and <= 1, default 0\.0005$/m);
  assert.match(out.stdout, /^ {2}workers: integer \(1 to 256\) \| "auto", default "auto"$/m);
  assert.match(out.stdout, /^ {2}head: "softmax" \| "crf", default "softmax"$/m);
  assert.match(out.stdout, /^ {2}from: string, the path of a directory .*, optional$/m);
  assert.match(out.stdout, /^ {2}early_stopping\.patience: integer, 1 to 1000, default 2$/m);
  assert.match(out.stdout, /^inputs \(inputs:\):\n {2}batches: ner-batches\n/m);
  assert.match(out.stdout, /^ {2}encoded: ner-encoded, optional$/m);
  assert.match(out.stdout, /^outputs:\n {2}model: model, a directory\n/m);
  const pre = await nerpipe(["stages", "preprocess-input"], Deno.cwd());
  assert.match(
    pre.stdout,
    /^ {2}tokenizer: object, exactly one of: from, learn, default \{"learn"/m,
  );
  assert.match(pre.stdout, /^ {2}tokenizer\.learn\.merges: integer, 0 to 1000000, default 8000$/m);

  // Every property of every built-in kind's schema, nested ones included, is described with
  // the schema's own default and description.
  for (const kind of BUILTIN_STAGES) {
    const json = JSON.parse((await nerpipe(["stages", kind.name, "--json"], Deno.cwd())).stdout);
    assert.deepEqual(json, JSON.parse(JSON.stringify(describeKind(kind))));
    const expected: { path: string; schema: JsonSchema }[] = [];
    const walk = (schema: JsonSchema, prefix: string) => {
      for (const [name, sub] of Object.entries(schema.properties ?? {}) as [string, JsonSchema][]) {
        expected.push({ path: `${prefix}${name}`, schema: sub });
        if (sub.properties) walk(sub, `${prefix}${name}.`);
      }
    };
    walk(kind.schema, "");
    assert.deepEqual(json.params.map((p: { path: string }) => p.path), expected.map((e) => e.path));
    for (const [i, { schema }] of expected.entries()) {
      assert.deepEqual(json.params[i].default, schema.default, `${kind.name} ${expected[i]!.path}`);
      assert.equal(json.params[i].description, schema.description ?? "");
    }
    assert.deepEqual(json.inputs.map((i: { name: string }) => i.name), Object.keys(kind.inputs));
    assert.deepEqual(json.outputs.map((o: { name: string }) => o.name), Object.keys(kind.outputs));
  }
});

Deno.test("typeOf and boundsOf read a schema's types, enums, alternatives and bounds", () => {
  assert.equal(typeOf({ type: ["string", "null"] }), "string | null");
  assert.equal(typeOf({ type: "array", items: { enum: ["a", "b"] } }), 'array of "a" | "b"');
  assert.equal(
    typeOf({ anyOf: [{ type: "number", minimum: 0 }, { const: null }] }),
    "number (>= 0) | null",
  );
  assert.equal(
    typeOf({ type: "object", additionalProperties: { type: "integer" } }),
    "object of integer",
  );
  assert.deepEqual(boundsOf({ exclusiveMinimum: 0, exclusiveMaximum: 1 }), ["> 0 and < 1"]);
  assert.deepEqual(boundsOf({ maximum: 5 }), ["<= 5"]);
  assert.deepEqual(
    boundsOf({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }),
    [],
  );
  assert.deepEqual(boundsOf({ minLength: 1, pattern: "^a" }), [
    "at least 1 characters",
    "matching /^a/",
  ]);
  assert.deepEqual(boundsOf({ minItems: 2, maxItems: 4 }), ["2 to 4 items"]);
});

Deno.test("stages: an unknown kind is exit 2 with the closest name; a stage module is described by its path", async () => {
  const bad = await nerpipe(["stages", "trian"], Deno.cwd());
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'error: Unknown stage kind "trian": did you mean "train"\n');
  const dir = await project({
    "deno.json": "{}",
    "count.ts": `export default {
  name: "count-words",
  version: 2,
  description: "Counts words",
  schema: { type: "object", required: ["n"], properties: { n: { type: "integer", minimum: 1, description: "How many" } } },
  inputs: { text: { type: "file", description: "A text" } },
  outputs: { counts: { type: "word-counts", description: "Counts", extension: ".json" } },
  module: import.meta.url,
  run() { return Promise.resolve(); },
};
`,
  });
  try {
    const out = await nerpipe(["stages", "./count.ts"], dir);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^count-words \(version 2\): Counts words\nmodule: count\.ts\n/);
    assert.match(out.stdout, /^ {2}n: integer, >= 1, required\n {6}How many$/m);
    assert.match(out.stdout, /^ {2}counts: word-counts, a file \(\.json\)\n {6}Counts$/m);
    const missing = await nerpipe(["stages", "./nope.ts"], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^error: Stage module ".*nope\.ts" does not exist: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
