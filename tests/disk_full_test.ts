/**
 * A full disk (issue 23 item 13), on a small tmpfs mounted for each test (root only: elsewhere
 * each test prints why it is skipped and passes): a stage writing past the free space, `out/`
 * written on a full disk, the stat cache saved on a full disk, and a pull that fills the disk.
 * Each is one `error:` line naming the file and the space left, exit 1, no stack, nothing half
 * written left behind; a rerun once space is freed completes the work.
 *
 * @module
 */

import assert from "node:assert/strict";
import { statfsSync } from "node:fs";
import { diskFullError, isDiskFull } from "../runner/lib/disk_full.ts";

const CLI = new URL("./testdata/engine/disk_stages.ts", import.meta.url).pathname;

/** A tmpfs mounted on a new folder. */
interface Tmpfs {
  dir: string;
  remount(size: string): Promise<void>;
  close(): Promise<void>;
}

async function sh(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
    return out.success ? undefined : new TextDecoder().decode(out.stderr).trim() || `${cmd} failed`;
  } catch (error) {
    return String(error);
  }
}

/** Mounts a tmpfs of `size` (`1m`), or says why it cannot be. */
async function tmpfs(size: string): Promise<Tmpfs | string> {
  if (Deno.build.os !== "linux") return "a tmpfs needs Linux";
  if (Deno.uid() !== 0) return "the test does not run as root, and mounting a tmpfs needs it";
  const dir = await Deno.makeTempDir({ prefix: "disk-full-" });
  const failed = await sh("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (failed) {
    await Deno.remove(dir);
    return `mount -t tmpfs failed: ${failed}`;
  }
  return {
    dir,
    async remount(size) {
      const failed = await sh("mount", ["-o", `remount,size=${size}`, dir]);
      if (failed) throw new Error(failed);
    },
    async close() {
      await sh("umount", [dir]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `body` with a tmpfs, or prints why the test is skipped. */
async function onTmpfs(name: string, size: string, body: (fs: Tmpfs) => Promise<void>) {
  const fs = await tmpfs(size);
  if (typeof fs === "string") {
    console.log(`skipped "${name}": ${fs}`);
    return;
  }
  try {
    await body(fs);
  } finally {
    await fs.close();
  }
}

function free(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** Writes a file outside the project that leaves about `leave` bytes free on the tmpfs. */
async function leaveFree(fs: Tmpfs, leave: number): Promise<void> {
  const size = Math.max(0, free(fs.dir) - leave);
  await Deno.writeFile(`${fs.dir}/filler`, new Uint8Array(size)).catch(() => {});
}

async function cli(dir: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", "pipeline.yaml"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text, lines: text.split("\n") };
}

/** Exactly one `error:` line, no stack, no uncaught error; the line is returned. */
function oneErrorLine(result: { text: string; lines: string[] }): string {
  const errors = result.lines.filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, result.text);
  assert.ok(!/^\s+at /m.test(result.text), `a stack:\n${result.text}`);
  assert.ok(!result.text.includes("Uncaught"), result.text);
  return errors[0]!;
}

/** Files under a folder whose name is one of the engine's temp names. */
function temps(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      if (e.isDirectory) walk(`${d}/${e.name}`);
      else if (/\.tmp-\d+/.test(e.name)) found.push(`${d}/${e.name}`);
    }
  };
  walk(dir);
  return found;
}

const FREE = String
  .raw`\(\d+(?:\.\d)? (?:B|KiB) free on its file system\): free some space and run again`;

Deno.test("item 13: a stage writing past the free space is one error line naming the file and the free space, exit 1; nothing of it is left, and the rerun with space works", async () => {
  await onTmpfs("stage", "1m", async (fs) => {
    const dir = `${fs.dir}/proj`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      `${dir}/pipeline.yaml`,
      "name: pp\nstages:\n  big:\n    uses: fill\n    with: { bytes: 2000000 }\n",
    );
    const full = await cli(dir);
    assert.equal(full.code, 1, full.text);
    assert.match(
      oneErrorLine(full),
      new RegExp(
        String.raw`^error: stage "big" failed: No space left on device writing ` +
          String.raw`"\.pipeline/tmp/big-[0-9a-f]{8}/out/data\.bin" ${FREE}$`,
      ),
    );
    assert.deepEqual([...Deno.readDirSync(`${dir}/.pipeline/tmp`)], []);
    assert.deepEqual(temps(dir), []);
    assert.throws(() => Deno.statSync(`${dir}/.pipeline/runs`));
    await fs.remount("4m");
    const again = await cli(dir);
    assert.equal(again.code, 0, again.text);
    assert.equal((await Deno.stat(`${dir}/out/pp/big/data.bin`)).size, 2_000_000);
  });
});

Deno.test("item 13: a full disk while out/ is written is one error line for the file in out/, exit 1; no part of it is left, and the rerun with space completes out/", async () => {
  await onTmpfs("out", "1m", async (fs) => {
    const dir = `${fs.dir}/proj`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      `${dir}/pipeline.yaml`,
      // Under 256 KiB: out/ gets a copy, which needs the space again.
      "name: pp\nstages:\n  big:\n    uses: fill\n    with: { bytes: 200000 }\n",
    );
    await leaveFree(fs, 300 * 1024);
    const full = await cli(dir);
    assert.equal(full.code, 1, full.text);
    assert.match(
      oneErrorLine(full),
      new RegExp(
        String.raw`^error: could not write out/pp/big/data\.bin \(output "data" of big\): ` +
          String.raw`No space left on device writing "out/pp/big/data\.bin" ${FREE}$`,
      ),
    );
    assert.throws(() => Deno.statSync(`${dir}/out/pp/big/data.bin`));
    assert.deepEqual(temps(dir), []);
    await Deno.remove(`${fs.dir}/filler`);
    const again = await cli(dir);
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /0 ran, 1 cached/);
    assert.equal((await Deno.stat(`${dir}/out/pp/big/data.bin`)).size, 200_000);
  });
});

Deno.test("item 13: a full disk when the stat cache is saved (Cache.close) is one error line naming .pipeline/stat.json, exit 1, no stack", async () => {
  await onTmpfs("stat", "1m", async (fs) => {
    const dir = `${fs.dir}/proj`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(
      `${dir}/pipeline.yaml`,
      "name: pp\nstages:\n  big:\n    uses: fill\n    with: { bytes: 100000 }\n",
    );
    assert.equal((await cli(dir)).code, 0);
    // A new mtime: the object is hashed again, and the stat cache has to be saved.
    for (const shard of Deno.readDirSync(`${dir}/.pipeline/objects`)) {
      for (const object of Deno.readDirSync(`${dir}/.pipeline/objects/${shard.name}`)) {
        const path = `${dir}/.pipeline/objects/${shard.name}/${object.name}`;
        await Deno.utime(path, new Date(), new Date(Date.now() - 60_000));
      }
    }
    await leaveFree(fs, 0);
    const full = await cli(dir);
    assert.equal(full.code, 1, full.text);
    assert.match(
      oneErrorLine(full),
      new RegExp(
        String.raw`^error: No space left on device writing "\.pipeline/stat\.json" ${FREE}$`,
      ),
    );
    assert.deepEqual(temps(dir), []);
    await Deno.remove(`${fs.dir}/filler`);
    const again = await cli(dir);
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /0 ran, 1 cached/);
  });
});

Deno.test("item 13: a pull that fills the disk is a warning, not the end of the run: the stage runs here (and fails on the same disk, one error line); with space, the next run pulls it", async () => {
  await onTmpfs("pull", "1m", async (fs) => {
    const pipeline = "name: team\nstages:\n  hello:\n    uses: emit\n" +
      '    with: { text: "Hello Remote" }\n  model:\n    uses: tree\n' +
      "    with: { copies: 150 }\n    inputs: { text: hello.text }\n";
    const shared = await Deno.makeTempDir({ prefix: "remote-" });
    const env = { NERPIPE_REMOTE: `file://${shared}` };
    const a = await Deno.makeTempDir({ prefix: "clone-" });
    await Deno.writeTextFile(`${a}/pipeline.yaml`, pipeline);
    assert.equal((await cli(a, env)).code, 0);
    // 150 small files take a page each on a tmpfs: more than is left, less than declared.
    const b = `${fs.dir}/proj`;
    await Deno.mkdir(b);
    await Deno.writeTextFile(`${b}/pipeline.yaml`, pipeline);
    await leaveFree(fs, 220 * 1024);
    const full = await cli(b, env);
    assert.equal(full.code, 1, full.text);
    assert.match(full.text, /cached {2}hello \(pulled from file:/);
    assert.match(
      full.text,
      new RegExp(
        String.raw`not pulled: model: No space left on device writing ` +
          String.raw`"\.pipeline/tmp/model-pull-[0-9a-f]{8}/out/model/sub/\d+\.txt" ${FREE}`,
      ),
    );
    assert.match(
      oneErrorLine(full),
      /^error: stage "model" failed: No space left on device writing "\.pipeline\/tmp\/model-/,
    );
    assert.deepEqual([...Deno.readDirSync(`${b}/.pipeline/tmp`)], []);
    assert.deepEqual(temps(b), []);
    await Deno.remove(`${fs.dir}/filler`);
    await fs.remount("8m");
    const again = await cli(b, env);
    assert.equal(again.code, 0, again.text);
    assert.match(again.text, /cached {2}model \(pulled from file:/);
  });
});

Deno.test("item 13: a full disk is recognised however it reaches the engine: a code, a worker's message, a cause; the file it names is the one reported", async () => {
  const worker = new Error(
    "the worker failed: Uncaught (in promise) Error: No space left on device (os error 28): " +
      "writefile '/tmp/p/.pipeline/tmp/preprocess-input-1a2b3c4d/scratch/train.part.jsonl'",
  );
  assert.ok(isDiskFull(worker));
  const named = await diskFullError(worker, "/fallback");
  assert.equal(
    named.path,
    "/tmp/p/.pipeline/tmp/preprocess-input-1a2b3c4d/scratch/train.part.jsonl",
  );
  assert.ok(!named.message.includes("\n"));
  // A temp name stands for its file; a quota is said to be one.
  const quota = Object.assign(
    new Error("Disk quota exceeded (os error 122): open '/q/stat.json.tmp-42-0badcafe'"),
    {
      code: "EDQUOT",
    },
  );
  const reported = await diskFullError(new Error("wrapped", { cause: quota }), "/fallback");
  assert.equal(reported.path, "/q/stat.json");
  assert.match(
    reported.message,
    /^Disk quota exceeded writing "\/q\/stat\.json" \(.* free on its file system\): free some of your quota and run again$/,
  );
  // No file in the error: the fallback (the file the stage wrote last).
  const bare = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  assert.equal((await diskFullError(bare, "/tmp/x/out/data.bin")).path, "/tmp/x/out/data.bin");
  assert.ok(!isDiskFull(new Error("Permission denied (os error 13)")));
  // A thrown value whose properties throw is no full disk, and no crash.
  const hostile = new Proxy({}, {
    get() {
      throw new Error("boom");
    },
  });
  assert.ok(!isDiskFull(hostile));
});
