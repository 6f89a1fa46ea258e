import assert from "node:assert/strict";
import { boundaryCoverage } from "../ner/align.ts";
import {
  commonHangul,
  encodeDocument,
  learnWordPiece,
  loadTokenizer,
  type NerTokenizer,
  writeTokenizerFiles,
} from "../ner/tokenizer/mod.ts";

async function tokenizer(vocab: string[]): Promise<NerTokenizer> {
  const dir = await Deno.makeTempDir({ prefix: "ner_bounds_" });
  await writeTokenizerFiles(dir, vocab, { lowercase: false, maxLength: 64 });
  const tok = await loadTokenizer(dir, { transformers: false });
  await Deno.remove(dir, { recursive: true });
  return tok;
}

function pieces(tok: NerTokenizer, text: string): string[] {
  return encodeDocument(tok, text, { maxLength: 64, stride: "window" }).windows[0]!.tokens
    .slice(1, -1);
}

// 서울 is a place written with particles; 서울에서 also occurs where nobody tagged it, so plain
// counting learns 서울에서 as one piece and no labelling can give the span of 서울.
const TEXTS = [
  "서울에서 만났다",
  "서울에서 만났다",
  "서울에서 왔다",
  "서울에서 살았다",
  "부산에서 만났다",
  "부산에서 왔다",
];
const CUTS = [[0, 2], [], [0, 2], [], [0, 2], [0, 2]];

Deno.test("a vocabulary learned on words cut at entity boundaries splits 서울에서 into 서울 + ##에서", async () => {
  const plain = await tokenizer(learnWordPiece(TEXTS, { vocabSize: 60, lowercase: false }));
  assert.deepEqual(pieces(plain, "서울에서"), ["서울에서"]);
  const cut = await tokenizer(
    learnWordPiece(TEXTS, { vocabSize: 60, lowercase: false, cuts: CUTS }),
  );
  assert.deepEqual(pieces(cut, "서울에서"), ["서울", "##에서"]);
  assert.deepEqual(pieces(cut, "부산에서"), ["부산", "##에서"]);
});

Deno.test("learned pieces that would still cross an entity boundary are dropped", async () => {
  // 운명을 (untagged) teaches ##명을; the counted entity 194명 is followed by the particle 을.
  const texts = [
    "운명을 믿었다",
    "운명을 믿었다",
    "운명을 바꿨다",
    "194명을 뽑았다",
    "12명을 뽑았다",
  ];
  const cuts = [[], [], [], [0, 4], [0, 3]];
  const vocab = learnWordPiece(texts, { vocabSize: 80, lowercase: false, cuts });
  const tok = await tokenizer(vocab);
  const tokens = pieces(tok, "194명을");
  assert.ok(!tokens.includes("##명을"), tokens.join(" "));
  assert.equal(tokens[tokens.length - 1], "##을", tokens.join(" "));
  // Words without a cut are still tokenized with what was learned.
  assert.ok(!pieces(tok, "운명을").includes("[UNK]"));
  assert.ok(vocab.some((t) => t.startsWith("운")), vocab.join(" "));
});

Deno.test("hangul: a syllable unseen in training no longer makes the whole word [UNK]", async () => {
  assert.equal(commonHangul().length, 2350);
  const texts = ["서울에서 만났다", "부산에서 만났다"];
  const without = await tokenizer(learnWordPiece(texts, { vocabSize: 200, lowercase: false }));
  assert.deepEqual(pieces(without, "윌리스에서"), ["[UNK]"]);
  const withHangul = await tokenizer(
    learnWordPiece(texts, { vocabSize: 10000, lowercase: false, hangul: true }),
  );
  const tokens = pieces(withHangul, "윌리스에서");
  assert.ok(!tokens.includes("[UNK]"), tokens.join(" "));
  assert.ok(tokens.join("").replaceAll("##", "") === "윌리스에서");
});

Deno.test("boundary coverage counts entities whose two ends fall on piece boundaries", () => {
  const windows = [{
    offsets: [null, [0, 2], [2, 4], [5, 8], null] as ([number, number] | null)[],
  }];
  const c = boundaryCoverage([
    {
      windows,
      entities: [
        { start: 0, end: 2, label: "LC" }, // 서울 of 서울+##에서
        { start: 0, end: 4, label: "LC" }, // the whole word
        { start: 5, end: 7, label: "PS" }, // ends inside the piece [5, 8)
      ],
    },
    { windows: [], entities: [{ start: 0, end: 1, label: "QT" }] }, // no window reaches it
    { windows, entities: [] },
  ]);
  assert.deepEqual(c, { entities: 4, onBoundaries: 2, share: 0.5 });
  assert.equal(boundaryCoverage([]).share, 1);
});
