/**
 * A small seeded pseudo-random generator (mulberry32) for weight
 * initialisation: fast, and identical on every backend.
 *
 * @module
 */

/** A seeded generator of uniform numbers in [0, 1). */
export class Rng {
  #state: number;
  #spare: number | null = null;

  /** @param seed Any integer; equal seeds give equal sequences. */
  constructor(seed: number) {
    this.#state = (Math.floor(seed) ^ 0x9e3779b9) >>> 0;
    // Warm up so that close seeds diverge.
    for (let i = 0; i < 4; i++) this.next();
  }

  /** A uniform number in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal number (Box-Muller). */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fills `out` with normal numbers of the given standard deviation. */
  fillNormal(out: Float32Array, std: number): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = this.normal() * std;
    return out;
  }
}

/** Mixes two integers into a seed (for per-step and per-layer streams). */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul((a | 0) ^ 0x85ebca6b, 0xc2b2ae35) ^ (b | 0);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
