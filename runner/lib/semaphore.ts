/**
 * A counting semaphore: at most `n` holders at once, the others waiting in order.
 *
 * @module
 */

/** At most `n` holders at once (at least one); {@link acquire} waits for a free place. */
export class Semaphore {
  #free: number;
  #waiting: (() => void)[] = [];
  /** @param n How many may hold it at once. */
  constructor(n: number) {
    this.#free = Math.max(1, n);
  }
  /** Takes a place, waiting for one when all are held. */
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  /** Gives a place back (to the longest waiter, if any). */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
