/**
 * Names the user gives, checked where they are read (issue 23): `--set` variables that the file
 * does not define, and names such as `constructor`, `toString` or `__proto__` that every object
 * inherits from `Object.prototype`, in each kind of lookup a user's name meets.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { Cache } from "../runner/store/cache.ts";
import { PipelineValidationError } from "../runner/errors.ts";
import { project, runProject, runScript } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;
const STAGE_URL = new URL("../runner/stage.ts", import.meta.url).href;

const VARS = `name: vars
vars:
  max_length: 64
  model: { heads: 2 }
stages:
  a: { uses: emit, with: { text: "\${vars.max_length} \${vars.model.heads}" } }
  b: { uses: lower, inputs: { text: a.text } }
`;

/** The diagnostics of a pipeline that must be refused. */
async function refused(dir: string, sets: string[] = [], file = "pipeline.yaml") {
  const error = await loadPipeline(`${dir}/${file}`, { registry: testRegistry(), sets }).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof PipelineValidationError, `expected a refusal, got ${error}`);
  return error.diagnostics.map((d) => ({
    where: d.line ? `${d.line}:${d.column}` : d.file,
    path: d.path,
    message: d.message,
    hint: d.hint,
  }));
}

Deno.test("issue 23 item 8: --set of a variable the file does not define is exit 2 with a did-you-mean", async () => {
  const dir = await project({ "pipeline.yaml": VARS });
  const typo = await runScript(CLI, ["run", "pipeline.yaml", "--set", "vars.max_len=32"], dir);
  assert.equal(typo.code, 2, typo.stderr);
  assert.equal(
    typo.stderr.trim(),
    'error: command line: Override "vars.max_len" names unknown variable "vars.max_len": ' +
      'did you mean "max_length"',
  );
  assert.deepEqual(await refused(dir, ["vars.model.head=4"]), [{
    where: "command line",
    path: "",
    message: 'Override "vars.model.head" names unknown variable "vars.model.head"',
    hint: 'did you mean "heads"',
  }]);
  // In a sweep, and in the file's matrix: block, the same.
  const swept = await runScript(CLI, ["run", "pipeline.yaml", "--set", "vars.max_lenght=1,2"], dir);
  assert.equal(swept.code, 2, swept.stderr);
  assert.match(swept.stderr, /names unknown variable "vars.max_lenght": did you mean "max_length"/);
  await Deno.writeTextFile(`${dir}/matrix.yaml`, `${VARS}matrix:\n  vars.max_lenght: [1, 2]\n`);
  assert.deepEqual(await refused(dir, [], "matrix.yaml"), [{
    where: "9:3",
    path: "matrix.vars.max_lenght",
    message: 'Matrix path "vars.max_lenght" names unknown variable "vars.max_lenght"',
    hint: 'did you mean "max_length"',
  }]);
  // Variables the file defines are set as before, nested ones included.
  const ran = await runProject(dir, { sets: ["vars.max_length=128", "vars.model.heads=4"] });
  assert.deepEqual(ran.byId, { a: "ran", b: "ran" });
  assert.equal(await Deno.readTextFile(`${dir}/out/vars/b/text.txt`), "128 4");
});

Deno.test("issue 23 item 17: ${vars.<name>} finds no inherited name (constructor, toString, __proto__)", async () => {
  const dir = await project({
    "pipeline.yaml": `name: p
vars: { word: Hi }
stages:
  a: { uses: emit, with: { text: "\${vars.constructor}" } }
  b: { uses: emit, with: { text: "x \${vars.toString} \${vars.__proto__}" } }
`,
  });
  assert.deepEqual((await refused(dir)).map((d) => [d.where, d.message, d.hint]), [
    ["4:34", 'Unknown variable "vars.constructor"', 'expected a variable among "word"'],
    ["5:34", 'Unknown variable "vars.toString"', 'expected a variable among "word"'],
    ["5:34", 'Unknown variable "vars.__proto__"', 'expected a variable among "word"'],
  ]);
});

Deno.test("issue 23 item 17: an input named like an inherited property is an unknown input, in the file and in --set", async () => {
  const dir = await project({
    "pipeline.yaml": `name: p
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text, constructor: a.text, toString: a.text } }
`,
    "set.yaml": "name: q\nstages:\n  a: { uses: emit, with: { text: Hi } }\n" +
      "  b: { uses: lower, inputs: { text: a.text } }\n",
  });
  assert.deepEqual((await refused(dir)).map((d) => [d.path, d.message]), [
    ["stages.b.inputs.constructor", 'Unknown input "constructor" of stage kind "lower"'],
    ["stages.b.inputs.toString", 'Unknown input "toString" of stage kind "lower"'],
  ]);
  const flag = await refused(dir, ["stages.b.inputs.constructor=a.text"], "set.yaml");
  assert.deepEqual(flag.map((d) => [d.where, d.message]), [
    ["command line", 'Unknown input "constructor" of stage kind "lower"'],
  ]);
});

Deno.test("issue 23 item 17: a reference <stage>.<inherited name> names no output", async () => {
  const dir = await project({
    "pipeline.yaml": `name: p
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.constructor } }
`,
  });
  assert.deepEqual(await refused(dir), [{
    where: "4:37",
    path: "stages.b.inputs.text",
    message: 'Stage "a" has no output "constructor"',
    hint: 'expected an output among "text"',
  }]);
});

Deno.test("issue 23 item 17: --set and matrix: paths through __proto__ or constructor change no prototype", async () => {
  const dir = await project({
    "pipeline.yaml":
      "name: p\nvars: { word: Hi }\nstages:\n  a: { uses: emit, with: { text: x } }\n",
    "matrix.yaml": "name: m\nstages:\n  a: { uses: emit, with: { text: x } }\n" +
      "matrix:\n  stages.a.with.__proto__.polluted: [1, 2]\n",
  });
  const probe = {} as Record<string, unknown>;
  const unknownStage = await refused(dir, ["stages.constructor.with.text=y"]);
  assert.deepEqual(unknownStage.map((d) => d.message), [
    'Override "stages.constructor.with.text" names unknown stage "constructor"',
  ]);
  const viaVars = await refused(dir, ["vars.__proto__.tag=b"]);
  assert.deepEqual(viaVars.map((d) => d.message), [
    'Override "vars.__proto__.tag" names unknown variable "vars.__proto__"',
  ]);
  const viaWith = await refused(dir, ["stages.a.with.__proto__.polluted=1"]);
  assert.deepEqual(viaWith.map((d) => [d.path, d.message]), [
    ["stages.a.with.__proto__", 'Unknown parameter "__proto__" of stage kind "emit"'],
  ]);
  const viaMatrix = await loadPipeline(`${dir}/matrix.yaml`, {
    registry: testRegistry(),
    variant: { "stages.a.with.__proto__.polluted": 0 },
  }).then(() => [], (e: PipelineValidationError) => e.diagnostics.map((d) => d.message));
  assert.deepEqual(viaMatrix, ['Unknown parameter "__proto__" of stage kind "emit"']);
  assert.equal(probe.polluted, undefined);
  assert.equal(probe.tag, undefined);
  assert.equal(Object.hasOwn(Object.prototype, "polluted"), false);
});

Deno.test("issue 23 item 17: a stage writing an output named like an inherited property wrote an undeclared output", async () => {
  const dir = await project({
    "proto_out.ts": `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "proto-out", version: 1, description: "Writes ctx.output('constructor')",
  schema: { type: "object", properties: {} }, inputs: {},
  outputs: { text: { type: "text", description: "A text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("text"), "t");
    await Deno.writeTextFile(ctx.output("constructor"), "sneaked in");
  },
});
`,
    "pipeline.yaml": "name: p\nstages:\n  a: { uses: ./proto_out.ts }\n",
  });
  const run = await runScript(CLI, ["run", "pipeline.yaml"], dir);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /wrote undeclared output "constructor"/);
});

Deno.test("issue 23 item 17: a run record lacking a declared output named like an inherited property is no hit", async () => {
  const dir = await project({
    "pipeline.yaml": "name: p\nstages:\n  a: { uses: emit, with: { text: x } }\n",
  });
  const ran = await runProject(dir);
  const key = ran.stages[0]!.key!;
  const cache = await Cache.open(`${dir}/.pipeline`);
  assert.ok(await cache.record(key, ["text"]));
  assert.equal(await cache.record(key, ["text", "constructor"]), undefined);
});

Deno.test("issue 23 item 17: a command named like an inherited property is an unknown command", async () => {
  const dir = await project({});
  for (const command of ["toString", "constructor", "__proto__"]) {
    const out = await runScript(CLI, [command], dir);
    assert.equal(out.code, 2, `${command}: ${out.stderr}`);
    assert.match(out.stderr, new RegExp(`^error: Unknown command "${command}"`));
  }
});

Deno.test("issue 23 item 14: a pipeline name or stage id over 100 characters is exit 2 at file:line:col; 100 run", async () => {
  const long = (c: string, n: number) => c.repeat(n);
  const dir = await project({
    "name.yaml": `name: ${long("p", 300)}\nstages:\n  a: { uses: emit, with: { text: x } }\n`,
    "id.yaml": `name: ok\nstages:\n  ${long("s", 300)}: { uses: emit, with: { text: x } }\n`,
    "max.yaml": `name: ${long("p", 100)}\nstages:\n  ${
      long("s", 100)
    }: { uses: emit, with: { text: x } }\n`,
  });
  const name = await runScript(CLI, ["run", "name.yaml"], dir);
  assert.equal(name.code, 2, name.stderr);
  assert.equal(
    name.stderr.trim(),
    `error: name.yaml:1:7: name: Value "${long("p", 24)}..." is 300 characters long, more than ` +
      "the limit of 100: shorten it",
  );
  const id = await runScript(CLI, ["run", "id.yaml"], dir);
  assert.equal(id.code, 2, id.stderr);
  assert.equal(
    id.stderr.trim(),
    `error: id.yaml:3:3: stages.${long("s", 300)}: Name "${long("s", 24)}..." is 300 characters ` +
      "long, more than the limit of 100: shorten it",
  );
  // At the limit, every file the engine names after them fits, a sweep's included.
  const max = await runScript(
    CLI,
    ["run", "max.yaml", "--set", `stages.${long("s", 100)}.with.text=a,b`],
    dir,
  );
  assert.equal(max.code, 0, max.stderr);
  assert.match(max.stderr, /2 variants: 2 ran, 0 cached, 0 skipped, 0 failed/);
});
