/**
 * Ctrl-C during `main.ts run`: the first SIGINT aborts the run and says so in one line, a stage
 * that fails because of the abort is reported as interrupted (no AbortError, no stack), and a
 * second SIGINT ends the process at once with exit code 130, even when a stage ignores its
 * signal.
 */
import assert from "node:assert/strict";
import { project } from "./_engine_helpers.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * A custom stage module without imports: it writes `started` into the project, then sleeps
 * 30 s; `honour` makes the sleep end (with the abort's reason) when its signal aborts.
 */
function slowStage(honour: boolean): string {
  return `export default {
  name: "slow",
  version: 1,
  description: "Sleeps 30 s",
  schema: { type: "object", additionalProperties: false, properties: {} },
  inputs: {},
  outputs: { text: { type: "text", description: "Never written", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.root + "/started", "");
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 30000);
      ${
    honour
      ? `ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      });`
      : ""
  }
    });
    await Deno.writeTextFile(ctx.output("text"), "late");
  },
};
`;
}

const PIPELINE = `name: slow
stages:
  slow: { uses: ./slow.ts }
`;

async function waitFor(path: string, seconds = 60): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  throw new Error(`${path} did not appear`);
}

/**
 * Starts `main.ts run pipeline.yaml` in `dir`, sends SIGINT `signals` times (0.3 s apart) once
 * the stage has started, and waits for the exit (SIGKILL after 15 s, so a hung run fails the
 * test instead of hanging it).
 */
async function interrupt(
  dir: string,
  signals: number,
): Promise<{ code: number; stderr: string; seconds: number }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "run", "pipeline.yaml"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const output = child.output();
  await waitFor(`${dir}/started`);
  const started = performance.now();
  for (let i = 0; i < signals; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 300));
    child.kill("SIGINT");
  }
  const killer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, 15_000);
  try {
    const out = await output;
    return {
      code: out.code,
      stderr: new TextDecoder().decode(out.stderr),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearTimeout(killer);
  }
}

function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /AbortError/, stderr);
  assert.doesNotMatch(stderr, /^ {4}at /m, stderr);
  assert.doesNotMatch(stderr, /^error:/m, stderr);
}

Deno.test("a second Ctrl-C ends a run whose stage ignores its signal at once, with exit code 130", async () => {
  const dir = await project({
    "deno.json": "{}\n",
    "pipeline.yaml": PIPELINE,
    "slow.ts": slowStage(false),
  });
  try {
    const { code, stderr, seconds } = await interrupt(dir, 2);
    assert.equal(code, 130, stderr);
    assert.ok(seconds < 5, `the process took ${seconds.toFixed(1)} s to end\n${stderr}`);
    assertNoStack(stderr);
    assert.equal(stderr.match(/^interrupted:/gm)?.length, 1, stderr);
    assert.match(stderr, /^interrupted again: exiting now/m, stderr);
    // Nothing of the interrupted stage is recorded as a result.
    const runs = await Array.fromAsync(Deno.readDir(`${dir}/.pipeline/runs`)).catch(() => []);
    assert.equal(runs.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one Ctrl-C stops a stage that honours its signal: one line says so, no AbortError stack", async () => {
  const dir = await project({
    "deno.json": "{}\n",
    "pipeline.yaml": PIPELINE,
    "slow.ts": slowStage(true),
  });
  try {
    const { code, stderr, seconds } = await interrupt(dir, 1);
    assert.equal(code, 130, stderr);
    assert.ok(seconds < 5, `the process took ${seconds.toFixed(1)} s to end\n${stderr}`);
    assertNoStack(stderr);
    assert.equal(stderr.match(/^interrupted:/gm)?.length, 1, stderr);
    assert.match(stderr, /^ {2}interrupted slow after /m, stderr);
    assert.match(stderr, /, 1 interrupted in /, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
