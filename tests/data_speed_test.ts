// Issue 13: the data stages at corpus scale. preprocess-input tokenizes a large dataset in two
// parts at once (the stage and a worker) and must write the bytes the single pass writes; the
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
import { runBuiltinPipeline } from "./_engine_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const ENV = "NERPIPE_PREPROCESS_PARTS_MIN_BYTES";

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

async function preprocess(dir: string, parts: boolean) {
  if (parts) Deno.env.set(ENV, "0");
  else Deno.env.delete(ENV);
  try {
    return await runBuiltinPipeline(`${ROOT}pipelines/ner.yaml`, dir, {
      only: ["preprocess-input"],
    });
  } finally {
    Deno.env.delete(ENV);
  }
}

Deno.test("preprocess-input in two parts (the stage and a worker) writes the single pass's bytes", async () => {
  const one = await Deno.makeTempDir({ prefix: "data-speed-" });
  const two = await Deno.makeTempDir({ prefix: "data-speed-" });
  try {
    const a = await preprocess(one, false);
    const b = await preprocess(two, true);
    assert.equal(a.byId["preprocess-input"], "ran");
    assert.equal(b.byId["preprocess-input"], "ran");
    for (const file of ["encoded.jsonl", "tokenizer/vocab.txt", "tokenizer/tokenizer.json"]) {
      assert.deepEqual(
        await Deno.readFile(`${two}/out/ner/preprocess-input/${file}`),
        await Deno.readFile(`${one}/out/ner/preprocess-input/${file}`),
        file,
      );
    }
  } finally {
    await Deno.remove(one, { recursive: true });
    await Deno.remove(two, { recursive: true });
  }
});
