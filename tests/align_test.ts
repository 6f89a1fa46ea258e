import assert from "node:assert/strict";
import { spansFromTags, tagDocument, tagPieces } from "../ner/align.ts";
import {
  buildLabelDictionary,
  encodeLabels,
  IGNORE_INDEX,
  labelToId,
  UnknownLabelError,
} from "../ner/labels.ts";
import {
  buildTokenizerJson,
  encodeDocument,
  learnWordPiece,
  tokenizerFromJson,
} from "../ner/tokenizer/mod.ts";
import type { EntitySpan } from "../ner/types.ts";

type Off = [number, number] | null;

/** A window from "surface:start:end" pieces; "##" marks continuation pieces. */
function win(...pieces: [string, number, number][]) {
  const offsets: Off[] = [null, ...pieces.map(([, s, e]) => [s, e] as [number, number]), null];
  const wordStart = [false, ...pieces.map(([t]) => !t.startsWith("##")), false];
  return { offsets, wordStart };
}

// "Barack Obama visited Seoul"
const obama = win(
  ["Bar", 0, 3],
  ["##ack", 3, 6],
  ["Obama", 7, 12],
  ["visited", 13, 20],
  ["Se", 21, 23],
  ["##oul", 23, 26],
);
const obamaEntities: EntitySpan[] = [
  { start: 0, end: 12, label: "PS" },
  { start: 21, end: 26, label: "LC" },
];

Deno.test("tagPieces tags the word-piece that starts an entity B- and ignores continuations", () => {
  const r = tagPieces(obama, obamaEntities, { labelAllTokens: false });
  assert.deepEqual(r.labels, [null, "B-PS", null, "I-PS", "O", "B-LC", null, null]);
  assert.deepEqual(r.report, { outsideWindow: 0, notOnBoundary: 0 });
});

Deno.test("tagPieces with labelAllTokens gives continuation pieces I- or O", () => {
  const r = tagPieces(obama, obamaEntities, { labelAllTokens: true });
  assert.deepEqual(r.labels, [null, "B-PS", "I-PS", "I-PS", "O", "B-LC", "I-LC", null]);
  const outside = tagPieces(obama, [{ start: 0, end: 3, label: "X" }], { labelAllTokens: true });
  assert.deepEqual(outside.labels, [null, "B-X", "O", "O", "O", "O", "O", null]);
});

Deno.test("an entity that ends inside a word is reported as not on a boundary", () => {
  // <서울:LC>에서 살았다, with 서울에서 as one piece.
  const one = win(["서울에서", 0, 4], ["살았다", 5, 8]);
  const e = [{ start: 0, end: 2, label: "LC" }];
  const r = tagPieces(one, e, { labelAllTokens: false });
  assert.deepEqual(r.labels, [null, "B-LC", "O", null]);
  assert.equal(r.report.notOnBoundary, 1);
  // With pieces 서울 ##에서 the entity is a piece, but not a word.
  const two = win(["서울", 0, 2], ["##에서", 2, 4], ["살았다", 5, 8]);
  assert.equal(tagPieces(two, e, { labelAllTokens: false }).report.notOnBoundary, 1);
  const all = tagPieces(two, e, { labelAllTokens: true });
  assert.deepEqual(all.labels, [null, "B-LC", "O", "O", null]);
  assert.equal(all.report.notOnBoundary, 0);
});

Deno.test("an entity that starts mid-word is reported as not on a boundary", () => {
  const w = win(["대한", 0, 2], ["##민국", 2, 4]);
  const e = [{ start: 2, end: 4, label: "LC" }];
  const first = tagPieces(w, e, { labelAllTokens: false });
  assert.deepEqual(first.labels, [null, "O", null, null]);
  assert.equal(first.report.notOnBoundary, 1);
  const all = tagPieces(w, e, { labelAllTokens: true });
  assert.deepEqual(all.labels, [null, "O", "B-LC", null]);
  assert.equal(all.report.notOnBoundary, 0);
  // Starting inside a piece: no piece starts there.
  const mid = tagPieces(w, [{ start: 1, end: 4, label: "LC" }], { labelAllTokens: true });
  assert.deepEqual(mid.labels, [null, "O", "I-LC", null]);
  assert.equal(mid.report.notOnBoundary, 1);
});

Deno.test("entities outside a window are reported, per window and per document", () => {
  const w1 = win(["Bar", 0, 3], ["##ack", 3, 6], ["Obama", 7, 12]);
  const w2 = win(["visited", 13, 20], ["Se", 21, 23], ["##oul", 23, 26]);
  const r = tagPieces(w1, obamaEntities, { labelAllTokens: false });
  assert.deepEqual(r.labels, [null, "B-PS", null, "I-PS", null]);
  assert.deepEqual(r.report, { outsideWindow: 1, notOnBoundary: 0 });
  const doc = tagDocument([w1, w2], obamaEntities, { labelAllTokens: false });
  assert.deepEqual(doc.labels[1], [null, "O", "B-LC", null, null]);
  assert.deepEqual(doc.report, { outsideWindow: 0, notOnBoundary: 0, crossesWindow: 0 });
  const truncated = tagDocument([w1], obamaEntities, { labelAllTokens: false });
  assert.equal(truncated.report.outsideWindow, 1);
  // An entity over both windows: B- in the first, I- in the second.
  const crossing = [{ start: 7, end: 20, label: "X" }];
  const c = tagDocument([w1, w2], crossing, { labelAllTokens: false });
  assert.deepEqual(c.labels, [[null, "O", null, "B-X", null], [null, "I-X", "O", null, null]]);
  assert.deepEqual(c.report, { outsideWindow: 0, notOnBoundary: 0, crossesWindow: 1 });
});

Deno.test("spansFromTags extends first-piece predictions over continuation pieces", () => {
  const tags = ["O", "B-PS", "O", "I-PS", "O", "B-LC", "O", "O"];
  assert.deepEqual(spansFromTags(obama.offsets, tags, obama.wordStart), obamaEntities);
  // Without wordStart every piece is read: the O on ##ack ends the entity.
  assert.deepEqual(spansFromTags(obama.offsets, tags), [
    { start: 0, end: 3, label: "PS" },
    { start: 7, end: 12, label: "PS" },
    { start: 21, end: 23, label: "LC" },
  ]);
});

Deno.test("spansFromTags follows conlleval chunk rules", () => {
  const o = obama.offsets;
  const ws = obama.wordStart;
  // I- after O starts an entity; a type switch starts another one.
  assert.deepEqual(spansFromTags(o, [null, "I-PS", null, "I-LC", "O", "I-LC", null, null], ws), [
    { start: 0, end: 6, label: "PS" },
    { start: 7, end: 12, label: "LC" },
    { start: 21, end: 26, label: "LC" },
  ]);
  assert.deepEqual(spansFromTags(o, [null, "B-PS", null, "B-PS", "O", "O", null, null], ws), [
    { start: 0, end: 6, label: "PS" },
    { start: 7, end: 12, label: "PS" },
  ]);
  assert.deepEqual(spansFromTags(o, o.map(() => "O"), ws), []);
});

Deno.test("tagging then spansFromTags gives back the entities of a tokenized document", () => {
  const text = "Émile Zola est né à Paris. 한석규가 서울에 갔다.";
  const vocab = learnWordPiece([text, "Zola Zola Paris Paris 서울 서울"], {
    vocabSize: 120,
    lowercase: true,
  });
  const tok = tokenizerFromJson(buildTokenizerJson(vocab, { lowercase: true }), {}, "memory");
  const entities: EntitySpan[] = [
    { start: 0, end: 10, label: "PS" },
    { start: 20, end: 25, label: "LC" },
    { start: 27, end: 31, label: "PS" },
    { start: 32, end: 35, label: "LC" },
  ];
  for (const labelAllTokens of [false, true]) {
    const { windows } = encodeDocument(tok, text, { maxLength: 10 });
    const doc = tagDocument(windows, entities, { labelAllTokens });
    assert.equal(doc.report.outsideWindow, 0);
    const spans = windows.flatMap((w, i) =>
      spansFromTags(
        w.offsets,
        doc.labels[i]!,
        labelAllTokens ? undefined : w.wordStart,
      )
    );
    assert.deepEqual(spans, entities, `labelAllTokens ${labelAllTokens}`);
  }
});

Deno.test("buildLabelDictionary puts O first, then the sorted tags", () => {
  const dict = buildLabelDictionary(["PS", "LC", "DT", "LC"]);
  assert.deepEqual(dict, ["O", "B-DT", "B-LC", "B-PS", "I-DT", "I-LC", "I-PS"]);
  const ids = labelToId(dict);
  assert.equal(ids.get("O"), 0);
  assert.equal(ids.get("I-PS"), 6);
  assert.deepEqual(buildLabelDictionary([]), ["O"]);
});

Deno.test("encodeLabels rejects a label outside the dictionary", () => {
  const ids = labelToId(buildLabelDictionary(["PS"]));
  assert.deepEqual(encodeLabels([null, "B-PS", "I-PS", "O", null], ids, "train"), [
    IGNORE_INDEX,
    1,
    2,
    0,
    IGNORE_INDEX,
  ]);
  assert.throws(() => encodeLabels(["B-XX"], ids, "validation"), (e: unknown) => {
    assert.ok(e instanceof UnknownLabelError);
    assert.equal(e.name, "UnknownLabelError");
    assert.equal(e.label, "B-XX");
    assert.equal(e.split, "validation");
    assert.equal(
      e.message,
      'Unknown label "B-XX" in validation data: it is not in the training label dictionary',
    );
    return true;
  });
});
