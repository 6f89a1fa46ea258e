// The linear-chain CRF (ner/crf.ts) against brute force: on tiny inputs (4 classes, up to 5
// units, seeded random scores) every labelling is enumerated, and the forward algorithm, the
// NLL, the marginals and Viterbi (with and without constraints) must give what the enumeration
// gives; the gradients must match finite differences of the NLL.
import assert from "node:assert/strict";
import {
  type CrfConstraints,
  crfGradients,
  crfLogPartition,
  crfMarginals,
  crfNll,
  type CrfParams,
  crfPathScore,
  crfViterbi,
} from "../ner/crf.ts";
import { mulberry32 } from "../ner/random.ts";
import { decodeCrf } from "../ner/crf_decode.ts";
import { decodeBio } from "../ner/bio_decode.ts";
import { aggregateEntities } from "../ner/predict/entities.ts";

const N = 4;

function randomArray(random: () => number, size: number, scale: number): Float64Array {
  return Float64Array.from({ length: size }, () => (random() * 2 - 1) * scale);
}

function randomParams(random: () => number, n = N): CrfParams {
  return {
    transitions: randomArray(random, n * n, 2),
    start: randomArray(random, n, 1),
    end: randomArray(random, n, 1),
  };
}

/** Every labelling of `m` units over `n` classes. */
function* labellings(m: number, n: number): Generator<number[]> {
  const y = new Array<number>(m).fill(0);
  while (true) {
    yield y.slice();
    let t = m - 1;
    while (t >= 0 && y[t] === n - 1) y[t--] = 0;
    if (t < 0) return;
    y[t]!++;
  }
}

/** The score of a labelling written out from the definition, or -Infinity when forbidden. */
function bruteScore(e: Float64Array, y: number[], p: CrfParams, c: CrfConstraints = {}): number {
  const n = p.start.length;
  const m = y.length;
  if (m === 0) return 0;
  if (c.start && !c.start[y[0]!]) return -Infinity;
  if (c.end && !c.end[y[m - 1]!]) return -Infinity;
  let s = p.start[y[0]!]! + p.end[y[m - 1]!]!;
  for (let t = 0; t < m; t++) {
    if (c.units && !c.units[t * n + y[t]!]) return -Infinity;
    s += e[t * n + y[t]!]!;
    if (t === 0) continue;
    if (c.transitions && !c.transitions[y[t - 1]! * n + y[t]!]) return -Infinity;
    if (c.step && !c.step(t, y[t - 1]!, y[t]!)) return -Infinity;
    s += p.transitions[y[t - 1]! * n + y[t]!]!;
  }
  return s;
}

/** logZ, marginals, expected transitions and the best labelling, by enumeration. */
function brute(e: Float64Array, p: CrfParams, c: CrfConstraints = {}) {
  const n = p.start.length;
  const m = e.length / n;
  const all = [...labellings(m, n)].map((y) => ({ y, s: bruteScore(e, y, p, c) }));
  const max = Math.max(...all.map((a) => a.s));
  const logZ = max + Math.log(all.reduce((acc, a) => acc + Math.exp(a.s - max), 0));
  const units = new Float64Array(m * n);
  const transitions = new Float64Array(n * n);
  for (const { y, s } of all) {
    const w = Math.exp(s - logZ);
    y.forEach((k, t) => {
      units[t * n + k]! += w;
      if (t > 0) transitions[y[t - 1]! * n + k]! += w;
    });
  }
  const best = all.reduce((a, b) => (b.s > a.s ? b : a));
  return { logZ, units, transitions, best, all };
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol * Math.max(1, Math.abs(expected[i]!)),
      `${what}[${i}]: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

Deno.test("the CRF's forward algorithm, path score and NLL equal brute-force enumeration", () => {
  const random = mulberry32(2201);
  for (let trial = 0; trial < 20; trial++) {
    const m = 1 + (trial % 5);
    const p = randomParams(random);
    const e = randomArray(random, m * N, 3);
    const b = brute(e, p);
    close([crfLogPartition(e, p)], [b.logZ], 1e-12, "logZ");
    for (const y of [b.best.y, b.all[trial % b.all.length]!.y]) {
      close([crfPathScore(e, y, p)], [bruteScore(e, y, p)], 1e-12, "score");
      const nll = crfNll(e, y, p);
      close([nll], [b.logZ - bruteScore(e, y, p)], 1e-12, "nll");
      assert.ok(nll >= 0);
    }
  }
  // No unit: one empty labelling, score 0.
  const p = randomParams(random);
  assert.equal(crfLogPartition([], p), 0);
  assert.equal(crfNll([], [], p), 0);
});

Deno.test("the CRF's marginals and expected transitions equal brute-force enumeration", () => {
  const random = mulberry32(2202);
  for (let trial = 0; trial < 10; trial++) {
    const m = 1 + (trial % 5);
    const p = randomParams(random);
    const e = randomArray(random, m * N, 3);
    const b = brute(e, p);
    const got = crfMarginals(e, p);
    close([got.logZ], [b.logZ], 1e-12, "logZ");
    close(got.units, b.units, 1e-10, "unit marginals");
    close(got.transitions, b.transitions, 1e-10, "expected transitions");
    for (let t = 0; t < m; t++) {
      const row = got.units.subarray(t * N, (t + 1) * N).reduce((a, x) => a + x, 0);
      assert.ok(Math.abs(row - 1) < 1e-12);
    }
  }
});

Deno.test("the CRF's NLL gradients are marginals minus gold counts and match finite differences", () => {
  const random = mulberry32(2203);
  const h = 1e-6;
  for (let trial = 0; trial < 6; trial++) {
    const m = 1 + (trial % 5);
    const p = randomParams(random);
    const e = randomArray(random, m * N, 3);
    const y = Array.from({ length: m }, () => Math.floor(random() * N));
    const g = crfGradients(e, y, p);
    close([g.nll], [crfNll(e, y, p)], 1e-12, "nll");
    // Against the definition: marginals minus the gold one-hot, expected minus gold counts.
    const b = brute(e, p);
    const gold = new Float64Array(m * N);
    y.forEach((k, t) => (gold[t * N + k] = 1));
    close(g.emissions, b.units.map((u, i) => u - gold[i]!), 1e-10, "dE");
    const goldTrans = new Float64Array(N * N);
    for (let t = 1; t < m; t++) goldTrans[y[t - 1]! * N + y[t]!]! += 1;
    close(g.transitions, b.transitions.map((u, i) => u - goldTrans[i]!), 1e-10, "dT");
    // Against central differences of the NLL, for every score.
    const numeric = (which: "emissions" | "transitions" | "start" | "end", i: number) => {
      const shifted = (d: number) => {
        const e2 = Float64Array.from(e);
        const p2 = {
          transitions: Float64Array.from(p.transitions),
          start: Float64Array.from(p.start),
          end: Float64Array.from(p.end),
        };
        if (which === "emissions") e2[i]! += d;
        else p2[which][i]! += d;
        return crfNll(e2, y, p2);
      };
      return (shifted(h) - shifted(-h)) / (2 * h);
    };
    for (
      const [which, grad] of Object.entries({
        emissions: g.emissions,
        transitions: g.transitions,
        start: g.start,
        end: g.end,
      }) as ["emissions" | "transitions" | "start" | "end", Float64Array][]
    ) {
      const fd = Array.from(grad, (_, i) => numeric(which, i));
      close(grad, fd, 1e-6, which);
    }
  }
});

Deno.test("Viterbi finds the best labelling of brute-force enumeration, with and without constraints", () => {
  const random = mulberry32(2204);
  // Classes O, B-X, I-X, B-Y: I-X only after B-X or I-X, never first.
  const bio: CrfConstraints = {
    transitions: Array.from(
      { length: N * N },
      (_, k) => k % N !== 2 || [1, 2].includes((k / N) | 0),
    ),
    start: [true, true, false, true],
  };
  for (let trial = 0; trial < 30; trial++) {
    const m = 1 + (trial % 5);
    const p = randomParams(random);
    const e = randomArray(random, m * N, 3);
    // Per-unit classes: unit 1 may not be B-X; a position constraint: Y may not follow O at 2.
    const units = Array.from({ length: m * N }, (_, k) => !(k === N + 1));
    const constrained: CrfConstraints = {
      ...bio,
      units,
      end: [true, true, true, trial % 3 !== 0],
      step: (t, prev, cur) => !(t === 2 && prev === 0 && cur === 3),
    };
    for (const c of [{}, bio, constrained]) {
      const b = brute(e, p, c);
      const got = crfViterbi(e, p, c);
      close([got.score], [b.best.s], 1e-12, "best score");
      assert.deepEqual(Array.from(got.tags), b.best.y, `trial ${trial}`);
      // The marginals under constraints are those of the allowed labellings.
      const marg = crfMarginals(e, p, c);
      close([marg.logZ], [b.logZ], 1e-12, "constrained logZ");
      close(marg.units, b.units, 1e-10, "constrained marginals");
      close([crfLogPartition(e, p, c)], [b.logZ], 1e-12, "constrained partition");
    }
  }
});

Deno.test("the CRF stays finite with large scores and refuses impossible constraints and bad sizes", () => {
  const p: CrfParams = { transitions: [0, 800, -800, 0], start: [900, 0], end: [0, -900] };
  const e = [1000, -1000, 1000, 1000, -1000, 1000];
  const logZ = crfLogPartition(e, p);
  assert.ok(Number.isFinite(logZ));
  const g = crfGradients(e, [0, 1, 1], p);
  assert.ok([...g.emissions, ...g.transitions, g.nll].every(Number.isFinite));
  assert.throws(
    () => crfViterbi([0, 0], { transitions: [0], start: [0], end: [0] }, { units: [false, true] }),
    /no labelling/,
  );
  assert.throws(
    () => crfMarginals([0], { transitions: [0], start: [0], end: [0] }, { start: [false] }),
    /no labelling/,
  );
  assert.throws(
    () => crfLogPartition([0, 0, 0], { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] }),
    /multiple of 2/,
  );
  assert.throws(
    () => crfNll([0, 0], [2], { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] }),
    /outside \[0, 2\)/,
  );
  assert.throws(
    () => crfLogPartition([0], { transitions: [0, 0], start: [0], end: [0] }),
    /transitions 2/,
  );
});

Deno.test("decodeCrf gives the best valid BIO labelling under the CRF, and decodeBio's without transitions", () => {
  const random = mulberry32(2205);
  const labels = ["O", "B-PS", "I-PS", "B-LC", "I-LC"];
  const n = labels.length;
  const valid = (y: number[]) =>
    y.every((c, t) =>
      !labels[c]!.startsWith("I-") ||
      (t > 0 && labels[y[t - 1]!]!.slice(2) === labels[c]!.slice(2) && labels[y[t - 1]!] !== "O")
    );
  for (let trial = 0; trial < 20; trial++) {
    const pieces = 6;
    const units = Array.from({ length: pieces }, (_, k) => k > 0 && (k === 1 || random() < 0.7));
    const probs = new Float64Array(pieces * n);
    for (let k = 0; k < pieces; k++) {
      const row = Array.from({ length: n }, () => Math.exp(random() * 4));
      const z = row.reduce((a, x) => a + x, 0);
      row.forEach((x, c) => (probs[k * n + c] = x / z));
    }
    const crf = randomParams(random, n);
    const { tags, scores } = decodeCrf(probs, labels, units, crf);
    const positions = units.flatMap((u, k) => (u ? [k] : []));
    const emissions = positions.flatMap((k) =>
      Array.from(probs.subarray(k * n, k * n + n), Math.log)
    );
    // Brute force over the valid labellings of the units.
    let best: number[] = [];
    let bestScore = -Infinity;
    let z = 0;
    const all: { y: number[]; s: number }[] = [];
    for (const y of labellings(positions.length, n)) {
      if (!valid(y)) continue;
      const s = crfPathScore(emissions, y, crf);
      all.push({ y, s });
      if (s > bestScore) [best, bestScore] = [y, s];
    }
    for (const a of all) z += Math.exp(a.s - bestScore);
    assert.deepEqual(
      tags,
      units.map((u, k) => (u ? labels[best[positions.indexOf(k)]!]! : null)),
      `trial ${trial}`,
    );
    positions.forEach((k, t) => {
      // The score is the chosen tag's marginal over the valid labellings.
      const mass = all.filter((a) => a.y[t] === best[t]).reduce(
        (acc, a) => acc + Math.exp(a.s - bestScore),
        0,
      );
      assert.ok(Math.abs(scores[k]! - mass / z) < 1e-9, `score of piece ${k}`);
    });
    // Without transitions, start or end scores, the CRF decodes as decodeBio.
    const flat = {
      transitions: new Float64Array(n * n),
      start: new Float64Array(n),
      end: new Float64Array(n),
    };
    assert.deepEqual(
      decodeCrf(probs, labels, units, flat).tags,
      decodeBio(probs, labels, units).tags,
    );
  }
  assert.throws(
    () => decodeCrf([1], ["O"], [true], randomParams(random, 2)),
    /CRF has 2 classes, the labels 1/,
  );
});

Deno.test("predict's aggregation decodes a CRF model's units with its transitions", () => {
  const text = "Leo Smith flew";
  const window = {
    offsets: [null, [0, 3], [4, 9], [10, 14], null] as ([number, number] | null)[],
    wordStart: [false, true, true, true, false],
  };
  const labels = ["O", "B-PS", "I-PS"];
  // "Smith" leans to O on its own; the CRF has learned that B-PS is followed by I-PS.
  const probs = [[1, 0, 0], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4], [0.9, 0.05, 0.05], [1, 0, 0]]
    .flat();
  const crf = { transitions: [0, 0, -5, -1, 0, 1, 0, 0, 0], start: [0, 0, 0], end: [0, 0, 0] };
  assert.deepEqual(aggregateEntities(text, window, probs, labels).map((e) => e.text), ["Leo"]);
  const [e, ...rest] = aggregateEntities(text, window, probs, labels, "word", undefined, crf);
  assert.equal(rest.length, 0);
  assert.equal(e!.text, "Leo Smith");
  // The score is the mean of the units' CRF marginals.
  const { scores } = decodeCrf(probs, labels, [false, true, true, true, false], crf);
  assert.ok(Math.abs(e!.score - (scores[1]! + scores[2]!) / 2) < 1e-12);
});
