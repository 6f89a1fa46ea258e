/**
 * Benchmark: the data stages of pipelines/ner.yaml (load to tensorize) on generated corpora of
 * growing size. For each size it writes a KMOU corpus (90% train, 10% validation) from the
 * sample generator into a temporary project, then runs each data stage as its own subprocess
 * (`main.ts run ner.yaml --only <stage>`, the stages before it cached), and reports per stage
 * the seconds the stage took, sentences per second and the peak resident memory of the process
 * (VmHWM from `/proc/<pid>/status`, read until it exits), then the growth exponent of each
 * stage's time: the least-squares slope of log(seconds) against log(sentences).
 *
 * `deno task bench --scale [--sizes 10000,100000,1000000] [--join K] [--json] [--keep]`
 * (or `deno run -A bench/scale.ts ...`). `--join K` makes each document K generated sentences
 * (`--join 7` gives about 900 bytes of KMOU a document, like the real corpus of the issue: 80 MB
 * for 87,840 documents); sizes count documents. `--root <dir>` runs another checkout's main.ts (for a
 * before/after comparison). Flags follow the engine's rules (runner/args.ts): `--flag=value` or
 * `--flag value`, a flag given twice takes its last value, an unknown flag exits with code 2.
 *
 * @module
 */

import { generateSentences, toKmou } from "../data/generate_sample.ts";
import { benchArgs } from "./_args.ts";

const USAGE = "usage: deno run -A bench/scale.ts [--sizes 10000,100000,1000000] [--join K] " +
  "[--json] [--keep] [--root <dir>]";
const { values: flags } = benchArgs({
  sizes: { type: "string" },
  join: { type: "string" },
  json: { type: "boolean" },
  keep: { type: "boolean" },
  root: { type: "string" },
  help: { type: "boolean" },
}, { usage: USAGE, command: "bench/scale.ts" });
const sizes = (flags.sizes ?? "10000,100000,1000000").split(",").map((s) => {
  const n = Number(s.replace(/_/g, "").replace(/k$/i, "000").replace(/m$/i, "000000"));
  if (!Number.isSafeInteger(n) || n < 10) {
    console.error(`error: --sizes: "${s}" is not a count of sentences of at least 10`);
    Deno.exit(2);
  }
  return n;
});
const json = flags.json === true;
/** Sentences per document: 1, or more to make documents as long as a real corpus's. */
const join = Math.max(1, Math.floor(Number(flags.join ?? 1)) || 1);
const keep = flags.keep === true;
const root = flags.root ?? new URL("..", import.meta.url).pathname;

/** The data stage kinds; the bench runs the stages of these kinds, in pipeline order. */
const DATA_KINDS = new Set([
  "load",
  "preprocess-input",
  "preprocess-target",
  "label-ids",
  "embed-pad",
  "tensorize",
]);
const pipelineText = await Deno.readTextFile(`${root}/pipelines/ner.yaml`);
const STAGES = [...pipelineText.matchAll(/^ {2}([\w-]+):\n {4}uses: ([\w-]+)/gm)]
  .filter((m) => DATA_KINDS.has(m[2]!)).map((m) => m[1]!);

type Sentence = Parameters<typeof toKmou>[0][number];

/** Documents of `k` sentences each, joined by a space (entities shifted). */
function* joined(sentences: Iterable<Sentence>, k: number): Generator<Sentence> {
  let doc: Sentence | undefined;
  let count = 0;
  for (const s of sentences) {
    if (doc === undefined) doc = { lang: s.lang, text: s.text, entities: [...s.entities] };
    else {
      const shift = doc.text.length + 1;
      doc.text += " " + s.text;
      for (const e of s.entities) {
        doc.entities.push({ ...e, start: e.start + shift, end: e.end + shift });
      }
    }
    if (++count === k) {
      yield doc;
      doc = undefined;
      count = 0;
    }
  }
}

/** Writes `count` sentences as KMOU, a chunk at a time. */
async function writeCorpus(path: string, sentences: Iterable<unknown>, count: number) {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  const it = (sentences as Iterable<Sentence>)[Symbol.iterator]();
  try {
    for (let done = 0; done < count;) {
      const chunk = [];
      for (let i = 0; i < 5000 && done < count; i++, done++) chunk.push(it.next().value!);
      const bytes = encoder.encode(toKmou(chunk));
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    }
  } finally {
    file.close();
  }
}

/** Peak resident set size (VmHWM) of a live process in bytes, or undefined once it is gone. */
async function vmHwm(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

interface StageRun {
  stage: string;
  seconds: number;
  process_seconds: number;
  peak_rss_bytes: number;
}

/** Runs one stage in a subprocess, polling its VmHWM every 20 ms. */
async function runStage(dir: string, stage: string): Promise<StageRun> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}/main.ts`, "run", "ner.yaml", "--only", stage, "--json"],
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  let running = true;
  const poll = (async () => {
    while (running) {
      const hwm = await vmHwm(child.pid);
      if (hwm !== undefined) peak = Math.max(peak, hwm);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const out = await child.output();
  running = false;
  await poll;
  const processSeconds = (performance.now() - started) / 1000;
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `${stage} exited ${out.code}: ${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  const report = JSON.parse(text) as { stages: { id: string; status: string; seconds: number }[] };
  const own = report.stages.find((s) => s.id === stage);
  if (own?.status !== "ran") throw new Error(`${stage} did not run: ${JSON.stringify(own)}`);
  return {
    stage,
    seconds: own.seconds,
    process_seconds: Math.round(processSeconds * 1000) / 1000,
    peak_rss_bytes: peak,
  };
}

/** Least-squares slope of log(y) against log(x). */
function slope(xs: number[], ys: number[]): number | null {
  if (xs.length < 2) return null;
  const lx = xs.map(Math.log);
  const ly = ys.map((y) => Math.log(Math.max(y, 1e-3)));
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i]! - mx) * (ly[i]! - my);
    den += (lx[i]! - mx) ** 2;
  }
  return den === 0 ? null : Math.round((num / den) * 100) / 100;
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const results: {
  sentences: number;
  corpus_bytes: number;
  stages: StageRun[];
  seconds: number;
  peak_rss_bytes: number;
}[] = [];
const load = () => Deno.readTextFile("/proc/loadavg").then((t) => t.split(" ")[0]).catch(() => "?");
const loadBefore = await load();
for (const n of sizes) {
  const dir = await Deno.makeTempDir({ prefix: `scale-bench-${n}-` });
  try {
    await Deno.mkdir(`${dir}/data`);
    const train = Math.round(n * 0.9);
    const sentences = joined(generateSentences(n * join, 20240611), join);
    await writeCorpus(`${dir}/data/train.txt`, sentences, train);
    await writeCorpus(`${dir}/data/validation.txt`, sentences, n - train);
    await Deno.writeTextFile(`${dir}/ner.yaml`, pipelineText.replaceAll("data/sample/", "data/"));
    const corpusBytes = (await Deno.stat(`${dir}/data/train.txt`)).size +
      (await Deno.stat(`${dir}/data/validation.txt`)).size;
    if (!json) {
      console.log(
        `${n} ${join > 1 ? `documents of ${join} sentences` : "sentences"} ` +
          `(${mb(corpusBytes)} MB of KMOU) in ${dir}`,
      );
    }
    const stages: StageRun[] = [];
    for (const stage of STAGES) {
      const r = await runStage(dir, stage);
      stages.push(r);
      if (!json) {
        console.log(
          `  ${stage.padEnd(18)} ${r.seconds.toFixed(2).padStart(7)} s ` +
            `${Math.round(n / Math.max(r.seconds, 1e-3)).toString().padStart(9)} sentences/s ` +
            `peak RSS ${mb(r.peak_rss_bytes).toString().padStart(5)} MB ` +
            `(process ${r.process_seconds.toFixed(2)} s)`,
        );
      }
    }
    const seconds = Math.round(stages.reduce((a, s) => a + s.seconds, 0) * 1000) / 1000;
    const peak = Math.max(...stages.map((s) => s.peak_rss_bytes));
    results.push({
      sentences: n,
      corpus_bytes: corpusBytes,
      stages,
      seconds,
      peak_rss_bytes: peak,
    });
    if (!json) {
      console.log(
        `  ${"data stages".padEnd(18)} ${seconds.toFixed(2).padStart(7)} s, peak ${mb(peak)} MB`,
      );
    }
  } finally {
    if (keep) console.error(`kept ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}
const xs = results.map((r) => r.sentences);
const exponents: Record<string, number | null> = {};
for (const stage of STAGES) {
  exponents[stage] = slope(
    xs,
    results.map((r) => r.stages.find((s) => s.stage === stage)!.seconds),
  );
}
exponents.total = slope(xs, results.map((r) => r.seconds));
const summary = {
  cores: navigator.hardwareConcurrency,
  sentences_per_document: join,
  load_average_before: loadBefore,
  load_average_after: await load(),
  results,
  growth_exponent: exponents,
  goals: { peak_rss_bytes_at_1m: 2 * 2 ** 30, growth_exponent: 1.1 },
};
if (json) {
  console.log(JSON.stringify(summary));
} else {
  console.log(
    `growth exponent (slope of log seconds vs log sentences; goal <= 1.1): ` +
      Object.entries(exponents).map(([k, v]) => `${k} ${v ?? "-"}`).join(", "),
  );
  console.log(
    `load average ${summary.load_average_before} before, ${summary.load_average_after} after`,
  );
}
