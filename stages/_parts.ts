/**
 * Two threads for one data stage on a large corpus. The records of a stream artifact input are
 * cut in two at a line near the middle of its file; the stage works through the first part while
 * a worker works through the second and writes its records to a file of its own in the stage's
 * scratch folder, which the stage then appends to its output after its own records. The sums a
 * stage reports (counts, reports) are added, so the output is the bytes one pass writes.
 *
 * Anything unexpected in a part (a record of the wrong shape, inputs that do not line up, a
 * line that is not JSON, a worker that fails) throws {@link PartProblem}: the stage then runs its
 * single pass, which reports the problem as it always has, naming the input, file and line.
 *
 * Used by preprocess-input, preprocess-target and label-ids (each has its own worker module,
 * so that a stage's key holds its own code only).
 *
 * @module
 */

import { type ByteRange, readJsonl } from "../ner/_jsonl.ts";
import { recordProblem, type StreamArtifacts } from "./_artifacts.ts";

export type { ByteRange };

/** A stream input smaller than this is read in one pass (a worker's start costs ~0.1 s). */
export const PARALLEL_MIN_BYTES = 8 << 20;

/**
 * The smallest input worth cutting in two: {@link PARALLEL_MIN_BYTES}, or
 * `NERPIPE_PARTS_MIN_BYTES` where it is set (tests set 0 to use the parts on a small corpus),
 * and never on a machine of one core.
 */
export function partsMinBytes(): number {
  if (navigator.hardwareConcurrency < 2) return Infinity;
  let value: string | undefined;
  try {
    value = Deno.env.get("NERPIPE_PARTS_MIN_BYTES");
  } catch {
    value = undefined; // no --allow-env
  }
  return parsePartsMinBytes(value) ?? PARALLEL_MIN_BYTES;
}

/** `NERPIPE_PARTS_MIN_BYTES` as bytes: a whole number written in digits, or undefined. */
export function parsePartsMinBytes(value: string | undefined): number | undefined {
  const text = value?.trim() ?? "";
  if (!/^[0-9]+$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** The environment variable of this module, as a program checks it when it starts. */
export const PARTS_ENV_VAR = {
  name: "NERPIPE_PARTS_MIN_BYTES",
  allowed: "a whole number of bytes, 0 or more: a stream input at least this large is read in " +
    `two parts (unset: ${PARALLEL_MIN_BYTES})`,
  check: (value: string) => parsePartsMinBytes(value) !== undefined,
} as const;

/** Something in a part of an input that the single pass should report. */
export class PartProblem extends Error {
  /**
   * Creates the problem.
   *
   * @param message What was found.
   */
  constructor(message: string) {
    super(message);
    this.name = "PartProblem";
  }
}

/**
 * Adds every number of `b` to the number at the same place in `a` (two parts' counts and
 * reports, objects of one shape) and gives `a`.
 *
 * @param a The sums so far (changed).
 * @param b Another part's.
 */
export function addCounts<T>(a: T, b: T): T {
  const x = a as Record<string, unknown>;
  for (const [key, value] of Object.entries(b as Record<string, unknown>)) {
    if (typeof value === "number") x[key] = (x[key] as number) + value;
    else if (value !== null && typeof value === "object") addCounts(x[key], value);
  }
  return a;
}

/** Reads `length` bytes at `at` (fewer at the end of the file). */
function readAt(file: Deno.FsFile, at: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  file.seekSync(at, Deno.SeekMode.Start);
  let got = 0;
  while (got < length) {
    const n = file.readSync(bytes.subarray(got));
    if (n === null) break;
    got += n;
  }
  return bytes.subarray(0, got);
}

/** Bytes looked at a time when searching for a line's end. */
const PROBE = 1 << 16;

/** Where the records of a stream artifact file are. */
export interface StreamLayout {
  /** The file's size. */
  size: number;
  /** From the line after the header to the start of the trailer line. */
  records: ByteRange;
}

/**
 * The layout of a stream artifact file (a header line, records, a trailer line ending the
 * file), or undefined when it has no such lines.
 *
 * @param path The file.
 * @returns Its size and where its records are.
 */
export function streamLayout(path: string): StreamLayout | undefined {
  const file = Deno.openSync(path, { read: true });
  try {
    const size = file.statSync().size;
    const headerEnd = lineEnd(file, 0, size);
    if (headerEnd === undefined) return undefined;
    // The trailer is the last line (the file ends with its "\n").
    for (let want = PROBE;; want *= 4) {
      const from = Math.max(0, size - want);
      const tail = readAt(file, from, size - from);
      const cut = tail.subarray(0, tail.length - 1).lastIndexOf(10);
      if (cut >= 0) {
        const trailerStart = from + cut + 1;
        if (trailerStart < headerEnd) return undefined;
        return { size, records: { start: headerEnd, end: trailerStart } };
      }
      if (from === 0) return undefined;
    }
  } finally {
    file.close();
  }
}

/** The offset just after the first `\n` at or after `at` and before `end`, if any. */
function lineEnd(file: Deno.FsFile, at: number, end: number): number | undefined {
  for (let from = at; from < end; from += PROBE) {
    const bytes = readAt(file, from, Math.min(PROBE, end - from));
    const i = bytes.indexOf(10);
    if (i >= 0) return from + i + 1;
    if (bytes.length === 0) return undefined;
  }
  return undefined;
}

/**
 * The start of the first line that starts after byte `at` of a range, or undefined when no
 * line of the range starts there.
 *
 * @param path The file.
 * @param at Where to look from.
 * @param range The lines to look in.
 */
export function lineAfter(path: string, at: number, range: ByteRange): number | undefined {
  const file = Deno.openSync(path, { read: true });
  try {
    const start = lineEnd(file, Math.max(at, range.start), range.end);
    return start !== undefined && start < range.end ? start : undefined;
  } finally {
    file.close();
  }
}

/**
 * Where a stream artifact file is cut in two: the first record line that starts after the
 * middle of the file, or undefined when the file is smaller than `minBytes` or has no such line.
 *
 * @param path The file.
 * @param minBytes The smallest file worth cutting.
 * @returns The file's layout and the cut.
 */
export function middleLine(
  path: string,
  minBytes: number,
): { layout: StreamLayout; at: number } | undefined {
  const layout = streamLayout(path);
  if (layout === undefined || layout.size < minBytes) return undefined;
  const at = lineAfter(path, Math.floor(layout.size / 2), layout.records);
  return at === undefined || at <= layout.records.start ? undefined : { layout, at };
}

/**
 * Counts the lines of a range, or finds where line `count` of it starts.
 *
 * @param path The file.
 * @param range Where to count (from a line's start).
 * @param count Stop at the start of this line (0-based) of the range.
 * @returns The lines counted and the offset where counting stopped.
 */
export function countLines(
  path: string,
  range: ByteRange,
  count = Infinity,
): { lines: number; at: number } {
  const file = Deno.openSync(path, { read: true });
  try {
    const buffer = new Uint8Array(1 << 20);
    let lines = 0;
    file.seekSync(range.start, Deno.SeekMode.Start);
    for (let at = range.start; at < range.end;) {
      if (lines === count) return { lines, at };
      const n = file.readSync(buffer.subarray(0, Math.min(buffer.length, range.end - at)));
      if (n === null) break;
      const bytes = buffer.subarray(0, n);
      for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) {
        if (++lines === count) return { lines, at: at + i + 1 };
      }
      at += n;
    }
    return { lines, at: range.end };
  } finally {
    file.close();
  }
}

/**
 * Reads one line, the one starting at `at` (for a cut: the record there, as JSON).
 *
 * @param path The file.
 * @param at A line's start.
 */
export function recordAt(path: string, at: number): unknown {
  const file = Deno.openSync(path, { read: true });
  try {
    const end = lineEnd(file, at, file.statSync().size);
    if (end === undefined) throw new PartProblem(`no line at byte ${at}`);
    const text = new TextDecoder("utf-8", { fatal: true }).decode(readAt(file, at, end - at));
    return JSON.parse(text);
  } catch (error) {
    if (error instanceof PartProblem) throw error;
    throw new PartProblem(`the line at byte ${at} is not a JSON record`);
  } finally {
    file.close();
  }
}

/**
 * The records of a stream artifact in a range of its file, each checked as `openStream`
 * checks it.
 *
 * @param type The artifact type.
 * @param path The file.
 * @param range Its records to read (whole lines).
 * @throws {PartProblem} When a line is not JSON or a record is not of the type.
 */
export async function* rangeRecords<K extends keyof StreamArtifacts>(
  type: K,
  path: string,
  range: ByteRange,
): AsyncGenerator<StreamArtifacts[K]["record"]> {
  let n = 0;
  const lines = readJsonl(path, undefined, range);
  try {
    while (true) {
      let item: IteratorResult<unknown>;
      try {
        item = await lines.next();
      } catch (error) {
        throw new PartProblem(`cannot read the part: ${error}`);
      }
      if (item.done) return;
      const problem = recordProblem(type, item.value);
      if (problem) throw new PartProblem(`record ${n} of the part ${problem}`);
      n++;
      yield item.value as StreamArtifacts[K]["record"];
    }
  } finally {
    await lines.return(undefined);
  }
}

/** A worker's answer to one task. */
type Reply = { ok: true; value: unknown } | { ok: false; problem: string };

/**
 * A worker that does a stage's share of the work, one task at a time (its module calls
 * {@link servePart}). Every failure, in the task or of the worker, is a {@link PartProblem}.
 */
export class PartWorker {
  #worker: Worker;
  #failed: string | undefined;
  #waiting: ((reply: Reply) => void)[] = [];

  /**
   * Starts the worker.
   *
   * @param url The worker module (`new URL("./_x_worker.ts", import.meta.url)`).
   */
  constructor(url: URL) {
    this.#worker = new Worker(url.href, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<Reply>) => this.#waiting.shift()?.(e.data);
    this.#worker.onerror = (e) => {
      e.preventDefault();
      this.#failed = `the worker failed: ${e.message}`;
      for (const resolve of this.#waiting.splice(0)) {
        resolve({ ok: false, problem: this.#failed });
      }
    };
  }

  /**
   * Sends a task and waits for its answer.
   *
   * @param task The task (structured-cloneable).
   * @returns The worker's answer.
   * @throws {PartProblem} When the task or the worker failed.
   */
  ask<T>(task: unknown): Promise<T> {
    const answer = new Promise<Reply>((resolve) => {
      if (this.#failed) return resolve({ ok: false, problem: this.#failed });
      this.#waiting.push(resolve);
      this.#worker.postMessage(task);
    }).then((reply) => {
      if (!reply.ok) throw new PartProblem(reply.problem);
      return reply.value as T;
    });
    // The stage awaits the answer after its own part: a failure that comes first is not an
    // unhandled rejection (which would end the process).
    answer.catch(() => {});
    return answer;
  }

  /** Stops the worker. */
  close(): void {
    this.#worker.terminate();
  }
}

/**
 * The worker side of {@link PartWorker}: answers each message with what `handle` returns, or
 * with the problem it threw.
 *
 * @param handle Does one task.
 */
export function servePart<T>(handle: (task: T) => Promise<unknown>): void {
  const scope = globalThis as unknown as {
    onmessage: ((e: MessageEvent<T>) => void) | null;
    postMessage(message: Reply): void;
  };
  scope.onmessage = async (event: MessageEvent<T>) => {
    try {
      scope.postMessage({ ok: true, value: await handle(event.data) });
    } catch (error) {
      scope.postMessage({
        ok: false,
        problem: error instanceof Error ? error.message : String(error),
      });
    }
  };
}

/**
 * The scratch file a worker writes its records to (in the stage's scratch folder, inside the
 * project's cache).
 *
 * @param scratch The stage's scratch folder (`ctx.scratch`).
 * @param name A name for the file.
 */
export async function partFile(scratch: string, name: string): Promise<string> {
  await Deno.mkdir(scratch, { recursive: true });
  return `${scratch}/${name}.part.jsonl`;
}

/** How a stage runs its two parts (see {@link inTwoParts}). */
export interface TwoParts<S> {
  /** The stage's scratch folder (`ctx.scratch`). */
  scratch: string;
  /** A name for the worker's file. */
  name: string;
  /** The worker module. */
  worker: URL;
  /** The worker's task, given the file it writes its records to. */
  task: (out: string) => unknown;
  /** The stage's output, its header written. */
  output: { append(path: string): Promise<void>; abort(): Promise<void> };
  /** Does the stage's own part (the first), writing to `output`; gives its sums. */
  mine: () => Promise<S>;
  /** Adds two parts' sums. */
  add: (a: S, b: S) => S;
  /** The stage's abort signal: an interrupted run does not wait for the worker. */
  signal?: AbortSignal;
}

/**
 * Runs the first part in the stage and the second in a worker at once, then appends the
 * worker's records to the output.
 *
 * @param parts The work.
 * @returns The sums of both parts, or the {@link PartProblem} that sends the stage to its
 *   single pass (the output aborted).
 */
export async function inTwoParts<S>(parts: TwoParts<S>): Promise<S | PartProblem> {
  const out = await partFile(parts.scratch, parts.name);
  const worker = new PartWorker(parts.worker);
  let onAbort: (() => void) | undefined;
  try {
    const theirs = worker.ask<S>(parts.task(out));
    const mine = await parts.mine();
    const stopped = new Promise<never>((_, reject) => {
      const signal = parts.signal;
      if (!signal) return;
      if (signal.aborted) reject(signal.reason);
      onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    stopped.catch(() => {});
    const sum = parts.add(mine, await Promise.race([theirs, stopped]));
    await parts.output.append(out);
    return sum;
  } catch (error) {
    await parts.output.abort();
    if (error instanceof PartProblem) return error;
    throw error;
  } finally {
    // The stage's signal outlives this call: leave no listener on it.
    if (onAbort) parts.signal?.removeEventListener("abort", onAbort);
    worker.close();
    await Deno.remove(out).catch(() => {});
  }
}
