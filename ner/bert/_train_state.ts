/**
 * Training checkpoints on disk, for resuming a killed run where it stopped.
 *
 * A checkpoint is a directory `step-<global step, 10 digits>/` under the run's checkpoint
 * directory:
 *
 * ```
 * state.json             counters, history, best-so-far, the caller's state, file hashes
 * weights.safetensors    the model's weights (Hugging Face names and layout)
 * optimizer.safetensors  AdamW moments `m/<name>`, `v/<name>` (device layout); step in metadata
 * best.safetensors       the best epoch's weights, when they are not the weights above
 * ```
 *
 * It is written into a temp directory (`step-….tmp-<pid>-<8 hex>`), each file synced, and then
 * renamed into place, so a checkpoint is there whole or not at all. Reading checks the format,
 * every field, the sha256 of every file, and that it belongs to the same run (a fingerprint of
 * everything the run's outcome depends on); a checkpoint that fails any check is skipped for
 * the next older one.
 *
 * @module
 */
import type { AdamWState } from "./adamw.ts";
import type { HostTensor } from "./init.ts";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "./safetensors.ts";

/** Value of `format` in state.json. */
const FORMAT = "nerpipe-train-checkpoint";
/** 2: the epochs of `history` and `best` are counted from 1 (they were from 0 in 1). */
const VERSION = 2;
const NAME = /^step-(\d{10})$/;
const TEMP = /\.tmp-\d+-[0-9a-f]{8}$/;

/** What a checkpoint holds; `H` is the type of a history entry. */
export interface TrainCheckpoint<H = unknown> {
  /** Identity of the run (see {@link runFingerprint}). */
  fingerprint: string;
  /** Optimiser steps done over the whole run. */
  globalStep: number;
  /**
   * Epochs that had ended when it was written: the one in progress is the next (`epochs` once
   * the last one has ended).
   */
  epoch: number;
  /** Batches of the epoch in progress done (in its shuffled order). */
  position: number;
  /** Running sum and count of the training losses of the epoch in progress's steps done. */
  epochLossSum: number;
  epochLossCount: number;
  /** Seconds trained in the epoch in progress so far. */
  epochSeconds: number;
  /** Seconds since training began. */
  seconds: number;
  /** Summaries of the epochs that have ended (their epochs counted from 1). */
  history: H[];
  /** The best epoch so far (counted from 1) by the selection metric, if any was evaluated. */
  best: { epoch: number; value: number } | null;
  /** Whatever the caller asked to keep with the checkpoint (JSON). */
  extra: unknown;
  weights: Map<string, HostTensor>;
  optimizer: AdamWState;
  /** The best epoch's weights; absent when they are `weights` (or there is no best). */
  bestWeights?: Map<string, HostTensor>;
}

/** Where a checkpoint was read from, with what it holds. */
export interface ReadCheckpoint<H> {
  path: string;
  checkpoint: TrainCheckpoint<H>;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A fingerprint of what a run's outcome depends on: a checkpoint of another run (other
 * hyper-parameters, data, replica count) never resumes this one.
 *
 * @param identity JSON-serialisable description of the run.
 * @returns Hex sha256 of its JSON.
 */
export async function runFingerprint(identity: unknown): Promise<string> {
  return await sha256(new TextEncoder().encode(JSON.stringify(identity)));
}

async function writeSynced(path: string, bytes: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let done = 0;
    while (done < bytes.length) done += await file.write(bytes.subarray(done));
    await file.syncData();
  } finally {
    file.close();
  }
}

function tensorsOf(weights: Map<string, HostTensor>, prefix = ""): Map<string, SafetensorsTensor> {
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, t] of weights) {
    out.set(prefix + name, { dtype: "F32", shape: t.shape, data: t.data });
  }
  return out;
}

/** Directory name of the checkpoint after `step` steps. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(10, "0")}`;
}

/**
 * Writes a checkpoint atomically into `dir` (created).
 *
 * @param dir The run's checkpoint directory.
 * @param c What to write.
 * @returns The checkpoint's path and its size in bytes.
 */
export async function writeCheckpoint<H>(
  dir: string,
  c: TrainCheckpoint<H>,
): Promise<{ path: string; bytes: number }> {
  await Deno.mkdir(dir, { recursive: true });
  const name = checkpointName(c.globalStep);
  const tmp = `${dir}/${name}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const files: Record<string, Uint8Array> = {
    "weights.safetensors": encodeSafetensors(tensorsOf(c.weights), { format: "pt" }),
    "optimizer.safetensors": encodeSafetensors(
      new Map([...tensorsOf(c.optimizer.m, "m/"), ...tensorsOf(c.optimizer.v, "v/")]),
      { step: String(c.optimizer.step) },
    ),
  };
  if (c.bestWeights) {
    files["best.safetensors"] = encodeSafetensors(tensorsOf(c.bestWeights), { format: "pt" });
  }
  const hashes: Record<string, string> = {};
  let bytes = 0;
  try {
    await Deno.mkdir(tmp);
    for (const [file, data] of Object.entries(files)) {
      await writeSynced(`${tmp}/${file}`, data);
      hashes[file] = await sha256(data);
      bytes += data.length;
    }
    const state = {
      format: FORMAT,
      version: VERSION,
      fingerprint: c.fingerprint,
      global_step: c.globalStep,
      epoch: c.epoch,
      position: c.position,
      epoch_loss_sum: c.epochLossSum,
      epoch_loss_count: c.epochLossCount,
      epoch_seconds: c.epochSeconds,
      seconds: c.seconds,
      history: c.history,
      best: c.best,
      optimizer_step: c.optimizer.step,
      extra: c.extra ?? null,
      files: hashes,
    };
    const json = new TextEncoder().encode(JSON.stringify(state) + "\n");
    await writeSynced(`${tmp}/state.json`, json);
    bytes += json.length;
    const path = `${dir}/${name}`;
    await Deno.remove(path, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, path);
    return { path, bytes };
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** A checkpoint that fails a check when read back. */
export class BadCheckpoint extends Error {
  override name = "BadCheckpoint";
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const count = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const finite = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);

function hostTensors(
  tensors: Map<string, SafetensorsTensor>,
  prefix: string,
  file: string,
): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (!name.startsWith(prefix)) continue;
    if (t.dtype !== "F32") throw new BadCheckpoint(`${file}: "${name}" is ${t.dtype}, not F32`);
    // A copy: the decoded view shares the file's buffer.
    out.set(name.slice(prefix.length), { shape: t.shape, data: (t.data as Float32Array).slice() });
  }
  return out;
}

/**
 * Reads one checkpoint directory, checking everything.
 *
 * @param path The `step-…` directory.
 * @param fingerprint The run's fingerprint; another is a {@link BadCheckpoint}.
 * @returns The checkpoint.
 * @throws {BadCheckpoint} When it is not whole, not valid, or of another run.
 */
export async function readCheckpoint<H>(
  path: string,
  fingerprint: string,
): Promise<TrainCheckpoint<H>> {
  let state: unknown;
  try {
    state = JSON.parse(await Deno.readTextFile(`${path}/state.json`));
  } catch (error) {
    throw new BadCheckpoint(`state.json is unreadable: ${(error as Error).message}`);
  }
  if (!isObject(state) || state.format !== FORMAT || state.version !== VERSION) {
    throw new BadCheckpoint(`state.json is not a version ${VERSION} training checkpoint`);
  }
  if (state.fingerprint !== fingerprint) {
    throw new BadCheckpoint("it belongs to another run (other parameters, data or replicas)");
  }
  for (const field of ["global_step", "epoch", "position", "epoch_loss_count", "optimizer_step"]) {
    if (!count(state[field])) throw new BadCheckpoint(`state.json: ${field} is not a count`);
  }
  for (const field of ["epoch_loss_sum", "epoch_seconds", "seconds"]) {
    if (!finite(state[field])) throw new BadCheckpoint(`state.json: ${field} is not a number`);
  }
  if (!Array.isArray(state.history)) throw new BadCheckpoint("state.json: history is not a list");
  const best = state.best;
  if (best !== null && !(isObject(best) && count(best.epoch) && typeof best.value === "number")) {
    throw new BadCheckpoint("state.json: best is not {epoch, value}");
  }
  const files = state.files;
  if (
    !isObject(files) || typeof files["weights.safetensors"] !== "string" ||
    typeof files["optimizer.safetensors"] !== "string"
  ) {
    throw new BadCheckpoint("state.json: files does not list the weights and the optimiser");
  }
  const decoded = new Map<string, Map<string, SafetensorsTensor>>();
  const metadata = new Map<string, Record<string, string>>();
  for (const [file, hash] of Object.entries(files)) {
    if (!["weights.safetensors", "optimizer.safetensors", "best.safetensors"].includes(file)) {
      throw new BadCheckpoint(`state.json lists an unknown file "${file}"`);
    }
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(`${path}/${file}`);
    } catch (error) {
      throw new BadCheckpoint(`${file} is unreadable: ${(error as Error).message}`);
    }
    if ((await sha256(bytes)) !== hash) throw new BadCheckpoint(`${file} does not match its hash`);
    try {
      const { tensors, metadata: meta } = decodeSafetensors(bytes, `${path}/${file}`);
      decoded.set(file, tensors);
      metadata.set(file, meta);
    } catch (error) {
      throw new BadCheckpoint(`${file}: ${(error as Error).message}`);
    }
  }
  const optimizerFile = decoded.get("optimizer.safetensors")!;
  if (metadata.get("optimizer.safetensors")!.step !== String(state.optimizer_step)) {
    throw new BadCheckpoint("optimizer.safetensors: its step is not state.json's");
  }
  const bestFile = decoded.get("best.safetensors");
  return {
    fingerprint,
    globalStep: state.global_step as number,
    epoch: state.epoch as number,
    position: state.position as number,
    epochLossSum: state.epoch_loss_sum as number,
    epochLossCount: state.epoch_loss_count as number,
    epochSeconds: state.epoch_seconds as number,
    seconds: state.seconds as number,
    history: state.history as H[],
    best: best as { epoch: number; value: number } | null,
    extra: state.extra,
    weights: hostTensors(decoded.get("weights.safetensors")!, "", "weights.safetensors"),
    optimizer: {
      step: state.optimizer_step as number,
      m: hostTensors(optimizerFile, "m/", "optimizer.safetensors"),
      v: hostTensors(optimizerFile, "v/", "optimizer.safetensors"),
    },
    ...(bestFile ? { bestWeights: hostTensors(bestFile, "", "best.safetensors") } : {}),
  };
}

/**
 * The checkpoints in `dir` (not those in `kept/`), newest first.
 *
 * @param dir The run's checkpoint directory (need not exist).
 * @returns Their paths and steps.
 */
export async function listCheckpoints(dir: string): Promise<{ path: string; step: number }[]> {
  const found: { path: string; step: number }[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const m = NAME.exec(entry.name);
      if (m && entry.isDirectory) found.push({ path: `${dir}/${entry.name}`, step: Number(m[1]) });
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found.sort((a, b) => b.step - a.step);
}

/**
 * The newest checkpoint of this run in `dir` that reads back whole; temp directories a killed
 * writer left are removed first. Those that fail a check are reported and skipped.
 *
 * @param dir The run's checkpoint directory (need not exist).
 * @param fingerprint The run's fingerprint.
 * @param onSkip Told of each checkpoint skipped, and why.
 * @returns The checkpoint, or null when there is none to resume from.
 */
export async function readLatestCheckpoint<H>(
  dir: string,
  fingerprint: string,
  onSkip?: (path: string, reason: string) => void,
): Promise<ReadCheckpoint<H> | null> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (TEMP.test(entry.name)) {
        await Deno.remove(`${dir}/${entry.name}`, { recursive: true }).catch(() => {});
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  for (const { path } of await listCheckpoints(dir)) {
    try {
      return { path, checkpoint: await readCheckpoint<H>(path, fingerprint) };
    } catch (error) {
      if (!(error instanceof BadCheckpoint)) throw error;
      onSkip?.(path, error.message);
    }
  }
  return null;
}

/**
 * Removes all but the newest `keep` checkpoints of `dir` (those in `kept/` stay).
 *
 * @param dir The run's checkpoint directory.
 * @param keep How many to keep.
 */
export async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  for (const { path } of (await listCheckpoints(dir)).slice(Math.max(0, keep))) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}

/**
 * After a successful run: moves the newest `keep` checkpoints into `dir/kept/` (where no later
 * run resumes from them) and removes the others.
 *
 * @param dir The run's checkpoint directory.
 * @param keep How many to keep (0: none).
 * @returns The paths of the kept checkpoints.
 */
export async function finishCheckpoints(dir: string, keep: number): Promise<string[]> {
  const all = await listCheckpoints(dir);
  const kept: string[] = [];
  for (const [i, { path }] of all.entries()) {
    if (i < keep) {
      await Deno.mkdir(`${dir}/kept`, { recursive: true });
      const to = `${dir}/kept/${path.slice(dir.length + 1)}`;
      await Deno.remove(to, { recursive: true }).catch(() => {});
      await Deno.rename(path, to);
      kept.push(to);
    } else {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }
  return kept;
}
