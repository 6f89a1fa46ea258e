import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { type Diagnostic, PipelineValidationError } from "../runner/errors.ts";
import { testRegistry } from "./testdata/engine/stages.ts";
import { project, runScript } from "./_engine_helpers.ts";

/** Loads a pipeline text that must be invalid; returns its diagnostics. */
async function problems(yaml: string, sets: string[] = []): Promise<Diagnostic[]> {
  const dir = await project({ "pipeline.yaml": yaml, "data.txt": "x" });
  try {
    await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry(), sets });
  } catch (error) {
    assert.ok(error instanceof PipelineValidationError, String(error));
    return error.diagnostics;
  }
  throw new Error("the pipeline was accepted");
}

interface Case {
  name: string;
  yaml: string;
  sets?: string[];
  /** [line, column, config path, message pattern, hint pattern?] for each expected problem. */
  expect: [number, number, string, RegExp, RegExp?][];
}

const cases: Case[] = [
  {
    name: "a YAML syntax error (unclosed flow mapping)",
    yaml: "name: p\nstages:\n  a:\n    uses: emit\n    with: { text: hi\n",
    expect: [[6, 1, "", /Flow map|flow/i, /indentation|brackets/]],
  },
  {
    name: "a duplicate stage id",
    yaml:
      "name: p\nstages:\n  a: { uses: emit, with: { text: x } }\n  a: { uses: emit, with: { text: y } }\n",
    expect: [[4, 3, "", /Duplicate key/, /rename/]],
  },
  {
    name: "an unknown top-level key, with the closest valid key",
    yaml: "name: p\nstagse:\n  a: { uses: emit }\n",
    expect: [
      [1, 1, "", /Missing required key "stages"/, /add "stages:"/],
      [2, 1, "stagse", /Unknown key "stagse"/, /did you mean "stages"/],
    ],
  },
  {
    name: "a stage without uses",
    yaml: "name: p\nstages:\n  a:\n    with: { text: x }\n",
    expect: [[3, 3, "stages.a", /Missing required key "uses"/]],
  },
  {
    name: "an unknown stage kind, with the closest registered kind",
    yaml: "name: p\nstages:\n  a:\n    uses: emitt\n",
    expect: [[4, 11, "stages.a.uses", /Unknown stage kind "emitt"/, /did you mean "emit"/]],
  },
  {
    name: "an unknown parameter, with the closest valid parameter",
    yaml: "name: p\nstages:\n  a:\n    uses: emit\n    with:\n      txt: hello\n",
    expect: [
      [5, 5, "stages.a.with", /Missing required key "text"/],
      [
        6,
        7,
        "stages.a.with.txt",
        /Unknown parameter "txt" of stage kind "emit"/,
        /did you mean "text"/,
      ],
    ],
  },
  {
    name: "a parameter of the wrong type",
    yaml:
      "name: p\nstages:\n  r:\n    uses: read\n    with:\n      path: data.txt\n      epochs: many\n",
    expect: [[7, 15, "stages.r.with.epochs", /Expected integer, got "many"/]],
  },
  {
    name: "a parameter outside its enum, with the closest allowed value",
    yaml: "name: p\nstages:\n  r:\n    uses: read\n    with: { path: data.txt, mode: fsat }\n",
    expect: [[5, 35, "stages.r.with.mode", /Value "fsat" is not allowed/, /did you mean "fast"/]],
  },
  {
    name: "a parameter below its minimum",
    yaml:
      "name: p\nstages:\n  r:\n    uses: read\n    with:\n      path: data.txt\n      epochs: 0\n",
    expect: [[7, 15, "stages.r.with.epochs", /Value 0 must be >= 1/]],
  },
  {
    name: "a reference to an unknown stage, with the closest stage id",
    yaml:
      "name: p\nstages:\n  first: { uses: emit, with: { text: x } }\n  low:\n    uses: lower\n    inputs: { text: frist.text }\n",
    expect: [[6, 21, "stages.low.inputs.text", /unknown stage "frist"/, /did you mean "first"/]],
  },
  {
    name: "a reference to an unknown output, with the closest output name",
    yaml:
      "name: p\nstages:\n  first: { uses: emit, with: { text: x } }\n  low:\n    uses: lower\n    inputs:\n      text: first.txt\n",
    expect: [[
      7,
      13,
      "stages.low.inputs.text",
      /Stage "first" has no output "txt"/,
      /did you mean "text"/,
    ]],
  },
  {
    name: "an input whose artifact type does not match the output it references",
    yaml:
      "name: p\nstages:\n  nap: { uses: sleep }\n  low:\n    uses: lower\n    inputs:\n      text: nap.times\n",
    expect: [[
      7,
      13,
      "stages.low.inputs.text",
      /expects artifact type "text" but "nap.times" is "times"/,
    ]],
  },
  {
    name: "a cycle, naming every stage in it",
    yaml:
      "name: p\nstages:\n  a:\n    uses: join\n    inputs: { a: b.text, b: c.text }\n  b:\n    uses: lower\n    inputs: { text: a.text }\n  c: { uses: emit, with: { text: x } }\n",
    expect: [[5, 5, "stages.a.inputs", /Cycle between stages: "a" -> "b" -> "a"/]],
  },
  {
    name: "a path parameter naming a file that does not exist",
    yaml: "name: p\nstages:\n  r:\n    uses: read\n    with:\n      path: data/missing.txt\n",
    expect: [[
      6,
      13,
      "stages.r.with.path",
      /File "data\/missing.txt" does not exist/,
      /project root/,
    ]],
  },
  {
    name: "an input that is neither a stage output nor a file",
    yaml: "name: p\nstages:\n  low:\n    uses: lower\n    inputs: { text: data/nothing.txt }\n",
    expect: [[5, 21, "stages.low.inputs.text", /neither a stage output nor a file/]],
  },
  {
    name: "an unknown variable, with the closest defined one",
    yaml:
      'name: p\nvars: { greeting: hi }\nstages:\n  a:\n    uses: emit\n    with: { text: "${vars.greting}" }\n',
    expect: [[
      6,
      19,
      "stages.a.with.text",
      /Unknown variable "vars.greting"/,
      /did you mean "greeting"/,
    ]],
  },
  {
    name: "an unknown input name",
    yaml:
      "name: p\nstages:\n  first: { uses: emit, with: { text: x } }\n  low:\n    uses: lower\n    inputs: { txt: first.text }\n",
    expect: [
      [4, 3, "stages.low", /Missing input "text"/, /first.text/],
      [6, 15, "stages.low.inputs.txt", /Unknown input "txt"/, /did you mean "text"/],
    ],
  },
  {
    name: "a stage id with characters that are not allowed",
    yaml: 'name: p\nstages:\n  "my stage": { uses: emit, with: { text: x } }\n',
    expect: [[3, 3, "stages.my stage", /Name "my stage" is not allowed/]],
  },
  {
    name: "a file that is not a mapping",
    yaml: "- just\n- a list\n",
    expect: [[1, 1, "", /must be a mapping/]],
  },
  {
    name: "a --set naming an unknown stage",
    yaml: "name: p\nstages:\n  first: { uses: emit, with: { text: x } }\n",
    sets: ["stages.frist.with.text=y"],
    expect: [[0, 0, "", /unknown stage "frist"/, /did you mean "first"/]],
  },
  {
    name: "a --set value of the wrong type points at the command line",
    yaml: "name: p\nstages:\n  r: { uses: read, with: { path: data.txt } }\n",
    sets: ["stages.r.with.epochs=lots"],
    expect: [[0, 0, "stages.r.with.epochs", /Expected integer, got "lots"/, /--set/]],
  },
  {
    name: "several problems are reported in one pass",
    yaml:
      "name: p\nstages:\n  a:\n    uses: emit\n    with: { text: 1, tag: c }\n  b:\n    uses: nope\n",
    expect: [
      [5, 19, "stages.a.with.text", /Expected string, got 1/],
      [5, 27, "stages.a.with.tag", /Value "c" is not allowed/],
      [7, 11, "stages.b.uses", /Unknown stage kind "nope"/],
    ],
  },
];

for (const c of cases) {
  Deno.test(`validation reports ${c.name}`, async () => {
    const found = await problems(c.yaml, c.sets ?? []);
    const shown = JSON.stringify(found, null, 1);
    assert.equal(found.length, c.expect.length, shown);
    c.expect.forEach(([line, column, path, message, hint], i) => {
      const d = found[i]!;
      assert.deepEqual([d.line, d.column, d.path], [line, column, path], shown);
      assert.match(d.message, message, shown);
      if (hint) assert.match(d.hint ?? "", hint, shown);
      if (line > 0) assert.match(d.file, /pipeline\.yaml$/);
    });
  });
}

Deno.test("a user error prints error: lines without a stack, exits 2 and touches no cache", async () => {
  const dir = await project({
    "pipeline.yaml": "name: p\nstages:\n  a:\n    uses: emitt\n",
  });
  const cli = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;
  const { code, stderr } = await runScript(cli, ["run", `${dir}/pipeline.yaml`], dir);
  assert.equal(code, 2, stderr);
  assert.match(
    stderr,
    /^error: .*pipeline\.yaml:4:11: stages\.a\.uses: Unknown stage kind "emitt": did you mean "emit"$/m,
  );
  assert.doesNotMatch(stderr, /at .*\.ts:\d+/);
  await assert.rejects(Deno.stat(`${dir}/.pipeline`));
});
