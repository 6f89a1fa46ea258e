import assert from "node:assert/strict";
import { consoleReporter } from "../runner/report/console.ts";
import { project, runScript } from "./_engine_helpers.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

function cli(dir: string, ...args: string[]) {
  return runScript(CLI, args, dir);
}

const PIPELINE = `name: cli
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text } }
`;

Deno.test("run --json prints the documented shape; status explains what is stale", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const first = await cli(dir, "run", "pipeline.yaml", "--json");
  assert.equal(first.code, 0, first.stderr);
  const json = JSON.parse(first.stdout);
  assert.equal(json.pipeline, "cli");
  assert.deepEqual(Object.keys(json.stages[0]), [
    "id",
    "kind",
    "status",
    "seconds",
    "key",
    "outputs",
  ]);
  assert.deepEqual(json.stages.map((s: { status: string }) => s.status), ["ran", "ran"]);
  assert.equal(json.stages[1].outputs.text, "out/cli/b/text.txt");
  assert.match(json.stages[0].key, /^[0-9a-f]{64}$/);

  const fresh = await cli(dir, "status", "pipeline.yaml", "--json");
  const rows = JSON.parse(fresh.stdout).stages;
  assert.deepEqual(rows.map((r: { state: string }) => r.state), ["fresh", "fresh"]);

  const stale = await cli(dir, "status", "pipeline.yaml", "--set", "stages.a.with.text=Yo");
  assert.match(stale.stdout, /^stale +a +parameter "text" changed \("Hi" -> "Yo"\)$/m);
  assert.match(stale.stdout, /^stale +b +upstream "a" would run first$/m);

  const again = await cli(dir, "run", "pipeline.yaml");
  assert.match(again.stderr, /cached +a/);
  assert.match(again.stderr, /0 ran, 2 cached, 0 skipped, 0 failed/);
});

Deno.test("dag draws a tree by default, mermaid and dot with --format; bad flags are user errors", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const tree = await cli(dir, "dag", "pipeline.yaml");
  assert.equal(tree.code, 0, tree.stderr);
  assert.equal(tree.stdout, "a (emit)\n└── text → b (lower)\n");
  const mermaid = await cli(dir, "dag", "pipeline.yaml", "--format", "mermaid");
  assert.match(mermaid.stdout, /a -->\|text\| b/);
  const dot = await cli(dir, "dag", "pipeline.yaml", "--format", "dot");
  assert.match(dot.stdout, /^digraph "cli" \{/);
  const svg = await cli(dir, "dag", "pipeline.yaml", "--format", "svg");
  assert.equal(svg.code, 2);
  assert.match(svg.stderr, /^error: Unknown format "svg": expected "tree", "mermaid", "dot"$/m);
  const bad = await cli(dir, "run", "pipeline.yaml", "--jbos", "2");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: Unknown flag "--jbos": did you mean "--jobs"$/m);
  const unknown = await cli(dir, "run", "pipeline.yaml", "--only", "c");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--only names unknown stage "c"/);
  const missing = await cli(dir, "run", "nope.yaml");
  assert.equal(missing.code, 2);
  assert.match(
    missing.stderr,
    /^error: Pipeline file "nope.yaml" does not exist: check the path$/m,
  );
});

Deno.test("a failing stage exits 1 with its error, after finished stages are cached", async () => {
  const dir = await project({
    "pipeline.yaml":
      "name: f\nstages:\n  a: { uses: emit, with: { text: x } }\n  b: { uses: fail }\n",
  });
  const out = await cli(dir, "run", "pipeline.yaml");
  assert.equal(out.code, 1);
  assert.match(out.stderr, /error: stage "b" failed: Error: boom/);
  const again = await cli(dir, "run", "pipeline.yaml", "--only", "a");
  assert.match(again.stderr, /cached +a/);
});

Deno.test("progress prints periodic plain lines when not on a terminal", () => {
  const lines: string[] = [];
  const original = Deno.stderr.writeSync;
  Deno.stderr.writeSync = (data: Uint8Array) => {
    lines.push(new TextDecoder().decode(data));
    return data.length;
  };
  try {
    const progress = consoleReporter({ tty: false, interval: 60_000 }).progress("train");
    for (let i = 1; i <= 100; i++) progress.update(i, 100, `step ${i}`);
  } finally {
    Deno.stderr.writeSync = original;
  }
  assert.deepEqual(lines, ["  [train] 1/100 step 1\n", "  [train] 100/100 step 100\n"]);
});

Deno.test("dag writes nothing, so its read-only task never asks for write permission", async () => {
  const dir = await project({ "pipeline.yaml": PIPELINE });
  const out = await cli(dir, "dag", "pipeline.yaml");
  assert.equal(out.code, 0, out.stderr);
  await assert.rejects(Deno.stat(`${dir}/.pipeline`));
});
