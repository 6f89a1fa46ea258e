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
import { memoryReporter, project, runBuiltinPipeline } from "./_engine_helpers.ts";
import { startS3 } from "./_s3_server.ts";
import { type Hostility, startHostileS3 } from "./_hostile_s3.ts";
import { remoteRegistry } from "./testdata/engine/remote_stages.ts";
import type { RemoteOptions } from "../runner/remote/schemes.ts";
import { runPipeline } from "../runner/run/variants.ts";

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
  const stdout = new TextDecoder().decode(out.stdout);
  return { code: out.code, stdout, text: stdout + new TextDecoder().decode(out.stderr) };
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

// Downloads read no more than a record declares -----------------------------------------------

const TEAM = `name: team
stages:
  hello:
    uses: emit
    with: { text: "Hello Remote" }
  low:
    uses: lower
    inputs: { text: hello.text }
  model:
    uses: tree
    with: { copies: 3 }
    inputs: { text: low.text }
`;

/**
 * Clone A pushes to the look-alike server; the server turns hostile on the keys `match`
 * selects; clone B runs. Gives B's run, the bytes the server got to write of its hostile
 * answers, and B's seconds.
 */
async function hostileRun(how: Hostility, match: (path: string) => boolean) {
  const server = startHostileS3();
  try {
    const env = (name: string) =>
      ({
        AWS_ENDPOINT_URL: server.endpoint,
        AWS_ACCESS_KEY_ID: "AKIAHOSTILE",
        AWS_SECRET_ACCESS_KEY: "hostile-secret",
      })[name];
    const remote = { url: "s3://bucket/team", env };
    const a = await project({ "pipeline.yaml": TEAM });
    assert.deepEqual((await run(a, remote)).byId, { hello: "ran", low: "ran", model: "ran" });
    assert.ok([...server.objects.keys()].some((k) => k.includes("/runs/")));
    server.hostile = { match, how };
    const b = await project({ "pipeline.yaml": TEAM });
    const started = performance.now();
    const second = await run(b, remote);
    const seconds = (performance.now() - started) / 1000;
    // Whatever the remote did, B's results are A's.
    for (const rel of ["hello/text.txt", "low/text.txt", "model/model/sub/2.txt"]) {
      assert.equal(
        await Deno.readTextFile(`${b}/out/team/${rel}`),
        await Deno.readTextFile(`${a}/out/team/${rel}`),
      );
    }
    return { ...second, streamed: server.streamed, seconds };
  } finally {
    await server.close();
  }
}

const isObject = (path: string) => path.includes("/objects/") && !path.endsWith(".d.json");
/**
 * Less than this got through: a cap stopped the client (the server would send 256 MiB). What the
 * server writes before the client closes includes the kernel's socket buffers and what the HTTP
 * client reads ahead, which grows when the machine is busy (17 MB was seen under load).
 */
const THROUGH = 64 * 1024 * 1024;

Deno.test("item 12: an object answered with Content-Length: 6e9 and endless zeros is refused at the size its record declares; the stage runs here", async () => {
  const b = await hostileRun("huge", isObject);
  assert.deepEqual(b.byId, { hello: "ran", low: "ran", model: "ran" });
  assert.ok(b.streamed < THROUGH, `${b.streamed} bytes got through`);
  assert.ok(
    b.lines.some((l) =>
      /damaged entry for hello: object [0-9a-f]{12}… is larger than the 12 bytes its run record declares \(the server declares 6000000000 bytes/
        .test(l)
    ),
    b.lines.join("\n"),
  );
});

Deno.test("item 12: an object streamed without end and without a length is read up to the size its record declares, no further", async () => {
  const b = await hostileRun("endless", isObject);
  assert.deepEqual(b.byId, { hello: "ran", low: "ran", model: "ran" });
  assert.ok(b.streamed < THROUGH, `${b.streamed} bytes got through`);
  assert.ok(
    b.lines.some((l) => /damaged entry for hello: object .* is larger than the 12 bytes/.test(l)),
    b.lines.join("\n"),
  );
  // The directory output's files: capped by the total its record declares.
  assert.ok(
    b.lines.some((l) => /damaged entry for model: the files of output "model" are larger/.test(l)),
    b.lines.join("\n"),
  );
});

Deno.test("item 12: a run record streamed without end is read up to 1 MiB, no further", async () => {
  const b = await hostileRun("endless", (path) => path.includes("/runs/"));
  assert.deepEqual(b.byId, { hello: "ran", low: "ran", model: "ran" });
  assert.ok(b.streamed < THROUGH, `${b.streamed} bytes got through`);
  assert.ok(
    b.lines.some((l) =>
      /its run record \(runs\/[0-9a-f]{64}\.json\) is not used: it is longer than 1\.0 MiB/.test(l)
    ),
    b.lines.join("\n"),
  );
});

Deno.test("item 12: a server that stops sending in the middle of an answer is given up after 5 s, with one warning, and the run goes on", async () => {
  const b = await hostileRun("stall", (path) => path.includes("/runs/"));
  assert.deepEqual(b.byId, { hello: "ran", low: "ran", model: "ran" });
  assert.ok(b.seconds < 15, `${b.seconds} s`);
  const warnings = b.lines.filter((l) => l.startsWith("warning: the remote cache"));
  assert.equal(warnings.length, 1, b.lines.join("\n"));
  assert.match(warnings[0]!, /stopped sending for 5 s in the middle of an answer/);
});

Deno.test("item 12: a remote record that declares no sizes (an older nerpipe's) is not used, and the push replaces it with one that does", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await project({ "pipeline.yaml": TEAM });
  const first = await run(a, remote);
  const key = first.stages.find((s) => s.id === "low")!.key!;
  const path = `${shared}/runs/${key}.json`;
  const record = JSON.parse(await Deno.readTextFile(path));
  assert.equal(record.outputs.text.size, "hello remote".length);
  delete record.outputs.text.size;
  await Deno.writeTextFile(path, JSON.stringify(record));
  const b = await project({ "pipeline.yaml": TEAM });
  const second = await run(b, remote);
  assert.deepEqual(second.byId, { hello: "cached", low: "ran", model: "cached" });
  assert.ok(
    second.lines.some((l) => l.includes("it does not declare the size of each object")),
    second.lines.join("\n"),
  );
  assert.equal(JSON.parse(await Deno.readTextFile(path)).outputs.text.size, 12);
});

// Pulled records are checked against what the stage declares ------------------------------------

const PAIR = `name: team
stages:
  pair:
    uses: pair
  count:
    uses: count
    inputs: { stream: pair.stream }
`;

/**
 * Clone A runs and pushes; then `forge` edits the remote record of `pair` (its object hashes
 * swapped, say). Gives the remote's folder, the record's path and A's record.
 */
/** A run record as JSON, to forge. */
interface RawRecord {
  kind: string;
  outputs: Record<string, { hash: string; kind: string; size: number }>;
}

async function forged(forge: (record: RawRecord) => void) {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await project({ "pipeline.yaml": PAIR });
  const first = await run(a, remote);
  assert.deepEqual(first.byId, { pair: "ran", count: "ran" });
  const path = `${shared}/runs/${first.stages[0]!.key}.json`;
  const record = JSON.parse(await Deno.readTextFile(path));
  const original = structuredClone(record);
  forge(record);
  await Deno.writeTextFile(path, JSON.stringify(record));
  return { remote, path, original, a };
}

Deno.test("item 11: a pulled record whose output names another intact object of another artifact type is refused, and the stage runs", async () => {
  // words -> the stream's object: both files, both intact.
  const { remote, a } = await forged((r) => r.outputs.words = r.outputs.stream!);
  const b = await project({ "pipeline.yaml": PAIR });
  const second = await run(b, remote);
  assert.deepEqual(second.byId, { pair: "ran", count: "cached" });
  assert.ok(
    second.lines.some((l) =>
      l.includes(
        'damaged entry for pair: its output "words" is a "word-stream" artifact, where pair ' +
          '(pair) declares "word-list"',
      )
    ),
    second.lines.join("\n"),
  );
  assert.equal(
    await Deno.readTextFile(`${b}/out/team/pair/words.json`),
    await Deno.readTextFile(`${a}/out/team/pair/words.json`),
  );
});

Deno.test("item 11: a pulled record is checked against the declared outputs: names, kinds and the stage kind", async () => {
  const cases: [string, (r: RawRecord) => void, RegExp][] = [
    [
      "a directory for a file",
      (r) => r.outputs.words!.kind = "dir",
      /its output "words" is a directory, where pair declares a file/,
    ],
    [
      "an output it does not declare",
      (r) => r.outputs.extra = r.outputs.words!,
      /it names outputs that pair does not declare \("extra"\)/,
    ],
    [
      "another stage kind",
      (r) => r.kind = "emit",
      /it is a record of stage kind "emit", not "pair"/,
    ],
  ];
  for (const [what, forge, message] of cases) {
    const { remote } = await forged(forge);
    const b = await project({ "pipeline.yaml": PAIR });
    const second = await run(b, remote);
    assert.deepEqual(second.byId, { pair: "ran", count: "cached" }, what);
    assert.ok(second.lines.some((l) => message.test(l)), `${what}:\n${second.lines.join("\n")}`);
  }
});

Deno.test("item 11: a pulled result that its consumer rejects is dropped: the next run makes it, pushes it over the forged record, and a third clone pulls the right one", async () => {
  // stream -> the words object: a plain JSON file that names no artifact type, so the pull
  // cannot tell; count, which reads it, can.
  const { remote, path, original } = await forged((r) => r.outputs.stream = r.outputs.words!);
  const b = await project({ "pipeline.yaml": PAIR });
  const second = await run(b, remote);
  assert.deepEqual(second.byId, { pair: "cached", count: "failed" });
  assert.ok(
    second.lines.some((l) =>
      /the result of pair pulled from file:\/\/.* was rejected by count as its input "stream": it is removed here and will not be pulled again/
        .test(l)
    ),
    second.lines.join("\n"),
  );
  const third = await run(b, remote);
  // count, on the stream pair makes, is A's result: pulled.
  assert.deepEqual(third.byId, { pair: "ran", count: "cached" });
  assert.ok(
    third.lines.some((l) => l.includes("a stage that read it here rejected it as its input")),
    third.lines.join("\n"),
  );
  assert.equal(await Deno.readTextFile(`${b}/out/team/count/count.txt`), "3");
  // The push replaced the forged record with B's, which is A's.
  assert.deepEqual(
    JSON.parse(await Deno.readTextFile(path)).outputs,
    original.outputs,
  );
  const c = await project({ "pipeline.yaml": PAIR });
  assert.deepEqual((await run(c, remote)).byId, { pair: "cached", count: "cached" });
});

Deno.test("item 11: s3: a forged record on the server whose output names another intact object is refused", async () => {
  const server = await startS3(BUCKET, KEY_ID, SECRET);
  if (typeof server === "string") {
    console.log(`skipped: ${server}`);
    return;
  }
  try {
    const env = awsEnv(server.endpoint, "forged");
    const a = await project({ "pipeline.yaml": PAIR });
    const first = await cli(a, ["run", "pipeline.yaml", "--json"], env);
    assert.equal(first.code, 0, first.text);
    const key = JSON.parse(first.stdout).stages[0].key;
    // s3rver keeps an object's bytes in <dir>/<bucket>/<key>._S3rver_object.
    const file = `${server.dir}/${BUCKET}/forged/runs/${key}.json._S3rver_object`;
    const record: RawRecord = JSON.parse(await Deno.readTextFile(file));
    record.outputs.words = record.outputs.stream!;
    await Deno.writeTextFile(file, JSON.stringify(record));
    const b = await project({ "pipeline.yaml": PAIR });
    const second = await cli(b, ["run", "pipeline.yaml"], env);
    assert.equal(second.code, 0, second.text);
    assert.match(second.text, /its output "words" is a "word-stream" artifact/);
    assert.match(second.text, /1 ran, 1 cached/);
  } finally {
    await server.stop();
  }
});
