import assert from "node:assert/strict";
import { bioChunks } from "../ner/labels.ts";
import { mulberry32 } from "../ner/random.ts";
import {
  characterMetrics,
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

Deno.test("characterMetrics: a particle inside the span is wrong at the span level, partly right per character", () => {
  const texts = ["서울에서 김철수를 만났다"];
  const gold = [[{ start: 0, end: 2, label: "LC" }, { start: 5, end: 8, label: "PS" }]];
  const exact = characterMetrics(texts, gold, gold, ["LC", "PS"]);
  assert.deepEqual([exact.precision, exact.recall, exact.f1, exact.macro_f1], [1, 1, 1, 1]);
  assert.equal(exact.char_macro_f1, 1);
  assert.equal(exact.characters, 11); // whitespace is not scored
  const withParticles = characterMetrics(texts, gold, [
    [{ start: 0, end: 4, label: "LC" }, { start: 5, end: 9, label: "PS" }],
  ], ["LC", "PS"]);
  assert.equal(withParticles.f1, 0);
  assert.equal(withParticles.per_type.LC!.support, 1);
  // Per character (11, spaces skipped): O is right on 3 of its 6 gold characters; I-LC is
  // predicted on 3 characters, 1 of them gold; I-PS on 3, 2 of them gold; B-LC and B-PS right.
  // Tags O, B-LC, I-LC, B-PS, I-PS: F1 = 2TP / (2TP + FP + FN).
  const expected = [(2 * 3) / (2 * 3 + 0 + 3), 1, 2 / (2 + 2), 1, 4 / (4 + 1)];
  const mean = expected.reduce((a, b) => a + b, 0) / expected.length;
  assert.ok(Math.abs(withParticles.char_macro_f1 - mean) < 1e-12, `${withParticles.char_macro_f1}`);
  // A tag that occurs nowhere scores 1 (KLUE's zero_division); an absent type counts too.
  const absent = characterMetrics(texts, gold, gold, ["LC", "PS", "DT"]);
  assert.equal(absent.char_macro_f1, 1);
  // Nothing predicted.
  const none = characterMetrics(texts, gold, [[]], ["LC", "PS"]);
  assert.deepEqual([none.precision, none.recall, none.f1, none.macro_f1], [0, 0, 0, 0]);
  assert.throws(() => characterMetrics(texts, gold, [], ["LC"]), RangeError);
});

/** Strict IOB2 chunks (seqeval's strict mode): an I- without its B- is no entity. */
function strictChunks(tags: readonly string[]): string[] {
  const out: string[] = [];
  let open: { start: number; type: string } | null = null;
  const close = (end: number) => {
    if (open) out.push(`${open.start}:${end}:${open.type}`);
    open = null;
  };
  tags.forEach((t, i) => {
    if (t.startsWith("B-")) {
      close(i);
      open = { start: i, type: t.slice(2) };
    } else if (t.startsWith("I-") && open && open.type === t.slice(2)) {
      // continues
    } else {
      close(i);
    }
  });
  close(tags.length);
  return out;
}

Deno.test("characterMetrics agrees with an independent character-tag computation on random spans", () => {
  const rand = mulberry32(7);
  const types = ["DT", "LC", "OG", "PS", "QT", "TI"];
  const randomSpans = (text: string) => {
    const spans: { start: number; end: number; label: string }[] = [];
    let i = 0;
    while (i < text.length) {
      i += Math.floor(rand() * 6);
      const len = 1 + Math.floor(rand() * 4);
      if (i + len > text.length) break;
      // Spans of decoded pieces never hold whitespace here, and never overlap.
      if (!text.slice(i, i + len).includes(" ") && rand() < 0.6) {
        spans.push({ start: i, end: i + len, label: types[Math.floor(rand() * 3)]! });
      }
      i += len;
    }
    return spans;
  };
  const texts: string[] = [];
  const gold: ReturnType<typeof randomSpans>[] = [];
  const pred: ReturnType<typeof randomSpans>[] = [];
  for (let d = 0; d < 200; d++) {
    const text = Array.from(
      { length: 5 + Math.floor(rand() * 30) },
      () => rand() < 0.15 ? " " : String.fromCharCode(0xac00 + Math.floor(rand() * 50)),
    ).join("");
    texts.push(text);
    const g = randomSpans(text);
    gold.push(g);
    // Predictions: gold spans kept, cut short, retyped or dropped.
    pred.push([
      ...g.flatMap((s) => {
        const r = rand();
        if (r < 0.5) return [s];
        if (r < 0.65) return s.end - s.start > 1 ? [{ ...s, end: s.end - 1 }] : [];
        if (r < 0.8) return [{ ...s, label: types[(types.indexOf(s.label) + 1) % 3]! }];
        return [];
      }),
    ]);
  }
  const m = characterMetrics(texts, gold, pred, types);

  // Independent: character tag strings, then per-tag counts and strict chunks.
  const tagsOf = (
    text: string,
    spans: readonly { start: number; end: number; label: string }[],
  ) => {
    const tags: string[] = [...text].map(() => "O");
    for (const s of spans) {
      for (let i = s.start; i < s.end; i++) tags[i] = `${i === s.start ? "B" : "I"}-${s.label}`;
    }
    return tags.filter((_, i) => text[i] !== " ");
  };
  const labels = ["O", ...types.flatMap((t) => [`B-${t}`, `I-${t}`])];
  const allGold: string[] = [];
  const allPred: string[] = [];
  const goldChunks: string[] = [];
  const predChunks: string[] = [];
  texts.forEach((text, d) => {
    const g = tagsOf(text, gold[d]!);
    const p = tagsOf(text, pred[d]!);
    allGold.push(...g);
    allPred.push(...p);
    goldChunks.push(...strictChunks(g).map((c) => `${d}:${c}`));
    predChunks.push(...strictChunks(p).map((c) => `${d}:${c}`));
  });
  const f1s = labels.map((label) => {
    let tp = 0, fp = 0, fn = 0;
    allGold.forEach((g, i) => {
      const p = allPred[i]!;
      if (g === label && p === label) tp++;
      else if (p === label) fp++;
      else if (g === label) fn++;
    });
    return tp + fp + fn === 0 ? 1 : (2 * tp) / (2 * tp + fp + fn);
  });
  const charMacro = f1s.reduce((a, b) => a + b, 0) / f1s.length;
  assert.ok(Math.abs(m.char_macro_f1 - charMacro) < 1e-12, `${m.char_macro_f1} vs ${charMacro}`);
  assert.equal(m.characters, allGold.length);

  const goldSet = new Set(goldChunks);
  const seen = [...new Set([...goldChunks, ...predChunks].map((c) => c.split(":")[3]!))].sort();
  const perType = seen.map((t) => {
    const g = goldChunks.filter((c) => c.endsWith(`:${t}`));
    const p = predChunks.filter((c) => c.endsWith(`:${t}`));
    const tp = p.filter((c) => goldSet.has(c)).length;
    const precision = p.length ? tp / p.length : 0;
    const recall = g.length ? tp / g.length : 0;
    return precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  });
  const entityMacro = perType.reduce((a, b) => a + b, 0) / perType.length;
  assert.ok(Math.abs(m.macro_f1 - entityMacro) < 1e-12, `${m.macro_f1} vs ${entityMacro}`);
  const tp = predChunks.filter((c) => goldSet.has(c)).length;
  assert.ok(Math.abs(m.precision - tp / predChunks.length) < 1e-12);
  assert.ok(Math.abs(m.recall - tp / goldChunks.length) < 1e-12);
});
