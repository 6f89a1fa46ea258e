/**
 * Stages run in the engine's process, so a stage that calls `Deno.exit(0)` (or `process.exit`,
 * which calls it, or `close()`) would end the whole run as a success: no summary, downstream
 * stages never run, the lock and the staging folder left behind. While a run is in progress the
 * process's exits are replaced: an exit called from a stage's code (its async context, timers
 * and callbacks included) fails that stage instead, and the run goes on and reports it. An exit
 * from anywhere else (the engine's own: a second Ctrl-C) still ends the process.
 *
 * Not covered: a stage's worker ending itself (that ends only the worker), a stage killing its
 * own process with a signal, or an exit from a native callback that lost the stage's context.
 *
 * @module
 */

import type { AsyncLocalStorage } from "node:async_hooks";
import { StageError } from "../errors.ts";

/** A stage called `Deno.exit` (or `close()`): the stage's failure, never the run's end. */
export class StageExitError extends StageError {
  /** How it asked, e.g. `Deno.exit(0)`. */
  readonly call: string;
  /** The exit code it asked for (undefined: `Deno.exit()` without one). */
  readonly code: number | undefined;
  /**
   * Creates the error.
   *
   * @param call How the stage tried to end the process, e.g. `Deno.exit(0)`.
   * @param code The code it asked for.
   */
  constructor(call: string, code: number | undefined) {
    super(
      `it called ${call}, which would have ended the whole run: a stage fails by throwing an ` +
        "error and succeeds by returning",
    );
    this.name = "StageExitError";
    this.call = call;
    this.code = code;
  }
}

/** The stage whose code is running, as its async context carries it. */
interface Frame {
  /** Set when the stage asked to exit: how. */
  exit?: StageExitError;
  /** The stage has returned (or failed): an exit now comes from something it left running. */
  done: boolean;
  /** Fails the stage at once (it may have called exit from a timer while it awaits). */
  fail(error: StageExitError): void;
  /** Told about an exit asked for after the stage returned. */
  late?: (error: StageExitError) => void;
}

/** Loaded when the first stage runs: a fully cached run does without node:async_hooks. */
let frames: AsyncLocalStorage<Frame> | undefined;
let holders = 0;
let saved: { exit: typeof Deno.exit; close: (() => void) | undefined } | undefined;

/** What a stage's `Deno.exit` or `close()` does while the guard is on. */
function stop(call: string, code: number | undefined): never {
  const frame = frames?.getStore();
  const error = new StageExitError(call, code);
  if (!frame) {
    // Not a stage's code: the engine's own exit.
    if (call === "close()" && saved?.close) saved.close();
    return saved!.exit(code);
  }
  if (frame.done) {
    frame.late?.(error);
  } else {
    frame.exit ??= error;
    frame.fail(error);
  }
  // Unwinds the stage's code as an exit would have (an uncaught one is dropped: see below).
  throw error;
}

/** An exit a stage's timer or callback threw, uncaught: already reported, not the process's. */
function swallow(event: Event): void {
  const thrown = event instanceof ErrorEvent
    ? event.error
    : (event as PromiseRejectionEvent).reason;
  if (thrown instanceof StageExitError) event.preventDefault();
}

/**
 * Turns the guard on until the returned function is called (calls nest: the guard stays on
 * while anyone holds it).
 *
 * @returns Releases this hold.
 */
export function guardExits(): () => void {
  if (holders++ === 0) {
    const global = globalThis as { close?: () => void };
    saved = { exit: Deno.exit, close: global.close };
    Deno.exit = ((code?: number) => stop(`Deno.exit(${code ?? ""})`, code)) as typeof Deno.exit;
    if (global.close) global.close = () => stop("close()", 0);
    addEventListener("error", swallow);
    addEventListener("unhandledrejection", swallow);
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders > 0 || !saved) return;
    Deno.exit = saved.exit;
    if (saved.close) (globalThis as { close?: () => void }).close = saved.close;
    saved = undefined;
    removeEventListener("error", swallow);
    removeEventListener("unhandledrejection", swallow);
  };
}

/**
 * Runs a stage's code with the guard on: an exit it asks for, even from a timer or after
 * catching what the exit threw, fails it with a {@link StageExitError}.
 *
 * @param run The stage's code.
 * @param late Told when something the stage left running asks to exit after it returned
 *   (the exit is dropped).
 * @returns What `run` returns.
 * @throws {StageExitError} When the stage asked to exit.
 */
export async function runGuarded<T>(
  run: () => Promise<T>,
  late?: (error: StageExitError) => void,
): Promise<T> {
  frames ??= new (await import("node:async_hooks")).AsyncLocalStorage<Frame>();
  const release = guardExits();
  let fail!: (error: StageExitError) => void;
  const exited = new Promise<never>((_, reject) => fail = reject);
  exited.catch(() => {});
  const frame: Frame = { done: false, fail, ...(late ? { late } : {}) };
  try {
    const result = await Promise.race([frames.run(frame, run), exited]);
    if (frame.exit) throw frame.exit;
    return result;
  } catch (error) {
    // An exit wins over what the stage threw after it (for example, what the exit threw).
    throw frame.exit ?? error;
  } finally {
    frame.done = true;
    release();
  }
}
