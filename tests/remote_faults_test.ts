/**
 * The remote cache against a hostile or careless world (issue 23, items 10-12): artifacts that
 * do not depend on where the project is checked out, a push that never replaces another
 * clone's record, pulled records checked against the stage's declared outputs (and dropped
 * when a consumer rejects them), and downloads capped at the sizes a record declares, against
 * a server that lies about lengths and streams forever.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { runPipeline } from "../runner/execute.ts";
import type { RemoteOptions } from "../runner/remote_url.ts";
import { memoryReporter, project, runBuiltinPipeline } from "./_engine_helpers.ts";
import { startS3 } from "./_s3_server.ts";
import { remoteRegistry } from "./testdata/engine/remote_stages.ts";

const CLI = new URL("./testdata/engine/remote_stages.ts", import.meta.url).pathname;
const BUCKET = "nerpipe-faults";
const KEY_ID = "AKIANERPIPEFAULTS7";
const SECRET = "faults-Secret-Otter-2231";

const CORPUS = "; Leo Smith flew to Lagos.\n$<Leo Smith:PS> flew to <Lagos:LC>.\n\n" +
  "; Ivy Kowalski met Leo Smith.\n$<Ivy Kowalski:PS> met <Leo Smith:PS>.\n\n";

/** A checkout of a project whose pipeline loads a small corpus, at a path of its own. */
async function loadCheckout(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "checkout-" });
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/data/train.txt`, CORPUS);
  await Deno.writeTextFile(`${dir}/data/validation.txt`, CORPUS);
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    "name: pp\nstages:\n  load:\n    uses: load\n" +
      "    with: { format: kmou, train: data/train.txt, validation: data/validation.txt }\n",
  );
  return dir;
}

Deno.test("item 10: load names each document's file relative to the project root: two checkouts at different paths make the same dataset bytes", async () => {
  const a = await loadCheckout();
  const b = await loadCheckout();
  const ran = await Promise.all(
    [a, b].map((dir) => runBuiltinPipeline(`${dir}/pipeline.yaml`, dir)),
  );
  assert.deepEqual(ran.map((r) => r.byId), [{ load: "ran" }, { load: "ran" }]);
  assert.equal(ran[0]!.stages[0]!.key, ran[1]!.stages[0]!.key);
  const textA = await Deno.readTextFile(`${a}/out/pp/load/dataset.jsonl`);
  const textB = await Deno.readTextFile(`${b}/out/pp/load/dataset.jsonl`);
  assert.equal(textA, textB);
  assert.ok(!textA.includes(a) && !textA.includes("/tmp/"), textA.slice(0, 400));
  const record = JSON.parse(textA.split("\n")[1]!);
  assert.deepEqual(record.source, { file: "data/train.txt", line: 1 });
});

// A push never replaces another clone's record ----------------------------------------------

/** `here` writes the project root: the same key, other bytes in every checkout. */
const WHERE = `name: team
stages:
  here:
    uses: where
  low:
    uses: lower
    inputs: { text: here.text }
`;

async function run(dir: string, remote: RemoteOptions) {
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: remoteRegistry() });
  const reporter = memoryReporter();
  const summary = await runPipeline(pipeline, {
    reporter,
    remote: { env: () => undefined, ...remote },
  });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId, lines: reporter.lines };
}

async function cli(dir: string, args: string[], env: Record<string, string>) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

function awsEnv(endpoint: string, prefix: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET,
    NERPIPE_REMOTE: `s3://${BUCKET}/${prefix}`,
  };
}

Deno.test("item 10: a push keeps the record another clone pushed for the same key, with a warning; a third clone pulls the first one's result", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await project({ "pipeline.yaml": WHERE });
  const first = await run(a, remote);
  assert.deepEqual(first.byId, { here: "ran", low: "ran" });
  const key = first.stages.find((s) => s.id === "here")!.key!;
  const record = `${shared}/runs/${key}.json`;
  const pushed = await Deno.readTextFile(record);
  // B computed its own result before A's push reached it (no pull), then pushes.
  const b = await project({ "pipeline.yaml": WHERE });
  const second = await run(b, { ...remote, pull: false });
  assert.deepEqual(second.byId, { here: "ran", low: "ran" });
  assert.equal(second.stages.find((s) => s.id === "here")!.key, key);
  assert.equal(await Deno.readTextFile(record), pushed);
  assert.ok(
    second.lines.some((l) =>
      /not pushed: the remote cache file:\/\/.* already holds another result of here for its key \("text" differ\): the remote's is kept/
        .test(l)
    ),
    second.lines.join("\n"),
  );
  const c = await project({ "pipeline.yaml": WHERE });
  const third = await run(c, remote);
  assert.deepEqual(third.byId, { here: "cached", low: "cached" });
  assert.equal(await Deno.readTextFile(`${c}/out/team/here/text.txt`), a);
});

Deno.test("item 10: s3: a push keeps the record another clone pushed for the same key", async () => {
  const server = await startS3(BUCKET, KEY_ID, SECRET);
  if (typeof server === "string") {
    console.log(`skipped: ${server}`);
    return;
  }
  try {
    const env = awsEnv(server.endpoint, "keep");
    const a = await project({ "pipeline.yaml": WHERE });
    const first = await cli(a, ["run", "pipeline.yaml"], env);
    assert.equal(first.code, 0, first.text);
    const b = await project({ "pipeline.yaml": WHERE });
    const second = await cli(b, ["run", "pipeline.yaml", "--no-pull"], env);
    assert.equal(second.code, 0, second.text);
    assert.match(second.text, /not pushed: .* already holds another result of here for its key/);
    const c = await project({ "pipeline.yaml": WHERE });
    const third = await cli(c, ["run", "pipeline.yaml"], env);
    assert.match(third.text, /0 ran, 2 cached/);
    assert.equal(await Deno.readTextFile(`${c}/out/team/here/text.txt`), a);
  } finally {
    await server.stop();
  }
});
