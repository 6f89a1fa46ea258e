import assert from "node:assert/strict";
import { join } from "node:path";
import {
  encodeDocument,
  learnWordPiece,
  loadTokenizer,
  type NerTokenizer,
  SPECIAL_TOKENS,
  tokenizePieces,
  TokenizerFileError,
  writeTokenizerFiles,
} from "../ner/tokenizer/mod.ts";

const testdata = new URL("./testdata/tokenizer/", import.meta.url).pathname;
const corpus = (await Deno.readTextFile(join(testdata, "corpus.txt"))).split("\n").filter((l) =>
  l.length > 0
);

const dirs: string[] = [];
const dirOf = new Map<NerTokenizer, string>();
async function makeTokenizer(lowercase: boolean, vocabSize = 400): Promise<NerTokenizer> {
  const vocab = learnWordPiece(corpus, { vocabSize, lowercase, minFrequency: 1 });
  const dir = await Deno.makeTempDir({ prefix: "ner_tok_" });
  dirs.push(dir);
  await writeTokenizerFiles(dir, vocab, { lowercase, maxLength: 64 });
  const tok = await loadTokenizer(dir);
  dirOf.set(tok, dir);
  return tok;
}

let uncased: Promise<NerTokenizer> | undefined;
let cased: Promise<NerTokenizer> | undefined;
const getUncased = () => uncased ??= makeTokenizer(true);
const getCased = () => cased ??= makeTokenizer(false);

/** Pieces of a text as "token=original surface". */
function show(tok: NerTokenizer, text: string): string[] {
  const w = encodeDocument(tok, text, { maxLength: 512 }).windows[0]!;
  return w.tokens.map((t, i) => {
    const off = w.offsets[i];
    return off ? `${t}=${text.slice(off[0], off[1])}` : t;
  });
}

const crossCheck = [
  "Émile Zola est né à Paris en 1840.",
  "ÉCOLE normale, L'École",
  "Naïve résumé, coöperate, façade, jalapeño.",
  "한석규가 서울에 갔다",
  "한석규는 서울에서 영화를 찍었다.",
  "東京タワーは東京都港区にある。北京",
  "Жизнь ☃ snowman 😀 emoji",
  "tabs\tand\nnewlines  and\u200bzero width\u00a0nbsp",
  "İstanbul ÀÉÎÕÜ àéîõü ßẞ",
  "U.S.A. 1,000.5 Hello-world (brackets) [UNK] [CLS]x",
  "x".repeat(120) + " long word",
  "",
  "   ",
];

Deno.test("learnWordPiece is deterministic and stays within vocabSize", async () => {
  const a = learnWordPiece(corpus, { vocabSize: 300, lowercase: true });
  const b = learnWordPiece([...corpus], { vocabSize: 300, lowercase: true });
  assert.deepEqual(a, b);
  assert.ok(a.length <= 300);
  assert.deepEqual(a.slice(0, 5), [...SPECIAL_TOKENS]);
  assert.equal(new Set(a).size, a.length);
  // Every character seen is there in both forms.
  for (const c of ["z", "é".normalize("NFD")[0]!, "한", "서", "東"]) {
    assert.ok(a.includes(c), c);
    assert.ok(a.includes("##" + c), "##" + c);
  }
  // The committed fixture was learned with these options.
  const fixture = await Deno.readTextFile(join(testdata, "learned_uncased", "vocab.txt"));
  assert.deepEqual(
    learnWordPiece(corpus, { vocabSize: 400, lowercase: true, minFrequency: 1 }),
    fixture.split("\n").slice(0, -1),
  );
  const small = learnWordPiece(corpus, { vocabSize: 60, lowercase: false });
  assert.equal(small.length, 60);
});

Deno.test("learnWordPiece keeps Hangul syllables whole and strips accents when lowercasing", () => {
  const v = learnWordPiece(corpus, { vocabSize: 2000, lowercase: true, minFrequency: 1 });
  assert.ok(v.includes("서울"), "서울");
  assert.ok(!v.some((t) => /[\u1100-\u11ff]/u.test(t)), "no conjoining jamo");
  assert.ok(!v.includes("é"));
  assert.ok(v.includes("ecole"));
  const cased = learnWordPiece(corpus, { vocabSize: 2000, lowercase: false, minFrequency: 1 });
  assert.ok(cased.includes("É"));
});

Deno.test("learnWordPiece merges frequent pairs first", () => {
  const v = learnWordPiece(["low low low lower lowest", "newer newest"], {
    vocabSize: 100,
    lowercase: false,
  });
  const learned = v.slice(v.indexOf("##w") + 1);
  // (l, ##o) and (##o, ##w) both occur 5 times: the tie goes to "##ow" < "lo".
  assert.deepEqual(learned.slice(0, 2), ["##ow", "low"]);
});

Deno.test("writeTokenizerFiles writes a Hugging Face BERT tokenizer directory", async () => {
  const tok = await getUncased();
  assert.equal(tok.clsId, 2);
  const dir = dirOf.get(tok)!;
  const json = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer.json")));
  assert.equal(json.model.type, "WordPiece");
  assert.equal(json.model.unk_token, "[UNK]");
  assert.equal(json.model.continuing_subword_prefix, "##");
  assert.equal(json.model.max_input_chars_per_word, 100);
  assert.equal(json.pre_tokenizer.type, "BertPreTokenizer");
  assert.equal(json.normalizer.normalizers[0].type, "BertNormalizer");
  assert.equal(json.normalizer.normalizers[0].lowercase, true);
  assert.equal(json.post_processor.type, "TemplateProcessing");
  assert.deepEqual(json.added_tokens.map((t: { content: string }) => t.content), [
    ...SPECIAL_TOKENS,
  ]);
  const config = JSON.parse(await Deno.readTextFile(join(dir, "tokenizer_config.json")));
  assert.equal(config.tokenizer_class, "BertTokenizer");
  assert.equal(config.do_lower_case, true);
  assert.equal(config.model_max_length, 64);
  const map = JSON.parse(await Deno.readTextFile(join(dir, "special_tokens_map.json")));
  assert.equal(map.cls_token, "[CLS]");
  const lines = (await Deno.readTextFile(join(dir, "vocab.txt"))).split("\n");
  assert.equal(lines[tok.unkId], "[UNK]");
  assert.deepEqual(lines.slice(0, -1), tok.vocab);
});

Deno.test("offsets point into the original text when lowercasing and stripping accents", async () => {
  const tok = await getUncased();
  assert.deepEqual(show(tok, "Émile Zola"), ["[CLS]", "emile=Émile", "zola=Zola", "[SEP]"]);
  assert.deepEqual(show(tok, "ÉCOLE"), ["[CLS]", "ecole=ÉCOLE", "[SEP]"]);
  // Decomposed input: the combining accent belongs to the piece.
  const nfd = "E\u0301cole.";
  assert.deepEqual(show(tok, nfd), ["[CLS]", `ecole=${nfd.slice(0, 6)}`, ".=.", "[SEP]"]);
  const p = tokenizePieces(tok, "  Zola\u200b, écrit");
  assert.deepEqual(p.offsets, [[2, 6], [7, 8], [9, 14]]);
});

Deno.test("offsets of Hangul pieces cover whole syllables", async () => {
  const tok = await getCased();
  const text = "한석규가 서울에 갔다";
  const p = tokenizePieces(tok, text);
  const surfaces = p.offsets.map(([s, e]) => text.slice(s, e));
  assert.equal(surfaces.join(""), text.replaceAll(" ", ""));
  assert.deepEqual(p.wordStart.filter((x) => x).length, 3);
  const ut = await getUncased();
  assert.deepEqual(
    tokenizePieces(ut, text).offsets.map(([s, e]) => text.slice(s, e)).join(""),
    "한석규가서울에갔다",
  );
});

Deno.test("an unknown character makes the whole word [UNK]", async () => {
  const tok = await getCased();
  const text = "Zola☃x ok";
  const w = encodeDocument(tok, text, { maxLength: 32 }).windows[0]!;
  assert.equal(w.tokens[1], "[UNK]");
  assert.equal(w.ids[1], tok.unkId);
  assert.deepEqual(w.offsets[1], [0, 6]);
  assert.equal(w.wordStart[1], true);
});

Deno.test("ids are identical to those of transformers.js", async () => {
  for (const tok of [await getUncased(), await getCased()]) {
    for (const text of [...crossCheck, ...corpus]) {
      const ours = encodeDocument(tok, text, { maxLength: 100_000 }).windows[0]!.ids;
      assert.deepEqual(ours, tok.encodeIds(text), `${tok.lowercase}: ${text}`);
    }
  }
});

Deno.test("a vocab.txt-only directory loads as plain BERT (uncased splits Hangul into jamo)", async () => {
  const tok = await loadTokenizer(join(testdata, "bert_uncased"));
  assert.equal(tok.lowercase, true);
  assert.equal(tok.unkId, 100);
  assert.equal(tok.clsId, 101);
  assert.equal(tok.normalizer.nfc, false);
  for (const text of [...crossCheck, ...corpus]) {
    const ours = encodeDocument(tok, text, { maxLength: 100_000 }).windows[0]!.ids;
    assert.deepEqual(ours, tok.encodeIds(text), text);
  }
  const text = "서울에 Émile";
  const w = encodeDocument(tok, text, { maxLength: 16 }).windows[0]!;
  assert.deepEqual(w.offsets, [null, [0, 2], [2, 3], [4, 9], null]);
  assert.deepEqual(w.wordStart, [false, true, false, true, false]);
  assert.equal(w.tokens[3], "emile");
});

Deno.test("ids and offsets equal those of Hugging Face's Rust tokenizers (fixture)", async () => {
  const ref = JSON.parse(await Deno.readTextFile(join(testdata, "hf_reference.json")));
  for (const name of ["learned_uncased", "bert_uncased"]) {
    const tok = await loadTokenizer(join(testdata, name), { transformers: false });
    ref.sentences.forEach((text: string, i: number) => {
      const w = encodeDocument(tok, text, { maxLength: 100_000 }).windows[0]!;
      const expected = ref[name][i];
      assert.deepEqual(w.ids, expected.ids, `${name}: ${JSON.stringify(text)}`);
      assert.deepEqual(w.offsets, expected.offsets, `${name}: ${JSON.stringify(text)}`);
    });
  }
});

Deno.test("loadTokenizer reports a directory without tokenizer files", async () => {
  const dir = await Deno.makeTempDir();
  dirs.push(dir);
  await assert.rejects(loadTokenizer(dir, { transformers: false }), TokenizerFileError);
});

Deno.test("long documents are split into windows without splitting words", async () => {
  const tok = await getCased();
  const text = "Zola a écrit Germinal et Nana. ".repeat(6).trim();
  const all = tokenizePieces(tok, text);
  const { windows, truncated } = encodeDocument(tok, text, { maxLength: 12 });
  assert.equal(truncated, true);
  assert.ok(windows.length > 1);
  const inner = windows.flatMap((w) => w.ids.slice(1, -1));
  assert.deepEqual(inner, all.ids);
  windows.forEach((w, i) => {
    assert.equal(w.window, i);
    assert.ok(w.ids.length <= 12);
    assert.equal(w.ids[0], tok.clsId);
    assert.equal(w.ids.at(-1), tok.sepId);
    assert.equal(w.offsets[0], null);
    assert.equal(w.wordStart[1], true, "a window starts with a word");
  });
  const t = encodeDocument(tok, text, { maxLength: 12, stride: "truncate" });
  assert.equal(t.truncated, true);
  assert.equal(t.windows.length, 1);
  assert.deepEqual(t.windows[0], windows[0]);
  const short = encodeDocument(tok, "Zola", { maxLength: 12 });
  assert.equal(short.truncated, false);
  assert.equal(short.windows.length, 1);
  const empty = encodeDocument(tok, "", { maxLength: 12 });
  assert.deepEqual(empty.windows[0]!.ids, [tok.clsId, tok.sepId]);
  assert.throws(() => encodeDocument(tok, "x", { maxLength: 2 }), RangeError);
});

Deno.test("a word longer than a window is split across windows", async () => {
  const tok = await getCased();
  const text = "abcdefghijklmnopqrstuvwxyz";
  const { windows } = encodeDocument(tok, text, { maxLength: 5 });
  const n = tokenizePieces(tok, text).ids.length;
  assert.equal(windows.length, Math.ceil(n / 3));
  assert.equal(windows[1]!.wordStart[1], false);
});

Deno.test("tokenizing 4000 short sentences takes well under 2 s", async () => {
  const tok = await getUncased();
  const sents = Array.from({ length: 4000 }, (_, i) => `${corpus[i % corpus.length]} #${i}`);
  const t0 = performance.now();
  for (const s of sents) encodeDocument(tok, s, { maxLength: 128 });
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
});

Deno.test("cleanup temporary tokenizer directories", async () => {
  for (const d of dirs) await Deno.remove(d, { recursive: true });
});
