/**
 * Benchmark: training throughput of the real `train` code (trainTokenClassifier: forward,
 * backward, clipping, AdamW) for a model size, batch and sequence length, on every available
 * backend, optionally against the committed PyTorch reference (bench/reference_pytorch.py).
 *
 * ```
 * deno run -A bench/train_throughput.ts [--layers 2] [--hidden 128] [--heads 2]
 *   [--intermediate 512] [--batch 32] [--seq 128] [--steps 8] [--warmup 2]
 *   [--backends wasm,webgpu,tensorflow,cpu] [--workers N|auto] [--seconds 120] [--reference]
 *   [--reference-device cpu|cuda] [--profile] [--json]
 * ```
 *
 * `--profile` then runs two more steps on each backend under `tf.profile` and prints the time
 * of each kernel per step (on WebGPU from GPU timestamp queries, where the adapter has them).
 *
 * Flags follow the engine's rules (runner/args.ts): a flag given twice takes its last value.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs-core";
import { type BackendName, setupBackend } from "../ner/bert/backend.ts";
import { makeBertConfig } from "../ner/bert/config.ts";
import { type Batch, trainTokenClassifier } from "../ner/bert/trainer.ts";
import { benchArgs } from "./_args.ts";

const { values: flags } = benchArgs({
  layers: { type: "string" },
  hidden: { type: "string" },
  heads: { type: "string" },
  intermediate: { type: "string" },
  batch: { type: "string" },
  seq: { type: "string" },
  steps: { type: "string" },
  warmup: { type: "string" },
  seconds: { type: "string" },
  workers: { type: "string" },
  backends: { type: "string" },
  reference: { type: "boolean" },
  "reference-device": { type: "string" },
  profile: { type: "boolean" },
  json: { type: "boolean" },
});

function flag(name: keyof typeof flags, fallback: number): number {
  const value = flags[name];
  return typeof value === "string" ? Number(value) : fallback;
}

const config = {
  layers: flag("layers", 2),
  hidden: flag("hidden", 128),
  heads: flag("heads", 2),
  intermediate: flag("intermediate", 512),
  batch: flag("batch", 32),
  seq: flag("seq", 128),
  steps: flag("steps", 8),
  warmup: flag("warmup", 2),
  vocab: 8000,
  labels: 13,
};
const budget = flag("seconds", 120);
const workers: number | "auto" = flags.workers !== undefined ? Number(flags.workers) : "auto";
const json = flags.json ?? false;
const referenceDevice = flags["reference-device"] ?? "cpu";
if (referenceDevice !== "cpu" && referenceDevice !== "cuda") {
  console.error(`error: Unknown reference device "${referenceDevice}": expected "cpu" or "cuda"`);
  Deno.exit(2);
}
const backends =
  (flags.backends ? flags.backends.split(",") : ["wasm", "webgpu", "tensorflow"]) as BackendName[];
if (flags.backends === undefined && !json) {
  console.log(
    "cpu: left out by default (the pure JavaScript backend takes minutes per step at this size); " +
      "--backends cpu measures it",
  );
}

function batches(n: number): Batch[] {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const size = config.batch * config.seq;
  return Array.from({ length: n }, () => {
    const ids = new Int32Array(size);
    const labels = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      ids[i] = 1 + Math.floor(rand() * (config.vocab - 1));
      labels[i] = ids[i]! % config.labels;
    }
    return {
      ids,
      mask: new Int32Array(size).fill(1),
      labels,
      batchSize: config.batch,
      seqLen: config.seq,
    };
  });
}

/** One kernel's share of a profiled step. */
interface KernelTime {
  kernel: string;
  /** Calls per step. */
  calls: number;
  /** Milliseconds per step (0 where the backend cannot time kernels). */
  ms: number;
}

interface Result {
  backend: string;
  ms_per_step: number | null;
  tokens_per_s: number | null;
  profile?: KernelTime[];
  steps_timed?: number;
  note?: string;
}

/** The bench's model and optimiser settings, without batches. */
function trainOptions() {
  return {
    config: makeBertConfig(config.vocab, {
      num_hidden_layers: config.layers,
      hidden_size: config.hidden,
      num_attention_heads: config.heads,
      intermediate_size: config.intermediate,
      max_position_embeddings: Math.max(512, config.seq),
    }),
    numLabels: config.labels,
    epochs: 1,
    learningRate: 5e-4,
    weightDecay: 0.01,
    warmupRatio: 0.1,
    maxGradNorm: 1,
    seed: 1,
    workers,
  };
}

async function measure(name: BackendName): Promise<Result> {
  let chosen: string;
  try {
    chosen = (await setupBackend(name)).backend;
  } catch (error) {
    return {
      backend: name,
      ms_per_step: null,
      tokens_per_s: null,
      note: (error as Error).message.split(":")[0] ?? "unavailable",
    };
  }
  const times: number[] = [];
  const controller = new AbortController();
  const started = performance.now();
  // The pure JS backend takes minutes per step at the default size: time one step, no warm-up.
  const slow = chosen === "cpu";
  const warmup = slow ? 0 : config.warmup;
  const total = slow ? 1 : config.warmup + config.steps;
  try {
    await trainTokenClassifier({
      ...trainOptions(),
      train: batches(total),
      signal: controller.signal,
      onStep(step) {
        const now = performance.now();
        // The trainer reports a step once the next one has started (it reads the numbers
        // while the next one runs), and gives the step's own duration as tokens per second
        // over the time from its start to the next one's (to now, for the last step). Gaps
        // between reports would put two steps in the first gap and almost none in the last.
        times.push((config.batch * config.seq) / step.tokensPerS * 1000);
        // Past the time budget, keep what was measured (at least one step after warm-up).
        if ((now - started) / 1000 > budget && times.length > Math.min(warmup, 1)) {
          controller.abort(new Error("time budget"));
        }
      },
    });
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  const warm = times.length > warmup ? times.slice(warmup) : times.slice(-1);
  const sorted = [...warm].sort((a, b) => a - b);
  const ms = sorted[Math.floor(sorted.length / 2)]!;
  const out: Result = {
    backend: chosen,
    ms_per_step: Math.round(ms * 10) / 10,
    tokens_per_s: Math.round((config.batch * config.seq) / (ms / 1000)),
    steps_timed: warm.length,
  };
  if (slow) out.note = "one step, no warm-up";
  else if (times.length <= warmup) out.note = `stopped by the ${budget} s budget during warm-up`;
  return out;
}

/** Kernel times of two more training steps on the active backend, per step, largest first. */
async function profileSteps(): Promise<KernelTime[]> {
  const steps = 2;
  const info = await tf.profile(async () => {
    await trainTokenClassifier({ ...trainOptions(), train: batches(steps) });
  });
  const byName = new Map<string, KernelTime>();
  for (const k of info.kernels) {
    // Op wrappers (`name__op`) contain kernels that are listed on their own.
    if (k.name.endsWith("__op")) continue;
    const entry = byName.get(k.name) ?? { kernel: k.name, calls: 0, ms: 0 };
    entry.calls += 1 / steps;
    entry.ms += (Number(k.kernelTimeMs) || 0) / steps;
    byName.set(k.name, entry);
  }
  return [...byName.values()]
    .map((e) => ({ ...e, calls: Math.round(e.calls), ms: Math.round(e.ms * 100) / 100 }))
    .sort((a, b) => b.ms - a.ms || b.calls - a.calls);
}

const profile = flags.profile ?? false;
const results: Result[] = [];
for (const name of backends) {
  const r = await measure(name);
  if (profile && r.ms_per_step !== null) r.profile = await profileSteps();
  results.push(r);
  if (!json) {
    console.log(
      r.ms_per_step === null
        ? `${name}: unavailable (${r.note})`
        : `${r.backend}: ${r.ms_per_step} ms/step, ${r.tokens_per_s} tokens/s` +
          ` (median of ${r.steps_timed})${r.note ? `; ${r.note}` : ""}`,
    );
    if (r.profile) {
      const total = r.profile.reduce((a, k) => a + k.ms, 0);
      const calls = r.profile.reduce((a, k) => a + k.calls, 0);
      console.log(
        `  profile: ${calls} kernel calls and ${total.toFixed(1)} ms of kernel time per step`,
      );
      for (const k of r.profile.slice(0, 12)) {
        const share = total > 0 ? ` (${((100 * k.ms) / total).toFixed(1)}%)` : "";
        console.log(
          `  ${k.kernel.padEnd(22)} ${String(k.calls).padStart(5)} calls ${
            k.ms.toFixed(2).padStart(9)
          } ms${share}`,
        );
      }
    }
  }
}

/** What bench/reference_pytorch.py prints (device_name and the matmul fields on cuda only). */
interface Reference {
  ms_per_step: number;
  tokens_per_s: number;
  device: string;
  device_name?: string;
  fp32_matmul_precision?: string;
  tf32_matmul?: boolean;
  /** On cpu: the OPENBLAS_NUM_THREADS of the faster run ("default": unset). */
  openblas_threads?: string;
}
let reference: Reference | null = null;
if (flags.reference) {
  const script = new URL("./reference_pytorch.py", import.meta.url).pathname;
  const args = [
    script,
    "--layers",
    config.layers,
    "--hidden",
    config.hidden,
    "--heads",
    config.heads,
    "--intermediate",
    config.intermediate,
    "--batch",
    config.batch,
    "--seq",
    config.seq,
    "--steps",
    config.steps,
    "--warmup",
    config.warmup,
    "--vocab",
    config.vocab,
    "--labels",
    config.labels,
    "--device",
    referenceDevice,
  ].map(String);
  // Debian's python3-torch lives beside /usr/bin/python3, which may not be the first python3.
  const pythons = [Deno.env.get("PYTHON"), "python3", "/usr/bin/python3"].filter(Boolean);
  const problems: string[] = [];
  // PyTorch's speed here depends on OpenBLAS's own threads next to its intra-op threads: on
  // 2 cores it ran 1.8x faster with OPENBLAS_NUM_THREADS=1 than with the library's default. Both
  // run, and the faster is the reference. (This process sets the variable for its own
  // OpenBLAS, so the default run has it removed.)
  const blasSettings = referenceDevice === "cpu" ? [undefined, "1"] : [undefined];
  const runReference = async (python: string, blasThreads: string | undefined) => {
    const env = Deno.env.toObject();
    delete env.OPENBLAS_NUM_THREADS;
    if (blasThreads) env.OPENBLAS_NUM_THREADS = blasThreads;
    const out = await new Deno.Command(python, {
      args,
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env,
    }).output();
    if (out.code !== 0) {
      throw new Error(new TextDecoder().decode(out.stderr).trim().split("\n").pop());
    }
    return {
      ...JSON.parse(new TextDecoder().decode(out.stdout)),
      device: referenceDevice,
      ...(referenceDevice === "cpu" ? { openblas_threads: blasThreads ?? "default" } : {}),
    } as Reference;
  };
  for (const python of pythons as string[]) {
    try {
      for (const setting of blasSettings) {
        const r = await runReference(python, setting);
        if (!reference || r.ms_per_step < reference.ms_per_step) reference = r;
      }
      break;
    } catch (error) {
      problems.push(`${python}: ${(error as Error).message}`);
    }
  }
  if (!reference) {
    console.error(
      `reference: PyTorch not available (${problems.join("; ")}): ` +
        (referenceDevice === "cuda"
          ? "it needs PyTorch built with CUDA and an NVIDIA GPU"
          : "apt-get install python3-torch libopenblas0-pthread"),
    );
  }
}
const best = Math.max(...results.map((r) => r.tokens_per_s ?? 0));
const ratio = reference && best ? Math.round((best / reference.tokens_per_s) * 1000) / 1000 : null;
if (json) {
  console.log(JSON.stringify({ config, results, reference, ratio }));
} else if (reference) {
  const where = reference.device_name
    ? `${reference.device}, ${reference.device_name}, TF32 ${reference.tf32_matmul ? "on" : "off"}`
    : `${reference.device}, OPENBLAS_NUM_THREADS ${reference.openblas_threads}, the faster of two`;
  console.log(
    `PyTorch (${where}): ${reference.ms_per_step} ms/step, ${reference.tokens_per_s} tokens/s`,
  );
  console.log(`best ours / PyTorch: ${ratio}x`);
}
Deno.exit(0);
