// Issue 13: the data stages at corpus scale. preprocess-input, preprocess-target and label-ids
// work through a large input in two parts at once (the stage and a worker) and must write the
// bytes the single pass writes; the
// word scanner behind the tokenizer and the learner must give preTokenize's words.
import assert from "node:assert/strict";
import {
  type NormalizerConfig,
  type NormWord,
  preTokenize,
  scanWords,
} from "../ner/tokenizer/_normalize.ts";
import { WordTable } from "../ner/tokenizer/_words.ts";
import { learnFromCounts, learnWordPiece, WordCounts } from "../ner/tokenizer/learn.ts";
import { tagDocument } from "../ner/align.ts";
import { memoryReporter, runBuiltinPipeline } from "./_engine_helpers.ts";
import type { StageContext } from "../runner/stage.ts";
import type { AnyStage } from "../runner/registry.ts";
import { preprocessTarget } from "../stages/preprocess_target.ts";
import { labelIds } from "../stages/label_ids.ts";
import { ArtifactError } from "../stages/_artifacts.ts";
import { addCounts } from "../stages/_parts.ts";
import { UnknownLabelError } from "../ner/labels.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ENV = "NERPIPE_PARTS_MIN_BYTES";

Deno.test("scanWords gives preTokenize's words, offsets included, for every normaliser", () => {
  const pieces = [
    "a",
    "Z",
    "9",
    " ",
    "\t",
    "\n",
    "\u000b",
    "\u200b",
    "\u0000",
    "\ufffd",
    "é",
    "É",
    "e\u0301",
    "한",
    "\u1112",
    "\u1161",
    "\u11ab",
    "中",
    "!",
    ".",
    "-",
    "😀",
    "İ",
    "ß",
    "Ａ",
    "ﬁ",
    "\u00ad",
    "Å",
    "ǅ",
    "\u0300",
    "가",
    "각",
  ];
  let seed = 7;
  const rnd = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let trial = 0; trial < 3000; trial++) {
    let text = "";
    const len = Math.floor(rnd() * 16);
    for (let k = 0; k < len; k++) text += pieces[Math.floor(rnd() * pieces.length)];
    for (let bits = 0; bits < 32; bits++) {
      const cfg: NormalizerConfig = {
        cleanText: (bits & 1) !== 0,
        handleChineseChars: (bits & 2) !== 0,
        lowercase: (bits & 4) !== 0,
        stripAccents: (bits & 8) !== 0,
        nfc: (bits & 16) !== 0,
      };
      const from = Math.floor(rnd() * (text.length + 1));
      const to = from + Math.floor(rnd() * (text.length - from + 1));
      const got: NormWord[] = [];
      scanWords(
        text,
        cfg,
        {
          range(a, b) {
            const starts = [], ends = [];
            for (let k = a; k < b; k++) starts.push(k), ends.push(k + 1);
            got.push({ text: text.slice(a, b), starts, ends });
          },
          word: (w) => void got.push(w),
        },
        from,
        to,
      );
      assert.deepEqual(got, preTokenize(text, cfg, from, to), JSON.stringify({ text, cfg }));
    }
  }
});

Deno.test("WordTable finds words by their place in a text, across growth and clear", () => {
  const table = new WordTable<number>();
  const text = Array.from({ length: 20000 }, (_, i) => `w${i % 7000}`).join(" ");
  let at = 0;
  for (const word of text.split(" ")) {
    const e = table.find(text, at, at + word.length);
    if (e < 0) table.add(word, 1);
    else table.values[e]!++;
    at += word.length + 1;
  }
  assert.equal(table.size, 7000);
  assert.equal(table.words[0], "w0");
  assert.equal(table.values[table.find("xw6999y", 1, 6)], 2);
  assert.equal(table.find("w7000", 0, 5), -1);
  table.clear();
  assert.equal(table.find(text, 0, 2), -1);
});

Deno.test("word counts merged from two halves learn the vocabulary one pass learns", () => {
  const texts = Array.from(
    { length: 400 },
    (_, i) => `서울에서 ${i % 13}번 버스를 타고 부산${i % 5}에 갔다 lower newest widest`,
  );
  const cuts = texts.map((t) => [t.indexOf("에서"), t.indexOf("번")]);
  const opts = { vocabSize: 300, lowercase: false, minFrequency: 2 };
  const whole = learnWordPiece(texts, { ...opts, cuts });
  const a = new WordCounts(false);
  const b = new WordCounts(false);
  texts.forEach((t, i) => (i < 150 ? a : b).add(t, cuts[i]));
  a.merge(b.words, b.counts);
  assert.deepEqual(learnFromCounts(a, { ...opts, cut: true }), whole);
});

Deno.test("tagDocument finds each entity's pieces by search as the full scan did", () => {
  // Pieces sorted by start, an empty entity, nested entities, an entity outside the window.
  const win = {
    offsets: [null, [0, 2], [2, 4], [5, 7], [7, 8], [9, 12], null] as ([number, number] | null)[],
    wordStart: [false, true, false, true, false, true, false],
  };
  const entities = [
    { start: 0, end: 4, label: "PS" },
    { start: 5, end: 8, label: "LC" },
    { start: 7, end: 7, label: "QT" },
    { start: 2, end: 4, label: "OG" },
    { start: 20, end: 22, label: "DT" },
  ];
  const all = tagDocument([win], entities, { labelAllTokens: true });
  assert.deepEqual(all.labels[0], [null, "B-PS", "B-OG", "B-LC", "B-QT", "O", null]);
  const first = tagDocument([win], entities, { labelAllTokens: false });
  assert.deepEqual(first.labels[0], [null, "B-PS", null, "B-LC", null, "O", null]);
  // Pieces out of order (not from our encoder): the full scan.
  const unsorted = {
    offsets: [null, [5, 7], [0, 2], null] as ([number, number] | null)[],
    wordStart: [false, true, true, false],
  };
  const u = tagDocument([unsorted], [{ start: 0, end: 2, label: "PS" }], { labelAllTokens: true });
  assert.deepEqual(u.labels[0], [null, "O", "B-PS", null]);
});

/** Runs the data stages up to label-ids, in two parts at once or in one pass. */
async function dataStages(dir: string, parts: boolean) {
  if (parts) Deno.env.set(ENV, "0");
  else Deno.env.set(ENV, String(Number.MAX_SAFE_INTEGER));
  const lines: string[] = [];
  try {
    const summary = await runBuiltinPipeline(`${ROOT}pipelines/ner.yaml`, dir, {
      only: ["label-ids"],
      reporter: memoryReporter(lines),
    });
    return { ...summary, lines };
  } finally {
    Deno.env.delete(ENV);
  }
}

Deno.test("the data stages in two parts (the stage and a worker) write the single pass's bytes", async () => {
  const one = await Deno.makeTempDir({ prefix: "data-speed-" });
  const two = await Deno.makeTempDir({ prefix: "data-speed-" });
  try {
    const a = await dataStages(one, false);
    const b = await dataStages(two, true);
    for (const id of ["preprocess-input", "preprocess-target", "label-ids"]) {
      assert.equal(a.byId[id], "ran");
      assert.equal(b.byId[id], "ran");
    }
    // Each stage took the path the test asks for: two parts, or one pass.
    for (
      const [id, said] of [
        ["preprocess-input", "tokenized in two parts at once"],
        ["preprocess-target", "tagged in two parts at once"],
        ["label-ids", "labelled in two parts at once"],
      ]
    ) {
      const mine = (lines: string[]) => lines.filter((l) => l.startsWith(`[${id}] ${said}`));
      assert.equal(mine(b.lines).length, 1, `${id} in two parts:\n${b.lines.join("\n")}`);
      assert.equal(mine(a.lines).length, 0, `${id} in one pass`);
    }
    for (
      const file of [
        "preprocess-input/encoded.jsonl",
        "preprocess-input/tokenizer/vocab.txt",
        "preprocess-input/tokenizer/tokenizer.json",
        "preprocess-target/targets.jsonl",
        "label-ids/ids.jsonl",
        "label-ids/labels.json",
      ]
    ) {
      // Compared by digest: a failing deepEqual of two large byte arrays prints a diff that
      // can take the machine's memory.
      assert.equal(
        await sha256(`${two}/out/ner/${file}`),
        await sha256(`${one}/out/ner/${file}`),
        file,
      );
    }
    // The same output is the same cache entry: the second project's keys match the first's.
    assert.deepEqual(
      b.stages.map((s) => [s.id, s.key]),
      a.stages.map((s) => [s.id, s.key]),
    );
  } finally {
    await Deno.remove(one, { recursive: true });
    await Deno.remove(two, { recursive: true });
  }
});

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A stream artifact file: header, records, trailer. */
async function writeStream(path: string, header: object, records: object[], end: object) {
  const lines = [header, ...records, { end }];
  await Deno.writeTextFile(path, lines.map((l) => JSON.stringify(l) + "\n").join(""));
}

/** A stage's context in `dir` (outputs in `dir/out`), its log lines kept. */
function context(
  stage: AnyStage,
  dir: string,
  inputs: Record<string, string>,
  signal = new AbortController().signal,
) {
  const lines: string[] = [];
  Deno.mkdirSync(`${dir}/out`, { recursive: true });
  const ctx: StageContext<never> = {
    id: stage.name,
    params: (stage === preprocessTarget ? { label_all_tokens: true } : {}) as never,
    inputs,
    output: (name) => `${dir}/out/${name}${stage.outputs[name]!.extension ?? ""}`,
    root: dir,
    scratch: `${dir}/scratch`,
    progress: { update() {} },
    log: { info: (m) => void lines.push(m), warn: (m) => void lines.push(`warning: ${m}`) },
    signal,
  };
  return { ctx, lines };
}

/** Runs a stage on the two-part path; gives its error and log. */
async function failInParts(
  stage: AnyStage,
  dir: string,
  inputs: Record<string, string>,
  signal?: AbortSignal,
) {
  const { ctx, lines } = context(stage, dir, inputs, signal);
  Deno.env.set(ENV, "0");
  try {
    const error = await stage.run(ctx).then(() => assert.fail("expected a rejection"), (e) => e);
    for (const name of Object.keys(stage.outputs)) {
      await assert.rejects(Deno.stat(ctx.output(name)), Deno.errors.NotFound, name);
    }
    return { error, lines };
  } finally {
    Deno.env.delete(ENV);
  }
}

Deno.test("a problem in the worker's part is reported as the single pass reports it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "data-speed-" });
  try {
    const doc = {
      text: "a b",
      entities: [{ start: 0, end: 1, label: "PS" }],
      source: { file: "x", line: 1 },
    };
    const docs = Array.from({ length: 8 }, () => ({ split: "train", ...doc }));
    await writeStream(`${dir}/dataset.jsonl`, { artifact: "ner-dataset", format: "kmou" }, docs, {
      labels: ["PS"],
      skipped: 0,
      train: 8,
      validation: 0,
    });
    const window = (d: number) => ({
      split: "train",
      doc: d,
      window: 0,
      ids: [2, 5, 6, 3],
      offsets: [null, [0, 1], [2, 3], null],
      wordStart: [false, true, true, false],
    });
    const encodedHeader = {
      artifact: "ner-encoded",
      max_length: 8,
      overflow: "window",
      pad_id: 0,
      vocab_size: 9,
    };
    // Document 6 has no window: the second part's problem.
    const windows = [0, 1, 2, 3, 4, 5, 7].map(window);
    await writeStream(`${dir}/broken.jsonl`, encodedHeader, windows, {
      windows: { train: 7, validation: 0 },
    });
    const target = await failInParts(preprocessTarget as AnyStage, `${dir}/t`, {
      dataset: `${dir}/dataset.jsonl`,
      encoded: `${dir}/broken.jsonl`,
    });
    assert.ok(target.error instanceof ArtifactError, String(target.error));
    assert.match(
      target.error.message,
      /^Inputs "encoded" \(.*broken.jsonl\) and "dataset" \(.*\) do not belong together: train document 6 of the dataset has no window in the encoding/,
    );
    assert.ok(
      target.lines.some((l) => l.startsWith("tagging in one pass: ")),
      target.lines.join("\n"),
    );

    // label-ids: a window of the second part with too few tags, then an unknown label there.
    const all = [0, 1, 2, 3, 4, 5, 6, 7].map(window);
    await writeStream(`${dir}/encoded.jsonl`, encodedHeader, all, {
      windows: { train: 8, validation: 0 },
    });
    const tags = (d: number, t: (string | null)[]) => ({ split: "train", doc: d, tags: t });
    const good = [null, "B-PS", "O", null];
    const targetsHeader = { artifact: "ner-targets", label_all_tokens: true };
    for (
      const [bad, expected] of [
        [
          tags(6, [null, "B-PS", null]),
          /do not belong together: train window 6 has 3 tags for 4 pieces/,
        ],
        [tags(6, [null, "B-XX", "O", null]), /B-XX/],
      ] as const
    ) {
      const records = all.map((w) => w.doc === 6 ? bad : tags(w.doc, good));
      await writeStream(`${dir}/targets.jsonl`, targetsHeader, records, {
        windows: { train: 8, validation: 0 },
      });
      const r = await failInParts(labelIds as AnyStage, `${dir}/l`, {
        dataset: `${dir}/dataset.jsonl`,
        encoded: `${dir}/encoded.jsonl`,
        targets: `${dir}/targets.jsonl`,
      });
      assert.ok(
        r.error instanceof (expected.source === "B-XX" ? UnknownLabelError : ArtifactError),
        String(r.error),
      );
      assert.match(r.error.message, expected);
      assert.ok(r.lines.some((l) => l.startsWith("labelling in one pass: ")), r.lines.join("\n"));
    }
    // Interrupted on the two-part path: the abort, and no output left behind.
    const stop = new AbortController();
    stop.abort(new DOMException("interrupted", "AbortError"));
    await writeStream(`${dir}/targets.jsonl`, targetsHeader, all.map((w) => tags(w.doc, good)), {
      windows: { train: 8, validation: 0 },
    });
    for (
      const [stage, inputs] of [
        [preprocessTarget, { dataset: `${dir}/dataset.jsonl`, encoded: `${dir}/encoded.jsonl` }],
        [labelIds, {
          dataset: `${dir}/dataset.jsonl`,
          encoded: `${dir}/encoded.jsonl`,
          targets: `${dir}/targets.jsonl`,
        }],
      ] as const
    ) {
      const r = await failInParts(stage as AnyStage, `${dir}/a`, inputs, stop.signal);
      assert.equal((r.error as Error).name, "AbortError", `${stage.name}: ${r.error}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("addCounts adds two parts' counts at every depth and leaves other fields alone", () => {
  const a = { windows: { train: 2, validation: 1 }, report: { x: { n: 1 } }, name: "a" };
  const b = { windows: { train: 5, validation: 0 }, report: { x: { n: 4 } }, name: "b" };
  assert.equal(addCounts(a, b), a);
  assert.deepEqual(a, { windows: { train: 7, validation: 1 }, report: { x: { n: 5 } }, name: "a" });
  assert.deepEqual(b.windows, { train: 5, validation: 0 });
});
