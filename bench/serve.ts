/**
 * `deno task bench --serve`: throughput and latency of `deno task serve` under 1, 8 and 32
 * concurrent clients on the loopback, for the sample model and a BERT-base-sized one (12
 * layers, hidden 768, 12 heads, intermediate 3072; random weights, the sample's tokenizer and
 * labels), against the same weights run by PyTorch in a plain loop (bench/
 * reference_serve_pytorch.py: batch 1 and batch 32) in the same run, as a ratio.
 *
 * Each client sends one validation sentence of the sample per request (500, in turn) and waits
 * for the answer before the next, on its own kept-alive connection (bench/_http1.ts, a lean
 * HTTP/1.1 client: `fetch` would take as much of the shared cores as the server's own HTTP work);
 * a level runs half a second unmeasured (the server forgets the last level's clients), then
 * `--seconds`. PyTorch gets the same texts as our tokenizer's piece ids and runs the forward pass
 * and the softmax only (no tokenizing, decoding or HTTP), under the faster of two OpenBLAS
 * settings (its default threads, and 1). The clients share the machine's cores with the server,
 * as they would on one machine.
 *
 * A shared machine's speed drifts by tens of percent within a minute, so the two are measured in
 * turns: `--rounds` rounds, each our levels then PyTorch's batch 1 and batch 32 (its process
 * loaded once, waiting between turns; our server idle during PyTorch's). Each figure is the median
 * over the rounds; the ratio to PyTorch is the median of each round's own ratio, with its range.
 * Goals (issue 26): at 32 clients, at least PyTorch's batch-32 throughput; at 8 clients, p99
 * under twice p50.
 *
 * The sample model's levels run a second time, in the same rounds, against a stand-in: the same
 * command and server whose workers take, for every batch, exactly the model's own median time
 * for its number of texts (measured here first, alone on one thread: `a + b n` from batches of 1
 * and 4) and find no entity (bench/_standin_serve.ts). Its tail is what the server, the clients
 * and the machine make of a model with these times that never varies.
 *
 *     deno task bench --serve [<model dir | pipeline.yaml>] [--seconds 3] [--rounds 3]
 *       [--clients 1,8,32] [--only sample|base] [--json]
 *
 * The model is that of pipelines/ner.yaml as it is (`deno task run pipelines/ner.yaml` first).
 *
 * @module
 */

import { benchArgs } from "./_args.ts";
import { findModel } from "../predict_model.ts";
import { loadModelDir, saveModelDir } from "../ner/bert/checkpoint.ts";
import { initWeights } from "../ner/bert/init.ts";
import { startServe } from "../tests/_serve.ts";
import { Http1Connection } from "./_http1.ts";
import { textLines } from "../ner/predict/stream.ts";

const USAGE = `usage: deno task bench --serve [<model dir | pipeline.yaml>] [--seconds 3]
         [--rounds 3] [--clients 1,8,32] [--only sample|base] [--json]`;
const { values, positionals } = benchArgs({
  seconds: { type: "string" },
  rounds: { type: "string" },
  clients: { type: "string" },
  only: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
}, { usage: USAGE });
const fail = (message: string): never => {
  console.error(`error: ${message}\n${USAGE}`);
  Deno.exit(2);
};
const seconds = Number(values.seconds ?? 3);
if (!(seconds > 0 && seconds <= 600)) fail(`Invalid --seconds "${values.seconds}": 0 to 600`);
const rounds = Number(values.rounds ?? 3);
if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 50)) {
  fail(`Invalid --rounds "${values.rounds}": a whole number from 1 to 50`);
}
const levels = (values.clients ?? "1,8,32").split(",").map(Number);
if (!levels.every((n) => Number.isInteger(n) && n >= 1 && n <= 256)) {
  fail(`Invalid --clients "${values.clients}": numbers from 1 to 256, comma-separated`);
}
if (values.only !== undefined && !["sample", "base"].includes(values.only)) {
  fail(`Unknown --only "${values.only}": expected "sample" or "base"`);
}
const target = positionals[0] ?? "pipelines/ner.yaml";
let sampleDir: string;
try {
  sampleDir = (await findModel(target)).dir;
} catch (error) {
  fail((error as Error).message);
}
const load = () => Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");

/** The sample's validation sentences: what each client sends, one per request. */
const TEXTS = (await Deno.readTextFile(new URL("../data/sample/validation.txt", import.meta.url)))
  .split("\n").filter((l) => l.startsWith("; ")).map((l) => l.slice(2));

/** A BERT-base-sized model with random weights, the sample's tokenizer, labels and rules. */
async function baseModel(dir: string): Promise<string> {
  const sample = await loadModelDir(sampleDir, { complete: true });
  const config = {
    ...sample.config,
    hidden_size: 768,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    intermediate_size: 3072,
    max_position_embeddings: 512,
  };
  const weights = initWeights(config, sample.labels.length, 1);
  await saveModelDir(dir, config, sample.labels, weights, sampleDir, {
    labelAllTokens: sample.labelAllTokens ?? false,
  });
  const json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const rules = JSON.parse(await Deno.readTextFile(`${sampleDir}/config.json`)).span_boundaries;
  if (rules) json.span_boundaries = rules;
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json, null, 2));
  return dir;
}

/** Seconds each level runs before it is measured: the server forgets the last level's clients. */
const WARM_S = 0.5;

/**
 * One level: `clients` loops of request and answer on their own kept-alive connections,
 * {@link WARM_S} not counted, then `seconds` measured.
 */
async function level(url: string, clients: number, measured = seconds) {
  let next = 0;
  let errors = 0;
  const latencies: number[] = [];
  const start = performance.now() + WARM_S * 1000;
  const end = start + measured * 1000;
  await Promise.all(Array.from({ length: clients }, async () => {
    const connection = await Http1Connection.open(new URL(url));
    try {
      while (performance.now() < end) {
        const text = TEXTS[next++ % TEXTS.length]!;
        const sent = performance.now();
        const { status, body } = await connection.post(
          "/predict",
          JSON.stringify({ inputs: text }),
        );
        if (sent < start) continue;
        // An answer is a JSON array of entities: "[" first.
        if (status === 200 && body[0] === 91) latencies.push(performance.now() - sent);
        else errors++;
      }
    } finally {
      connection.close();
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  return {
    clients,
    texts_per_s: round(latencies.length / elapsed),
    // To 10 us: the ratio of p99 to a p50 of 2 ms is read from them.
    p50_ms: round(at(0.5), 2),
    p99_ms: round(at(0.99), 2),
    errors,
  };
}

/** The texts as our tokenizer gives them to the model: piece ids, [CLS] and [SEP] included. */
async function pieceIds(dir: string): Promise<number[][]> {
  const { encodeDocument, loadTokenizer } = await import("../ner/tokenizer/mod.ts");
  const tok = await loadTokenizer(dir, { transformers: false });
  const { config } = await loadModelDir(dir, { complete: false });
  const maxLength = Math.min(config.max_position_embeddings, tok.modelMaxLength, 512);
  return TEXTS.map((t) => encodeDocument(tok, t, { maxLength, stride: "window" }).windows[0]!.ids);
}

/** Our probabilities for the first texts, one at a time (for the comparison with PyTorch's). */
async function ourProbabilities(dir: string, ids: number[][]): Promise<Float32Array[]> {
  const { setupBackend } = await import("../ner/bert/backend.ts");
  const { BertModel } = await import("../ner/bert/model.ts");
  await setupBackend("auto");
  const ck = await loadModelDir(dir, { complete: true });
  const model = BertModel.fromWeights(ck.config, ck.labels.length, ck.weights);
  try {
    const out = [];
    for (const row of ids) {
      out.push(
        await model.predictProbabilities({
          ids: Int32Array.from(row),
          mask: new Int32Array(row.length).fill(1),
          batchSize: 1,
          seqLen: row.length,
        }),
      );
    }
    return out;
  } finally {
    model.dispose();
  }
}

/**
 * The model's own median time for a batch (ms), alone on this thread, as `perBatch + perText n`
 * from batches of 1 and 4 texts: what the stand-in's workers take.
 */
async function batchTimes(dir: string): Promise<{ perBatch: number; perText: number }> {
  const { loadPredictor } = await import("../ner/predict/mod.ts");
  const predictor = await loadPredictor(dir, { batchSize: 32 });
  try {
    const time = async (n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < 500; i++) {
        const texts = Array.from({ length: n }, (_, k) => TEXTS[(i * n + k) % TEXTS.length]!);
        const start = performance.now();
        await predictor.predict(texts);
        if (i >= 100) ms.push(performance.now() - start);
      }
      return median(ms);
    };
    const one = await time(1);
    const perText = Math.max(0, (await time(4) - one) / 3);
    return { perBatch: Math.max(0, one - perText), perText };
  } finally {
    predictor.dispose();
  }
}

/** A PyTorch process of bench/reference_serve_pytorch.py --rounds: it measures on request. */
class Reference {
  readonly threads: number;
  readonly torch: string;
  readonly probabilities: number[][][];
  readonly openblas: string;
  readonly #child: Deno.ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;

  private constructor(
    child: Deno.ChildProcess,
    lines: AsyncIterator<string>,
    hello: { threads: number; torch: string; probabilities: number[][][] },
    openblas: string,
  ) {
    this.#child = child;
    this.#lines = lines;
    this.#stdin = child.stdin.getWriter();
    this.threads = hello.threads;
    this.torch = hello.torch;
    this.probabilities = hello.probabilities;
    this.openblas = openblas;
  }

  /**
   * Starts the process and waits until its model is loaded.
   *
   * @throws {Error} With the last line of its stderr when it exits (no torch, say).
   */
  static async start(
    python: string,
    openblas: string | undefined,
    dir: string,
    ids: string,
  ): Promise<Reference> {
    const env = Deno.env.toObject();
    delete env.OPENBLAS_NUM_THREADS;
    if (openblas) env.OPENBLAS_NUM_THREADS = openblas;
    const script = new URL("./reference_serve_pytorch.py", import.meta.url).pathname;
    const child = new Deno.Command(python, {
      args: [script, "--model", dir, "--ids", ids, "--rounds"],
      clearEnv: true,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = textLines(child.stdout);
    const first = await lines.next();
    if (first.done) {
      await child.status;
      throw new Error((await stderr).trim().split("\n").pop());
    }
    return new Reference(child, lines, JSON.parse(first.value), openblas ?? "default");
  }

  /** Texts per second of a plain loop at `batch` for `seconds`. */
  async rate(batch: number, seconds: number): Promise<number> {
    await this.#stdin.write(new TextEncoder().encode(JSON.stringify({ batch, seconds }) + "\n"));
    const line = await this.#lines.next();
    if (line.done) throw new Error("the PyTorch reference exited while measuring");
    return JSON.parse(line.value).texts_per_s;
  }

  /** Ends its input: it exits. */
  async close(): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.#child.status;
  }
}

/**
 * PyTorch on the same weights and ids, for each batch size the faster of OpenBLAS's default
 * threads and 1 (a short run of each first), or why it cannot run.
 */
async function pytorch(
  dir: string,
  ids: number[][],
  tmp: string,
): Promise<{ batch1: Reference; batch32: Reference; all: Reference[] } | string> {
  await Deno.writeTextFile(`${tmp}/ids.json`, JSON.stringify({ ids }));
  const problems: string[] = [];
  // Debian's python3-torch lives beside /usr/bin/python3, which may not be the first python3.
  for (const python of [Deno.env.get("PYTHON"), "python3", "/usr/bin/python3"]) {
    if (!python) continue;
    const all: Reference[] = [];
    for (const blas of [undefined, "1"]) {
      try {
        all.push(await Reference.start(python, blas, dir, `${tmp}/ids.json`));
      } catch (error) {
        problems.push(`${python}: ${(error as Error).message}`);
        break;
      }
    }
    if (all.length === 0) continue;
    const trial = Math.min(seconds, 1);
    const fastest = async (batch: number) => {
      const rates = [];
      for (const r of all) rates.push(await r.rate(batch, trial));
      return all[rates.indexOf(Math.max(...rates))]!;
    };
    // Batch 1 suffers most from idle BLAS threads.
    return { batch1: await fastest(1), batch32: await fastest(32), all };
  }
  return `PyTorch not available (${problems.join("; ")}): apt-get install python3-torch`;
}

/** PyTorch's figures in the summary: medians over the rounds, and each round's. */
interface PytorchFigures {
  batch_1: number;
  batch_32: number;
  batch_1_rounds: number[];
  batch_32_rounds: number[];
  threads: number;
  torch: string;
  /** The OpenBLAS setting each batch size ran under: `default` threads or `1`. */
  openblas_threads: { batch_1: string; batch_32: string };
}

/** The median of some numbers. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** One level's figures. */
type Level = Awaited<ReturnType<typeof level>>;

/** Each level's figures over the rounds: their medians (errors added up). */
function medianLevels(byRound: Level[][]): Level[] {
  return levels.map((clients, i) => {
    const each = byRound.map((round) => round[i]!);
    return {
      clients,
      texts_per_s: Math.round(median(each.map((o) => o.texts_per_s)) * 10) / 10,
      p50_ms: median(each.map((o) => o.p50_ms)),
      p99_ms: median(each.map((o) => o.p99_ms)),
      errors: each.reduce((n, o) => n + o.errors, 0),
    };
  });
}

/** p99 over p50 at 8 clients, round by round (none when 8 is not a level). */
function tailRatios(byRound: Level[][]): number[] {
  const at8 = levels.indexOf(8);
  return at8 < 0 ? [] : byRound.map((round) => round[at8]!.p99_ms / round[at8]!.p50_ms);
}

/** The `serve` task's permissions, read from deno.json: the stand-in runs with the same. */
const SERVE_PERMISSIONS = (JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
).tasks.serve as string).split(" ").filter((flag) => flag.startsWith("--allow-"));

const tmp = await Deno.makeTempDir({ prefix: "bench-serve-" });
const loadBefore = load();
const results = [];
try {
  const models = [
    { name: "sample", dir: () => Promise.resolve(sampleDir) },
    { name: "base", dir: () => baseModel(`${tmp}/base`) },
  ].filter((m) => values.only === undefined || m.name === values.only);
  for (const m of models) {
    const dir = await m.dir();
    const { config } = await loadModelDir(dir, { complete: false });
    const ids = await pieceIds(dir);
    const reference = await pytorch(dir, ids, tmp);
    const times = m.name === "sample" ? await batchTimes(dir) : null;
    const served = await startServe([dir]);
    const byRound: Level[][] = [];
    const standInRounds: Level[][] = [];
    const torch1: number[] = [];
    const torch32: number[] = [];
    let standIn: Awaited<ReturnType<typeof startServe>> | null = null;
    try {
      if (times) {
        standIn = await startServe(
          [dir],
          { NERPIPE_BENCH_BATCH_MS: `${times.perBatch},${times.perText}` },
          ["run", ...SERVE_PERMISSIONS, new URL("./_standin_serve.ts", import.meta.url).pathname],
        );
        await level(standIn.url, 32, 1);
      }
      await level(served.url, 32, 1); // warm-up, not counted: the kernels compiled, caches filled
      for (let r = 0; r < rounds; r++) {
        const ours = [];
        for (const clients of levels) ours.push(await level(served.url, clients));
        byRound.push(ours);
        if (standIn) {
          const each = [];
          for (const clients of levels) each.push(await level(standIn.url, clients));
          standInRounds.push(each);
        }
        if (typeof reference !== "string") {
          torch1.push(await reference.batch1.rate(1, seconds));
          torch32.push(await reference.batch32.rate(32, seconds));
        }
      }
    } finally {
      await served.stop();
      await standIn?.stop();
      if (typeof reference !== "string") { for (const r of reference.all) await r.close(); }
    }
    const ours = medianLevels(byRound);
    let maxDiff: number | null = null;
    let pytorchSummary: PytorchFigures | string = reference as string;
    let ratios: number[] = [];
    if (typeof reference !== "string") {
      const probabilities = reference.batch1.probabilities;
      const mine = await ourProbabilities(dir, ids.slice(0, probabilities.length));
      maxDiff = Math.max(
        ...probabilities.flatMap((rows, t) =>
          rows.flat().map((p, i) => Math.abs(p - mine[t]![i]!))
        ),
      );
      const at = levels.indexOf(32);
      ratios = at < 0 ? [] : byRound.map((round, r) => round[at]!.texts_per_s / torch32[r]!);
      pytorchSummary = {
        batch_1: median(torch1),
        batch_32: median(torch32),
        batch_1_rounds: torch1,
        batch_32_rounds: torch32,
        threads: reference.batch32.threads,
        torch: reference.batch32.torch,
        openblas_threads: {
          batch_1: reference.batch1.openblas,
          batch_32: reference.batch32.openblas,
        },
      };
    }
    const tails = tailRatios(byRound);
    const standInTails = tailRatios(standInRounds);
    results.push({
      model: m.name,
      layers: config.num_hidden_layers,
      hidden: config.hidden_size,
      pieces_per_text: Math.round(ids.reduce((n, r) => n + r.length, 0) / ids.length * 10) / 10,
      ours,
      rounds: byRound,
      pytorch: pytorchSummary,
      max_probability_difference: maxDiff,
      ratio_32_clients_to_pytorch_batch_32: ratios.length ? round2(median(ratios)) : null,
      ratio_range: ratios.length
        ? [round2(Math.min(...ratios)), round2(Math.max(...ratios))]
        : null,
      p99_over_p50_at_8_clients: tails.length ? round2(median(tails)) : null,
      p99_over_p50_range: tails.length
        ? [round2(Math.min(...tails)), round2(Math.max(...tails))]
        : null,
      stand_in: times
        ? {
          batch_ms: { per_batch: round3(times.perBatch), per_text: round3(times.perText) },
          ours: medianLevels(standInRounds),
          rounds: standInRounds,
          p99_over_p50_at_8_clients: standInTails.length ? round2(median(standInTails)) : null,
          p99_over_p50_range: standInTails.length
            ? [round2(Math.min(...standInTails)), round2(Math.max(...standInTails))]
            : null,
        }
        : null,
    });
  }
} finally {
  await Deno.remove(tmp, { recursive: true });
}
const summary = {
  seconds,
  rounds,
  texts: TEXTS.length,
  cores: navigator.hardwareConcurrency,
  load_average_before: loadBefore,
  load_average_after: load(),
  results,
};
if (values.json) {
  console.log(JSON.stringify(summary, (k, v) => (k === "probabilities" ? undefined : v)));
  Deno.exit(0);
}
console.log(
  `serve: ${TEXTS.length} validation sentences of the sample, one per request, ${rounds} ` +
    `round${rounds === 1 ? "" : "s"} of ${seconds} s per level, each figure the median over ` +
    `the rounds, ${summary.cores} cores, load average ${loadBefore} before`,
);
const range = (r: number[] | null) => (r ? ` (${r[0]}-${r[1]})` : "");
const rows = [["model", "clients", "texts/s", "p50 ms", "p99 ms", "errors"]];
const levelRows = (name: string, each: Level[]) => {
  for (const o of each) {
    rows.push([
      name,
      String(o.clients),
      o.texts_per_s.toFixed(1),
      o.p50_ms.toFixed(2),
      o.p99_ms.toFixed(2),
      String(o.errors),
    ]);
  }
};
for (const r of results) {
  levelRows(`${r.model} (L${r.layers} H${r.hidden})`, r.ours);
  if (r.stand_in) levelRows(`stand-in for ${r.model}`, r.stand_in.ours);
}
const table = (rows: string[][]) => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) {
    console.log(r.map((cell, c) => cell.padEnd(widths[c]!)).join("  ").trimEnd());
  }
};
table(rows);
for (const r of results) {
  if (!r.stand_in) continue;
  const { batch_ms: t, p99_over_p50_at_8_clients: tail, p99_over_p50_range: tails } = r.stand_in;
  console.log(
    `stand-in for ${r.model}: the same server, whose workers take exactly ${t.per_batch} + ` +
      `${t.per_text} ms a text for every batch (the model's own medians, alone) and find no ` +
      `entity; p99/p50 at 8 clients ${tail ?? "-"}${range(tails)}`,
  );
}
console.log("");
const refRows = [[
  "model",
  "PyTorch batch 1",
  "batch 32",
  "ours at 32 / batch 32",
  "p99/p50 at 8",
  "max |p - p_torch|",
]];
for (const r of results) {
  const p = r.pytorch;
  if (typeof p === "string") {
    console.log(`${r.model}: ${p}`);
    continue;
  }
  refRows.push([
    r.model,
    p.batch_1.toFixed(1),
    p.batch_32.toFixed(1),
    `${r.ratio_32_clients_to_pytorch_batch_32 ?? "-"}x${range(r.ratio_range)}`,
    `${r.p99_over_p50_at_8_clients ?? "-"}${range(r.p99_over_p50_range)}`,
    r.max_probability_difference?.toExponential(1) ?? "-",
  ]);
}
const ref = results.map((r) => r.pytorch).find((p) => typeof p !== "string") as
  | PytorchFigures
  | undefined;
if (ref) {
  console.log(
    `PyTorch ${ref.torch}, ${ref.threads} threads, texts/s of a plain loop under ` +
      `torch.inference_mode() (each at the faster of two OpenBLAS settings; forward and softmax ` +
      `only), measured in turns with ours; ratios: the median of the rounds' (their range):`,
  );
  table(refRows);
}
console.log(
  `goals: at 32 clients >= 1.0x PyTorch's batch 32; at 8 clients p99 < 2x p50. ` +
    `Load average ${summary.load_average_after} after`,
);
