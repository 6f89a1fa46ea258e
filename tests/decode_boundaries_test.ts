/**
 * The boundary-constrained decode (ner/bio_decode.ts with ner/boundaries.ts): checked against a
 * brute-force search over every tag sequence, and on windows of Korean and English text, where no
 * entity may cut a word and a particle after a name stays outside it.
 */

import assert from "node:assert/strict";
import { decodeBio, type UnitBoundaries } from "../ner/bio_decode.ts";
import {
  boundariesJson,
  boundaryFit,
  learnTails,
  parseBoundaries,
  unitBoundaries,
} from "../ner/boundaries.ts";
import { spansFromTags } from "../ner/align.ts";
import { mulberry32 } from "../ner/random.ts";
import { decodeCrf } from "../ner/crf_decode.ts";
import type { CrfParams } from "../ner/crf.ts";

const LABELS = ["O", "B-PS", "I-PS", "B-LC", "I-LC"];

/** Whether a tag sequence is valid BIO and keeps entities on the allowed boundaries. */
function valid(tags: string[], b?: UnitBoundaries): boolean {
  for (let k = 0; k < tags.length; k++) {
    const t = tags[k]!;
    const prev = k > 0 ? tags[k - 1]! : "O";
    if (t.startsWith("I-") && (prev === "O" || prev.slice(2) !== t.slice(2))) return false;
    if (!b) continue;
    if (t.startsWith("B-") && !b.start[k]) return false;
    const open = t !== "O";
    const next = tags[k + 1];
    const continues = next !== undefined && next === `I-${t.slice(2)}`;
    if (open && !continues && !b.end[k]) return false;
  }
  return true;
}

/**
 * The most probable valid sequence by enumerating all of them (with a CRF's scores added to the
 * log-probabilities when given).
 */
function bruteForce(probs: number[], m: number, b?: UnitBoundaries, crf?: CrfParams): string[] {
  const n = LABELS.length;
  let best: string[] = [];
  let bestScore = -Infinity;
  const tags: string[] = new Array(m);
  const cls = (t: string) => LABELS.indexOf(t);
  const visit = (k: number, score: number) => {
    if (k === m) {
      if (crf) {
        score += crf.start[cls(tags[0]!)]! + crf.end[cls(tags[m - 1]!)]!;
        for (let t = 1; t < m; t++) {
          score += crf.transitions[cls(tags[t - 1]!) * n + cls(tags[t]!)]!;
        }
      }
      if (score > bestScore && valid(tags, b)) {
        bestScore = score;
        best = [...tags];
      }
      return;
    }
    for (let c = 0; c < n; c++) {
      tags[k] = LABELS[c]!;
      visit(k + 1, score + Math.log(probs[k * n + c]!));
    }
  };
  visit(0, 0);
  return best;
}

Deno.test("the constrained decode finds the most probable sequence that keeps entities on allowed boundaries (brute force, 300 random windows)", () => {
  const rand = mulberry32(20261207);
  for (let trial = 0; trial < 300; trial++) {
    const m = 1 + Math.floor(rand() * 6);
    const probs: number[] = [];
    for (let k = 0; k < m; k++) {
      const row = LABELS.map(() => rand() + 1e-3);
      const sum = row.reduce((a, x) => a + x, 0);
      probs.push(...row.map((x) => x / sum));
    }
    const start = Array.from({ length: m }, () => rand() < 0.6);
    const end = Array.from({ length: m }, () => rand() < 0.6);
    end[m - 1] = rand() < 0.8;
    const b = { start, end };
    const units = new Array<boolean>(m).fill(true);
    const got = decodeBio(probs, LABELS, units, { boundaries: b }).tags;
    assert.deepEqual(got, bruteForce(probs, m, b), `trial ${trial}`);
    assert.ok(valid(got as string[], b));
    // Without boundaries: the plain valid-BIO decode.
    assert.deepEqual(decodeBio(probs, LABELS, units).tags, bruteForce(probs, m), `trial ${trial}`);
  }
});

Deno.test("the CRF decode under boundary rules finds the best allowed labelling under its transitions (brute force, 300 random windows)", () => {
  const rand = mulberry32(7);
  const n = LABELS.length;
  for (let trial = 0; trial < 300; trial++) {
    const m = 1 + Math.floor(rand() * 5);
    const probs: number[] = [];
    for (let k = 0; k < m; k++) {
      const row = LABELS.map(() => rand() + 1e-3);
      const sum = row.reduce((a, x) => a + x, 0);
      probs.push(...row.map((x) => x / sum));
    }
    const crf = {
      transitions: Array.from({ length: n * n }, () => 2 * rand() - 1),
      start: Array.from({ length: n }, () => rand() - 0.5),
      end: Array.from({ length: n }, () => rand() - 0.5),
    };
    const b = {
      start: Array.from({ length: m }, () => rand() < 0.6),
      end: Array.from({ length: m }, () => rand() < 0.6),
    };
    const units = new Array<boolean>(m).fill(true);
    const { tags, scores } = decodeCrf(probs, LABELS, units, crf, b);
    assert.deepEqual(tags, bruteForce(probs, m, b, crf), `trial ${trial}`);
    for (const s of scores) assert.ok(s > 0 && s <= 1 + 1e-12, `marginal ${s}`);
  }
});

/** A window over `text` cut into `pieces` (a leading `##` marks a continuation). */
function window(text: string, pieces: string[]) {
  const offsets: ([number, number] | null)[] = [null];
  const wordStart = [false];
  let at = 0;
  for (const p of pieces) {
    const cont = p.startsWith("##");
    const s = cont ? p.slice(2) : p;
    if (!cont) { while (text[at] === " ") at++; }
    assert.equal(text.slice(at, at + s.length), s, `piece ${p}`);
    offsets.push([at, at + s.length]);
    wordStart.push(!cont);
    at += s.length;
  }
  offsets.push(null);
  wordStart.push(false);
  return { offsets, wordStart };
}

/**
 * Probabilities per piece: `tag` at 0.9 (the rest shared), or, for `[tag, p, second, q]`, `tag`
 * at `p` and `second` at `q`; null is `O` at 0.9.
 */
function probsFor(rows: (string | null | [string, number, string, number])[]): number[] {
  return rows.flatMap((r) => {
    const [tag, p, second, q] = Array.isArray(r) ? r : [r ?? "O", 0.9, "O", undefined];
    const rest = 1 - p - (q ?? 0);
    const others = LABELS.length - (q === undefined ? 1 : 2);
    const row = LABELS.map(() => rest / others);
    row[LABELS.indexOf(tag)] = p;
    if (q !== undefined) row[LABELS.indexOf(second)] = q;
    return row;
  });
}

Deno.test("a name with a particle comes back without it; a name the model cuts inside a word comes back whole", () => {
  const tails = { mode: "words+learned-tails" as const, tails: new Set(["에서", "는", "은"]) };
  // 손흥민은 토트넘에서 뛴다: the most probable tag of 흥민 and of 넘 is O (I- a close second).
  const text = "손흥민은 토트넘에서 뛴다";
  const w = window(text, ["손", "##흥민", "##은", "토트", "##넘", "##에서", "뛴다"]);
  const units = w.offsets.map((o) => o !== null);
  const probs = probsFor([
    null,
    "B-PS",
    ["O", 0.5, "I-PS", 0.45],
    null,
    "B-LC",
    ["O", 0.55, "I-LC", 0.4],
    null,
    null,
    null,
  ]);
  const unconstrained = spansFromTags(w.offsets, decodeBio(probs, LABELS, units).tags, units);
  assert.deepEqual(
    unconstrained.map((s) => text.slice(s.start, s.end)),
    ["손", "토트"],
    "without the rules, pieces of words",
  );
  const b = unitBoundaries(text, w, units, tails);
  const tags = decodeBio(probs, LABELS, units, { boundaries: b }).tags;
  const spans = spansFromTags(w.offsets, tags, units);
  assert.deepEqual(
    spans.map((s) => [text.slice(s.start, s.end), s.label]),
    [["손흥민", "PS"], ["토트넘", "LC"]],
  );
  // English: "Kofi Mensah" with a mid-word B- on ##i: no entity may start there.
  const en = "hear Kofi Mensah speak";
  const we = window(en, ["hear", "Kof", "##i", "M", "##ens", "##ah", "spea", "##k"]);
  const ue = we.offsets.map((o) => o !== null);
  const pe = probsFor([
    null,
    null,
    ["B-PS", 0.5, "I-PS", 0.45],
    ["B-PS", 0.5, "I-PS", 0.45],
    ["I-PS", 0.5, "B-PS", 0.45],
    ["O", 0.5, "I-PS", 0.45],
    ["O", 0.5, "I-PS", 0.45],
    null,
    null,
    null,
  ]);
  const cut = spansFromTags(we.offsets, decodeBio(pe, LABELS, ue).tags, ue);
  assert.deepEqual(cut.map((s) => en.slice(s.start, s.end)), ["Kof", "i M"], "without the rules");
  const be = unitBoundaries(en, we, ue, { mode: "words+learned-tails", tails: new Set() });
  const se = spansFromTags(we.offsets, decodeBio(pe, LABELS, ue, { boundaries: be }).tags, ue);
  for (const s of se) {
    assert.ok(s.start === 0 || en[s.start - 1] === " ", `starts a word: ${en.slice(s.start)}`);
    assert.ok(s.end === en.length || en[s.end] === " ", `ends a word: ${en.slice(0, s.end)}`);
  }
  assert.deepEqual(se.map((s) => en.slice(s.start, s.end)), ["Kofi Mensah"]);
});

Deno.test("tails are learned from the training entities that end inside a word, stored and read back", () => {
  const text = "서울에서 김철수씨는 토트넘의 경기를";
  const w = window(text, ["서울", "##에서", "김철수", "##씨는", "토트넘", "##의", "경기", "##를"]);
  const entities = [
    { start: 0, end: 2, label: "LC" },
    { start: 5, end: 8, label: "PS" },
    { start: 11, end: 14, label: "OG" },
  ];
  const tails = learnTails([{ text, entities, windows: [w] }]);
  assert.deepEqual([...tails], [["에서", 1], ["씨는", 1], ["의", 1]]);
  const json = boundariesJson("words+learned-tails", tails);
  const back = parseBoundaries(JSON.parse(JSON.stringify(json)));
  assert.ok(typeof back !== "string");
  assert.deepEqual([...back.tails].sort(), ["씨는", "에서", "의"]);
  assert.equal(typeof parseBoundaries({ mode: "words+learned-tails", tails: [] }), "string");
  // Every training entity can be given under the learned rules; with pieces too.
  const units = w.offsets.map((o) => o !== null);
  const docs = [{ text, entities, windows: [{ ...w, units }] }];
  assert.deepEqual(boundaryFit(docs, back), { entities: 3, inexpressible: 0 });
  // Without the tail 의, 토트넘 of 토트넘의 cannot be given.
  const less = { mode: "words+learned-tails" as const, tails: new Set(["에서", "씨는"]) };
  assert.deepEqual(boundaryFit(docs, less), { entities: 3, inexpressible: 1 });
  // In pieces mode tails do not matter.
  assert.deepEqual(boundaryFit(docs, { mode: "pieces", tails: new Set() }), {
    entities: 3,
    inexpressible: 0,
  });
});
