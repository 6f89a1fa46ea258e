import assert from "node:assert/strict";
import { memoryReporter, project, runProject } from "./_engine_helpers.ts";

const CLI = new URL("./testdata/engine/stages.ts", import.meta.url).pathname;

function spawnRun(dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "run", "pipeline.yaml", "--quiet", "--jobs", "1"],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

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

function pipeline(dir: string): string {
  return `name: p
stages:
  before: { uses: emit, with: { text: ok } }
  hang: { uses: hang, with: { dir: "${dir}" } }
`;
}

Deno.test("a stage killed midway leaves nothing a later run mistakes for a result", async () => {
  const dir = await project({});
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, pipeline(dir));
  const child = spawnRun(dir);
  await waitFor(`${dir}/started`);
  child.kill("SIGKILL");
  await child.status;
  let records: string[] = [];
  try {
    records = [...Deno.readDirSync(`${dir}/.pipeline/runs`)].map((e) =>
      JSON.parse(Deno.readTextFileSync(`${dir}/.pipeline/runs/${e.name}`)).stage
    );
  } catch { /* nothing finished yet */ }
  assert.ok(!records.includes("hang"), "the killed stage is not in the run index");
  await assert.rejects(Deno.stat(`${dir}/out/p/hang`));

  await Deno.writeTextFile(`${dir}/release`, "");
  const again = await runProject(dir);
  assert.equal(again.byId.hang, "ran");
  assert.equal(await Deno.readTextFile(`${dir}/out/p/hang/text.txt`), "complete");
  assert.equal(await Deno.readTextFile(`${dir}/out/p/hang/model/weights.bin`), "complete");
  assert.deepEqual([...Deno.readDirSync(`${dir}/.pipeline/tmp`)], [], "staging is cleaned");
});

Deno.test("the cache lock makes a second run wait for the first", async () => {
  const dir = await project({});
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, pipeline(dir));
  const child = spawnRun(dir);
  await waitFor(`${dir}/started`);
  const reporter = memoryReporter();
  const second = runProject(dir, { reporter });
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(
    reporter.lines.some((l) => l.includes(`waiting for the cache lock held by pid ${child.pid}`)),
    reporter.lines.join("\n"),
  );
  await Deno.writeTextFile(`${dir}/release`, "");
  assert.equal((await child.status).code, 0);
  const result = await second;
  assert.deepEqual(result.byId, { before: "cached", hang: "cached" });
});
