/**
 * A linear-chain conditional random field over the units of one sequence: the score of a
 * labelling `y` of units `0..m-1` is
 *
 * ```
 * start[y0] + Σ_t emissions[t][y_t] + Σ_{t≥1} transitions[y_{t-1}][y_t] + end[y_{m-1}]
 * ```
 *
 * and its probability is `exp(score - logZ)`, `logZ` summing over every labelling (the forward
 * algorithm). Here: the log-partition, a path's score, the negative log-likelihood, the marginals
 * and the NLL's gradients (forward-backward), and the best labelling (Viterbi), each optionally
 * under constraints (classes a unit may take, transitions allowed, all or at one position).
 *
 * Pure logic on the host, in Float64 and log space (every sum of exponentials is taken relative
 * to its largest term), `O(m n²)` per sequence. Arrays are row-major: `emissions[t * n + c]`,
 * `transitions[i * n + j]` (class `j` right after class `i`).
 *
 * @module
 */

/** The learned scores of a CRF over `n` classes. */
export interface CrfParams {
  /** `n × n`: the score of class `j` right after class `i` at `[i * n + j]`. */
  readonly transitions: ArrayLike<number>;
  /** `n`: the score of each class as the first unit's. */
  readonly start: ArrayLike<number>;
  /** `n`: the score of each class as the last unit's. */
  readonly end: ArrayLike<number>;
}

/**
 * Which labellings count: a labelling that breaks one of these has probability 0 (it is left
 * out of the partition, the marginals and Viterbi). Every field is optional; none means all.
 */
export interface CrfConstraints {
  /** `n × n`: whether class `j` may follow class `i`, at `[i * n + j]` (BIO: `I-X` only after `B-X`, `I-X`). */
  readonly transitions?: ArrayLike<boolean>;
  /** `n`: the classes the first unit may take. */
  readonly start?: ArrayLike<boolean>;
  /** `n`: the classes the last unit may take. */
  readonly end?: ArrayLike<boolean>;
  /** `m × n`: the classes each unit may take, at `[t * n + c]`. */
  readonly units?: ArrayLike<boolean>;
  /**
   * Whether unit `t` (from 1) may take class `cur` after unit `t - 1` took `prev`: constraints
   * that depend on the position (an entity may end only where a word ends).
   */
  readonly step?: (t: number, prev: number, cur: number) => boolean;
}

/** The marginals of a CRF over one sequence (see {@link crfMarginals}). */
export interface CrfMarginals {
  /** The log-partition. */
  logZ: number;
  /** `m × n`: the probability that unit `t` takes class `c`. */
  units: Float64Array;
  /** `n × n`: the expected number of times class `j` follows class `i`, summed over positions. */
  transitions: Float64Array;
}

/** The negative log-likelihood of a gold labelling and its gradients (see {@link crfGradients}). */
export interface CrfGradients {
  nll: number;
  /** `m × n`: marginals minus the gold one-hot. */
  emissions: Float64Array;
  /** `n × n`: expected minus gold transition counts. */
  transitions: Float64Array;
  /** `n`: the first unit's marginals minus its gold one-hot. */
  start: Float64Array;
  /** `n`: the last unit's marginals minus its gold one-hot. */
  end: Float64Array;
}

/** `log Σ exp(x)` of `x[0..len)`, relative to the largest term; `-Infinity` when all are. */
function logSumExp(x: Float64Array, len: number): number {
  let max = -Infinity;
  for (let i = 0; i < len; i++) if (x[i]! > max) max = x[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < len; i++) sum += Math.exp(x[i]! - max);
  return max + Math.log(sum);
}

/** A CRF's scores with the constraints folded in (`-Infinity` where something is forbidden). */
interface Lattice {
  n: number;
  m: number;
  /** `m × n` emissions, `-Infinity` where a unit may not take a class. */
  emit: Float64Array;
  /** `n × n` transitions, `-Infinity` where forbidden everywhere. */
  trans: Float64Array;
  start: Float64Array;
  end: Float64Array;
  step?: (t: number, prev: number, cur: number) => boolean;
}

/** The transition score from `i` at unit `t - 1` to `j` at unit `t`. */
function transition(L: Lattice, t: number, i: number, j: number): number {
  const s = L.trans[i * L.n + j]!;
  return s === -Infinity || !L.step || L.step(t, i, j) ? s : -Infinity;
}

function lattice(
  emissions: ArrayLike<number>,
  params: CrfParams,
  constraints: CrfConstraints = {},
): Lattice {
  const n = params.start.length;
  if (n < 1) throw new RangeError("A CRF needs at least one class");
  if (params.end.length !== n || params.transitions.length !== n * n) {
    throw new RangeError(
      `CRF scores do not agree on the class count: start ${n}, end ${params.end.length}, ` +
        `transitions ${params.transitions.length} (expected ${n * n})`,
    );
  }
  if (emissions.length % n !== 0) {
    throw new RangeError(
      `Emissions hold ${emissions.length} values: not a multiple of ${n} classes`,
    );
  }
  const m = emissions.length / n;
  const c = constraints;
  const sizes: [string, ArrayLike<boolean> | undefined, number][] = [
    ["transitions", c.transitions, n * n],
    ["start", c.start, n],
    ["end", c.end, n],
    ["units", c.units, m * n],
  ];
  for (const [name, mask, size] of sizes) {
    if (mask && mask.length !== size) {
      throw new RangeError(`Constraint "${name}" holds ${mask.length} values: expected ${size}`);
    }
  }
  const emit = Float64Array.from(emissions);
  if (c.units) { for (let k = 0; k < emit.length; k++) if (!c.units[k]) emit[k] = -Infinity; }
  const trans = Float64Array.from(params.transitions);
  if (c.transitions) {
    for (let k = 0; k < trans.length; k++) if (!c.transitions[k]) trans[k] = -Infinity;
  }
  const start = Float64Array.from(params.start);
  const end = Float64Array.from(params.end);
  for (let k = 0; k < n; k++) {
    if (c.start && !c.start[k]) start[k] = -Infinity;
    if (c.end && !c.end[k]) end[k] = -Infinity;
  }
  return { n, m, emit, trans, start, end, ...(c.step ? { step: c.step } : {}) };
}

/**
 * The forward variables `alpha[t][j]`: the log-sum of the scores of every labelling of units
 * `0..t` that ends in `j` (the end score not included).
 */
function forward(L: Lattice): Float64Array {
  const { n, m } = L;
  const alpha = new Float64Array(m * n);
  const terms = new Float64Array(n);
  for (let j = 0; j < n; j++) alpha[j] = L.start[j]! + L.emit[j]!;
  for (let t = 1; t < m; t++) {
    for (let j = 0; j < n; j++) {
      for (let i = 0; i < n; i++) terms[i] = alpha[(t - 1) * n + i]! + transition(L, t, i, j);
      alpha[t * n + j] = logSumExp(terms, n) + L.emit[t * n + j]!;
    }
  }
  return alpha;
}

/** `log Z` from the forward variables (0 for an empty sequence: one empty labelling). */
function partition(L: Lattice, alpha: Float64Array): number {
  const { n, m } = L;
  if (m === 0) return 0;
  const terms = new Float64Array(n);
  for (let j = 0; j < n; j++) terms[j] = alpha[(m - 1) * n + j]! + L.end[j]!;
  return logSumExp(terms, n);
}

/**
 * The log-partition `log Σ_y exp(score(y))` over the labellings the constraints allow (the
 * forward algorithm).
 *
 * @param emissions `m × n` scores of each unit's classes (the classifier's logits).
 * @param params Transition, start and end scores.
 * @param constraints Labellings left out (none by default).
 * @returns `log Z`: 0 for no unit, `-Infinity` when the constraints allow no labelling.
 * @throws {RangeError} When the arrays' sizes do not agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crfLogPartition } from "./crf.ts";
 * // Two classes, one unit, no transitions to speak of: log(e^1 + e^2).
 * const params = { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] };
 * assert.ok(Math.abs(crfLogPartition([1, 2], params) - Math.log(Math.E + Math.E ** 2)) < 1e-12);
 * ```
 */
export function crfLogPartition(
  emissions: ArrayLike<number>,
  params: CrfParams,
  constraints?: CrfConstraints,
): number {
  const L = lattice(emissions, params, constraints);
  return partition(L, forward(L));
}

function checkTags(tags: ArrayLike<number>, m: number, n: number): void {
  if (tags.length !== m) {
    throw new RangeError(`${tags.length} tags for ${m} units`);
  }
  for (let t = 0; t < m; t++) {
    const y = tags[t]!;
    if (!Number.isInteger(y) || y < 0 || y >= n) {
      throw new RangeError(`Tag ${y} of unit ${t} is outside [0, ${n})`);
    }
  }
}

/**
 * The score of one labelling (no constraints apply).
 *
 * @param emissions `m × n` emission scores.
 * @param tags The class of each unit (`m` values).
 * @param params Transition, start and end scores.
 * @returns Its unnormalised log-score (0 for no unit).
 * @throws {RangeError} On a tag outside the classes, or sizes that do not agree.
 */
export function crfPathScore(
  emissions: ArrayLike<number>,
  tags: ArrayLike<number>,
  params: CrfParams,
): number {
  const L = lattice(emissions, params);
  const { n, m } = L;
  checkTags(tags, m, n);
  if (m === 0) return 0;
  let s = L.start[tags[0]!]! + L.end[tags[m - 1]!]!;
  for (let t = 0; t < m; t++) s += L.emit[t * n + tags[t]!]!;
  for (let t = 1; t < m; t++) s += L.trans[tags[t - 1]! * n + tags[t]!]!;
  return s;
}

/**
 * The negative log-likelihood of a labelling: `log Z - score(tags)`.
 *
 * @param emissions `m × n` emission scores.
 * @param tags The gold class of each unit.
 * @param params Transition, start and end scores.
 * @returns A value ≥ 0 (0 for no unit).
 * @throws {RangeError} On a tag outside the classes, or sizes that do not agree.
 */
export function crfNll(
  emissions: ArrayLike<number>,
  tags: ArrayLike<number>,
  params: CrfParams,
): number {
  return crfLogPartition(emissions, params) - crfPathScore(emissions, tags, params);
}

/**
 * The marginals under the constraints (forward-backward): each unit's class probabilities and
 * the expected transition counts.
 *
 * @param emissions `m × n` emission scores.
 * @param params Transition, start and end scores.
 * @param constraints Labellings left out (none by default).
 * @returns `log Z`, the unit marginals and the expected transition counts.
 * @throws {RangeError} When the constraints allow no labelling, or sizes do not agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crfMarginals } from "./crf.ts";
 * // Class 1 may not follow class 1: of the three labellings of two units, 0 0, 0 1 and 1 0
 * // (equal scores), unit 0 takes class 1 in one.
 * const params = { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] };
 * const { units } = crfMarginals([0, 0, 0, 0], params, {
 *   transitions: [true, true, true, false],
 * });
 * assert.ok(Math.abs(units[1]! - 1 / 3) < 1e-12);
 * ```
 */
export function crfMarginals(
  emissions: ArrayLike<number>,
  params: CrfParams,
  constraints?: CrfConstraints,
): CrfMarginals {
  const L = lattice(emissions, params, constraints);
  const { n, m } = L;
  const alpha = forward(L);
  const logZ = partition(L, alpha);
  const units = new Float64Array(m * n);
  const transitions = new Float64Array(n * n);
  if (m === 0) return { logZ, units, transitions };
  if (logZ === -Infinity) throw new RangeError("The constraints allow no labelling");
  // beta[t][i]: the log-sum of the scores of units t+1.. given unit t takes i (end included).
  const beta = new Float64Array(m * n);
  const terms = new Float64Array(n);
  for (let i = 0; i < n; i++) beta[(m - 1) * n + i] = L.end[i]!;
  for (let t = m - 2; t >= 0; t--) {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        terms[j] = transition(L, t + 1, i, j) + L.emit[(t + 1) * n + j]! + beta[(t + 1) * n + j]!;
      }
      beta[t * n + i] = logSumExp(terms, n);
    }
  }
  for (let k = 0; k < m * n; k++) units[k] = Math.exp(alpha[k]! + beta[k]! - logZ);
  for (let t = 1; t < m; t++) {
    for (let i = 0; i < n; i++) {
      const a = alpha[(t - 1) * n + i]!;
      if (a === -Infinity) continue;
      for (let j = 0; j < n; j++) {
        const s = a + transition(L, t, i, j) + L.emit[t * n + j]! + beta[t * n + j]!;
        transitions[i * n + j]! += Math.exp(s - logZ);
      }
    }
  }
  return { logZ, units, transitions };
}

/**
 * The negative log-likelihood of a gold labelling and its gradients with respect to the
 * emissions (marginals minus the gold one-hot), the transitions (expected minus gold counts),
 * and the start and end scores. No constraints: training sees every labelling.
 *
 * @param emissions `m × n` emission scores.
 * @param tags The gold class of each unit.
 * @param params Transition, start and end scores.
 * @returns The NLL and its gradients (all zero for no unit).
 * @throws {RangeError} On a tag outside the classes, or sizes that do not agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crfGradients } from "./crf.ts";
 * const params = { transitions: [0, 0, 0, 0], start: [0, 0], end: [0, 0] };
 * // One unit, equal scores: p = 1/2 each; the gold class's gradient is 1/2 - 1.
 * const g = crfGradients([0, 0], [1], params);
 * assert.ok(Math.abs(g.nll - Math.log(2)) < 1e-12);
 * assert.deepEqual(Array.from(g.emissions), [0.5, -0.5]);
 * ```
 */
export function crfGradients(
  emissions: ArrayLike<number>,
  tags: ArrayLike<number>,
  params: CrfParams,
): CrfGradients {
  const n = params.start.length;
  const score = crfPathScore(emissions, tags, params);
  const marg = crfMarginals(emissions, params);
  const m = tags.length;
  const dEmit = marg.units;
  const dTrans = marg.transitions;
  if (m === 0) {
    const zeros = new Float64Array(n);
    return { nll: 0, emissions: dEmit, transitions: dTrans, start: zeros, end: zeros.slice() };
  }
  for (let t = 0; t < m; t++) dEmit[t * n + tags[t]!]! -= 1;
  for (let t = 1; t < m; t++) dTrans[tags[t - 1]! * n + tags[t]!]! -= 1;
  // The start score adds to the first unit's emission, the end score to the last's: same
  // gradients.
  const dStart = dEmit.slice(0, n);
  const dEnd = dEmit.slice((m - 1) * n, m * n);
  return {
    nll: marg.logZ - score,
    emissions: dEmit,
    transitions: dTrans,
    start: dStart,
    end: dEnd,
  };
}

/**
 * The best labelling under the constraints (Viterbi); of equal-scoring ones, the one whose
 * classes are lowest from the last unit backwards.
 *
 * @param emissions `m × n` emission scores.
 * @param params Transition, start and end scores.
 * @param constraints Labellings left out (none by default).
 * @returns The class of each unit and the labelling's score.
 * @throws {RangeError} When the constraints allow no labelling, or sizes do not agree.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crfViterbi } from "./crf.ts";
 * // Unit 1 prefers class 1 on its own, but 0 -> 1 costs 3: 0 0 wins.
 * const params = { transitions: [0, -3, 0, 0], start: [0, 0], end: [0, 0] };
 * const best = crfViterbi([2, 0, 0, 1], params);
 * assert.deepEqual(Array.from(best.tags), [0, 0]);
 * assert.equal(best.score, 2);
 * ```
 */
export function crfViterbi(
  emissions: ArrayLike<number>,
  params: CrfParams,
  constraints?: CrfConstraints,
): { tags: Int32Array; score: number } {
  const L = lattice(emissions, params, constraints);
  const { n, m } = L;
  const tags = new Int32Array(m);
  if (m === 0) return { tags, score: 0 };
  const score = new Float64Array(m * n);
  const back = new Int32Array(m * n);
  for (let j = 0; j < n; j++) score[j] = L.start[j]! + L.emit[j]!;
  for (let t = 1; t < m; t++) {
    for (let j = 0; j < n; j++) {
      let best = -Infinity;
      let arg = 0;
      for (let i = 0; i < n; i++) {
        const s = score[(t - 1) * n + i]! + transition(L, t, i, j);
        if (s > best) {
          best = s;
          arg = i;
        }
      }
      score[t * n + j] = best + L.emit[t * n + j]!;
      back[t * n + j] = arg;
    }
  }
  let c = 0;
  let best = -Infinity;
  for (let j = 0; j < n; j++) {
    const s = score[(m - 1) * n + j]! + L.end[j]!;
    if (s > best) {
      best = s;
      c = j;
    }
  }
  if (best === -Infinity) throw new RangeError("The constraints allow no labelling");
  for (let t = m - 1; t >= 0; t--) {
    tags[t] = c;
    c = back[t * n + c]!;
  }
  return { tags, score: best };
}
