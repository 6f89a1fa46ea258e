/**
 * File-system safety with real processes (issue 23, items 1-6): the engine never deletes,
 * moves, links or changes anything outside the project, through a link in `.pipeline/` or
 * `out/`, through an output a stage hands back, or through a declared name; a stage that writes
 * into its input is caught; user files in `out/` named like temporaries are kept. Each test runs
 * the CLI in a sandbox that also holds files outside the project, and checks them unchanged
 * (content, mode, links, inode) afterwards.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Registry } from "../runner/registry.ts";
import { InvalidStageError } from "../runner/registry.ts";
import { defineStage } from "../runner/stage.ts";

const CLI = new URL("./testdata/engine/fs_stages.ts", import.meta.url).pathname;
const STAGE_URL = new URL("../runner/stage.ts", import.meta.url).href;

/**
 * Every entry under `dir` (links not followed): path, type, mode, link count, inode, and the
 * sha256 of a file's content.
 */
async function snapshot(dir: string): Promise<string[]> {
  const lines: string[] = [];
  const visit = async (path: string) => {
    const info = await Deno.lstat(path);
    const mode = (info.mode ?? 0).toString(8);
    let what = info.isDirectory ? "dir" : info.isFile ? "file" : info.isSymlink ? "link" : "other";
    if (info.isFile) {
      const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
      what += ` ${
        [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")
      }`;
    }
    if (info.isSymlink) what += ` ${await Deno.readLink(path)}`;
    lines.push(
      `${path.slice(dir.length)} ${what} mode ${mode} links ${info.nlink} ino ${info.ino}`,
    );
    if (info.isDirectory) {
      for (const e of [...Deno.readDirSync(path)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        await visit(`${path}/${e.name}`);
      }
    }
  };
  await visit(dir);
  return lines;
}

/**
 * A project (`<root>/proj`) beside a folder outside it (`<root>/outside`): `data.txt`, and
 * `folder/big.bin`, large enough (300 KiB) that an output of its size is a hard link into out/.
 */
async function sandbox(pipeline: (dir: string, outside: string) => string) {
  const root = await Deno.makeTempDir({ prefix: "fs-safety-" });
  const dir = `${root}/proj`;
  const outside = `${root}/outside`;
  await Deno.mkdir(dir);
  await Deno.mkdir(`${outside}/folder`, { recursive: true });
  await Deno.writeTextFile(`${outside}/data.txt`, "outside");
  await Deno.writeFile(`${outside}/folder/big.bin`, new Uint8Array(300 * 1024).fill(7));
  await Deno.chmod(`${outside}/data.txt`, 0o644);
  await Deno.chmod(`${outside}/folder/big.bin`, 0o644);
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, pipeline(dir, outside));
  let before: string[] = [];
  return {
    root,
    dir,
    outside,
    /** Remembers everything outside the project as it is now. */
    async mark() {
      before = await snapshot(outside);
    },
    /** Asserts that nothing outside the project changed since {@link mark}. */
    async assertOutsideUnchanged() {
      assert.deepEqual(await snapshot(outside), before, "nothing outside the project changed");
      assert.deepEqual(
        [...Deno.readDirSync(root)].map((e) => e.name).sort(),
        ["outside", "proj"],
        "nothing new beside the project",
      );
    },
  };
}

/** Runs the CLI in `dir`; a run that takes longer than `ms` is killed (code 137). */
async function cli(dir: string, args: string[], ms = 30_000) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const out = await child.output();
  clearTimeout(timer);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

const run = (dir: string, ...args: string[]) => cli(dir, ["run", "pipeline.yaml", ...args]);

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The key of a stage from a `--json` run's output. */
function keyOf(stdout: string, id: string): string {
  const stage = JSON.parse(stdout).stages.find((s: { id: string }) => s.id === id);
  assert.match(stage?.key ?? "", /^[0-9a-f]{64}$/);
  return stage.key;
}

function statuses(stdout: string): Record<string, string> {
  return Object.fromEntries(
    JSON.parse(stdout).stages.map((s: { id: string; status: string }) => [s.id, s.status]),
  );
}

// Item 1: the clean-up of a stage's checkpoints.

const CHECKPOINTED = () =>
  `name: p
stages:
  a: { uses: checkpointed }
  b: { uses: lower, inputs: { text: a.text } }
`;

Deno.test("item 1: a checkpoint folder that is a link is removed itself, what it points to is kept", async () => {
  const box = await sandbox(CHECKPOINTED);
  const first = await run(box.dir, "--json");
  assert.equal(first.code, 0, first.stderr);
  const checkpoints = `${box.dir}/.pipeline/checkpoints/${keyOf(first.stdout, "a")}`;
  assert.ok(!exists(checkpoints), "removed after the success");
  // A link inside the project, to a folder of the user's.
  await Deno.mkdir(`${box.dir}/keep`);
  await Deno.writeTextFile(`${box.dir}/keep/precious.txt`, "mine");
  await Deno.symlink(`${box.dir}/keep`, checkpoints);
  await box.mark();
  const again = await run(box.dir, "--json", "--force");
  assert.equal(again.code, 0, again.stderr);
  assert.equal(statuses(again.stdout).a, "ran");
  assert.equal(await Deno.readTextFile(`${box.dir}/keep/precious.txt`), "mine");
  assert.ok(!exists(checkpoints), "the link is removed");
  await box.assertOutsideUnchanged();
});

// Item 6: folders the engine owns that are links out of the project.

const OWNED: [string, (dir: string, key: string, shard: string) => string][] = [
  ["out/", (d) => `${d}/out`],
  ["a stage folder in out/", (d) => `${d}/out/p/a`],
  [".pipeline/", (d) => `${d}/.pipeline`],
  [".pipeline/objects/", (d) => `${d}/.pipeline/objects`],
  ["a shard of .pipeline/objects/", (d, _k, shard) => `${d}/.pipeline/objects/${shard}`],
  [".pipeline/runs/", (d) => `${d}/.pipeline/runs`],
  [".pipeline/state/", (d) => `${d}/.pipeline/state`],
  [".pipeline/history/", (d) => `${d}/.pipeline/history`],
  ["a checkpoint folder (items 1 and 6)", (d, key) => `${d}/.pipeline/checkpoints/${key}`],
];

for (const [name, where] of OWNED) {
  Deno.test(`item 6: ${name} linked out of the project stops the run (exit 2); nothing outside changes`, async () => {
    const box = await sandbox(CHECKPOINTED);
    const first = await run(box.dir, "--json");
    assert.equal(first.code, 0, first.stderr);
    const key = keyOf(first.stdout, "a");
    const record = JSON.parse(await Deno.readTextFile(`${box.dir}/.pipeline/runs/${key}.json`));
    const link = where(box.dir, key, record.outputs.text.hash.slice(0, 2));
    // The folder is replaced by a link to a folder outside that holds a file.
    await Deno.mkdir(`${box.outside}/moved`);
    await Deno.writeTextFile(`${box.outside}/moved/keep.txt`, "keep");
    if (exists(link)) await Deno.remove(link, { recursive: true });
    await Deno.symlink(`${box.outside}/moved`, link);
    await box.mark();
    const again = await run(box.dir, "--force");
    assert.equal(again.code, 2, again.stdout + again.stderr);
    const shown = link.slice(box.dir.length + 1).replaceAll(".", "\\.");
    assert.match(
      again.stderr,
      new RegExp(
        `^error: "${shown}" is a symbolic link to ".*/outside/moved", outside the project .*: ` +
          `.*remove the link`,
        "m",
      ),
    );
    assert.doesNotMatch(again.stderr, /^\s+at /m, "no stack");
    await box.assertOutsideUnchanged();
  });
}

Deno.test("item 6: a link inside an output directory in out/ is kept, and nothing is written through it", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  many: { uses: many, with: { files: 4 } }
`
  );
  assert.equal((await run(box.dir)).code, 0);
  await Deno.remove(`${box.dir}/out/p/many/model/sub`, { recursive: true });
  await Deno.symlink(`${box.outside}/folder`, `${box.dir}/out/p/many/model/sub`);
  await box.mark();
  for (const args of [[], ["--force"]]) {
    const again = await run(box.dir, ...args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout + again.stderr,
      /out\/p\/many\/model\/sub\/f1\.txt.* kept as they are/,
    );
  }
  assert.ok((await Deno.lstat(`${box.dir}/out/p/many/model/sub`)).isSymlink);
  await box.assertOutsideUnchanged();
});

Deno.test("item 6: a folder of .pipeline linked inside the project is used as it is", async () => {
  const box = await sandbox(CHECKPOINTED);
  await Deno.mkdir(`${box.dir}/.pipeline`);
  await Deno.mkdir(`${box.dir}/store`);
  await Deno.symlink(`${box.dir}/store`, `${box.dir}/.pipeline/objects`);
  const first = await run(box.dir, "--json");
  assert.equal(first.code, 0, first.stderr);
  assert.ok([...Deno.readDirSync(`${box.dir}/store`)].length > 0, "objects are in store/");
  const again = await run(box.dir, "--json");
  assert.deepEqual(statuses(again.stdout), { a: "cached", b: "cached" });
});

// Item 2: outputs that are links, devices, FIFOs or sockets.

const ODD = (mode: string) => (_dir: string, outside: string) =>
  `name: p
stages:
  odd: { uses: odd-output, with: { mode: ${mode}, target: "${
    mode === "dir-link" ? `${outside}/folder` : `${outside}/folder/big.bin`
  }" } }
  after: { uses: lower, inputs: { text: odd.text } }
`;

for (
  const [mode, what, where] of [
    ["file-link", /a symbolic link \(to ".*\/outside\/folder\/big\.bin"\)/, /as its output "text"/],
    ["dir-link", /a symbolic link \(to ".*\/outside\/folder"\)/, /at "sub" in its output "model"/],
    ["dev-zero", /a symbolic link \(to "\/dev\/zero"\)/, /as its output "text"/],
    ["fifo", /a FIFO/, /as its output "text"/],
    ["socket", /a socket/, /at "run\/sock" in its output "model"/],
  ] as const
) {
  Deno.test(`item 2: an output that is (or holds) ${mode}: the stage fails (exit 1), nothing outside changes`, async () => {
    const box = await sandbox(ODD(mode));
    await box.mark();
    const result = await run(box.dir, "--json");
    assert.equal(result.code, 1, `${result.stderr}\n(137: killed after 30 s)`);
    const odd = JSON.parse(result.stdout).stages[0];
    assert.equal(odd.status, "failed");
    assert.match(odd.error, /^it wrote /);
    assert.match(odd.error, what);
    assert.match(odd.error, where);
    assert.match(odd.error, /an output holds only files and folders/);
    assert.equal(statuses(result.stdout).after, "skipped");
    assert.ok(!exists(`${box.dir}/out/p/odd`), "nothing materialised");
    assert.ok(!exists(`${box.dir}/.pipeline/objects`), "nothing of the stage is stored");
    await box.assertOutsideUnchanged();
  });
}

Deno.test("items 2 and 4: verify finds an object in which a file was replaced by a link to a copy of it", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  many: { uses: many, with: { files: 4 } }
`
  );
  const first = await run(box.dir, "--json");
  assert.equal(first.code, 0, first.stderr);
  const key = keyOf(first.stdout, "many");
  const record = JSON.parse(await Deno.readTextFile(`${box.dir}/.pipeline/runs/${key}.json`));
  const hash: string = record.outputs.model.hash;
  const object = `${box.dir}/.pipeline/objects/${hash.slice(0, 2)}/${hash}.d`;
  await Deno.copyFile(`${object}/f0.txt`, `${box.outside}/f0.txt`);
  await Deno.remove(`${object}/f0.txt`);
  await Deno.symlink(`${box.outside}/f0.txt`, `${object}/f0.txt`);
  await box.mark();
  const verified = await cli(box.dir, ["verify"]);
  assert.equal(verified.code, 1, verified.stdout);
  assert.match(
    verified.stdout,
    /^damaged +\.pipeline\/objects\/.*\.d +output "model" of stage "many"$/m,
  );
  const again = await run(box.dir, "--json");
  assert.equal(again.code, 0, again.stderr);
  assert.equal(statuses(again.stdout).many, "ran");
  assert.ok((await Deno.lstat(`${object}/f0.txt`)).isFile);
  await box.assertOutsideUnchanged();
});

// Item 3: declared names.

const BAD_MODULE = `export default {
  name: "bad",
  version: 1,
  description: "Declares an output name that climbs out",
  schema: { type: "object" },
  inputs: {},
  outputs: { "../../../../../outside/ESCAPED": { type: "file", description: "Escapes" } },
  module: import.meta.url,
  async run(ctx) {
    await Deno.writeTextFile(ctx.output("../../../../../outside/ESCAPED"), "escaped");
  },
};
`;

Deno.test("item 3: a stage module whose output name climbs out is refused at its uses: line (exit 2)", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  a:
    uses: ./bad_stage.ts
`
  );
  await Deno.writeTextFile(`${box.dir}/bad_stage.ts`, BAD_MODULE);
  await box.mark();
  const result = await run(box.dir);
  assert.equal(result.code, 2, result.stdout + result.stderr);
  assert.match(
    result.stderr,
    /pipeline\.yaml:4:11: stages\.a\.uses: Stage module "\.\/bad_stage\.ts" declares an output named "\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/outside\/ESCAPED": names are a letter, then letters, digits, "-" and "_"/,
  );
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack");
  assert.ok(!exists(`${box.dir}/.pipeline/out`), "nothing recorded as the engine's");
  await box.assertOutsideUnchanged();
});

Deno.test("item 3: registering a stage kind checks its input and output names and extensions", () => {
  const kind = (inputs: Record<string, string>, outputs: Record<string, string | undefined>) =>
    defineStage({
      name: "k",
      version: 1,
      description: "A kind",
      schema: { type: "object" },
      inputs: Object.fromEntries(
        Object.keys(inputs).map((n) => [n, { type: "text", description: "In" }]),
      ),
      outputs: Object.fromEntries(
        Object.entries(outputs).map((
          [n, extension],
        ) => [n, { type: "text", description: "Out", ...(extension ? { extension } : {}) }]),
      ),
      module: STAGE_URL,
      run: () => Promise.resolve(),
    });
  const register = (stage: ReturnType<typeof kind>) => new Registry().register(stage);
  register(kind({ text: "" }, { model_2: ".tar.gz", "out-b": undefined }));
  for (
    const [stage, message] of [
      [kind({}, { "../x": undefined }), /declares an output named "\.\.\/x"/],
      [kind({}, { "a/b": undefined }), /declares an output named "a\/b"/],
      [kind({}, { "": undefined }), /declares an output named ""/],
      [kind({ "x y": "" }, {}), /declares an input named "x y"/],
      [kind({}, { text: "/../../x" }), /declares the extension "\/\.\.\/\.\.\/x" for its output/],
      [kind({}, { text: "./x" }), /declares the extension "\.\/x"/],
    ] as const
  ) {
    assert.throws(() => register(stage), (error: unknown) => {
      assert.ok(error instanceof InvalidStageError);
      assert.match((error as Error).message, /^Stage kind "k" /);
      assert.match((error as Error).message, message);
      return true;
    });
  }
});

// Item 4: stages that write into their inputs.

Deno.test("item 4: a stage that truncates its input fails, named; a stage reading it then caches nothing damaged", async () => {
  const box = await sandbox((dir) =>
    `name: p
stages:
  a: { uses: emit, with: { text: Hello } }
  b: { uses: vandal, inputs: { text: a.text }, with: { mode: truncate, marker: "${dir}/damaged" } }
  c: { uses: reader, inputs: { text: a.text }, with: { wait: "${dir}/damaged" } }
`
  );
  await box.mark();
  // b and c run at the same time; c reads a.text once b has truncated it.
  const first = await run(box.dir, "--json", "--jobs", "2");
  assert.equal(first.code, 1, first.stderr);
  const stages = JSON.parse(first.stdout).stages;
  const b = stages.find((s: { id: string }) => s.id === "b");
  assert.equal(b.status, "failed");
  assert.match(b.error, /^it changed its input "text" while it ran/);
  assert.match(b.error, /the output "text" of stage "a" .* no longer matches its hash/);
  assert.match(b.error, /a stage must not write to its inputs/);
  assert.notEqual(statuses(first.stdout).c, "ran", "c never caches what it read damaged");
  assert.ok(!exists(`${box.dir}/out/p/c/text.txt`));
  // With b fixed, a is made again and c reads the right text.
  const second = await run(box.dir, "--json", "--set", "stages.b.with.mode=none");
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(statuses(second.stdout), { a: "ran", b: "ran", c: "ran" });
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/c/text.txt`), "Hello");
  const third = await run(box.dir, "--json", "--set", "stages.b.with.mode=none");
  assert.deepEqual(statuses(third.stdout), { a: "cached", b: "cached", c: "cached" });
  const verified = await cli(box.dir, ["verify"]);
  assert.equal(verified.code, 0, verified.stdout);
  assert.match(verified.stdout, /all intact/);
  await Deno.remove(`${box.dir}/damaged`);
  await box.assertOutsideUnchanged();
});

Deno.test("item 4: a stage that chmods its input, rewrites it at the same size and puts its mtime and mode back fails", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  a: { uses: emit, with: { text: Hello } }
  b: { uses: vandal, inputs: { text: a.text }, with: { mode: chmod-restore } }
  c: { uses: lower, inputs: { text: b.text } }
`
  );
  const first = await run(box.dir, "--json", "--only", "a");
  assert.equal(first.code, 0, first.stderr);
  // Past the stat cache's racy window, so that only the ctime can tell.
  await new Promise((r) => setTimeout(r, 1200));
  const second = await run(box.dir, "--json");
  assert.equal(second.code, 1, second.stderr);
  assert.deepEqual(statuses(second.stdout), { a: "cached", b: "failed", c: "skipped" });
  assert.match(JSON.parse(second.stdout).stages[1].error, /^it changed its input "text"/);
  const fixed = await run(box.dir, "--json", "--set", "stages.b.with.mode=none");
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(statuses(fixed.stdout).a, "ran", "a is made again");
  assert.equal(await Deno.readTextFile(`${box.dir}/out/p/a/text.txt`), "Hello");
});

Deno.test("item 4: a stage that adds a file to its input directory fails, and the object is made again", async () => {
  const box = await sandbox(() =>
    `name: p
stages:
  many: { uses: many, with: { files: 4 } }
  b: { uses: vandal, inputs: { model: many.model }, with: { mode: add-file } }
`
  );
  const first = await run(box.dir, "--json");
  assert.equal(first.code, 1, first.stderr);
  assert.equal(statuses(first.stdout).b, "failed");
  assert.match(JSON.parse(first.stdout).stages[1].error, /changed its input "model"/);
  const fixed = await run(box.dir, "--json", "--set", "stages.b.with.mode=none");
  assert.equal(fixed.code, 0, fixed.stderr);
  assert.equal(statuses(fixed.stdout).many, "ran");
  assert.ok(!exists(`${box.dir}/out/p/many/model/extra.txt`));
});

// Item 5: user files named like the engine's temporaries.

Deno.test("item 5: user files in out/ named like temporaries are kept, and those in an output directory are named", async () => {
  const box = await sandbox(() =>
    `name: pp
stages:
  a: { uses: emit, with: { text: Hello } }
  many: { uses: many, with: { files: 4 } }
`
  );
  assert.equal((await run(box.dir)).code, 0);
  const mine = [
    `${box.dir}/out/pp/a/notes.tmp-2024`,
    `${box.dir}/out/pp/a/results.tmp-999-deadbeef`,
    `${box.dir}/out/pp/many/model/notes.tmp-1`,
    `${box.dir}/out/pp/many/model/sub/f1.txt.tmp-999999999-0badcafe`,
  ];
  for (const path of mine) await Deno.writeTextFile(path, "mine");
  const cached = await run(box.dir);
  assert.equal(cached.code, 0, cached.stderr);
  const forced = await run(box.dir, "--force");
  assert.equal(forced.code, 0, forced.stderr);
  for (const path of mine) assert.equal(await Deno.readTextFile(path), "mine", path);
  assert.match(
    forced.stdout + forced.stderr,
    /out\/pp\/many\/model\/notes\.tmp-1.* not part of output/,
  );
});
