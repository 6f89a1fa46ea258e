// The pipeline loader under hostile input (issue 11): remembered checks of the wrong shape or
// made stale by an edited stage module, paths that lead outside the project, directory
// parameters with symbolic links, YAML that exhausts the parser, and unclosed brackets.

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { PipelineValidationError, UserError } from "../runner/errors.ts";
import { listFiles } from "../runner/lib/list_files.ts";
import { defineStage } from "../runner/stage.ts";
import { Registry } from "../runner/registry.ts";
import { project, runProject, runScript } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";
import { MAX_ALIAS_COUNT, MAX_DEPTH } from "../runner/config/yaml_bounds.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;
const STAGE_URL = new URL("../runner/stage.ts", import.meta.url).href;

const CHAIN = `name: chain
stages:
  a:
    uses: emit
    with: { text: Hello }
  b:
    uses: lower
    inputs: { text: a.text }
`;

/** The diagnostics of a pipeline that must be refused. */
async function refused(
  dir: string,
  options: { sets?: string[]; allowOutside?: string[]; file?: string } = {},
) {
  const error = await loadPipeline(`${dir}/${options.file ?? "pipeline.yaml"}`, {
    registry: testRegistry(),
    sets: options.sets ?? [],
    ...(options.allowOutside ? { allowOutside: options.allowOutside } : {}),
  }).then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof PipelineValidationError, `expected a refusal, got ${error}`);
  return error.diagnostics;
}

async function checkedFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/.pipeline/checked`)) {
    if (e.name.endsWith(".json")) out.push(`${dir}/.pipeline/checked/${e.name}`);
  }
  return out;
}

// Item 4: what .pipeline/checked/ holds is validated; anything unexpected is a miss.

Deno.test("a remembered check of the wrong shape is a miss: the file is checked again", async () => {
  const dir = await project({ "pipeline.yaml": CHAIN });
  assert.deepEqual((await runProject(dir)).byId, { a: "ran", b: "ran" });
  const [file] = await checkedFiles(dir);
  const good = JSON.parse(await Deno.readTextFile(file!));
  const bad: [string, unknown][] = [
    ["an empty object", {}],
    ["an array", []],
    ["no stages", { name: "ner", order: [], stages: [] }],
    ["a stage whose inputs are null", { ...good, stages: [{ ...good.stages[0], inputs: null }] }],
    ["an order that is not a permutation", { ...good, order: ["a"] }],
    ["a stage of the file left out", {
      ...good,
      order: ["a"],
      stages: good.stages.filter((s: { id: string }) => s.id === "a"),
    }],
    ["an upstream stage after its consumer", { ...good, order: ["b", "a"] }],
    ["an input wired to an unknown stage", {
      ...good,
      stages: good.stages.map((s: { id: string }) =>
        s.id === "b"
          ? { ...s, inputs: { text: { kind: "stage", stage: "zz", output: "text" } } }
          : s
      ),
    }],
  ];
  for (const [what, record] of bad) {
    await Deno.writeTextFile(file!, JSON.stringify(record));
    const summary = await runProject(dir);
    assert.deepEqual(summary.byId, { a: "cached", b: "cached" }, what);
  }
});

Deno.test("a remembered check does not survive a symlink that now leads outside", async () => {
  const outside = await project({ "secret.txt": "outside" });
  const dir = await project({
    "data/real.txt": "inside",
    "pipeline.yaml": "name: l\nstages:\n  r:\n    uses: read\n    with: { path: data/link.txt }\n",
  });
  await Deno.symlink(`${dir}/data/real.txt`, `${dir}/data/link.txt`);
  assert.equal((await runProject(dir)).byId.r, "ran");
  await Deno.remove(`${dir}/data/link.txt`);
  await Deno.symlink(`${outside}/secret.txt`, `${dir}/data/link.txt`);
  const [d] = await refused(dir);
  assert.match(
    d!.message,
    /"data\/link\.txt" leads outside the project .* through a symbolic link$/,
  );
});

// Item 5: the remembered check is keyed on the files of the stage modules.

Deno.test("a changed default in a stage module's imported schema.json takes effect", async () => {
  const dir = await project({
    "schema.json": JSON.stringify({
      type: "object",
      additionalProperties: false,
      properties: { greeting: { type: "string", default: "hello", description: "What to say" } },
    }),
    "greet.ts": `
import { defineStage } from "${STAGE_URL}";
import schema from "./schema.json" with { type: "json" };
export default defineStage({
  name: "greet", version: 1, description: "Greets",
  schema, inputs: {},
  outputs: { text: { type: "text", description: "The greeting", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) { await Deno.writeTextFile(ctx.output("text"), ctx.params.greeting); },
});
`,
    "pipeline.yaml": "name: g\nstages:\n  greet:\n    uses: ./greet.ts\n",
  });
  // Separate processes: one process would keep the module (and its JSON) it imported first.
  const first = await runScript(CLI, ["run", "pipeline.yaml"], dir);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(await Deno.readTextFile(`${dir}/out/g/greet/text.txt`), "hello");
  const schema = await Deno.readTextFile(`${dir}/schema.json`);
  await Deno.writeTextFile(`${dir}/schema.json`, schema.replace('"hello"', '"bye"'));
  const second = await runScript(CLI, ["run", "pipeline.yaml"], dir);
  assert.equal(second.code, 0, second.stderr);
  assert.equal(await Deno.readTextFile(`${dir}/out/g/greet/text.txt`), "bye");
});

function kind(n: number, check?: (p: { n: number }) => { param: string; message: string }[]) {
  return defineStage({
    name: "num",
    version: 1,
    description: "A number",
    schema: {
      type: "object",
      additionalProperties: false,
      properties: { n: { type: "integer", default: n, description: "A number" } },
    },
    inputs: {},
    outputs: { text: { type: "text", description: "The number" } },
    module: import.meta.url,
    ...(check ? { check } : {}),
    run: () => Promise.resolve(),
  });
}

Deno.test("registered kinds: their schema defaults and their check are part of the remembered check", async () => {
  const dir = await project({ "pipeline.yaml": "name: n\nstages:\n  a:\n    uses: num\n" });
  const load = (stage: ReturnType<typeof kind>) =>
    loadPipeline(`${dir}/pipeline.yaml`, { registry: new Registry().register(stage) });
  assert.equal((await load(kind(1))).stages.get("a")!.params.n, 1);
  assert.equal((await load(kind(2))).stages.get("a")!.params.n, 2);
  assert.equal((await load(kind(2))).stages.get("a")!.params.n, 2);
  // A check the kind gained since is run, not skipped by the remembered check.
  const strict = kind(2, (p) => p.n === 2 ? [{ param: "n", message: "two is not allowed" }] : []);
  await assert.rejects(load(strict), /two is not allowed/);
});

// Item 8: paths stay inside the project unless allowed.

Deno.test("a path parameter outside the project is refused, on the command line and in the file", async () => {
  const outside = await project({ "secret.txt": "TOP SECRET" });
  const dir = await project({
    "data.txt": "inside",
    "pipeline.yaml": "name: o\nstages:\n  r:\n    uses: read\n    with: { path: data.txt }\n",
  });
  const rel = `../${outside.split("/").pop()}/secret.txt`;
  for (const path of [`${outside}/secret.txt`, rel]) {
    const [d] = await refused(dir, { sets: [`stages.r.with.path=${path}`] });
    assert.equal(d!.file, "command line");
    assert.equal(d!.path, "stages.r.with.path");
    assert.match(d!.message, /^File ".*secret\.txt" is outside the project /);
    assert.match(d!.hint!, /allow_outside:.*--allow-outside/);
  }
  await Deno.writeTextFile(
    `${dir}/abs.yaml`,
    `name: o\nstages:\n  r:\n    uses: read\n    with:\n      path: ${outside}/secret.txt\n`,
  );
  const [d] = await refused(dir, { file: "abs.yaml" });
  assert.deepEqual([d!.line, d!.column, d!.path], [6, 13, "stages.r.with.path"]);

  // Through the CLI: exit 2, no stack, nothing read, nothing recorded.
  const cli = await runScript(
    CLI,
    ["run", "pipeline.yaml", "--set", `stages.r.with.path=${rel}`],
    dir,
  );
  assert.equal(cli.code, 2);
  assert.match(
    cli.stderr,
    /^error: command line: stages\.r\.with\.path: File .* is outside the project/m,
  );
  assert.doesNotMatch(cli.stderr, /TOP SECRET|\n\s+at /);
  await assert.rejects(Deno.stat(`${dir}/out`));
  const stat = await Deno.readTextFile(`${dir}/.pipeline/stat.json`).catch(() => "");
  assert.ok(!stat.includes(outside), stat);
});

Deno.test("a symlink inside the project that leads outside is outside; the target is not named", async () => {
  const outside = await project({ "secret.txt": "TOP SECRET" });
  const dir = await project({
    "pipeline.yaml":
      "name: s\nstages:\n  r:\n    uses: read\n    with: { path: data/link.txt }\n  l:\n    uses: lower\n    inputs: { text: data/link.txt }\n",
  });
  await Deno.mkdir(`${dir}/data`);
  await Deno.symlink(`${outside}/secret.txt`, `${dir}/data/link.txt`);
  const problems = await refused(dir);
  assert.deepEqual(problems.map((d) => d.path), ["stages.r.with.path", "stages.l.inputs.text"]);
  for (const d of problems) {
    assert.match(
      d.message,
      /"data\/link\.txt" leads outside the project \S+ through a symbolic link$/,
    );
    assert.ok(!`${d.message} ${d.hint}`.includes(outside), d.message);
  }
});

Deno.test("outside paths are read when allow_outside: or --allow-outside lists them", async () => {
  const outside = await project({ "data/secret.txt": "Shared" });
  const name = outside.split("/").pop();
  const dir = await project({
    "pipeline.yaml": `name: a
allow_outside: [../${name}/data]
stages:
  r:
    uses: read
    with: { path: ../${name}/data/secret.txt }
  l:
    uses: lower
    inputs: { text: data/link.txt }
`,
    "strict.yaml":
      `name: b\nstages:\n  r:\n    uses: read\n    with: { path: ${outside}/data/secret.txt }\n`,
  });
  await Deno.mkdir(`${dir}/data`);
  await Deno.symlink(`${outside}/data/secret.txt`, `${dir}/data/link.txt`);
  const summary = await runProject(dir);
  assert.deepEqual(summary.byId, { r: "ran", l: "ran" });
  assert.equal(await Deno.readTextFile(`${dir}/out/a/l/text.txt`), "shared");
  // Allowing a directory allows what is under it, not what is beside it.
  await refused(dir, { file: "strict.yaml", allowOutside: [`${outside}/data-other`] });
  const cli = await runScript(CLI, ["run", "strict.yaml", "--allow-outside", outside], dir);
  assert.equal(cli.code, 0, cli.stderr);
  assert.equal(await Deno.readTextFile(`${dir}/out/b/r/text.txt`), "Shared");
  // The remembered check does not carry the permission over to a run without the flag.
  const again = await runScript(CLI, ["run", "strict.yaml"], dir);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /is outside the project/);
});

Deno.test("a stage module outside the project (through a linked directory) is refused unless listed", async () => {
  const outside = await project({
    "evil.ts": `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "evil", version: 1, description: "Outside code", schema: { type: "object" }, inputs: {},
  outputs: { text: { type: "text", description: "t" } }, module: import.meta.url,
  async run(ctx) { await Deno.writeTextFile(ctx.output("text"), "ran outside code"); },
});
`,
  });
  const dir = await project({
    "pipeline.yaml": "name: e\nstages:\n  x:\n    uses: ./linkmods/evil.ts\n",
  });
  await Deno.symlink(outside, `${dir}/linkmods`);
  const [d] = await refused(dir);
  assert.deepEqual([d!.line, d!.column, d!.path], [4, 11, "stages.x.uses"]);
  assert.match(d!.message, /^Stage module "\.\/linkmods\/evil\.ts" is outside the project/);
  const listed = await loadPipeline(`${dir}/pipeline.yaml`, {
    registry: testRegistry(),
    allowOutside: [`${outside}/evil.ts`],
  });
  assert.equal(listed.stages.get("x")!.definition.name, "evil");
});

// Item 9 (YAML): alias bombs and deep nesting are diagnostics, exit 2.

const BOMB = `name: bomb
vars:
  a: &a [x, x, x, x, x, x, x, x, x]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
stages:
  a: { uses: emit, with: { text: hi } }
`;

function deep(levels: number): string {
  let text = "name: deep\nvars:\n";
  for (let i = 0; i < levels; i++) text += `${" ".repeat(2 * i + 2)}k${i}:\n`;
  return `${text}${
    " ".repeat(2 * levels + 2)
  }v\nstages:\n  a: { uses: emit, with: { text: hi } }\n`;
}

Deno.test("an alias bomb and 2,000-level nesting are diagnostics with file:line:col", async () => {
  const dir = await project({ "bomb.yaml": BOMB, "deep.yaml": deep(2000), "ok.yaml": deep(50) });
  const [bomb] = await refused(dir, { file: "bomb.yaml" });
  assert.deepEqual([bomb!.file, bomb!.line, bomb!.column], [`${dir}/bomb.yaml`, 4, 10]);
  assert.match(bomb!.message, new RegExp(`more than the limit of ${MAX_ALIAS_COUNT}`));
  const [nested] = await refused(dir, { file: "deep.yaml" });
  // name: is on level 1, so k<i> (line i + 3) is on level i + 2: level 65 is line 66.
  assert.equal(nested!.line, MAX_DEPTH + 2);
  assert.match(nested!.message, /nested more than 64 levels deep/);
  await loadPipeline(`${dir}/ok.yaml`, { registry: testRegistry() });
  const [flag] = await refused(dir, {
    file: "ok.yaml",
    sets: [`vars.k0=${"[".repeat(3000)}${"]".repeat(3000)}`],
  });
  assert.equal(flag!.file, "command line");
  assert.match(flag!.message, /nested more than 64 levels deep/);
  for (const file of ["bomb.yaml", "deep.yaml"]) {
    const cli = await runScript(CLI, ["run", file], dir);
    assert.equal(cli.code, 2, cli.stderr);
    assert.match(cli.stderr, new RegExp(`^error: ${file}:\\d+:\\d+: `));
    assert.doesNotMatch(cli.stderr, /Uncaught|RangeError|ReferenceError|\n\s+at /);
  }
});

// Item 11: directory parameters with symbolic links, and listFiles.

const TREE = `
import { defineStage } from "${STAGE_URL}";
export default defineStage({
  name: "tree", version: 1, description: "Lists a directory",
  schema: {
    type: "object", additionalProperties: false, required: ["from"],
    properties: { from: { type: "string", "x-path": "dir", description: "A directory" } },
  },
  inputs: {},
  outputs: { text: { type: "text", description: "Its files", extension: ".txt" } },
  module: import.meta.url,
  async run(ctx) {
    const names = [];
    for await (const e of Deno.readDir(ctx.params.from)) names.push(e.name);
    await Deno.writeTextFile(ctx.output("text"), names.sort().join(","));
  },
});
`;

async function treeProject(): Promise<string> {
  return await project({
    "tree.ts": TREE,
    "model/config.json": "{}",
    "shared/weights.bin": "w1",
    "pipeline.yaml": "name: t\nstages:\n  t:\n    uses: ./tree.ts\n    with: { from: model }\n",
  });
}

Deno.test("a directory parameter follows links inside the project, also under --dry-run", async () => {
  const dir = await treeProject();
  await Deno.symlink(`${dir}/shared`, `${dir}/model/linked`);
  await Deno.symlink(`${dir}/shared/weights.bin`, `${dir}/model/weights.bin`);
  const dry = await runProject(dir, { dryRun: true });
  assert.equal(dry.byId.t, "would-run");
  assert.equal((await runProject(dir)).byId.t, "ran");
  assert.equal((await runProject(dir)).byId.t, "cached");
  // A file reached through a linked directory is part of the key.
  await Deno.writeTextFile(`${dir}/shared/weights.bin`, "w2");
  assert.equal((await runProject(dir)).byId.t, "ran");
  // The parameter itself may be a link to a directory.
  await Deno.symlink(`${dir}/model`, `${dir}/model-link`);
  assert.equal((await runProject(dir, { sets: ["stages.t.with.from=model-link"] })).byId.t, "ran");
});

Deno.test("a directory parameter with a dangling link, a cycle or an outside link is a user error", async () => {
  const cases: [string, (dir: string) => Promise<void>, RegExp][] = [
    [
      "dangling",
      (d) => Deno.symlink(`${d}/nowhere`, `${d}/model/gone`),
      /model\/gone" is a symbolic link to nothing/,
    ],
    [
      "cycle",
      (d) => Deno.symlink(`${d}/model`, `${d}/model/again`),
      /model\/again" is a symbolic link to a directory that contains it/,
    ],
    [
      "outside",
      (d) => Deno.symlink("/usr", `${d}/model/usr`),
      /model\/usr" is a symbolic link to a path outside the project/,
    ],
  ];
  for (const [what, make, pattern] of cases) {
    const dir = await treeProject();
    await make(dir);
    const [d] = await refused(dir);
    assert.deepEqual([d!.line, d!.path], [5, "stages.t.with.from"], what);
    assert.match(d!.message, /^Directory "model" cannot be used: /, what);
    assert.match(d!.message, pattern, what);
    const cli = await runScript(CLI, ["run", "pipeline.yaml", "--dry-run"], dir);
    assert.equal(cli.code, 2, `${what}: ${cli.stderr}`);
    assert.doesNotMatch(cli.stderr, /\n\s+at /);
  }
  const dir = await treeProject();
  for (const path of ["/usr", "/sys/kernel"]) {
    const [d] = await refused(dir, { sets: [`stages.t.with.from=${path}`] });
    assert.match(d!.message, new RegExp(`^Directory "${path}" is outside the project`));
  }
  await Deno.symlink(`${dir}/nowhere`, `${dir}/dangling`);
  const [d] = await refused(dir, { sets: ["stages.t.with.from=dangling"] });
  assert.match(d!.message, /^Directory "dangling" is a symbolic link to nothing/);
});

Deno.test("listFiles follows links to files and directories, and names what it cannot list", async () => {
  const dir = await project({ "a/x.txt": "x", "b/y.txt": "y", "c.txt": "c" });
  await Deno.symlink(`${dir}/b`, `${dir}/a/lb`);
  await Deno.symlink(`${dir}/c.txt`, `${dir}/a/lc.txt`);
  assert.deepEqual(await listFiles(`${dir}/a`), ["lb/y.txt", "lc.txt", "x.txt"]);
  await assert.rejects(
    listFiles(`${dir}/a`, { follow: (real) => !real.endsWith("/b") }),
    (e: unknown) =>
      e instanceof UserError && /a\/lb" is a symbolic link to a path outside/.test(e.message),
  );
  await Deno.symlink(dir, `${dir}/b/up`);
  await assert.rejects(
    listFiles(`${dir}/a`),
    (e: unknown) => e instanceof UserError && /a\/lb\/up" .*\(a cycle\)/.test(e.message),
  );
  await Deno.remove(`${dir}/b/up`);
  await Deno.symlink(`${dir}/missing`, `${dir}/a/gone`);
  await assert.rejects(
    listFiles(`${dir}/a`),
    (e: unknown) =>
      e instanceof UserError && /a\/gone" is a symbolic link to nothing/.test(e.message),
  );
  await Deno.remove(`${dir}/a/gone`);
  const fifo = await new Deno.Command("mkfifo", { args: [`${dir}/a/pipe`] }).output().catch(() =>
    undefined
  );
  if (fifo?.success) {
    await assert.rejects(
      listFiles(`${dir}/a`),
      (e: unknown) =>
        e instanceof UserError && /a\/pipe" is neither a file nor a directory/.test(e.message),
    );
  }
  await assert.rejects(listFiles(`${dir}/none`), UserError);
});

// Item 15: an unclosed bracket or quote names the place where it was opened.

Deno.test("an unclosed flow sequence names the line and column where it was opened", async () => {
  const text = await Deno.readTextFile(new URL("../pipelines/ner.yaml", import.meta.url));
  const line = text.split("\n").findIndex((l) => l.includes("batch_size: 32")) + 1;
  const dir = await project({
    "seq.yaml": text.replace("batch_size: 32", "batch_size: [16, 32"),
    "map.yaml": text.replace("batch_size: 32", "batch_size: { a: 16"),
    "quote.yaml": text.replace("batch_size: 32", "batch_size: '16"),
  });
  const col = "      batch_size: ".length + 1;
  const [seq] = await refused(dir, { file: "seq.yaml" });
  assert.match(
    seq!.message,
    new RegExp(`^Unclosed flow sequence: "\\[" opened at ${line}:${col} has no matching "\\]"$`),
  );
  assert.match(seq!.hint!, new RegExp(`close it on line ${line}`));
  const [map] = await refused(dir, { file: "map.yaml" });
  assert.match(map!.message, new RegExp(`"\\{" opened at ${line}:${col} has no matching "\\}"`));
  const [quote] = await refused(dir, { file: "quote.yaml" });
  assert.match(quote!.message, new RegExp(`the quote opened at ${line}:${col} is never closed`));
});
