/**
 * Artifact formats passed between the NER stages, and small I/O helpers.
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";
import { BATCHES_HINT, BatchesFormatError, type BatchSet, decodeBatches } from "../ner/batches.ts";
import type { Dataset, EncodedDocument } from "../ner/types.ts";

/** `encoded` artifact of preprocess-input. */
export interface EncodedArtifact {
  max_length: number;
  overflow: "window" | "truncate";
  pad_id: number;
  vocab_size: number;
  splits: Record<"train" | "validation", EncodedDocument[]>;
  report: {
    documents_windowed: number;
    windows_added: number;
    documents_truncated: number;
    /** Entities whose two ends fall on word-piece boundaries, per split. */
    boundary_coverage: Record<"train" | "validation", CoverageReport>;
  };
}

/** Boundary coverage of one split (see `boundaryCoverage` in ner/align.ts). */
export interface CoverageReport {
  entities: number;
  on_boundaries: number;
  share: number;
}

/** `targets` artifact of preprocess-target: a tag (or null = ignore) per piece per window. */
export interface TargetsArtifact {
  label_all_tokens: boolean;
  splits: Record<"train" | "validation", (string | null)[][]>;
  report: Record<"train" | "validation", {
    entities: number;
    outside_window: number;
    not_on_boundary: number;
    crosses_window: number;
  }>;
}

/** `labels` artifact of embed-pad: the label dictionary and how pieces were labelled. */
export interface LabelsArtifact {
  /** Tag of each class id (`O` first). */
  labels: string[];
  /** Whether continuation pieces carry labels (preprocess-target's `label_all_tokens`). */
  label_all_tokens: boolean;
}

/** One split of the `padded` artifact of embed-pad (rows of equal length). */
export interface PaddedSplit {
  ids: number[][];
  mask: number[][];
  labels: number[][];
}

/** `padded` artifact of embed-pad. */
export interface PaddedArtifact {
  seq_len: number;
  splits: Record<"train" | "validation", PaddedSplit>;
}

/** The windows of one split grouped by document index, in window order. */
export function windowsByDoc(
  windows: readonly EncodedDocument[],
): Map<number, EncodedDocument[]> {
  const byDoc = new Map<number, EncodedDocument[]>();
  for (const w of windows) {
    let list = byDoc.get(w.doc);
    if (!list) byDoc.set(w.doc, list = []);
    list.push(w);
  }
  return byDoc;
}

/**
 * An artifact a stage reads that is not of the type its input declares: a file of another
 * kind given with `--set stages.<id>.inputs.<name>=...`, or inputs from different runs.
 */
export class ArtifactError extends UserError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the input and its file, then a hint.
   */
  constructor(message: string) {
    super(message);
    this.name = "ArtifactError";
  }
}

/** The JSON artifact types the NER stages pass, with what each is called and who writes it. */
export interface JsonArtifacts {
  "ner-dataset": Dataset;
  "ner-encoded": EncodedArtifact;
  "ner-targets": TargetsArtifact;
  "label-dictionary": LabelsArtifact;
  "ner-padded": PaddedArtifact;
}

/** A shape check: the first problem found, or undefined. */
type ShapeCheck = (value: unknown) => string | undefined;

interface ArtifactKind {
  /** What a file of the type is called in messages: `a dataset file`. */
  what: string;
  /** The output that writes it: `load.dataset`. */
  producer: string;
  check: ShapeCheck;
}

const SPLITS = ["train", "validation"] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const isInt = (value: unknown): value is number => Number.isSafeInteger(value);

/** Checks `splits.train` and `splits.validation`, each with `each`. */
function splitsProblem(
  value: Record<string, unknown>,
  each: (split: unknown, name: string) => string | undefined,
): string | undefined {
  const splits = value.splits;
  if (!isObject(splits)) return 'it has no "splits" object';
  for (const name of SPLITS) {
    const problem = each(splits[name], name);
    if (problem) return problem;
  }
  return undefined;
}

/** The first item of `list` for which `problem` says something, as `<what> <i>: <problem>`. */
function firstProblem(
  list: readonly unknown[],
  what: string,
  problem: (item: unknown) => string | undefined,
): string | undefined {
  for (let i = 0; i < list.length; i++) {
    const found = problem(list[i]);
    if (found) return `${what} ${i} ${found}`;
  }
  return undefined;
}

const datasetProblem: ShapeCheck = (v) => {
  if (!isObject(v)) return "it is not a JSON object";
  if (v.format !== undefined && typeof v.format !== "string") return '"format" is not a string';
  if (!Array.isArray(v.labels) || !v.labels.every((l) => typeof l === "string")) {
    return 'it has no "labels" list of strings';
  }
  for (const split of SPLITS) {
    const docs = v[split];
    if (!Array.isArray(docs)) return `it has no "${split}" list of documents`;
    const problem = firstProblem(
      docs,
      `${split} document`,
      (d) =>
        isObject(d) && typeof d.text === "string" && Array.isArray(d.entities)
          ? undefined
          : 'lacks "text" or "entities"',
    );
    if (problem) return problem;
  }
  return undefined;
};

const encodedProblem: ShapeCheck = (v) => {
  if (!isObject(v)) return "it is not a JSON object";
  if (!isInt(v.max_length) || !isInt(v.pad_id)) return 'it lacks "max_length" or "pad_id"';
  return splitsProblem(v, (windows, name) => {
    if (!Array.isArray(windows)) return `split "${name}" is not a list of windows`;
    return firstProblem(windows, `${name} window`, (w) => {
      return isObject(w) && isInt(w.doc) && w.doc >= 0 && Array.isArray(w.ids) &&
          Array.isArray(w.offsets) && Array.isArray(w.wordStart)
        ? undefined
        : 'lacks "doc", "ids", "offsets" or "wordStart"';
    });
  });
};

const targetsProblem: ShapeCheck = (v) => {
  if (!isObject(v)) return "it is not a JSON object";
  if (v.label_all_tokens !== undefined && typeof v.label_all_tokens !== "boolean") {
    return '"label_all_tokens" is not a boolean';
  }
  return splitsProblem(
    v,
    (tags, name) =>
      Array.isArray(tags) && tags.every(Array.isArray)
        ? undefined
        : `split "${name}" is not a list of tag lists`,
  );
};

const labelsProblem: ShapeCheck = (v) => {
  if (!isObject(v)) return "it is not a JSON object";
  if (
    !Array.isArray(v.labels) || v.labels[0] !== "O" ||
    !v.labels.every((l) => typeof l === "string")
  ) {
    return 'it has no "labels" list of strings starting with "O"';
  }
  return typeof v.label_all_tokens === "boolean"
    ? undefined
    : 'it has no boolean "label_all_tokens"';
};

const paddedProblem: ShapeCheck = (v) => {
  if (!isObject(v)) return "it is not a JSON object";
  const seqLen = v.seq_len;
  if (!isInt(seqLen) || seqLen < 1) return 'it has no positive integer "seq_len"';
  return splitsProblem(v, (split, name) => {
    if (!isObject(split)) return `split "${name}" is not an object`;
    const parts = [split.ids, split.mask, split.labels];
    if (!parts.every(Array.isArray)) return `split "${name}" lacks "ids", "mask" or "labels"`;
    const [ids, mask, labels] = parts as unknown[][];
    if (ids!.length !== mask!.length || ids!.length !== labels!.length) {
      return `split "${name}" has "ids", "mask" and "labels" of different lengths`;
    }
    for (const part of parts as unknown[][]) {
      const problem = firstProblem(
        part,
        `${name} row`,
        (row) => Array.isArray(row) && row.length === seqLen ? undefined : `is not ${seqLen} long`,
      );
      if (problem) return problem;
    }
    return undefined;
  });
};

const JSON_ARTIFACTS: Record<keyof JsonArtifacts, ArtifactKind> = {
  "ner-dataset": { what: "dataset", producer: "load.dataset", check: datasetProblem },
  "ner-encoded": {
    what: "encoded",
    producer: "preprocess-input.encoded",
    check: encodedProblem,
  },
  "ner-targets": {
    what: "targets",
    producer: "preprocess-target.targets",
    check: targetsProblem,
  },
  "label-dictionary": {
    what: "label dictionary",
    producer: "embed-pad.labels",
    check: labelsProblem,
  },
  "ner-padded": { what: "padded", producer: "embed-pad.padded", check: paddedProblem },
};

/** The message of an input that is not of its declared type. */
function notA(name: string, path: string, what: string, problem: string, hint: string): string {
  return `Input "${name}" (${path}) is not a ${what} file: ${problem}: ${hint}`;
}

function producerHint(producer: string): string {
  const kind = producer.slice(0, producer.indexOf("."));
  return `use the ${producer.slice(kind.length + 1)} output of a ${kind} stage (${producer})`;
}

async function readInputBytes(
  inputs: Readonly<Record<string, string>>,
  name: string,
  what: string,
  hint: string,
): Promise<{ path: string; bytes: Uint8Array }> {
  const path = inputs[name];
  if (path === undefined) throw new Error(`Input "${name}" is not wired`);
  try {
    return { path, bytes: await Deno.readFile(path) };
  } catch (error) {
    if (error instanceof Deno.errors.IsADirectory) {
      throw new ArtifactError(notA(name, path, what, "it is a directory", hint));
    }
    if (error instanceof Deno.errors.NotFound) {
      throw new ArtifactError(notA(name, path, what, "it does not exist", hint));
    }
    throw error;
  }
}

/**
 * Reads a JSON artifact input and checks its shape against its declared type: the fields and
 * the structure of its lists, per item but not within every item, so the check costs little
 * next to the parse.
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param type Its declared artifact type.
 * @returns The artifact.
 * @throws {ArtifactError} When the file is not UTF-8 JSON of that shape, naming input and file.
 */
export async function readArtifact<K extends keyof JsonArtifacts>(
  inputs: Readonly<Record<string, string>>,
  name: string,
  type: K,
): Promise<JsonArtifacts[K]> {
  const kind = JSON_ARTIFACTS[type];
  const hint = producerHint(kind.producer);
  const { path, bytes } = await readInputBytes(inputs, name, kind.what, hint);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    const detail = error instanceof SyntaxError ? "it is not JSON" : "it is not UTF-8 text";
    throw new ArtifactError(notA(name, path, kind.what, detail, hint));
  }
  const problem = kind.check(value);
  if (problem) throw new ArtifactError(notA(name, path, kind.what, problem, hint));
  return value as JsonArtifacts[K];
}

/**
 * Reads a `ner-batches` input (see ner/batches.ts), checking its magic and its header against
 * its size.
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @returns The batches by split.
 * @throws {ArtifactError} When the file is not a batches file, naming input and file.
 */
export async function readBatches(
  inputs: Readonly<Record<string, string>>,
  name: string,
): Promise<BatchSet> {
  const { path, bytes } = await readInputBytes(inputs, name, "batches", BATCHES_HINT);
  try {
    return decodeBatches(bytes);
  } catch (error) {
    if (error instanceof BatchesFormatError) {
      throw new ArtifactError(notA(name, path, "batches", error.detail, BATCHES_HINT));
    }
    throw error;
  }
}

/**
 * Checks that a directory input (a tokenizer, a model) is a directory, then runs `read` on it;
 * a user error that `read` throws about its content is rethrown naming the input.
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param what What it should be: `tokenizer`, `model`.
 * @param read Reads the directory.
 * @returns What `read` returns.
 * @throws {ArtifactError} When the path is not a directory, or `read` finds a mistake in it.
 */
export async function readInputDir<T>(
  inputs: Readonly<Record<string, string>>,
  name: string,
  what: string,
  read: (dir: string) => Promise<T>,
): Promise<T> {
  const path = inputs[name];
  if (path === undefined) throw new Error(`Input "${name}" is not wired`);
  const hint = `use the ${name} output of the stage that writes ${what} directories`;
  const info = await Deno.stat(path).catch(() => undefined);
  if (!info?.isDirectory) {
    const problem = info ? "it is a file" : "it does not exist";
    throw new ArtifactError(
      `Input "${name}" (${path}) is not a ${what} directory: ${problem}: ${hint}`,
    );
  }
  try {
    return await read(path);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    throw new ArtifactError(
      `Input "${name}" (${path}) is not a ${what} directory: ${error.message}`,
    );
  }
}

/**
 * Two inputs that each have the right shape but do not belong together (outputs of different
 * runs wired by hand).
 *
 * @param inputs The stage's inputs.
 * @param a One input's name.
 * @param b The other's.
 * @param problem What does not match.
 */
export function mismatchedInputs(
  inputs: Readonly<Record<string, string>>,
  a: string,
  b: string,
  problem: string,
): ArtifactError {
  return new ArtifactError(
    `Inputs "${a}" (${inputs[a]}) and "${b}" (${inputs[b]}) do not belong together: ${problem}: ` +
      "wire both to the outputs of the same pipeline's stages",
  );
}

/**
 * Lets pending events run (a Ctrl-C handler that aborts `signal`), then throws if the run was
 * interrupted. Long loops call it every few hundred units of work: a loop that never awaits
 * cannot see an abort.
 *
 * @param signal The stage's `ctx.signal`.
 * @throws The signal's reason (an `AbortError`) once it is aborted.
 */
export async function checkAbort(signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  await new Promise((resolve) => setTimeout(resolve, 0));
  signal.throwIfAborted();
}

/** Reads a JSON file written by {@link writeJson}, unchecked. */
export async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await Deno.readTextFile(path)) as T;
}

/** Writes a JSON artifact (compact). */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value));
}
