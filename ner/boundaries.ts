/**
 * Where an entity may start and end in a window of pieces. Entities in real corpora are made of
 * whole words, except that a Korean name often carries a particle written onto it (`서울에서`:
 * the entity is `서울`, `에서` a particle). So, in `words+learned-tails` mode, an entity starts
 * where a word starts, and ends where a word ends or right before a *tail*: the rest of a word
 * after an entity, as seen after some entity of the training data (`에서`, `의`, `씨는`, ...).
 * The decoder (ner/bio_decode.ts) chooses the most probable labelling under these rules, so a
 * prediction never cuts a word (`Kof` + `i`, `연구` + `소`), while `서울` of `서울에서` stays
 * possible. In `pieces` mode any piece boundary is allowed.
 *
 * Words are the tokenizer's pre-tokenization words (whitespace and punctuation split them), read
 * from a window's `wordStart` flags.
 *
 * Pure logic: no tensors.
 *
 * @module
 */

import type { UnitBoundaries } from "./bio_decode.ts";
import type { EntitySpan } from "./types.ts";

export type { UnitBoundaries } from "./bio_decode.ts";

/** The boundary rules a decoder applies (see the module doc). */
export const BOUNDARY_MODES = ["words+learned-tails", "pieces"] as const;

/** One of {@link BOUNDARY_MODES}. */
export type BoundaryMode = (typeof BOUNDARY_MODES)[number];

/** The boundary rules of a model: its mode and, in `words+learned-tails`, its tails. */
export interface Boundaries {
  mode: BoundaryMode;
  /** Word endings allowed right after an entity (empty in `pieces` mode). */
  tails: ReadonlySet<string>;
}

/** The parts of a window boundaries are read from. */
export interface BoundaryWindow {
  readonly offsets: readonly (readonly [number, number] | null)[];
  readonly wordStart: readonly boolean[];
}

/**
 * Index of the last piece of the word that holds piece `k`: the pieces after it up to the next
 * word start or special token.
 */
function lastOfWord(window: BoundaryWindow, k: number): number {
  let j = k;
  while (
    j + 1 < window.offsets.length && window.offsets[j + 1] !== null && !window.wordStart[j + 1]
  ) {
    j++;
  }
  return j;
}

/**
 * Counts, over training documents, the tails that follow their entities: for each entity that
 * ends inside a word, the rest of that word (`에서` of `서울에서` for `서울`).
 *
 * @param docs Each document's text, gold entities and windows (offsets and word starts).
 * @param counts Counts to add to (a new map by default), for documents read in several parts.
 * @returns How often each tail follows an entity: `counts`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnTails } from "./boundaries.ts";
 * // 서울에서 왔다: pieces 서울, ##에서, 왔다.
 * const window = {
 *   offsets: [null, [0, 2], [2, 4], [5, 7], null] as ([number, number] | null)[],
 *   wordStart: [false, true, false, true, false],
 * };
 * const doc = { text: "서울에서 왔다", entities: [{ start: 0, end: 2, label: "LC" }], windows: [window] };
 * assert.deepEqual([...learnTails([doc])], [["에서", 1]]);
 * ```
 */
export function learnTails(
  docs: Iterable<{
    text: string;
    entities: readonly EntitySpan[];
    windows: readonly BoundaryWindow[];
  }>,
  counts: Map<string, number> = new Map(),
): Map<string, number> {
  const tails = counts;
  for (const { text, entities, windows } of docs) {
    if (entities.length === 0) continue;
    // The end of the word that holds each character, from the windows' words.
    const wordEnd = new Map<number, number>();
    for (const w of windows) {
      for (let k = 0; k < w.offsets.length; k++) {
        const off = w.offsets[k];
        if (!off || !w.wordStart[k]) continue;
        const end = w.offsets[lastOfWord(w, k)]![1];
        for (let i = off[0]; i < end; i++) wordEnd.set(i, end);
      }
    }
    for (const e of entities) {
      const end = wordEnd.get(e.end - 1);
      if (end === undefined || end <= e.end) continue;
      const tail = text.slice(e.end, end);
      tails.set(tail, (tails.get(tail) ?? 0) + 1);
    }
  }
  return tails;
}

/**
 * Where entities may start and end in one window, for the decoder.
 *
 * @param text The text the window's offsets point into.
 * @param window The window's offsets and word starts.
 * @param units Which pieces carry a tag; a unit runs from its piece to the next unit.
 * @param boundaries The rules.
 * @returns Per piece: may an entity start there, may it end with the unit that starts there.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitBoundaries } from "./boundaries.ts";
 * // 서울에서 신제품: 서울 | ##에서 | 신 | ##제품.
 * const window = {
 *   offsets: [null, [0, 2], [2, 4], [5, 6], [6, 8], null] as ([number, number] | null)[],
 *   wordStart: [false, true, false, true, false, false],
 * };
 * const units = [false, true, true, true, true, false];
 * const b = unitBoundaries("서울에서 신제품", window, units, {
 *   mode: "words+learned-tails",
 *   tails: new Set(["에서"]),
 * });
 * assert.deepEqual(b.start, [false, true, false, true, false, false]);
 * // 서울 may end before its tail 에서; 신 may not end before 제품, which is no tail.
 * assert.deepEqual(b.end, [false, true, true, false, true, false]);
 * ```
 */
export function unitBoundaries(
  text: string,
  window: BoundaryWindow,
  units: readonly boolean[],
  boundaries: Boundaries,
): UnitBoundaries {
  const n = window.offsets.length;
  const start = new Array<boolean>(n).fill(false);
  const end = new Array<boolean>(n).fill(false);
  for (let k = 0; k < n; k++) {
    if (!units[k] || window.offsets[k] === null) continue;
    if (boundaries.mode === "pieces") {
      start[k] = end[k] = true;
      continue;
    }
    start[k] = window.wordStart[k] === true;
    // The unit: this piece and the pieces after it that carry no tag of their own.
    let last = k;
    while (last + 1 < n && window.offsets[last + 1] !== null && !units[last + 1]) last++;
    const wordLast = lastOfWord(window, last);
    end[k] = wordLast === last ||
      boundaries.tails.has(text.slice(window.offsets[last]![1], window.offsets[wordLast]![1]));
  }
  return { start, end };
}

/** The boundary rules as `config.json` stores them (`span_boundaries`). */
export interface BoundariesJson {
  mode: BoundaryMode;
  /** Each tail with how often it followed a training entity, most frequent first. */
  tails: Record<string, number>;
}

/**
 * The boundary rules of a model as `config.json` stores them.
 *
 * @param mode The mode.
 * @param tails The tails and their counts (ignored in `pieces` mode).
 * @returns The JSON value, tails most frequent first (then in code-unit order).
 */
export function boundariesJson(
  mode: BoundaryMode,
  tails: ReadonlyMap<string, number>,
): BoundariesJson {
  const sorted = mode === "pieces"
    ? []
    : [...tails].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { mode, tails: Object.fromEntries(sorted) };
}

/**
 * Reads the boundary rules stored in `config.json`.
 *
 * @param value The `span_boundaries` value.
 * @returns The rules, or what is wrong with the value.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBoundaries } from "./boundaries.ts";
 * const b = parseBoundaries({ mode: "words+learned-tails", tails: { "에서": 3 } });
 * assert.ok(typeof b !== "string" && b.tails.has("에서"));
 * assert.equal(parseBoundaries({ mode: "words" }), 'mode "words" is not one of "words+learned-tails", "pieces"');
 * ```
 */
export function parseBoundaries(value: unknown): Boundaries | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "it is not an object";
  }
  const { mode, tails } = value as { mode?: unknown; tails?: unknown };
  if (!(BOUNDARY_MODES as readonly unknown[]).includes(mode)) {
    return `mode ${JSON.stringify(mode)} is not one of ${
      BOUNDARY_MODES.map((m) => `"${m}"`).join(", ")
    }`;
  }
  if (tails === undefined) return { mode: mode as BoundaryMode, tails: new Set() };
  if (tails === null || typeof tails !== "object" || Array.isArray(tails)) {
    return "tails is not an object of tails and counts";
  }
  return { mode: mode as BoundaryMode, tails: new Set(Object.keys(tails)) };
}

/** Result of {@link boundaryFit}. */
export interface BoundaryFit {
  /** Entities counted. */
  entities: number;
  /** Entities the rules cannot give: no allowed start at their start, or no allowed end. */
  inexpressible: number;
}

/**
 * How many gold entities the boundary rules cannot express: the decoder can never return them,
 * whatever the model says (an entity that starts inside a word, or that ends inside a word
 * before a rest that is no known tail).
 *
 * @param docs Each document's text, gold entities, and its windows with their units.
 * @param boundaries The rules.
 * @returns The counts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boundaryFit } from "./boundaries.ts";
 * const window = {
 *   offsets: [null, [0, 2], [2, 4], null] as ([number, number] | null)[],
 *   wordStart: [false, true, false, false],
 *   units: [false, true, true, false],
 * };
 * const doc = { text: "서울시청", entities: [{ start: 0, end: 2, label: "LC" }], windows: [window] };
 * const fit = (tails: string[]) =>
 *   boundaryFit([doc], { mode: "words+learned-tails", tails: new Set(tails) });
 * assert.deepEqual(fit([]), { entities: 1, inexpressible: 1 });
 * assert.deepEqual(fit(["시청"]), { entities: 1, inexpressible: 0 });
 * ```
 */
export function boundaryFit(
  docs: Iterable<{
    text: string;
    entities: readonly EntitySpan[];
    windows: readonly (BoundaryWindow & { units: readonly boolean[] })[];
  }>,
  boundaries: Boundaries,
): BoundaryFit {
  let entities = 0;
  let inexpressible = 0;
  for (const { text, entities: gold, windows } of docs) {
    if (gold.length === 0) continue;
    const starts = new Set<number>();
    const ends = new Set<number>();
    for (const w of windows) {
      const b = unitBoundaries(text, w, w.units, boundaries);
      for (let k = 0; k < w.offsets.length; k++) {
        const off = w.offsets[k];
        if (!off || !w.units[k]) continue;
        if (b.start[k]) starts.add(off[0]);
        if (!b.end[k]) continue;
        let last = k;
        while (last + 1 < w.offsets.length && w.offsets[last + 1] && !w.units[last + 1]) last++;
        ends.add(w.offsets[last]![1]);
      }
    }
    for (const e of gold) {
      entities++;
      if (!starts.has(e.start) || !ends.has(e.end)) inexpressible++;
    }
  }
  return { entities, inexpressible };
}
