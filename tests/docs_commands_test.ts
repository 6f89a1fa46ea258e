// Every command that the docs in RUNNABLE show runs as written on a fresh clone. A doc marks
// what the test does with each fenced block by its info string:
//
//   ```sh runnable                 run it with bash (-e: every command must succeed), in order
//   ```sh runnable set=k=v ...     the same, with `--set k=v` added to each `deno task run`,
//                                  `status` and `predict` of a pipeline file in the block: the
//                                  block says so itself, to train a tiny model instead of minutes
//   ```sh runnable dry-run         the same, with `--dry-run` added to each `deno task run`:
//                                  the pipeline is checked (paths, --allow-outside) but nothing runs
//   ```sh runnable needs=<path>    skipped, saying why, where <path> (from the checkout) is absent
//   ```ts ignore file=<path>       written to <path> (from the checkout) before later blocks run;
//                                  `ignore` keeps `deno test --doc` from type-checking it against
//                                  this checkout's deno.json: a runnable block `deno check`s it
//                                  in the project it belongs to
//
// Blocks run one after the other in one copy of the checkout (its tracked and untracked files,
// what `git clone` of the working tree gives: no .pipeline/, out/ or node_modules/), so a block
// sees what the blocks above it made. A shell block that is not runnable may only hold the
// commands of NOT_RUN, each with the reason it is not run here.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { exists } from "../runner/config/paths.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Docs whose shell blocks are all runnable (or in NOT_RUN) and run here. */
const RUNNABLE = ["README.md", "docs/stages.md"];

/** Commands a doc may show in a block that is not run, and why. */
const NOT_RUN: Record<string, string> = {
  "npm install -g deno@2": "installs Deno for the whole machine",
  "git clone": "needs the repository's address; the test runs in a copy of this checkout instead",
  "cd nerpipe": "the folder the clone above makes",
  "deno task test": "the test suite itself (minutes; this test is part of it)",
  "deno task serve":
    "a server: it runs until stopped (tests/serve_cli_test.ts starts and stops it)",
};

/** A fenced block: where it starts, its info string's words and its text. */
export interface Block {
  line: number;
  lang: string;
  flags: Set<string>;
  attrs: [string, string][];
  text: string;
}

/** The fenced blocks of a Markdown text (top-level fences of three or more backticks). */
export function fencedBlocks(markdown: string): Block[] {
  const blocks: Block[] = [];
  let open: { line: number; fence: string; info: string; lines: string[] } | null = null;
  markdown.split("\n").forEach((text, i) => {
    if (open) {
      if (text.trim() === open.fence) {
        const [lang = "", ...words] = open.info.split(/\s+/).filter((w) => w !== "");
        blocks.push({
          line: open.line,
          lang,
          flags: new Set(words.filter((w) => !w.includes("="))),
          attrs: words.filter((w) => w.includes("=")).map((w) => {
            const at = w.indexOf("=");
            return [w.slice(0, at), w.slice(at + 1)];
          }),
          text: open.lines.join("\n"),
        });
        open = null;
      } else open.lines.push(text);
      return;
    }
    const m = /^(`{3,})(.*)$/.exec(text);
    if (m) open = { line: i + 1, fence: m[1]!, info: m[2]!.trim(), lines: [] };
  });
  return blocks;
}

/** The block's commands, one per logical line (`\` continuations joined, comments kept). */
export function commandLines(text: string): string[] {
  return text.replace(/[ \t]*\\\n\s*/g, " ").split("\n").map((l) => l.trim()).filter((l) =>
    l !== "" && !l.startsWith("#")
  );
}

/** The shell text the test runs for a runnable block: `set=` and `dry-run` applied. */
export function scriptFor(block: Block): string {
  const sets = block.attrs.filter(([k]) => k === "set").map(([, v]) => ` --set ${v}`).join("");
  let text = block.text.replace(/[ \t]*\\\n\s*/g, " ");
  if (sets) {
    text = text.replace(/(deno task (?:run|status|predict) \S+\.ya?ml)(?=\s|$)/g, `$1${sets}`);
  }
  if (block.flags.has("dry-run")) {
    text = text.replace(/(deno task run \S+\.ya?ml)(?=\s|$)/g, "$1 --dry-run");
  }
  return text;
}

Deno.test("fencedBlocks and scriptFor read info strings and add only what a block asks for", () => {
  const doc = [
    "text",
    "```sh runnable set=stages.t.with.layers=1 set=vars.n=2",
    "deno task run p.yaml --set a=b && deno task status p.yaml",
    "deno task predict p.yaml \\",
    '  "some text"',
    "deno task runs p.yaml",
    "```",
    "````ts file=../w/x.ts",
    "```",
    "````",
    "```sh runnable dry-run needs=../shared/data",
    "deno task run q.yml --allow-outside ../shared/data",
    "```",
  ].join("\n");
  const [a, b, c] = fencedBlocks(doc);
  assert.equal(a?.line, 2);
  assert.equal(a?.lang, "sh");
  assert.deepEqual([...a!.flags], ["runnable"]);
  assert.equal(
    scriptFor(a!),
    [
      "deno task run p.yaml --set stages.t.with.layers=1 --set vars.n=2 --set a=b && " +
      "deno task status p.yaml --set stages.t.with.layers=1 --set vars.n=2",
      'deno task predict p.yaml --set stages.t.with.layers=1 --set vars.n=2 "some text"',
      "deno task runs p.yaml",
    ].join("\n"),
  );
  assert.deepEqual(b?.attrs, [["file", "../w/x.ts"]]);
  assert.equal(b?.text, "```");
  assert.deepEqual(c?.attrs, [["needs", "../shared/data"]]);
  assert.equal(
    scriptFor(c!),
    "deno task run q.yml --dry-run --allow-outside ../shared/data",
  );
  assert.deepEqual(commandLines("# a comment\nls \\\n  -l\n\ncd x"), ["ls -l", "cd x"]);
});

/** Copies the checkout's tracked and untracked (not ignored) files into `dest`. */
async function copyCheckout(dest: string): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  for (const rel of new TextDecoder().decode(out.stdout).split("\0")) {
    if (rel === "") continue;
    const from = join(root, rel);
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(from);
    } catch {
      continue; // deleted in the working tree
    }
    const to = join(dest, rel);
    Deno.mkdirSync(dirname(to), { recursive: true });
    if (info.isSymlink) Deno.symlinkSync(Deno.readLinkSync(from), to);
    else if (info.isFile) Deno.copyFileSync(from, to);
  }
}

for (const doc of RUNNABLE) {
  Deno.test(`${doc}: every shell block is runnable or says why not`, async () => {
    const text = await Deno.readTextFile(join(root, doc));
    for (const block of fencedBlocks(text)) {
      if (!["sh", "bash", "shell"].includes(block.lang) || block.flags.has("runnable")) continue;
      for (const command of commandLines(block.text)) {
        const allowed = Object.keys(NOT_RUN).some((c) => command.startsWith(c));
        assert.ok(allowed, `${doc}:${block.line}: "${command}" is in a block not marked runnable`);
      }
    }
  });

  Deno.test(`${doc}: its runnable blocks run as written in a fresh copy of the checkout`, async () => {
    const text = await Deno.readTextFile(join(root, doc));
    const tmp = await Deno.makeTempDir({ prefix: "docs-commands-" });
    const checkout = join(tmp, "nerpipe");
    await copyCheckout(checkout);
    // Data a doc finds next to the checkout (../shared/data) is next to the copy too.
    if (exists(join(root, "..", "shared"))) {
      Deno.symlinkSync(join(root, "..", "shared"), join(tmp, "shared"));
    }
    const install = join(tmp, "deno-install");
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(Deno.env.toObject())) {
      if (!k.startsWith("NERPIPE_")) env[k] = v;
    }
    Object.assign(env, {
      NO_COLOR: "1",
      DENO_INSTALL_ROOT: install, // `deno install -g` writes here, not in the user's home
      PATH: [join(install, "bin"), dirname(Deno.execPath()), env.PATH ?? ""].join(":"),
    });
    let ran = 0;
    for (const block of fencedBlocks(text)) {
      const file = block.attrs.find(([k]) => k === "file")?.[1];
      if (file !== undefined) {
        const path = join(checkout, file);
        await Deno.mkdir(dirname(path), { recursive: true });
        await Deno.writeTextFile(path, block.text + "\n");
        continue;
      }
      if (!block.flags.has("runnable")) continue;
      const needs = block.attrs.find(([k]) => k === "needs")?.[1];
      if (needs !== undefined && !exists(join(checkout, needs))) {
        console.log(`${doc}:${block.line}: skipped: it needs ${needs}, absent here`);
        continue;
      }
      const script = scriptFor(block);
      const out = await new Deno.Command("bash", {
        args: ["-e", "-o", "pipefail", "-c", script],
        cwd: checkout,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(300_000),
      }).output();
      const tail = (b: Uint8Array) => new TextDecoder().decode(b).split("\n").slice(-30).join("\n");
      assert.equal(
        out.code,
        0,
        `${doc}:${block.line} failed:\n${script}\n--- stdout\n${tail(out.stdout)}\n--- stderr\n${
          tail(out.stderr)
        }`,
      );
      ran++;
    }
    assert.ok(ran > 0, `${doc} has no runnable block`);
    await Deno.remove(tmp, { recursive: true });
  });
}
