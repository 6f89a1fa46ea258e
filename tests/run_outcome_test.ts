/**
 * A run's outcome is never misreported (issue 23): what `--dry-run` says would run, and how a
 * stage's own mistakes are reported.
 *
 * @module
 */

import assert from "node:assert/strict";
import { project, runProject, runScript } from "./_engine_helpers.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

const CHAIN = `name: chain
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text } }
  c: { uses: lower, inputs: { text: b.text } }
`;

Deno.test("issue 23 item 9: --dry-run of a pipeline that never ran lists every stage with its reason", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  const dry = await runScript(CLI, ["run", "pipeline.yaml", "--dry-run"], dir);
  assert.equal(dry.code, 0, dry.stderr);
  const lines = dry.stderr.split("\n").filter((l) => l.includes("would run"));
  assert.deepEqual(lines, [
    "  would run  a: never run",
    '  would run  b: never run; upstream "a" would run first',
    '  would run  c: never run; upstream "b" would run first',
    "3 would run, 0 cached, 0 skipped (dry run: nothing ran)",
  ]);
  // `status` gives the same reasons.
  const status = await runScript(CLI, ["status", "pipeline.yaml", "--json"], dir);
  const rows = JSON.parse(status.stdout).stages as { id: string; reasons: string[] }[];
  assert.deepEqual(rows.map((r) => r.reasons), [
    ["never run"],
    ["never run", 'upstream "a" would run first'],
    ["never run", 'upstream "b" would run first'],
  ]);
  // Once a ran, a changed parameter of a is explained, and what follows waits for it.
  assert.equal((await runScript(CLI, ["run", "pipeline.yaml"], dir)).code, 0);
  const changed = await runScript(
    CLI,
    ["run", "pipeline.yaml", "--dry-run", "--set", "stages.a.with.text=Yo"],
    dir,
  );
  assert.match(changed.stderr, /^ {2}would run {2}a: parameter "text" changed \("Hi" -> "Yo"\)$/m);
  assert.match(changed.stderr, /^ {2}would run {2}b: upstream "a" would run first$/m);
  assert.match(changed.stderr, /^ {2}would run {2}c: upstream "b" would run first$/m);
});

const STAGE_URL = new URL("../runner/stage.ts", import.meta.url).href;

/** A stage kind that makes, on purpose, one of the mistakes a stage's code can make. */
const BAD_STAGE = `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "bad", version: 1, description: "Makes a mistake",
  schema: { type: "object", properties: { how: { type: "string" } } }, inputs: {},
  outputs: {
    text: { type: "text", description: "A file", extension: ".txt" },
    tree: { type: "tree", description: "A directory", kind: "dir" },
  },
  module: import.meta.url,
  async run(ctx) {
    const how = ctx.params.how;
    if (how !== "no-tree") await Deno.writeTextFile(\`\${ctx.output("tree")}/a.txt\`, "a");
    if (how === "nothing") return;
    if (how === "dir-for-file") {
      await Deno.mkdir(ctx.output("text"));
      return;
    }
    await Deno.writeTextFile(ctx.output("text"), "t");
    if (how === "file-for-dir") {
      await Deno.remove(ctx.output("tree"), { recursive: true });
      await Deno.writeTextFile(ctx.output("tree"), "not a directory");
    }
    if (how === "undeclared") await Deno.writeTextFile(ctx.output("txt"), "t");
    if (how === "throw-object") throw { toString() { throw new Error("no text"); } };
    if (how === "throw-proxy") {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      throw proxy;
    }
  },
});
`;

/** Runs a one-stage pipeline of the `bad` kind; its exit code and stderr. */
async function bad(how: string, ...flags: string[]) {
  const dir = await project({
    "bad.ts": BAD_STAGE,
    "pipeline.yaml": `name: b\nstages:\n  b: { uses: ./bad.ts, with: { how: ${how} } }\n` +
      "  after: { uses: lower, inputs: { text: b.text } }\n",
  });
  const out = await runScript(CLI, ["run", "pipeline.yaml", ...flags], dir);
  return { code: out.code, stderr: out.stderr, errors: out.stderr.match(/^error: .*$/gm) ?? [] };
}

Deno.test("issue 23 item 16: a stage's output mistakes are one message naming the stage, the output and what was expected", async () => {
  const cases: [string, string][] = [
    ["nothing", 'it did not write its output "text": expected a file at ctx.output("text")'],
    [
      "dir-for-file",
      'it wrote a directory as its output "text", declared a file: write a file to ' +
      'ctx.output("text"), or declare the output with kind: "dir"',
    ],
    [
      "file-for-dir",
      'it wrote a file as its output "tree", declared a directory (kind: "dir"): write files ' +
      'into the directory ctx.output("tree")',
    ],
    [
      "undeclared",
      'it wrote undeclared output "txt" (ctx.output("txt")): declare it in the outputs of ' +
      'stage kind "bad"',
    ],
  ];
  for (const [how, message] of cases) {
    const out = await bad(how);
    assert.equal(out.code, 1, out.stderr);
    assert.deepEqual(out.errors, [`error: stage "b" failed: ${message}`], how);
    assert.match(out.stderr, /^0 ran, 0 cached, 1 skipped, 1 failed in /m, how);
    // No stack, the engine's or anyone's, and no note about one.
    assert.doesNotMatch(out.stderr, /^\s+at |execute\.ts|hash\.ts|IsADirectory|--verbose/m, how);
  }
});

Deno.test("issue 23 item 16: whatever a stage throws is reported safely; its stack only with --verbose", async () => {
  const object = await bad("throw-object");
  assert.equal(object.code, 1, object.stderr);
  assert.deepEqual(object.errors, [
    'error: stage "b" failed: threw a value that is not an Error: {}',
  ]);
  const proxy = await bad("throw-proxy");
  assert.equal(proxy.code, 1, proxy.stderr);
  assert.deepEqual(proxy.errors, [
    'error: stage "b" failed: threw a value that is not an Error and cannot be shown as text ' +
    "(converting it to text threw): throw an Error instead",
  ]);
  for (const out of [object, proxy]) assert.doesNotMatch(out.stderr, /Uncaught|^\s+at /m);

  // An Error: its name and message; where it was thrown with --verbose.
  const dir = await project({ "pipeline.yaml": "name: f\nstages:\n  f: { uses: fail }\n" });
  const plain = await runScript(CLI, ["run", "pipeline.yaml"], dir);
  assert.equal(plain.code, 1);
  assert.deepEqual(plain.stderr.match(/^error: .*$/gm), ['error: stage "f" failed: Error: boom']);
  assert.doesNotMatch(plain.stderr, /^\s+at /m);
  assert.match(plain.stderr, /^note: run with --verbose to see where in its code a stage failed$/m);
  const verbose = await runScript(CLI, ["run", "pipeline.yaml", "--verbose"], dir);
  assert.equal(verbose.code, 1);
  assert.match(
    verbose.stderr,
    /^error: stage "f" failed: Error: boom\n\s+at .*testdata\/engine\/stages\.ts:\d+:\d+/m,
  );
  const json = await runScript(CLI, ["run", "pipeline.yaml", "--json", "--verbose"], dir);
  const [stage] = JSON.parse(json.stdout).stages;
  assert.equal(stage.error, "Error: boom");
  assert.match(stage.stack, /^Error: boom\n\s+at /);
});

Deno.test("issue 23 item 7: runPipeline in a program: a stage's Deno.exit(3) fails it, and Deno.exit is the program's again after", async () => {
  const dir = await project({
    "exits.ts": `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "exits", version: 1, description: "Exits",
  schema: { type: "object", properties: {} }, inputs: {},
  outputs: { text: { type: "text", description: "A text" } },
  module: import.meta.url,
  run() { Deno.exit(3); },
});
`,
    "pipeline.yaml":
      "name: x\nstages:\n  x: { uses: ./exits.ts }\n  y: { uses: emit, with: { text: y } }\n",
  });
  const exit = Deno.exit;
  const close = globalThis.close;
  const summary = await runProject(dir, { jobs: 1 });
  assert.deepEqual(summary.byId, { x: "failed", y: "ran" });
  assert.match(summary.stages[0]!.error!, /^it called Deno\.exit\(3\), which would have ended/);
  assert.equal(Deno.exit, exit);
  assert.equal(globalThis.close, close);
});

Deno.test("issue 23 item 18: `deno task run` and `deno task status` print no noise about Slurm where it is not installed", async () => {
  const dir = await project({
    "upper.ts": `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "upper", version: 1, description: "Writes a text",
  schema: { type: "object", properties: {} }, inputs: {},
  outputs: { text: { type: "text", description: "A text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) { await Deno.writeTextFile(ctx.output("text"), "HI"); },
});
`,
    "pipeline.yaml": "name: t\nstages:\n  a: { uses: ./upper.ts }\n",
  });
  const root = new URL("..", import.meta.url).pathname;
  // Only Deno on PATH: no sbatch, squeue, scancel or scontrol, as on most machines.
  const task = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "--config", `${root}deno.json`, ...args],
      cwd: dir,
      env: { NO_COLOR: "1", PATH: Deno.execPath().replace(/\/[^/]*$/, "") },
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  };
  const run = await task("run", `${dir}/pipeline.yaml`);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^1 ran, 0 cached, 0 skipped, 0 failed in /m);
  const status = await task("status", `${dir}/pipeline.yaml`);
  assert.equal(status.code, 0, status.stderr);
  for (const out of [run, status]) {
    assert.doesNotMatch(out.stderr, /Info|Failed to resolve|sbatch|squeue|^error/m, out.stderr);
  }
});
