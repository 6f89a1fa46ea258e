/**
 * Fault injection with real processes: a run killed (SIGKILL) while a stage runs, while its
 * output is stored and while outputs are materialised; a read-only cache; a read-only out/.
 * After each, a rerun gives the right results and nothing outside the project changed.
 *
 * @module
 */

import assert from "node:assert/strict";

const CLI = new URL("./testdata/engine/fault_stages.ts", import.meta.url).pathname;
const FILES = 1500;

/** A project inside a sandbox that also holds files outside the project. */
async function sandbox(pipeline: (dir: string) => string) {
  const root = await Deno.makeTempDir({ prefix: "fault-" });
  const dir = `${root}/proj`;
  await Deno.mkdir(dir);
  await Deno.mkdir(`${root}/outside`);
  await Deno.writeTextFile(`${root}/outside/data.txt`, "outside");
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, pipeline(dir));
  return {
    root,
    dir,
    /** Asserts that the sandbox holds only the project and the untouched outside file. */
    async outsideUnchanged() {
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name).sort(), ["outside", "proj"]);
      assert.deepEqual([...Deno.readDirSync(`${root}/outside`)].map((e) => e.name), ["data.txt"]);
      assert.equal(await Deno.readTextFile(`${root}/outside/data.txt`), "outside");
    },
  };
}

function spawn(dir: string, args: string[], deno: string[] = ["-A"]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...deno, CLI, "run", "pipeline.yaml", "--jobs", "1", ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function cli(dir: string, args: string[], deno?: string[]) {
  const out = await spawn(dir, args, deno).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** Polls until `ready()` holds, then kills the child; says whether it was still running. */
async function killWhen(child: Deno.ChildProcess, ready: () => boolean): Promise<boolean> {
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  while (!exited && !ready()) await new Promise((r) => setTimeout(r, 2));
  const running = !exited;
  if (running) child.kill("SIGKILL");
  await status;
  await child.stdout.cancel().catch(() => {});
  await child.stderr.cancel().catch(() => {});
  return running;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function count(dir: string): number {
  try {
    let n = 0;
    for (const e of Deno.readDirSync(dir)) n += e.isDirectory ? count(`${dir}/${e.name}`) : 1;
    return n;
  } catch {
    return 0;
  }
}

/** Every file under out/, checked against what the `many` stage writes; no temp files. */
async function assertOutputs(dir: string, files = FILES): Promise<void> {
  const model = `${dir}/out/p/many/model`;
  for (let i = 0; i < files; i++) {
    const where = i % 2 ? "sub/" : "";
    assert.equal(await Deno.readTextFile(`${model}/${where}f${i}.txt`), `file ${i}\n`);
  }
  assert.equal(count(model), files);
  assert.equal(await Deno.readTextFile(`${dir}/out/p/many/summary.txt`), `${files} files`);
  assert.equal(await Deno.readTextFile(`${dir}/out/p/after/text.txt`), `${files} files`);
  const walk = (d: string): string[] =>
    [...Deno.readDirSync(d)].flatMap((e) =>
      e.isDirectory ? walk(`${d}/${e.name}`) : [`${d}/${e.name}`]
    );
  assert.deepEqual(walk(`${dir}/out`).filter((p) => p.includes(".tmp-")), []);
  assert.deepEqual([...Deno.readDirSync(`${dir}/.pipeline/tmp`)], [], "staging emptied");
}

const PIPELINE = (dir: string) =>
  `name: p
stages:
  many: { uses: many, with: { files: ${FILES}, dir: "${dir}" } }
  after: { uses: lower, inputs: { text: many.summary } }
`;

Deno.test("SIGKILL while an output is stored: the rerun stores and materialises it whole", async () => {
  const box = await sandbox(PIPELINE);
  const child = spawn(box.dir, ["--quiet"]);
  // The stage writes `done` as it returns; storing (hashing 1500 files) follows.
  const killed = await killWhen(child, () => exists(`${box.dir}/done`));
  assert.ok(killed, "killed before the run ended");
  const again = await cli(box.dir, ["--json"]);
  assert.equal(again.code, 0, again.stderr);
  const statuses = JSON.parse(again.stdout).stages.map((s: { status: string }) => s.status);
  assert.deepEqual(statuses, ["ran", "ran"]);
  await assertOutputs(box.dir);
  await box.outsideUnchanged();
});

Deno.test("SIGKILL while outputs are materialised: the rerun completes out/, keeps user files", async () => {
  const box = await sandbox(PIPELINE);
  const first = await cli(box.dir, ["--quiet"]);
  assert.equal(first.code, 0, first.stderr);
  await Deno.remove(`${box.dir}/out/p/many/model`, { recursive: true });
  await Deno.mkdir(`${box.dir}/out/p/many/model`);
  await Deno.writeTextFile(`${box.dir}/out/p/many/model/NOTES.md`, "mine");
  const child = spawn(box.dir, ["--quiet"]);
  const killed = await killWhen(child, () => count(`${box.dir}/out/p/many/model`) > 20);
  assert.ok(killed, "killed before the run ended");
  assert.ok(count(`${box.dir}/out/p/many/model`) < FILES + 1, "killed midway");
  const again = await cli(box.dir, ["--json"]);
  assert.equal(again.code, 0, again.stderr);
  const statuses = JSON.parse(again.stdout).stages.map((s: { status: string }) => s.status);
  assert.deepEqual(statuses, ["cached", "cached"]);
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/many/model/NOTES.md`), "mine");
  await Deno.remove(`${box.dir}/out/p/many/model/NOTES.md`);
  await assertOutputs(box.dir);
  await box.outsideUnchanged();
});

Deno.test("SIGKILL while a stage runs: nothing of it is cached, the rerun runs it", async () => {
  const box = await sandbox((dir) =>
    `name: p
stages:
  before: { uses: emit, with: { text: ok } }
  hang: { uses: hang, with: { dir: "${dir}" } }
`
  );
  const child = spawn(box.dir, ["--quiet"]);
  assert.ok(await killWhen(child, () => exists(`${box.dir}/started`)));
  await Deno.writeTextFile(`${box.dir}/release`, "");
  const again = await cli(box.dir, ["--json"]);
  assert.equal(again.code, 0, again.stderr);
  const byId = Object.fromEntries(
    JSON.parse(again.stdout).stages.map((s: { id: string; status: string }) => [s.id, s.status]),
  );
  assert.equal(byId.hang, "ran");
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/hang/text.txt`), "complete");
  assert.deepEqual([...Deno.readDirSync(`${box.dir}/.pipeline/tmp`)], []);
  await Deno.remove(`${box.dir}/started`);
  await Deno.remove(`${box.dir}/release`);
  await box.outsideUnchanged();
});

Deno.test("SIGKILL after a stage's outputs are in out/ and before the run ends: the next run still knows them as its own and replaces them", async () => {
  const box = await sandbox((dir) =>
    `name: p
stages:
  a: { uses: emit, with: { text: first } }
  hang: { uses: hang, with: { dir: "${dir}" } }
`
  );
  // a runs and is placed in out/ while hang waits (two at once: the scheduler may start either
  // first); the run is killed then, before it ends (and before it would have saved the list of
  // what it placed).
  const child = spawn(box.dir, ["--quiet", "--jobs", "2"]);
  assert.ok(
    await killWhen(
      child,
      () => exists(`${box.dir}/started`) && exists(`${box.dir}/out/p/a/text.txt`),
    ),
  );
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/a/text.txt`), "first");
  await Deno.writeTextFile(`${box.dir}/release`, "");
  const again = await cli(box.dir, ["--set", "stages.a.with.text=second"]);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout + again.stderr, /put there by someone else|kept/);
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/a/text.txt`), "second");
  await Deno.remove(`${box.dir}/started`);
  await Deno.remove(`${box.dir}/release`);
  await box.outsideUnchanged();
});

const SMALL = `name: p
stages:
  a: { uses: emit, with: { text: Hello } }
  b: { uses: lower, inputs: { text: a.text } }
`;

Deno.test("item 11: a read-only cache serves a fully cached run, and says so when a stage must run", async () => {
  const box = await sandbox(() => SMALL);
  assert.equal((await cli(box.dir, ["--quiet"])).code, 0);
  // Deno's permissions make .pipeline read-only for the run (chmod is no barrier for root).
  const readOnly = ["--allow-read", "--allow-env", `--allow-write=${box.dir}/out`, "--no-prompt"];
  const cached = await cli(box.dir, ["--json"], readOnly);
  assert.equal(cached.code, 0, cached.stderr);
  const statuses = JSON.parse(cached.stdout).stages.map((s: { status: string }) => s.status);
  assert.deepEqual(statuses, ["cached", "cached"]);
  const stale = await cli(box.dir, ["--set", "stages.a.with.text=Bye"], readOnly);
  assert.equal(stale.code, 2, stale.stdout + stale.stderr);
  assert.match(stale.stderr, /is read-only .*stage "a" must run: make it writable/);
  assert.doesNotMatch(stale.stderr, /^\s+at /m, "no stack");
  await box.outsideUnchanged();
});

Deno.test("item 7: a read-only out/ is its own error (exit 1): stages stay cached, dependents run", async () => {
  const box = await sandbox(() => SMALL);
  assert.equal((await cli(box.dir, ["--quiet", "--only", "a"])).code, 0);
  await Deno.remove(`${box.dir}/out`, { recursive: true });
  const noOut = [
    "--allow-read",
    "--allow-env",
    `--allow-write=${box.dir}/.pipeline`,
    "--no-prompt",
  ];
  const result = await cli(box.dir, ["--json"], noOut);
  assert.equal(result.code, 1, result.stderr);
  const byId = Object.fromEntries(
    JSON.parse(result.stdout).stages.map((s: { id: string; status: string }) => [s.id, s.status]),
  );
  assert.deepEqual(byId, { a: "cached", b: "ran" });
  assert.match(result.stderr, /error: could not write out\/p\/a\/text\.txt \(output "text" of a\)/);
  const again = await cli(box.dir, ["--json"]);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/b/text.txt`), "hello");
  await box.outsideUnchanged();
});

// Issue 23 item 7: stages run in the engine's process; one that ends the process must not end
// the run as a success.

const EXITS_STAGE = `
import process from "node:process";
import { defineStage } from "${new URL("../runner/stage.ts", import.meta.url).href}";
export default defineStage({
  name: "exits", version: 1, description: "Ends the process in one of several ways",
  schema: { type: "object", properties: { how: { type: "string" } } }, inputs: {},
  outputs: { text: { type: "text", description: "A text", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const how = ctx.params.how;
    if (how === "exit") Deno.exit(0);
    if (how === "timer") {
      // From a timer, while the stage waits for something that never comes.
      setTimeout(() => process.exit(0), 5);
      await new Promise(() => {});
    }
    if (how === "caught") {
      try {
        Deno.exit(0);
      } catch {
        // goes on as if the exit had not happened
      }
    }
    if (how === "close") globalThis.close();
    await Deno.writeTextFile(ctx.output("text"), how);
    if (how === "late") setTimeout(() => Deno.exit(0), 0);
  },
});
`;

Deno.test("issue 23 item 7: a stage that calls Deno.exit(0) fails (exit 1), its dependents are skipped, the run reports and cleans up", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  plain: { uses: ./exits.ts, with: { how: exit } }
  timer: { uses: ./exits.ts, with: { how: timer } }
  caught: { uses: ./exits.ts, with: { how: caught } }
  closes: { uses: ./exits.ts, with: { how: close } }
  late: { uses: ./exits.ts, with: { how: late } }
  after: { uses: lower, inputs: { text: plain.text } }
  other: { uses: emit, with: { text: fine } }
`
  );
  await Deno.writeTextFile(`${box.dir}/exits.ts`, EXITS_STAGE);
  const run = await cli(box.dir, ["--json"]);
  assert.equal(run.code, 1, run.stderr);
  const stages = JSON.parse(run.stdout).stages as { id: string; status: string; error?: string }[];
  const byId = Object.fromEntries(stages.map((s) => [s.id, [s.status, s.error ?? ""]]));
  const exited = (call: string) => [
    "failed",
    `it called ${call}, which would have ended the whole run: a stage fails by throwing an ` +
    "error and succeeds by returning",
  ];
  assert.deepEqual(byId, {
    plain: exited("Deno.exit(0)"),
    timer: exited("Deno.exit(0)"), // process.exit calls Deno.exit
    caught: exited("Deno.exit(0)"),
    closes: exited("close()"),
    late: ["ran", ""],
    after: ["skipped", ""],
    other: ["ran", ""],
  });
  assert.match(
    run.stderr,
    /^ {2}warning: late called Deno\.exit\(0\) after it returned: ignored$/m,
  );
  // The lock's holder file and the stages' staging folders are gone, as after any run.
  assert.equal(exists(`${box.dir}/.pipeline/lock.info`), false);
  assert.deepEqual([...Deno.readDirSync(`${box.dir}/.pipeline/tmp`)], []);
  const text = await cli(box.dir, []);
  assert.equal(text.code, 1);
  assert.match(text.stderr, /^0 ran, 2 cached, 1 skipped, 4 failed in /m);
  assert.match(text.stderr, /^error: stage "plain" failed: it called Deno\.exit\(0\)/m);
  await box.outsideUnchanged();
});
