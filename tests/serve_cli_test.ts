/**
 * `deno task serve` as a user runs it (issue 26): the line it prints, a graceful stop on
 * SIGTERM, what it refuses to start with (exit 2, `error: …`), and the model of a pipeline or of
 * a recorded run.
 *
 * @module
 */

import assert from "node:assert/strict";
import { defaultWorkers } from "../serve/command.ts";
import { runServe, startServe } from "./_serve.ts";
import { tinyProject } from "./_tiny_ner_project.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MODEL = `${ROOT}tests/testdata/sample_tiny`;
const opts = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name:
    "serve: --port 0 prints the address it listens on; SIGTERM stops new requests, answers those in flight and exits 0",
  ...opts,
  async fn() {
    const served = await startServe([MODEL]);
    assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(served.stdout, /^model .*sample_tiny$/m);
    assert.match(served.stdout, /^backend \w+ \(/m);
    // The sample's model is light: a worker per core (at most 4).
    const cores = Math.min(4, navigator.hardwareConcurrency || 1);
    assert.match(
      served.stdout,
      new RegExp(`^workers ${cores} \\(--workers to choose\\), each`, "m"),
    );
    const health = await (await fetch(new URL("health", served.url))).json();
    assert.equal(health.ready, true);
    // Requests that take a while: 4 of 60 texts of 15,000 characters.
    const texts = Array.from(
      { length: 60 },
      (_, i) => `Leo Smith ${i} flew to Lagos. `.repeat(500),
    );
    const answered: number[] = [];
    const inFlight = Array.from({ length: 4 }, () =>
      fetch(new URL("predict", served.url), {
        method: "POST",
        body: JSON.stringify({ inputs: texts }),
      }).then(async (r) => {
        const entities = await r.json();
        answered.push(performance.now());
        return { status: r.status, entities };
      }));
    // All four are queued and a batch has run (the server answers between batches).
    while (answered.length === 0) {
      const { queue } = await (await fetch(new URL("health", served.url))).json();
      if (queue.requests === 4 && queue.batches > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const signalled = performance.now();
    const stopping = served.stop("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    // No new connection is taken once it is stopping.
    await assert.rejects(fetch(new URL("health", served.url)).then((r) => r.text()));
    for (const { status, entities } of await Promise.all(inFlight)) {
      assert.equal(status, 200);
      assert.equal(entities.length, 60);
      assert.ok(entities.every((e: unknown[]) => e.length > 0));
    }
    assert.ok(
      answered.some((t) => t > signalled),
      "a request was still in flight when the signal came",
    );
    const { code, stderr } = await stopping;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /^stopping: no new requests; answering those in flight/m);
    assert.match(stderr, /^stopped$/m);
  },
});

Deno.test({
  name:
    "serve: what it cannot start with is exit 2 with one error line: another address without a token, a short token, a port in use, a bad port, no model",
  ...opts,
  async fn() {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [
        [MODEL, "--host", "0.0.0.0"],
        {},
        /^error: Listening on "0\.0\.0\.0" lets other machines in: give a token with --token or NERPIPE_SERVE_TOKEN \(every request must then carry "Authorization: Bearer <token>"\), or listen on 127\.0\.0\.1$/,
      ],
      [
        [MODEL, "--token", "short"],
        {},
        /^error: The --token is 5 characters long, under 16: use at least 16 printable ASCII characters without spaces, such as the output of "openssl rand -hex 32"$/,
      ],
      [
        [MODEL],
        { NERPIPE_SERVE_TOKEN: "short" },
        /^error: environment: NERPIPE_SERVE_TOKEN: The value is 5 characters long, under 16: expected at least 16/,
      ],
      [
        [MODEL, "--port", "70000"],
        {},
        /^error: Invalid --port "70000": expected a number from 0 to 65535 \(0: any\)$/,
      ],
      [
        [MODEL, "--port", "-1"],
        {},
        /^error: Invalid --port "-1"|^error: Flag --port needs a value/,
      ],
      [
        [MODEL, "--workers", "0"],
        {},
        /^error: Invalid --workers "0": expected a number from 1 to 64 \(each holds a copy of the model\)$/,
      ],
      [
        [`${ROOT}nowhere`],
        {},
        /^error: "\/.*nowhere" does not exist: give a model directory or a pipeline file$/,
      ],
      [
        [MODEL, "--run", "last"],
        {},
        /^error: --run names a run of a pipeline: give the pipeline file instead of "/,
      ],
      [
        [MODEL, "--aggregation", "none"],
        {},
        /^error: Unknown aggregation "none": expected one of "exact", "simple"/,
      ],
      [[], {}, /^error: Missing model directory or pipeline file\nusage:/],
    ];
    for (const [args, env, message] of cases) {
      const out = await runServe(args, env);
      assert.equal(out.code, 2, `${args.join(" ")}: ${out.stderr}`);
      assert.match(out.stderr.trimEnd(), message, args.join(" "));
      assert.doesNotMatch(out.stderr, /^\s+at /m, "no stack");
    }
    // A port in use (by another server) is named, with the way out.
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const port = (listener.addr as Deno.NetAddr).port;
      const out = await runServe([MODEL, "--port", String(port)]);
      assert.equal(out.code, 2, out.stderr);
      assert.match(
        out.stderr,
        new RegExp(
          `^error: The port ${port} of "127\\.0\\.0\\.1" is in use: choose another with --port, or --port 0 for a free one$`,
          "m",
        ),
      );
    } finally {
      listener.close();
    }
    const help = await runServe(["--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage:\n {2}serve <pipeline\.yaml \| model dir>/);
  },
});

Deno.test({
  name: "serve: a token from NERPIPE_SERVE_TOKEN guards a loopback server too",
  ...opts,
  async fn() {
    const token = "0123456789abcdef0123";
    const served = await startServe([MODEL], { NERPIPE_SERVE_TOKEN: token });
    try {
      assert.match(served.stdout, /\(token required\)$/m);
      const body = JSON.stringify({ inputs: "Leo Smith flew to Lagos." });
      const without = await fetch(new URL("predict", served.url), { method: "POST", body });
      assert.equal(without.status, 401);
      await without.body?.cancel();
      const withToken = await fetch(new URL("predict", served.url), {
        method: "POST",
        body,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(withToken.status, 200);
      assert.deepEqual((await withToken.json()).map((e: { word: string }) => e.word), [
        "Leo Smith",
        "Lagos",
      ]);
    } finally {
      assert.equal((await served.stop()).code, 0);
    }
  },
});

Deno.test({
  name:
    "serve: a pipeline file serves the model of its parameters; --run last and --run <prefix> the model of a recorded run",
  ...opts,
  async fn() {
    const dir = await tinyProject({ epochs: 2 });
    const file = `${dir}/pipeline.yaml`;
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["task", "--quiet", "--config", `${ROOT}deno.json`, "run", file, ...args],
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    };
    const metadata = async (args: string[]) => {
      const served = await startServe(args);
      try {
        return await (await fetch(new URL("metadata", served.url))).json();
      } finally {
        assert.equal((await served.stop()).code, 0);
      }
    };
    try {
      const untrained = await runServe([file]);
      assert.equal(untrained.code, 2);
      assert.match(
        untrained.stderr,
        /^error: No trained model at ".*": run the pipeline first: deno task run /m,
      );
      await run();
      await run("--set", "stages.train.with.seed=8");
      const history = await Array.fromAsync(Deno.readDir(`${dir}/.pipeline/history/tiny`));
      const runs = history.map((e) =>
        JSON.parse(Deno.readTextFileSync(`${dir}/.pipeline/history/tiny/${e.name}`))
      );
      assert.equal(runs.length, 2);
      const [first, second] = runs.sort((a, b) => a.last_seen.localeCompare(b.last_seen));
      const trainKey = (r: { stages: { id: string; key: string }[] }) =>
        r.stages.find((s) => s.id === "train")!.key;
      assert.notEqual(trainKey(first), trainKey(second));

      const asIs = await metadata([file]);
      assert.deepEqual(asIs.pipeline, { file, stage: "train", key: trainKey(first) });
      assert.equal(asIs.model, `${file} (stage train)`);
      const last = await metadata([file, "--run", "last"]);
      assert.deepEqual(last.pipeline, {
        file,
        stage: "train",
        key: trainKey(second),
        run: second.id,
      });
      const byPrefix = await metadata([file, "--run", first.id.slice(0, 8)]);
      assert.equal(byPrefix.pipeline.key, trainKey(first));
      const none = await runServe([file, "--run", "ffffffff"]);
      assert.equal(none.code, 2);
      assert.match(
        none.stderr,
        /^error: No run "ffffffff" in the history: deno task runs lists them$/m,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("serve: a worker per core (at most 4) for a light model, one with every core for a heavy one", () => {
  const sample = { num_hidden_layers: 2, hidden_size: 128, intermediate_size: 512 };
  const base = { num_hidden_layers: 12, hidden_size: 768, intermediate_size: 3072 };
  assert.equal(defaultWorkers(sample, 2), 2);
  assert.equal(defaultWorkers(sample, 16), 4);
  assert.equal(defaultWorkers(sample, 1), 1);
  assert.equal(defaultWorkers(base, 16), 1);
});
