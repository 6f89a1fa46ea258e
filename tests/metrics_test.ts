import assert from "node:assert/strict";
import { bioChunks } from "../ner/labels.ts";
import {
  conllLines,
  entityMetrics,
  parseConllLines,
  spanF1,
  tokenAccuracy,
} from "../ner/metrics.ts";

const close = (a: number, b: number, msg?: string) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${msg ?? ""} ${a} != ${b}`);

// Hand-computed with conlleval's chunk rules (see comments per sentence).
const gold = [
  ["B-PS", "I-PS", "O", "B-LC", "O"], // PS, LC
  ["B-PS", "I-PS", "O"], // PS
  ["I-LC", "O", "B-OG"], // LC (I- at sentence start), OG
  ["O", "O"], // nothing
];
const pred = [
  ["B-PS", "I-PS", "O", "I-LC", "O"], // PS ok, LC ok (I- after O starts a chunk)
  ["B-PS", "I-LC", "O"], // PS [0,1) and LC [1,2): type switch, both wrong
  ["B-LC", "O", "O"], // LC ok
  ["B-DT", "I-DT"], // DT wrong
];

Deno.test("bioChunks follows conlleval: I- after O, type switches, I- at sentence start", () => {
  assert.deepEqual(bioChunks(["I-LC", "I-LC", "O", "I-PS", "B-PS", "I-LC"]), [
    { start: 0, end: 2, type: "LC" },
    { start: 3, end: 4, type: "PS" },
    { start: 4, end: 5, type: "PS" },
    { start: 5, end: 6, type: "LC" },
  ]);
  assert.deepEqual(bioChunks(["B-PS", "I-LC"]), [
    { start: 0, end: 1, type: "PS" },
    { start: 1, end: 2, type: "LC" },
  ]);
  assert.deepEqual(bioChunks(["S-PS", "B-LC", "E-LC", "I-LC"]), [
    { start: 0, end: 1, type: "PS" },
    { start: 1, end: 3, type: "LC" },
    { start: 3, end: 4, type: "LC" },
  ]);
  assert.deepEqual(bioChunks([]), []);
});

Deno.test("entityMetrics gives conlleval's micro and per-type figures", () => {
  const m = entityMetrics(gold, pred);
  // 5 gold chunks, 6 predicted, 3 correct.
  close(m.precision, 3 / 6);
  close(m.recall, 3 / 5);
  close(m.f1, (2 * 0.5 * 0.6) / 1.1);
  assert.deepEqual(Object.keys(m.per_type), ["DT", "LC", "OG", "PS"]);
  const pt = m.per_type;
  assert.deepEqual(pt.PS, { precision: 0.5, recall: 0.5, f1: 0.5, support: 2 });
  close(pt.LC!.precision, 2 / 3);
  close(pt.LC!.recall, 1);
  close(pt.LC!.f1, 0.8);
  assert.equal(pt.LC!.support, 2);
  assert.deepEqual(pt.OG, { precision: 0, recall: 0, f1: 0, support: 1 });
  assert.deepEqual(pt.DT, { precision: 0, recall: 0, f1: 0, support: 0 });
});

Deno.test("entityMetrics is 0 for an empty prediction set and for no data", () => {
  const none = entityMetrics(gold, gold.map((s) => s.map(() => "O")));
  assert.deepEqual([none.precision, none.recall, none.f1], [0, 0, 0]);
  assert.equal(none.per_type.PS!.support, 2);
  const empty = entityMetrics([], []);
  assert.deepEqual(empty, { precision: 0, recall: 0, f1: 0, per_type: {} });
  const perfect = entityMetrics(gold, gold);
  assert.deepEqual([perfect.precision, perfect.recall, perfect.f1], [1, 1, 1]);
  assert.throws(() => entityMetrics([["O"]], [["O", "O"]]), RangeError);
});

Deno.test("tokenAccuracy counts equal tags over all positions", () => {
  close(tokenAccuracy(gold, pred), 7 / 13);
  assert.equal(tokenAccuracy([], []), 0);
});

Deno.test("spanF1 matches exact start, end and label", () => {
  const s = spanF1(
    [[{ start: 0, end: 2, label: "LC" }, { start: 3, end: 5, label: "PS" }], []],
    [[{ start: 0, end: 2, label: "LC" }, { start: 3, end: 5, label: "LC" }], [
      { start: 0, end: 1, label: "X" },
    ]],
  );
  close(s.precision, 1 / 3);
  close(s.recall, 1 / 2);
  close(s.f1, 0.4);
  const dup = spanF1([[{ start: 0, end: 2, label: "LC" }]], [[
    { start: 0, end: 2, label: "LC" },
    { start: 0, end: 2, label: "LC" },
  ]]);
  assert.deepEqual(dup, { precision: 0.5, recall: 1, f1: 2 / 3 });
  assert.deepEqual(spanF1([[]], [[]]), { precision: 0, recall: 0, f1: 0 });
});

Deno.test("conllLines writes one line per position and round-trips through a parser", () => {
  const tokens = [
    ["Barack", "Obama", "New York", "in", ""],
    ["Obama", "visited", "Seoul"],
    ["서울", "에서", "KTX"],
    ["a", "b"],
  ];
  const text = conllLines(tokens, gold, pred);
  const lines = text.split("\n");
  assert.equal(lines[0], "Barack B-PS B-PS");
  assert.equal(lines[2], "New_York O O");
  assert.equal(lines[4], "_ O O");
  assert.equal(lines[5], "");
  assert.ok(text.endsWith("\n\n"));
  const back = parseConllLines(text);
  assert.deepEqual(back.gold, gold);
  assert.deepEqual(back.pred, pred);
  assert.equal(back.tokens[0]![2], "New_York");
  assert.deepEqual(entityMetrics(back.gold, back.pred), entityMetrics(gold, pred));
});
