/**
 * The Slurm executor (issue 15) against a real single-node cluster on this machine
 * (tools/testing/slurm_setup.sh starts one; .ci/run calls it). Without sbatch, or when the cluster does
 * not answer, the cluster tests are skipped with the reason printed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { PipelineValidationError } from "../runner/errors.ts";
import { resourceArgs, shellWord } from "../runner/exec/slurm.ts";
import { project, runScript } from "./_engine_helpers.ts";
import { testRegistry } from "./testdata/engine/stages.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

async function sh(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  try {
    const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder();
    return { code: o.code, out: text.decode(o.stdout) + text.decode(o.stderr) };
  } catch (error) {
    return { code: -1, out: String(error) };
  }
}

/** Why the cluster tests cannot run here, or undefined when a cluster answers. */
async function noCluster(): Promise<string | undefined> {
  if ((await sh("sbatch", ["--version"])).code !== 0) {
    return "sbatch is not installed (Debian: apt-get install slurm-wlm munge)";
  }
  const info = await sh("timeout", ["10", "sinfo", "-h", "-o", "%t"]);
  if (info.code !== 0 || !/idle|mix|alloc/.test(info.out)) {
    return `the Slurm cluster does not answer (start it: tools/testing/slurm_setup.sh): ${info.out.trim()}`;
  }
  return undefined;
}

const skip = await noCluster();
if (skip) console.log(`slurm_test: cluster tests skipped: ${skip}`);

const PIPELINE = `name: sl
stages:
  a: { uses: emit, with: { text: Hi } }
  b: { uses: lower, inputs: { text: a.text } }
  c: { uses: emit, with: { text: There }, resources: { cpus: 1, time: "10" } }
  d: { uses: join, inputs: { a: b.text, b: c.text } }
`;

function cli(dir: string, ...args: string[]) {
  return runScript(CLI, args, dir);
}

interface JsonStage {
  id: string;
  status: string;
  key: string | null;
}

/** Stage id to status, from `run --json`. */
function statuses(stdout: string): Record<string, string> {
  const stages = JSON.parse(stdout).stages as JsonStage[];
  return Object.fromEntries(stages.map((s) => [s.id, s.status]));
}

/** Stage id to the hashes of its outputs, from the run records of `run --json`'s keys. */
async function outputHashes(dir: string, stdout: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const s of JSON.parse(stdout).stages as JsonStage[]) {
    const record = JSON.parse(await Deno.readTextFile(`${dir}/.pipeline/runs/${s.key}.json`));
    out[s.id] = Object.fromEntries(
      Object.entries(record.outputs as Record<string, { hash: string }>).map((
        [k, v],
      ) => [k, v.hash]),
    );
  }
  return out;
}

/** Job ids of `submitted <stage> as job <id>` lines, by stage. */
function submitted(stderr: string): Record<string, string> {
  return Object.fromEntries(
    [...stderr.matchAll(/submitted (\S+) as job (\d+)/g)].map((m) => [m[1]!, m[2]!]),
  );
}

async function jobState(job: string): Promise<string> {
  const o = await sh("scontrol", ["show", "job", "-o", job]);
  return /JobState=(\S+)/.exec(o.out)?.[1] ?? "GONE";
}

Deno.test("resources: map to sbatch options; executor: and resources: are checked at load time", async () => {
  assert.deepEqual(
    resourceArgs({ gpus: 1, cpus: 4, mem: "16G", time: "2:00:00", partition: "gpu" }),
    ["--gres=gpu:1", "--cpus-per-task=4", "--mem=16G", "--time=2:00:00", "--partition=gpu"],
  );
  assert.deepEqual(resourceArgs(undefined), []);
  assert.equal(shellWord("a b'c"), `'a b'\\''c'`);
  assert.equal(shellWord("--set=x.y=1"), "--set=x.y=1");
  const dir = await project({
    "pipeline.yaml": `name: r\nexecutor: slurm\nstages:\n  a: { uses: emit, with: { text: x }, ` +
      `resources: { gpus: 1, partition: gpu } }\n`,
    "bad.yaml": `name: r\nstages:\n  a:\n    uses: emit\n    with: { text: x }\n` +
      `    resources: { mem: lots }\n`,
  });
  const p = await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry() });
  assert.equal(p.executor, "slurm");
  assert.deepEqual(p.stages.get("a")!.resources, { gpus: 1, partition: "gpu" });
  // Remembered (checked/) pipelines keep both.
  const again = await loadPipeline(`${dir}/pipeline.yaml`, { registry: testRegistry() });
  assert.equal(again.executor, "slurm");
  assert.deepEqual(again.stages.get("a")!.resources, { gpus: 1, partition: "gpu" });
  await assert.rejects(
    loadPipeline(`${dir}/bad.yaml`, { registry: testRegistry(), cacheDir: false }),
    (e: unknown) => {
      assert.ok(e instanceof PipelineValidationError);
      const d = e.diagnostics[0]!;
      assert.equal(d.path, "stages.a.resources.mem");
      assert.equal(d.line, 6);
      return true;
    },
  );
  // Without sbatch on PATH, --executor slurm is a user error with a hint.
  const none = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", "pipeline.yaml"],
    cwd: dir,
    env: { PATH: "/nonexistent", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(none.code, 2);
  assert.match(new TextDecoder().decode(none.stderr), /sbatch is not on PATH: run on a machine/);
});

Deno.test({
  name:
    "slurm: the DAG at once with afterok, the same outputs as a local run, cached stages not submitted, early cutoff",
  ignore: skip !== undefined,
  async fn() {
    const local = await project({ "pipeline.yaml": PIPELINE });
    const slurm = await project({ "pipeline.yaml": PIPELINE });
    const l = await cli(local, "run", "pipeline.yaml", "--json");
    assert.equal(l.code, 0, l.stderr);
    const s = await cli(slurm, "run", "pipeline.yaml", "--json", "--executor", "slurm");
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(statuses(s.stdout), { a: "ran", b: "ran", c: "ran", d: "ran" });
    // The same keys and output hashes, and the same bytes under out/.
    assert.deepEqual(
      JSON.parse(s.stdout).stages.map((x: JsonStage) => x.key),
      JSON.parse(l.stdout).stages.map((x: JsonStage) => x.key),
    );
    assert.deepEqual(await outputHashes(slurm, s.stdout), await outputHashes(local, l.stdout));
    assert.equal(await Deno.readTextFile(`${slurm}/out/sl/d/text.txt`), "hi There");
    // Every job was submitted before the first one ended: dependents with afterok on theirs.
    const jobs = submitted(s.stderr);
    assert.deepEqual(Object.keys(jobs).sort(), ["a", "b", "c", "d"]);
    assert.match(s.stderr, new RegExp(`submitted b as job ${jobs.b} after ${jobs.a} `));
    assert.match(
      s.stderr,
      new RegExp(`submitted d as job ${jobs.d} after (${jobs.b}, ${jobs.c}|${jobs.c}, ${jobs.b})`),
    );
    const firstEnd = s.stderr.search(/ ran +\S+ in /);
    assert.ok(s.stderr.lastIndexOf("submitted") < firstEnd, s.stderr);
    assert.match(s.stderr, new RegExp(`ran +d in .* \\(job ${jobs.d}: started .* after it could`));

    // Nothing to do: nothing submitted.
    const again = await cli(slurm, "run", "pipeline.yaml", "--executor", "slurm");
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stderr, /submitted/);
    assert.match(again.stderr, /0 ran, 4 cached/);

    // a changes, its lower-case output does not: c (cached) is not submitted, b runs, d is
    // submitted ahead and finds its result in the cache when it starts (early cutoff).
    const cut = await cli(
      slurm,
      "run",
      "pipeline.yaml",
      "--json",
      "--executor",
      "slurm",
      "--set",
      "stages.a.with.text=HI",
    );
    assert.equal(cut.code, 0, cut.stderr);
    assert.deepEqual(Object.keys(submitted(cut.stderr)).sort(), ["a", "b", "d"]);
    assert.deepEqual(statuses(cut.stdout), { a: "ran", b: "ran", c: "cached", d: "cached" });
    assert.match(cut.stderr, /cached +d \(job \d+/);
    const status = await cli(slurm, "status", "pipeline.yaml", "--set", "stages.a.with.text=HI");
    assert.match(status.stdout, /^fresh +d$/m);
    assert.doesNotMatch(status.stdout, /slurm jobs/);
  },
});

Deno.test({
  name: "slurm: a failed job shows its stderr's end and its dependents are cancelled",
  ignore: skip !== undefined,
  async fn() {
    const dir = await project({
      "pipeline.yaml": `name: slf
stages:
  a: { uses: emit, with: { text: Hi } }
  f: { uses: fail, inputs: { text: a.text } }
  g: { uses: lower, inputs: { text: f.text } }
  h: { uses: lower, inputs: { text: g.text } }
`,
    });
    const r = await cli(dir, "run", "pipeline.yaml", "--executor", "slurm");
    assert.equal(r.code, 1, r.stderr);
    const jobs = submitted(r.stderr);
    assert.deepEqual(Object.keys(jobs).sort(), ["a", "f", "g", "h"]);
    assert.match(r.stderr, /failed +f after .*: Error: boom \(job \d+\); the end of its stderr/);
    assert.match(r.stderr, /^ {4}error: stage "f" failed: Error: boom$/m);
    assert.match(r.stderr, new RegExp(`cancelled g \\(job ${jobs.g}\\): upstream "f" failed`));
    assert.match(r.stderr, new RegExp(`cancelled h \\(job ${jobs.h}\\)`));
    assert.match(r.stderr, /1 ran, 0 cached, 2 skipped, 1 failed/);
    for (const id of ["g", "h"]) {
      assert.equal(await jobState(jobs[id]!), "CANCELLED", `job of ${id}`);
    }
  },
});

Deno.test({
  name: "slurm: status lists the queued and running jobs; Ctrl-C cancels them (scancel)",
  ignore: skip !== undefined,
  async fn() {
    const dir = await project({
      "pipeline.yaml": `name: slh
stages:
  s: { uses: ./slow.ts }
  t: { uses: lower, inputs: { text: s.text } }
`,
      "slow.ts": `import { defineStage } from ${JSON.stringify(`${ROOT}runner/stage.ts`)};
export default defineStage({
  name: "slow",
  version: 1,
  description: "Writes a text after a minute",
  schema: { type: "object", properties: {} },
  inputs: {},
  outputs: { text: { type: "text", description: "A text" } },
  module: import.meta.url,
  async run(ctx) {
    await new Promise((r) => setTimeout(r, 60000));
    await Deno.writeTextFile(ctx.output("text"), "late");
  },
});
`,
    });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI, "run", "pipeline.yaml", "--executor", "slurm"],
      cwd: dir,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr: string[] = [];
    const reading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        stderr.push(chunk);
      }
    })();
    const stdout = new Response(child.stdout).text();
    let jobs: Record<string, string> = {};
    for (let i = 0; i < 200 && Object.keys(jobs).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      jobs = submitted(stderr.join(""));
    }
    assert.deepEqual(Object.keys(jobs).sort(), ["s", "t"], stderr.join(""));
    for (let i = 0; i < 100 && await jobState(jobs.s!) !== "RUNNING"; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const status = await cli(dir, "status", "pipeline.yaml");
    assert.match(status.stdout, new RegExp(`job ${jobs.s}  s  RUNNING`));
    assert.match(status.stdout, new RegExp(`job ${jobs.t}  t  PENDING \\(Dependency\\)`));
    child.kill("SIGINT");
    const { code } = await child.status;
    await reading;
    await stdout;
    assert.equal(code, 130, stderr.join(""));
    assert.match(stderr.join(""), /cancelling jobs/);
    for (const id of ["s", "t"]) {
      let state = await jobState(jobs[id]!);
      for (let i = 0; i < 50 && state === "COMPLETING"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        state = await jobState(jobs[id]!);
      }
      assert.ok(["CANCELLED", "GONE"].includes(state), `job of ${id}: ${state}`);
    }
    const after = await cli(dir, "status", "pipeline.yaml");
    assert.doesNotMatch(after.stdout, /slurm jobs/);
  },
});

/** A copy of the project (code, the sample's first sentences) with node_modules linked. */
async function nerCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "slurm-ner-" });
  // Every folder of code and every top-level module: main.ts's imports grow with the project.
  for (const path of ["runner", "stages", "ner", "schemas", "serve"]) {
    const o = await sh("cp", ["-r", `${ROOT}${path}`, `${dir}/${path}`]);
    assert.equal(o.code, 0, o.out);
  }
  for await (const entry of Deno.readDir(ROOT)) {
    if (entry.isFile && /\.(ts|json|lock)$/.test(entry.name)) {
      await Deno.copyFile(`${ROOT}${entry.name}`, `${dir}/${entry.name}`);
    }
  }
  await Deno.mkdir(`${dir}/pipelines`);
  await Deno.copyFile(`${ROOT}pipelines/ner.yaml`, `${dir}/pipelines/ner.yaml`);
  await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
  await Deno.mkdir(`${dir}/data/sample`, { recursive: true });
  for (const [file, n] of [["train.txt", 40], ["validation.txt", 12]] as const) {
    const text = await Deno.readTextFile(`${ROOT}data/sample/${file}`);
    const part = text.trim().split(/\n\s*\n/).slice(0, n).join("\n\n") + "\n";
    await Deno.writeTextFile(`${dir}/data/sample/${file}`, part);
  }
  return dir;
}

/** train's log without its timings. */
async function untimedLog(dir: string): Promise<unknown[]> {
  const text = await Deno.readTextFile(`${dir}/out/ner/train/log.jsonl`);
  return text.trim().split("\n").map((line) => {
    const { seconds: _s, tokens_per_s: _t, ...rest } = JSON.parse(line);
    return rest;
  });
}

Deno.test({
  name: "slurm: the NER pipeline with a tiny model gives byte-identical outputs to a local run",
  ignore: skip !== undefined,
  async fn() {
    const dir = await nerCopy();
    const sets = [
      "stages.train.with.layers=1",
      "stages.train.with.hidden=16",
      "stages.train.with.heads=2",
      "stages.train.with.intermediate=32",
      "stages.train.with.epochs=1",
      "stages.preprocess-input.with.tokenizer.learn.vocab_size=300",
    ].flatMap((s) => ["--set", s]);
    const run = (...args: string[]) =>
      runScript(`${dir}/main.ts`, ["run", "pipelines/ner.yaml", "--json", ...sets, ...args], dir);
    const l = await run();
    assert.equal(l.code, 0, l.stderr);
    const local = await outputHashes(dir, l.stdout);
    const localLog = await untimedLog(dir);
    await Deno.remove(`${dir}/.pipeline`, { recursive: true });
    await Deno.remove(`${dir}/out`, { recursive: true });
    const s = await run("--executor", "slurm");
    assert.equal(s.code, 0, s.stderr);
    const stages = JSON.parse(s.stdout).stages as JsonStage[];
    assert.ok(stages.every((x) => x.status === "ran"), s.stderr);
    assert.equal(Object.keys(submitted(s.stderr)).length, stages.length);
    // Byte-identical, but train's log: its timings (seconds, tokens per second) differ from
    // run to run locally too. Without them it is the same.
    const hashes = await outputHashes(dir, s.stdout);
    const timed = (h: Record<string, unknown>) => (h.train as Record<string, string>).log;
    assert.ok(timed(hashes) && timed(local));
    delete (hashes.train as Record<string, string>).log;
    delete (local.train as Record<string, string>).log;
    assert.deepEqual(hashes, local);
    assert.deepEqual(await untimedLog(dir), localLog);
    console.log(
      s.stderr.split("\n").filter((line) => / ran +\S+ in /.test(line)).join("\n"),
    );
  },
});
