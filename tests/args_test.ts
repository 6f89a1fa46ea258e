/**
 * The one argument parser (runner/args.ts, issue 14): the rules every command follows, and the
 * commands that used to disagree (the bench took a flag's first value, the CLI its last).
 *
 * @module
 */

import assert from "node:assert/strict";
import { fraction, oneOf, parseArgs } from "../runner/lib/args.ts";
import { UserError } from "../runner/errors.ts";
import { project, runScript } from "./_engine_helpers.ts";

const SPECS = {
  set: { type: "strings" },
  jobs: { type: "string" },
  json: { type: "boolean" },
  force: { type: "strings", optionalValue: (p: readonly string[]) => p.length > 0 },
} as const;

Deno.test("a flag of one value given twice takes its last value; a repeatable one keeps all", () => {
  const { values } = parseArgs(
    ["--jobs", "1", "--set", "a=1", "--jobs=3", "--set=b=2", "--set", "c=x=y"],
    SPECS,
  );
  assert.equal(values.jobs, "3");
  assert.deepEqual(values.set, ["a=1", "b=2", "c=x=y"]);
  assert.equal(values.json, undefined);
});

Deno.test("--flag=value and --flag value are the same; -- ends the flags; - is a word", () => {
  const a = parseArgs(["p.yaml", "--jobs", "2", "--json"], SPECS);
  const b = parseArgs(["--jobs=2", "p.yaml", "--json"], SPECS);
  assert.deepEqual(a, b);
  assert.deepEqual(a.values, { jobs: "2", json: true });
  const c = parseArgs(["-", "--", "--json", "--nope"], SPECS);
  assert.deepEqual(c.positionals, ["-", "--json", "--nope"]);
  assert.deepEqual(c.values, {});
  // A value that starts with -- is given with `=`.
  assert.equal(parseArgs(["--jobs=--x"], SPECS).values.jobs, "--x");
  // A single dash is not a flag's prefix: "-1" is a value.
  assert.equal(parseArgs(["--jobs", "-1"], SPECS).values.jobs, "-1");
});

Deno.test("an unknown flag is a UserError with the nearest flag; a missing value too", () => {
  assert.throws(
    () => parseArgs(["--jbos", "2"], SPECS, { usage: "usage: x" }),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === 'Unknown flag "--jbos": did you mean "--jobs"\nusage: x',
  );
  assert.throws(
    () => parseArgs(["--jbos=2"], SPECS, { command: "pull" }),
    (e: unknown) =>
      e instanceof UserError && e.message.startsWith('Unknown flag "--jbos" of pull: did you mean'),
  );
  assert.throws(() => parseArgs(["-j"], SPECS), UserError);
  assert.throws(
    () => parseArgs(["--jobs"], SPECS),
    (e: unknown) => e instanceof UserError && /^Flag --jobs needs a value/.test(e.message),
  );
  assert.throws(
    () => parseArgs(["--jobs", "--json"], SPECS),
    (e: unknown) => e instanceof UserError && /^Flag --jobs needs a value/.test(e.message),
  );
  assert.throws(
    () => parseArgs(["--json=yes"], SPECS),
    (e: unknown) => e instanceof UserError && /^Flag --json takes no value/.test(e.message),
  );
  // Names of Object.prototype are not flags.
  assert.throws(() => parseArgs(["--toString"], SPECS), UserError);
});

Deno.test("a flag with an optional value takes the next word only when the spec says so", () => {
  assert.deepEqual(parseArgs(["--force", "p.yaml"], SPECS).values.force, []);
  assert.deepEqual(parseArgs(["--force", "p.yaml"], SPECS).positionals, ["p.yaml"]);
  const after = parseArgs(["p.yaml", "--force", "a", "--force=b", "--force"], SPECS);
  assert.deepEqual(after.values.force, ["a", "b"]);
  assert.deepEqual(after.positionals, ["p.yaml"]);
  assert.deepEqual(parseArgs(["p.yaml", "--force", "--json"], SPECS).values, {
    force: [],
    json: true,
  });
});

Deno.test("pass-through keeps unknown flags and their words in order", () => {
  const { values, positionals, rest } = parseArgs(
    ["--layers", "1", "--only", "train", "--backends=none", "--json", "x"],
    { only: { type: "string" }, json: { type: "boolean" } },
    { passThrough: true },
  );
  assert.deepEqual(values, { only: "train", json: true });
  assert.deepEqual(rest, ["--layers", "1", "--backends=none"]);
  assert.deepEqual(positionals, ["x"]);
});

const bench = new URL("../bench/train_throughput.ts", import.meta.url).pathname;

Deno.test("train_throughput takes a flag's last value (it took the first before issue 14)", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", bench, "--json", "--layers", "3", "--layers=1", "--backends", "none"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(JSON.parse(stdout.trim().split("\n").pop()!).config.layers, 1);

  const bad = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", bench, "--layrs", "1", "--backends", "none"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(bad.code, 2);
  assert.match(
    new TextDecoder().decode(bad.stderr),
    /^error: Unknown flag "--layrs": did you mean "--layers"/,
  );
});

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

Deno.test("the CLI's flags: last value wins, --format=dot, unknown flags get a did-you-mean", async () => {
  const dir = await project({
    "pipeline.yaml": "name: args\nstages:\n  a: { uses: emit, with: { text: Hi } }\n",
  });
  const dot = await runScript(
    CLI,
    ["dag", "pipeline.yaml", "--format", "mermaid", "--format=dot"],
    dir,
  );
  assert.equal(dot.code, 0, dot.stderr);
  assert.match(dot.stdout, /^digraph "args" \{/);
  const bad = await runScript(CLI, ["dag", "pipeline.yaml", "--formt", "dot"], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^error: Unknown flag "--formt": did you mean "--format"$/m);
  const runs = await runScript(CLI, ["runs", "--jsn"], dir);
  assert.equal(runs.code, 2);
  assert.match(runs.stderr, /^error: Unknown flag "--jsn": did you mean "--json"$/m);
});

Deno.test("oneOf and fraction check a flag's value with the message every command gives", () => {
  assert.equal(oneOf("backend", "cpu", ["auto", "cpu"] as const), "cpu");
  assert.throws(
    () => oneOf("aggregation", "mean", ["exact", "simple"]),
    (e: unknown) =>
      e instanceof UserError &&
      e.message === `Unknown aggregation "mean": expected one of "exact", "simple"`,
  );
  assert.equal(fraction("min-score", "0.25"), 0.25);
  assert.equal(fraction("min-score", "1"), 1);
  for (const bad of ["", " ", "-0.1", "1.5", "NaN", "x"]) {
    assert.throws(
      () => fraction("min-score", bad),
      (e: unknown) =>
        e instanceof UserError &&
        e.message === `Invalid --min-score "${bad}": expected a number from 0 to 1`,
    );
  }
});
