/**
 * Texts of requests that arrive together share forward passes: each request's texts join one
 * queue, and batches are taken from it: as soon as a batch is full, or a short window after the
 * first text of a quiet moment, and at once again when a batch is done (the texts that came in
 * while it ran make the next one). When a request names its client (the server gives the
 * connection's address), a batch also runs at once when every client heard from in the last
 * {@link CLIENT_MEMORY_MS} has texts waiting or being predicted: nobody else is coming, so the
 * window would only add latency. One client sending request after request then never waits for
 * it, and N clients that each wait for their answer make batches of N; when the model takes
 * several batches at once ({@link BatcherLimits.inFlight}: a pool of workers), batches of an even
 * share of N, one for each batch the model may hold, so that a worker that finishes finds the
 * next batch waiting instead of waiting for its clients to send again. A batch holds
 * at most {@link BatcherLimits.batchTexts} texts and {@link BatcherLimits.batchChars}
 * characters; a word-piece covers at least one character, so this bounds its pieces too. The
 * queue is bounded the same way; a request that would pass the bound is refused whole
 * ({@link QueueFullError}), never half queued.
 *
 * A text longer than `MAX_TEXT_CHARS` (ner/predict/stream.ts) is cut into parts as `predict`
 * cuts a long line, each part is predicted on its own, and the entities' offsets are moved back
 * into the whole text.
 *
 * @module
 */

import type { DecodeOptions, PredictedEntity } from "../ner/predict/mod.ts";
import { cutPoints, MAX_TEXT_CHARS } from "../ner/predict/stream.ts";

/** Predicts a batch of texts, each with its own decode options (`Predictor.predict`). */
export type PredictBatch = (
  texts: readonly string[],
  decode: readonly DecodeOptions[],
) => Promise<PredictedEntity[][]>;

/** The bounds of {@link Batcher}. */
export interface BatcherLimits {
  /** The most texts (or parts of a long text) in one batch. */
  batchTexts: number;
  /** The most characters in one batch (always at least one text or part). */
  batchChars: number;
  /** Milliseconds a batch that is not full waits for more texts, from its first. */
  windowMs: number;
  /** The most texts (or parts) waiting; past it a request is refused. */
  queueTexts: number;
  /** The most characters waiting; past it a request is refused. */
  queueChars: number;
  /**
   * The most batches given to the model at once: more than one when the model computes
   * elsewhere (a pool of workers), so that the next batch is ready when a worker is free. A batch
   * then holds at most an even share, over these batches, of the clients heard from lately.
   */
  inFlight: number;
}

/** The bounds a server uses unless told otherwise (see docs/serve.md). */
export const DEFAULT_BATCHER_LIMITS: Readonly<BatcherLimits> = {
  batchTexts: 32,
  batchChars: 32 * 1024,
  windowMs: 2,
  queueTexts: 1024,
  queueChars: 4 * 1024 * 1024,
  inFlight: 1,
};

/**
 * How long a client counts as present after its last request (ms): while it does, a batch that
 * lacks its texts waits the window for them.
 */
export const CLIENT_MEMORY_MS = 250;

/** The most clients remembered (the oldest is forgotten first): a bound on the memory it takes. */
export const MAX_CLIENTS = 4096;

/** The queue cannot take a request now: answered 503, with a time to retry after. */
export class QueueFullError extends Error {
  /**
   * Creates the error.
   *
   * @param message What is full.
   */
  constructor(message: string) {
    super(message);
    this.name = "QueueFullError";
  }
}

/** One part of a text waiting for the model. */
interface Job {
  /** Who sent it, where the request said. */
  client: string | undefined;
  text: string;
  decode: DecodeOptions;
  resolve: (entities: PredictedEntity[]) => void;
  reject: (error: unknown) => void;
}

/** The queue between requests and the model. */
export class Batcher {
  readonly #predict: PredictBatch;
  readonly #limits: BatcherLimits;
  readonly #maxChars: number;
  #queue: Job[] = [];
  #queuedChars = 0;
  #inFlight = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #idle: (() => void)[] = [];
  #batches = 0;
  #requests = 0;
  /** When each client last sent a request, oldest first. */
  #clients = new Map<string, number>();
  /** Texts (or parts) waiting or in a batch being predicted, by client. */
  #pending = new Map<string, number>();

  /**
   * Creates the queue.
   *
   * @param predict Predicts a batch.
   * @param limits The bounds (default {@link DEFAULT_BATCHER_LIMITS}).
   * @param maxChars The longest part of a text (default `MAX_TEXT_CHARS`, as `predict`).
   */
  constructor(
    predict: PredictBatch,
    limits: Partial<BatcherLimits> = {},
    maxChars: number = MAX_TEXT_CHARS,
  ) {
    this.#predict = predict;
    this.#limits = { ...DEFAULT_BATCHER_LIMITS, ...limits };
    this.#maxChars = maxChars;
  }

  /**
   * Texts (or parts) and characters waiting; requests taken and batches run so far; clients
   * heard from in the last {@link CLIENT_MEMORY_MS}.
   */
  get stats(): {
    texts: number;
    chars: number;
    requests: number;
    batches: number;
    clients: number;
  } {
    this.#forget(performance.now());
    return {
      texts: this.#queue.length,
      chars: this.#queuedChars,
      requests: this.#requests,
      batches: this.#batches,
      clients: this.#clients.size,
    };
  }

  /**
   * Queues a request's texts and gives their entities when every part is done.
   *
   * @param texts The texts.
   * @param decode The request's aggregation and minimum score.
   * @param client Who sends it (the server gives the connection's address), or nothing.
   * @returns The entities of each text, offsets into the whole text.
   * @throws {QueueFullError} At once, queueing nothing, when the texts would pass the queue's
   *   bounds.
   */
  submit(
    texts: readonly string[],
    decode: DecodeOptions = {},
    client?: string,
  ): Promise<PredictedEntity[][]> {
    const cuts = texts.map((t) => cutPoints(t, this.#maxChars));
    const parts = cuts.reduce((n, c) => n + c.length, 0);
    const chars = texts.reduce((n, t) => n + t.length, 0);
    const { queueTexts, queueChars } = this.#limits;
    // An empty queue takes any request the request limits let in: no request waits forever.
    if (
      this.#queue.length &&
      (this.#queue.length + parts > queueTexts || this.#queuedChars + chars > queueChars)
    ) {
      throw new QueueFullError(
        `The queue is full (${this.#queue.length} texts, ${this.#queuedChars} characters ` +
          `waiting; at most ${queueTexts} and ${queueChars}): retry in a moment`,
      );
    }
    this.#requests++;
    if (client !== undefined) this.heardFrom(client);
    const answers = texts.map((text, t) => {
      const starts = cuts[t]!;
      const done = starts.map((start, i) => {
        const end = starts[i + 1] ?? text.length;
        return new Promise<PredictedEntity[]>((resolve, reject) => {
          this.#queue.push({ client, text: text.slice(start, end), decode, resolve, reject });
          this.#queuedChars += end - start;
          if (client !== undefined) {
            this.#pending.set(client, (this.#pending.get(client) ?? 0) + 1);
          }
        }).finally(() => {
          if (client === undefined) return;
          const left = this.#pending.get(client)! - 1;
          if (left > 0) this.#pending.set(client, left);
          else this.#pending.delete(client);
        }).then((found) =>
          found.map((e) => ({ ...e, start: e.start + start, end: e.end + start }))
        );
      });
      return Promise.all(done).then((each) => each.flat());
    });
    this.#schedule();
    return Promise.all(answers);
  }

  /** Resolves when nothing waits and no batch runs. */
  idle(): Promise<void> {
    if (this.#inFlight === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The most texts in the next batch: the bound, or the clients' even share of the batches in flight. */
  #batchTexts(): number {
    const { batchTexts, inFlight } = this.#limits;
    if (inFlight <= 1 || this.#clients.size === 0) return batchTexts;
    return Math.max(1, Math.min(batchTexts, Math.ceil(this.#clients.size / inFlight)));
  }

  #schedule(): void {
    if (this.#inFlight >= this.#limits.inFlight || this.#queue.length === 0) return;
    const full = this.#queue.length >= this.#batchTexts() ||
      this.#queuedChars >= this.#limits.batchChars || this.#everyoneWaits();
    if (full || this.#limits.windowMs <= 0) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      void this.#run();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#run();
      }, this.#limits.windowMs);
    }
  }

  /** The next batch: the oldest texts, within the batch's bounds (at least one). */
  #take(): Job[] {
    let chars = 0;
    let n = 0;
    const most = this.#batchTexts();
    while (n < this.#queue.length && n < most) {
      const next = this.#queue[n]!.text.length;
      if (n > 0 && chars + next > this.#limits.batchChars) break;
      chars += next;
      n++;
    }
    this.#queuedChars -= chars;
    return this.#queue.splice(0, n);
  }

  /**
   * Notes that a client is sending a request, before its texts are read (the server calls it
   * when the request starts; `submit` calls it too): while its texts are on their way, a batch
   * does not run early without them.
   *
   * @param client Who sends it.
   */
  heardFrom(client: string): void {
    const now = performance.now();
    this.#clients.delete(client);
    this.#clients.set(client, now);
    if (this.#clients.size > MAX_CLIENTS) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
    this.#forget(now);
  }

  /** Forgets the clients not heard from in {@link CLIENT_MEMORY_MS} (the oldest come first). */
  #forget(now: number): void {
    for (const [client, at] of this.#clients) {
      if (now - at <= CLIENT_MEMORY_MS) break;
      this.#clients.delete(client);
    }
  }

  /**
   * Whether every client heard from lately has texts waiting or being predicted (and some text
   * waits), in constant time: such a client was heard from, unless it was forgotten meanwhile
   * (over {@link CLIENT_MEMORY_MS}, or past {@link MAX_CLIENTS}); then a batch may run before the
   * window ends, which changes no answer.
   */
  #everyoneWaits(): boolean {
    return this.#queue.length > 0 && this.#pending.size > 0 &&
      this.#pending.size >= this.#clients.size;
  }

  async #run(): Promise<void> {
    if (this.#inFlight >= this.#limits.inFlight || this.#queue.length === 0) return;
    this.#inFlight++;
    try {
      while (this.#queue.length) {
        const batch = this.#take();
        this.#batches++;
        // Another batch may start while this one is predicted.
        this.#schedule();
        await this.#predictBatch(batch);
      }
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    }
  }

  /**
   * Predicts a batch; when it fails, each of its texts alone, so that a text the model cannot
   * take fails only its own request.
   */
  async #predictBatch(batch: Job[]): Promise<void> {
    try {
      const found = await this.#predict(batch.map((j) => j.text), batch.map((j) => j.decode));
      batch.forEach((job, i) => job.resolve(found[i]!));
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      for (const job of batch) await this.#predictBatch([job]);
    }
  }
}
