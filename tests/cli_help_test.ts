/**
 * `--help` on every command (issue 25): its usage on stdout and exit 0, never `error: Unknown
 * flag "--help"`; `help` and `help <command>`; asking for help wins over a mistake elsewhere on
 * the line, while a mistake alone is still exit 2.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HelpRequested, parseArgs } from "../runner/lib/args.ts";
import { COMMAND_NAMES } from "../runner/cli/help.ts";
import { project, runScript } from "./_engine_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

const nerpipe = (args: string[], cwd: string) => runScript(MAIN, args, cwd);

Deno.test("--help on every command prints its usage and flags on stdout and exits 0", async () => {
  const dir = await project({});
  try {
    const commands = [...COMMAND_NAMES, "predict"];
    assert.ok(commands.includes("stages") && commands.includes("gc"), commands.join(" "));
    for (const command of commands) {
      for (const flag of ["--help", "-h"]) {
        const out = await nerpipe([command, flag], dir);
        assert.equal(out.code, 0, `${command} ${flag}: ${out.stderr}`);
        assert.equal(out.stderr, "", `${command} ${flag}`);
        assert.match(out.stdout, new RegExp(`^usage:(\\n)? +${command} `), `${command} ${flag}`);
        assert.match(out.stdout, /\nflags:\n(.*\n)* {2}--help +print this help\n/, command);
      }
    }
    // After other arguments, and after a mistake: help wins; after `--` it is an argument.
    const late = await nerpipe(["run", "pipeline.yaml", "--jbos", "2", "--help"], dir);
    assert.equal(late.code, 0, late.stderr);
    assert.match(late.stdout, /^usage:\n {2}run <pipeline\.yaml>/);
    const ended = await nerpipe(["run", "--", "--help"], dir);
    assert.equal(ended.code, 2);
    assert.match(ended.stderr, /^error: Pipeline file "--help" does not exist/m);
    const wrong = await nerpipe(["run", "pipeline.yaml", "--jbos", "2"], dir);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^error: Unknown flag "--jbos": did you mean "--jobs"\nusage:/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("help lists every command; help <command> is <command> --help", async () => {
  const dir = await project({});
  try {
    const overview = await nerpipe(["help"], dir);
    assert.equal(overview.code, 0, overview.stderr);
    for (const command of [...COMMAND_NAMES, "predict"]) {
      assert.match(overview.stdout, new RegExp(`^ {2}${command} +\\S`, "m"), command);
    }
    assert.equal((await nerpipe(["--help"], dir)).stdout, overview.stdout);
    const gc = await nerpipe(["help", "gc"], dir);
    assert.equal(gc.code, 0, gc.stderr);
    assert.equal(gc.stdout, (await nerpipe(["gc", "--help"], dir)).stdout);
    // No command is still a mistake, with the usage and a pointer to help.
    const none = await nerpipe([], dir);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^error: Unknown command "": give a command\nusage:\n/);
    assert.match(none.stderr, /\(help prints what each command does\)\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseArgs: --help and -h end parsing with the help text, unless a command reads --help", () => {
  const specs = { json: { type: "boolean" }, file: { type: "string" } } as const;
  const asked = (args: string[]) => {
    try {
      parseArgs(args, specs, { usage: "usage: x", help: () => "usage: x\n\nhelp of x" });
    } catch (error) {
      return error;
    }
    return undefined;
  };
  for (const args of [["--help"], ["a", "-h"], ["--nope", "--help"], ["--file=x", "-h"]]) {
    const error = asked(args);
    assert.ok(error instanceof HelpRequested, args.join(" "));
    assert.equal(error.text, "usage: x\n\nhelp of x");
  }
  // A value, or a word after `--`, is not a request for help.
  assert.equal(asked(["--file", "-h"]), undefined);
  assert.equal(asked(["--", "--help"]), undefined);
  // Without a help text, --help prints the usage.
  assert.throws(() => parseArgs(["--help"], specs, { usage: "usage: y" }), {
    name: "HelpRequested",
    text: "usage: y",
  });
  // A command whose flags include `help` reads it itself (the benches).
  const own = parseArgs(["--help"], { help: { type: "boolean" } }, { usage: "u" });
  assert.equal(own.values.help, true);
});
