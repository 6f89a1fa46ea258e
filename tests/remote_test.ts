/**
 * The shared remote cache (issue 15, "Remote cache (S3 API)"): a directory remote (always), and
 * a real S3-compatible server (s3rver from npm, on loopback; skipped with a printed reason
 * when it cannot start): push after a run, pull into a fresh clone, damaged remote objects,
 * concurrent pushes, a remote that is down or refuses, and credentials that appear nowhere.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadPipeline } from "../runner/config/load.ts";
import { isUserError, PipelineValidationError } from "../runner/errors.ts";
import { memoryReporter, project } from "./_engine_helpers.ts";
import { startS3 } from "./_s3_server.ts";
import { remoteRegistry } from "./testdata/engine/remote_stages.ts";
import { sha256 } from "../runner/lib/digest.ts";
import { listFiles } from "../runner/lib/list_files.ts";
import type { RemoteOptions } from "../runner/remote/schemes.ts";
import { S3Client } from "../runner/remote/_s3_client.ts";
import { authorization } from "../runner/remote/_sigv4.ts";
import { runPipeline } from "../runner/run/variants.ts";

const CLI = new URL("./testdata/engine/remote_stages.ts", import.meta.url).pathname;
const BUCKET = "nerpipe-test";
const KEY_ID = "AKIANERPIPETESTKEY42";
const SECRET = "s3cr3t-Zebra-Quokka-9137";

const PIPELINE = `name: team
stages:
  hello:
    uses: emit
    with: { text: "Hello Remote" }
  low:
    uses: lower
    inputs: { text: hello.text }
  both:
    uses: join
    inputs: { a: hello.text, b: low.text }
  model:
    uses: tree
    with: { copies: 3 }
    inputs: { text: both.text }
`;

/** A clone of the team's project: the pipeline and an empty `.pipeline/`. */
function clone(extra = ""): Promise<string> {
  return project({ "pipeline.yaml": extra + PIPELINE });
}

async function run(dir: string, remote: RemoteOptions, force = false) {
  const pipeline = await loadPipeline(`${dir}/pipeline.yaml`, { registry: remoteRegistry() });
  const reporter = memoryReporter();
  const env = remote.env ?? (() => undefined);
  const summary = await runPipeline(pipeline, {
    reporter,
    remote: { ...remote, env },
    ...(force ? { force: true } : {}),
  });
  const byId: Record<string, string> = {};
  for (const s of summary.stages) byId[s.id] = s.status;
  return { ...summary, byId, lines: reporter.lines };
}

/** Every file under a directory, with its content. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of await listFiles(dir)) {
    if (rel.endsWith("report.html")) continue;
    out[rel] = await Deno.readTextFile(`${dir}/${rel}`);
  }
  return out;
}

const all = (status: string) => ({ hello: status, low: status, both: status, model: status });

Deno.test("file remote: clone A runs and pushes, a fresh clone B pulls every stage, same outputs", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await clone();
  assert.deepEqual((await run(a, remote)).byId, all("ran"));
  // Objects first, the record last: every record's objects are there.
  const runs = [...Deno.readDirSync(`${shared}/runs`)].map((e) => e.name);
  assert.equal(runs.length, 4);
  for (const name of runs) {
    const record = JSON.parse(await Deno.readTextFile(`${shared}/runs/${name}`));
    for (const output of Object.values(record.outputs) as { hash: string; kind: string }[]) {
      const base = `${shared}/objects/${output.hash.slice(0, 2)}/${output.hash}`;
      const path = output.kind === "dir" ? `${base}.d.json` : base;
      assert.ok((await Deno.stat(path)).isFile, `${path} is there`);
      if (output.kind === "file") {
        assert.equal(await sha256(await Deno.readFile(path)), output.hash);
      }
    }
  }
  const b = await clone();
  const pulled = await run(b, remote);
  assert.deepEqual(pulled.byId, all("cached"));
  assert.equal(pulled.lines.filter((l) => l.includes(`(pulled from file://${shared})`)).length, 4);
  assert.deepEqual(await tree(`${b}/out/team`), await tree(`${a}/out/team`));
  assert.ok(Object.keys(await tree(`${b}/out/team`)).includes("model/model/sub/2.txt"));
  // And B's next run is a local no-op.
  const again = await run(b, remote);
  assert.deepEqual(again.byId, all("cached"));
  assert.ok(!again.lines.some((l) => l.includes("pulled")));
});

Deno.test("file remote: a damaged remote object is reported, the stage recomputed, the push repairs it", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await clone();
  const first = await run(a, remote);
  const low = JSON.parse(
    await Deno.readTextFile(
      `${a}/.pipeline/runs/${first.stages.find((s) => s.id === "low")!.key}.json`,
    ),
  ).outputs.text.hash as string;
  const object = `${shared}/objects/${low.slice(0, 2)}/${low}`;
  await Deno.writeTextFile(object, "hello remotf");
  const b = await clone();
  const second = await run(b, remote);
  assert.equal(second.byId.low, "ran");
  assert.equal(second.byId.hello, "cached");
  assert.ok(
    second.lines.some((l) => /damaged entry for low: object [0-9a-f]{12}… is damaged/.test(l)),
    second.lines.join("\n"),
  );
  assert.deepEqual(await tree(`${b}/out/team`), await tree(`${a}/out/team`));
  // The push after the recompute replaced the damaged object.
  assert.equal(await sha256(await Deno.readFile(object)), low);
  const c = await clone();
  assert.deepEqual((await run(c, remote)).byId, all("cached"));
});

Deno.test("file remote: a damaged directory listing is refused, and the stage recomputed", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const remote = { url: `file://${shared}` };
  const a = await clone();
  const first = await run(a, remote);
  const key = first.stages.find((s) => s.id === "model")!.key;
  const hash = JSON.parse(await Deno.readTextFile(`${shared}/runs/${key}.json`)).outputs.model
    .hash as string;
  const listing = `${shared}/objects/${hash.slice(0, 2)}/${hash}.d.json`;
  const value = JSON.parse(await Deno.readTextFile(listing));
  // A path that leads outside, with the tree hash left as it was.
  value.files["../../escape.txt"] = Object.values(value.files)[0];
  await Deno.writeTextFile(listing, JSON.stringify(value));
  const b = await clone();
  const second = await run(b, remote);
  assert.equal(second.byId.model, "ran");
  assert.ok(
    second.lines.some((l) => l.includes("is not a valid listing")),
    second.lines.join("\n"),
  );
  await assert.rejects(Deno.stat(`${b}/escape.txt`));
  await assert.rejects(Deno.stat(`${b}/.pipeline/escape.txt`));
});

Deno.test("file remote: a remote that is not there warns once and the run works locally; --require-remote fails", async () => {
  const remote = { url: "file:///nonexistent/nerpipe-shared-cache" };
  const a = await clone();
  const first = await run(a, remote);
  assert.deepEqual(first.byId, all("ran"));
  const warnings = first.lines.filter((l) => l.startsWith("warning:"));
  assert.equal(warnings.length, 1, first.lines.join("\n"));
  assert.match(warnings[0]!, /nerpipe-shared-cache does not exist/);
  const b = await clone();
  const strict = await run(b, { ...remote, require: true });
  assert.equal(strict.byId.hello, "failed");
  assert.equal(strict.stages[0]!.reason, "user error");
  assert.match(strict.stages[0]!.error!, /--require-remote/);
});

Deno.test("file remote: --no-pull and --no-push", async () => {
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  const a = await clone();
  await run(a, { url: `file://${shared}`, push: false });
  await assert.rejects(Deno.stat(`${shared}/runs`));
  await run(a, { url: `file://${shared}` }, true);
  const b = await clone();
  assert.deepEqual((await run(b, { url: `file://${shared}`, pull: false })).byId, all("ran"));
});

Deno.test("the no-op rerun does not contact the remote", async () => {
  const a = await clone();
  const shared = await Deno.makeTempDir({ prefix: "remote-" });
  await run(a, { url: `file://${shared}` });
  // The remote is gone: a run that the local cache answers does not notice, even required.
  await Deno.remove(shared, { recursive: true });
  const again = await run(a, { url: `file://${shared}`, require: true });
  assert.deepEqual(again.byId, all("cached"));
  assert.ok(!again.lines.some((l) => l.includes("warning")));
});

Deno.test("remote: in the pipeline file is checked at load time without repeating a secret", async () => {
  const dir = await project({
    "pipeline.yaml": `name: x\nremote: s3://${KEY_ID}:${SECRET}@${BUCKET}/p\n` +
      "stages:\n  a: { uses: emit, with: { text: t } }\n",
  });
  const error = await loadPipeline(`${dir}/pipeline.yaml`, { registry: remoteRegistry() })
    .then(() => undefined, (e) => e);
  assert.ok(error instanceof PipelineValidationError);
  assert.ok(isUserError(error));
  const [d] = error.diagnostics;
  assert.equal(d!.line, 2);
  assert.match(d!.message, /holds credentials/);
  assert.ok(!JSON.stringify(error.diagnostics).includes(SECRET));
  const ok = await project({
    "pipeline.yaml": `name: x\nremote: s3://${BUCKET}/team/ci\n` +
      "stages:\n  a: { uses: emit, with: { text: t } }\n",
  });
  const loaded = await loadPipeline(`${ok}/pipeline.yaml`, { registry: remoteRegistry() });
  assert.equal(loaded.remote, `s3://${BUCKET}/team/ci`);
  // The remembered check keeps it.
  const again = await loadPipeline(`${ok}/pipeline.yaml`, { registry: remoteRegistry() });
  assert.equal(again.remote, `s3://${BUCKET}/team/ci`);
});

Deno.test("SigV4: the signer gives AWS's documented signature (S3 GET Object example)", async () => {
  const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const header = await authorization({
    method: "GET",
    path: "/test.txt",
    headers: {
      host: "examplebucket.s3.amazonaws.com",
      range: "bytes=0-9",
      "x-amz-content-sha256": empty,
      "x-amz-date": "20130524T000000Z",
    },
    payloadHash: empty,
    region: "us-east-1",
    keyId: "AKIAIOSFODNN7EXAMPLE",
    secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  });
  assert.match(
    header,
    /Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41$/,
  );
});

// --- A real S3-compatible server -------------------------------------------------------------

interface Cli {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the test CLI in a clone with the AWS variables of the server. */
async function cli(dir: string, args: string[], env: Record<string, string>): Promise<Cli> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, ...args],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

function awsEnv(endpoint: string, prefix: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: KEY_ID,
    AWS_SECRET_ACCESS_KEY: SECRET,
    AWS_REGION: "eu-west-1",
    NERPIPE_REMOTE: `s3://${BUCKET}/${prefix}`,
  };
}

/** Every output of every command, and every file a clone's cache holds. */
const seen: string[] = [];
function keep(result: Cli): Cli {
  seen.push(result.stdout, result.stderr);
  return result;
}

async function withS3(
  name: string,
  body: (endpoint: string, dir: string) => Promise<void>,
): Promise<void> {
  const server = await startS3(BUCKET, KEY_ID, SECRET);
  if (typeof server === "string") {
    console.log(`skipped "${name}": ${server}`);
    return;
  }
  try {
    await body(server.endpoint, server.dir);
  } finally {
    await server.stop();
  }
}

function assertNoCredentials(texts: string[]): void {
  for (const text of texts) {
    assert.ok(!text.includes(SECRET), `the secret appears in:\n${text}`);
    assert.ok(!text.includes(KEY_ID), `the access key id appears in:\n${text}`);
  }
}

async function cacheTexts(dir: string): Promise<string[]> {
  const texts: string[] = [];
  for (const rel of await listFiles(`${dir}/.pipeline`)) {
    texts.push(rel, await Deno.readTextFile(`${dir}/.pipeline/${rel}`).catch(() => ""));
  }
  return texts;
}

Deno.test("s3: clone A runs and pushes, clone B pulls every stage cached with identical outputs; push and pull commands; no credentials anywhere", async () => {
  await withS3("s3 push and pull", async (endpoint) => {
    const env = awsEnv(endpoint, "team/ci");
    const a = await clone();
    const ran = keep(await cli(a, ["run", "pipeline.yaml"], env));
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout + ran.stderr, /4 ran, 0 cached/);
    const b = await clone();
    const pulled = keep(await cli(b, ["run", "pipeline.yaml"], env));
    assert.equal(pulled.code, 0, pulled.stderr);
    const text = pulled.stdout + pulled.stderr;
    assert.match(text, /0 ran, 4 cached/);
    assert.equal(text.split(`(pulled from s3://${BUCKET}/team/ci)`).length - 1, 4, text);
    assert.deepEqual(await tree(`${b}/out/team`), await tree(`${a}/out/team`));
    keep(await cli(b, ["status", "pipeline.yaml"], env));
    keep(await cli(b, ["status", "pipeline.yaml", "--json"], env));
    // push again: everything is there already; pull into a third clone, then run: all local.
    const again = keep(await cli(a, ["push", "pipeline.yaml"], env));
    assert.equal(again.code, 0, again.stderr);
    assert.match(
      again.stdout,
      /4 pushed, 0 missing; 0 objects \(0 B\) uploaded, \d+ already there/,
    );
    const c = await clone();
    const pull = keep(await cli(c, ["pull", "pipeline.yaml"], env));
    assert.equal(pull.code, 0, pull.stderr);
    assert.match(pull.stdout, /4 pulled, 0 already here, 0 missing/);
    const local = keep(await cli(c, ["run", "pipeline.yaml"], env));
    assert.match(local.stdout + local.stderr, /0 ran, 4 cached/);
    assert.ok(!(local.stdout + local.stderr).includes("pulled from"));
    assert.deepEqual(await tree(`${c}/out/team`), await tree(`${a}/out/team`));
    assertNoCredentials([...seen, ...await cacheTexts(a), ...await cacheTexts(b)]);
  });
});

Deno.test("s3: a corrupted remote object is detected and the stage recomputed", async () => {
  await withS3("s3 corrupted object", async (endpoint) => {
    const env = awsEnv(endpoint, "corrupt");
    const a = await clone();
    assert.equal(keep(await cli(a, ["run", "pipeline.yaml"], env)).code, 0);
    const status = JSON.parse((await cli(a, ["status", "pipeline.yaml", "--json"], env)).stdout);
    const key = status.stages.find((s: { id: string }) => s.id === "both").key;
    const record = JSON.parse(await Deno.readTextFile(`${a}/.pipeline/runs/${key}.json`));
    const hash = record.outputs.text.hash as string;
    const client = new S3Client({ bucket: BUCKET, prefix: "corrupt", env: (n) => env[n] });
    await client.put(`objects/${hash.slice(0, 2)}/${hash}`, new TextEncoder().encode("forged"));
    const b = await clone();
    const second = keep(await cli(b, ["run", "pipeline.yaml"], env));
    assert.equal(second.code, 0, second.stderr);
    const text = second.stdout + second.stderr;
    assert.match(text, /damaged entry for both: object [0-9a-f]{12}… is damaged/);
    assert.match(text, /1 ran, 3 cached/);
    assert.deepEqual(await tree(`${b}/out/team`), await tree(`${a}/out/team`));
    const fixed = await client.get(`objects/${hash.slice(0, 2)}/${hash}`, 1 << 20);
    assert.equal(await sha256(fixed!), hash);
    assertNoCredentials(seen);
  });
});

Deno.test("s3: two clones pushing the same keys at once leave the remote consistent", async () => {
  await withS3("s3 concurrent push", async (endpoint) => {
    const env = awsEnv(endpoint, "race");
    const [a1, a2] = [await clone(), await clone()];
    const both = await Promise.all([
      cli(a1, ["run", "pipeline.yaml"], env),
      cli(a2, ["run", "pipeline.yaml"], env),
    ]);
    for (const r of both) assert.equal(keep(r).code, 0, r.stderr);
    // Every record is readable, and every object it names is there and whole.
    const client = new S3Client({ bucket: BUCKET, prefix: "race", env: (n) => env[n] });
    const status = JSON.parse((await cli(a1, ["status", "pipeline.yaml", "--json"], env)).stdout);
    for (const { key } of status.stages as { key: string }[]) {
      const record = JSON.parse(
        new TextDecoder().decode((await client.get(`runs/${key}.json`, 1 << 20))!),
      );
      assert.equal(record.key, key);
      for (const out of Object.values(record.outputs) as { hash: string; kind: string }[]) {
        const name = `objects/${out.hash.slice(0, 2)}/${out.hash}`;
        if (out.kind === "file") {
          assert.equal(await sha256((await client.get(name, 1 << 20))!), out.hash);
        } else {
          const listing = JSON.parse(
            new TextDecoder().decode((await client.get(`${name}.d.json`, 1 << 20))!),
          );
          for (const h of Object.values(listing.files) as string[]) {
            assert.equal(
              await sha256((await client.get(`objects/${h.slice(0, 2)}/${h}`, 1 << 20))!),
              h,
            );
          }
        }
      }
    }
    const b = await clone();
    const pulled = keep(await cli(b, ["run", "pipeline.yaml"], env));
    assert.match(pulled.stdout + pulled.stderr, /0 ran, 4 cached/);
    assertNoCredentials(seen);
  });
});

Deno.test("s3: a remote that is down or refuses falls back with one warning; --require-remote exits 2", async () => {
  await withS3("s3 down", async (endpoint) => {
    // Refused: an access key the server does not know (403 InvalidAccessKeyId).
    const refused = { ...awsEnv(endpoint, "down"), AWS_ACCESS_KEY_ID: "AKIAUNKNOWNKEY000000" };
    const a = await clone();
    const first = keep(await cli(a, ["run", "pipeline.yaml"], refused));
    assert.equal(first.code, 0, first.stderr);
    const text = first.stdout + first.stderr;
    assert.match(text, /4 ran, 0 cached/);
    const warnings = text.split("\n").filter((l) => l.startsWith("warning:"));
    assert.equal(warnings.length, 1, text);
    assert.match(warnings[0]!, /refused to .* \(403 InvalidAccessKeyId\)/);
    assert.ok(!text.includes("AKIAUNKNOWNKEY000000"));
  });
  // Down: nothing listens where the remote was.
  const server = await startS3(BUCKET, KEY_ID, SECRET);
  if (typeof server === "string") return console.log(`skipped "s3 down": ${server}`);
  const endpoint = server.endpoint;
  await server.stop();
  const env = awsEnv(endpoint, "down");
  const a = await clone();
  const down = keep(await cli(a, ["run", "pipeline.yaml"], env));
  assert.equal(down.code, 0, down.stderr);
  const text = down.stdout + down.stderr;
  assert.match(text, /4 ran, 0 cached/);
  const warnings = text.split("\n").filter((l) => l.startsWith("warning:"));
  assert.equal(warnings.length, 1, text);
  assert.match(warnings[0]!, /cannot be reached \(connection refused\)/);
  // The no-op rerun does not contact it, even required.
  const noop = keep(await cli(a, ["run", "pipeline.yaml", "--require-remote"], env));
  assert.equal(noop.code, 0, noop.stderr);
  const b = await clone();
  const strict = keep(await cli(b, ["run", "pipeline.yaml", "--require-remote"], env));
  assert.equal(strict.code, 2, strict.stdout + strict.stderr);
  assert.match(
    strict.stderr,
    /^error: stage "hello" failed: The remote cache s3:\/\/nerpipe-test\/down cannot be used: .*cannot be reached .*--require-remote/m,
  );
  const pull = keep(await cli(b, ["pull", "pipeline.yaml"], env));
  assert.equal(pull.code, 2);
  assert.match(pull.stderr, /^error: The remote cache .* and pull needs it/m);
  assertNoCredentials(seen);
});
