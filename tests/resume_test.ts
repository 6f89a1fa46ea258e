/**
 * Resuming a killed training run (issue 12, "Resume"): `train` writes checkpoints into
 * `.pipeline/checkpoints/<key>/`; a run killed with SIGKILL at a random checkpoint and run again
 * resumes there and ends with the same model.safetensors, byte for byte, as a run that was never
 * interrupted, on cpu and on wasm with two worker replicas. Checkpoints are removed after
 * success (or the newest kept with keep_checkpoints), and a checkpoint that is damaged or of
 * another run is never resumed from.
 */
import assert from "node:assert/strict";
import { setupBackend } from "../ner/bert/backend.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import { type Batch, trainTokenClassifier } from "../ner/bert/trainer.ts";
import { listCheckpoints } from "../ner/bert/_train_state.ts";
import { Rng } from "../ner/bert/_random.ts";
import { runBuiltinPipeline } from "./_engine_helpers.ts";
import { tinyProject } from "./_tiny_ner_project.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const CHILD = new URL("./_resume_child.ts", import.meta.url).pathname;

function child(dir: string) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, dir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
}

async function finish(dir: string): Promise<string> {
  const out = await child(dir).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, text);
  assert.match(text, /"train":"ran"/, text);
  return text;
}

/** Every checkpoint directory under the project's cache (any key). */
async function checkpointSteps(dir: string): Promise<number[]> {
  const steps: number[] = [];
  try {
    for await (const key of Deno.readDir(`${dir}/cache/checkpoints`)) {
      for (const c of await listCheckpoints(`${dir}/cache/checkpoints/${key.name}`)) {
        steps.push(c.step);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return steps;
}

/** Runs the project until a checkpoint at step `at` or later exists, then SIGKILLs it. */
async function killAtCheckpoint(dir: string, at: number): Promise<void> {
  const proc = child(dir);
  const output = proc.output();
  const until = Date.now() + 60_000;
  let seen: number[] = [];
  while (Date.now() < until) {
    seen = await checkpointSteps(dir);
    if (seen.some((s) => s >= at)) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  try {
    proc.kill("SIGKILL");
  } catch { /* already gone */ }
  const out = await output;
  assert.notEqual(out.code, 0, "the run ended before it was killed");
  assert.ok(seen.some((s) => s >= at), `no checkpoint at step ${at} or later: ${seen}`);
}

const MODEL = "out/tiny/train/model/model.safetensors";

for (
  const { backend, workers, seed } of [
    { backend: "cpu", workers: 1, seed: 1 },
    { backend: "wasm", workers: 2, seed: 2 },
  ]
) {
  Deno.test({
    name: `train killed with SIGKILL at a random checkpoint resumes and ends with the same ` +
      `weights, byte for byte (${backend}, workers ${workers})`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const params = { backend, workers };
      const whole = await tinyProject(params);
      const killed = await tinyProject(params);
      try {
        await finish(whole);
        // 48 sentences in batches of 4: 12 steps an epoch, 36 in all, a checkpoint every 2.
        const at = 2 * (1 + Math.floor(new Rng(seed).next() * 15));
        await killAtCheckpoint(killed, at);
        const text = await finish(killed);
        assert.match(text, /\[train\] resumed at epoch \d+ step \d+/, text);
        const [step] = text.match(/resumed at epoch \d+ step (\d+)/)!.slice(1).map(Number);
        assert.ok(step! >= at && step! < 36, text);
        assert.deepEqual(
          await Deno.readFile(`${killed}/${MODEL}`),
          await Deno.readFile(`${whole}/${MODEL}`),
        );
        // The log holds every step once, as the uninterrupted run's does.
        const steps = (await Deno.readTextFile(`${killed}/out/tiny/train/log.jsonl`)).trim()
          .split("\n").map((l) => JSON.parse(l)).filter((l) => typeof l.step === "number")
          .map((l) => l.step);
        assert.deepEqual(steps, Array.from({ length: 36 }, (_, i) => i + 1));
        // After success the checkpoints are gone.
        assert.deepEqual(await checkpointSteps(killed), []);
        assert.deepEqual([...Deno.readDirSync(`${killed}/cache/checkpoints`)], []);
      } finally {
        await Deno.remove(whole, { recursive: true });
        await Deno.remove(killed, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "keep_checkpoints: 1 keeps the newest checkpoint in kept/ after success",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tinyProject({ backend: "cpu", workers: 1, epochs: 1, keep_checkpoints: 1 });
    try {
      const summary = await runBuiltinPipeline(`${dir}/pipeline.yaml`, dir);
      assert.equal(summary.byId.train, "ran", JSON.stringify(summary.stages));
      const keys = [...Deno.readDirSync(`${dir}/cache/checkpoints`)].map((e) => e.name);
      assert.equal(keys.length, 1);
      const base = `${dir}/cache/checkpoints/${keys[0]}`;
      assert.deepEqual([...Deno.readDirSync(base)].map((e) => e.name), ["kept"]);
      assert.deepEqual((await listCheckpoints(`${base}/kept`)).map((c) => c.step), [12]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// The trainer directly: what it refuses to resume from.

function batches(): Batch[] {
  const rng = new Rng(3);
  return Array.from({ length: 4 }, () => {
    const ids = Int32Array.from({ length: 12 }, () => 2 + Math.floor(rng.next() * 28));
    return {
      ids,
      mask: new Int32Array(12).fill(1),
      labels: ids.map((id) => id % 3),
      batchSize: 2,
      seqLen: 6,
    };
  });
}

const BASE = {
  config: makeBertConfig(30, {
    hidden_size: 16,
    num_attention_heads: 2,
    intermediate_size: 32,
    num_hidden_layers: 1,
    max_position_embeddings: 16,
  }),
  numLabels: 3,
  epochs: 2,
  learningRate: 1e-2,
  weightDecay: 0.01,
  warmupRatio: 0.1,
  maxGradNorm: 1,
  seed: 5,
  workers: 1,
};

/** Trains with checkpoints every 2 steps in `dir`, aborting after step `stop`. */
async function interrupted(dir: string, stop: number, opts: Partial<typeof BASE> = {}) {
  const ac = new AbortController();
  await assert.rejects(
    trainTokenClassifier({
      ...BASE,
      ...opts,
      train: batches(),
      signal: ac.signal,
      checkpoint: { dir, everySteps: 2 },
      onStep: (s) => s.step === stop && ac.abort(),
    }),
    { name: "AbortError" },
  );
}

Deno.test("a damaged newest checkpoint is skipped for the one before it", async () => {
  await setupBackend("cpu");
  const dir = await Deno.makeTempDir();
  try {
    await interrupted(dir, 5);
    const [newest, older] = await listCheckpoints(dir);
    assert.deepEqual([newest!.step, older!.step], [4, 2]);
    const file = `${newest!.path}/optimizer.safetensors`;
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    await Deno.writeFile(file, bytes);
    const skipped: string[] = [];
    let resumedAt = -1;
    await trainTokenClassifier({
      ...BASE,
      train: batches(),
      checkpoint: {
        dir,
        everySteps: 2,
        onSkip: (path, reason) => skipped.push(`${path}: ${reason}`),
        onResume: (r) => void (resumedAt = r.step),
      },
    });
    assert.equal(resumedAt, 2);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /step-0000000004: optimizer\.safetensors does not match its hash/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a checkpoint of another run (other hyper-parameters) is not resumed from", async () => {
  await setupBackend("cpu");
  const dir = await Deno.makeTempDir();
  try {
    await interrupted(dir, 3);
    const skipped: string[] = [];
    let resumed = false;
    const result = await trainTokenClassifier({
      ...BASE,
      learningRate: 2e-2,
      train: batches(),
      checkpoint: {
        dir,
        everySteps: 2,
        onSkip: (_, reason) => skipped.push(reason),
        onResume: () => void (resumed = true),
      },
    });
    assert.equal(resumed, false);
    assert.equal(result.resumed, undefined);
    assert.match(skipped[0]!, /another run/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
