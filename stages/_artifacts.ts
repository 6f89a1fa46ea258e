/**
 * Artifact formats passed between the NER stages, and small I/O helpers.
 *
 * @module
 */

import { InputError, UserError } from "../runner/errors.ts";
import {
  BATCHES_HINT,
  BatchesFormatError,
  type BatchSet,
  decodeBatches,
  openBatches,
} from "../ner/batches.ts";
import type { Dataset, Document, EncodedWindow } from "../ner/types.ts";
import { JsonlLineError, JsonlWriter, readJsonl } from "../ner/_jsonl.ts";

/** `encoded` artifact of preprocess-input. */
export interface EncodedArtifact {
  max_length: number;
  overflow: "window" | "truncate";
  pad_id: number;
  vocab_size: number;
  splits: Record<"train" | "validation", EncodedWindow[]>;
  /** Absent until every window was written. */
  report?: {
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

/** `labels` artifact of label-ids: the label dictionary and how pieces were labelled. */
export interface LabelsArtifact {
  /** Tag of each class id (`O` first). */
  labels: string[];
  /** Whether continuation pieces carry labels (preprocess-target's `label_all_tokens`). */
  label_all_tokens: boolean;
}

/** A split name. */
export type Split = "train" | "validation";

/** The splits, in the order stream artifacts hold them. */
export const SPLITS = ["train", "validation"] as const;

/** Header line of the `dataset` stream (load). */
export interface DatasetHeader {
  artifact: "ner-dataset";
  format: string;
}

/**
 * Trailer (`end`) of the `dataset` stream: what load knows once it has read the corpus. Read it
 * without reading the documents with {@link readStreamEnd}.
 */
export interface DatasetEnd {
  /** Sorted entity types of the training split. */
  labels: string[];
  skipped: number;
  /** Documents per split; the train documents come first. */
  train: number;
  validation: number;
}

/** A record of the `dataset` stream: one document. */
export interface DatasetRecord extends Document {
  split: Split;
}

/** Header line of the `encoded` stream (preprocess-input). */
export interface EncodedHeader {
  artifact: "ner-encoded";
  max_length: number;
  overflow: "window" | "truncate";
  pad_id: number;
  vocab_size: number;
}

/** A record of the `encoded` stream: one window (its `tokens` are not stored). */
export interface EncodedRecord extends EncodedWindow {
  split: Split;
}

/** Header line of the `targets` stream (preprocess-target). */
export interface TargetsHeader {
  artifact: "ner-targets";
  label_all_tokens: boolean;
}

/** A record of the `targets` stream: the tags of one window, in the encoded stream's order. */
export interface TargetsRecord {
  split: Split;
  doc: number;
  tags: (string | null)[];
}

/** Header line of the label-ids stream (the `ids` output of label-ids). */
export interface LabelIdsHeader {
  artifact: "ner-label-ids";
  pad_id: number;
  max_length: number;
}

/** A record of the label-ids stream: one window's piece ids and label ids, not padded. */
export interface LabelIdsRecord {
  split: Split;
  ids: number[];
  labels: number[];
}

/** The windows of one split grouped by document index, in window order. */
export function windowsByDoc<W extends EncodedWindow>(
  windows: readonly W[],
): Map<number, W[]> {
  const byDoc = new Map<number, W[]>();
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
export class ArtifactError extends InputError {
  /**
   * Creates the error.
   *
   * @param message What is wrong, naming the input and its file, then a hint.
   * @param inputs The names of the inputs at fault (empty: the stage cannot tell).
   */
  constructor(message: string, inputs: readonly string[] = []) {
    super(message, inputs);
    this.name = "ArtifactError";
  }
}

/**
 * The artifact types {@link readArtifact} returns whole: the label dictionary (a small JSON
 * file) and, for callers that want a whole split in memory (train, validate), the dataset,
 * encoded and targets streams gathered into their former one-object shapes.
 */
export interface JsonArtifacts {
  "ner-dataset": Dataset;
  "ner-encoded": EncodedArtifact;
  "ner-targets": TargetsArtifact;
  "label-dictionary": LabelsArtifact;
}

/** The stream artifact types: header and record of each. */
export interface StreamArtifacts {
  "ner-dataset": { header: DatasetHeader; record: DatasetRecord };
  "ner-encoded": { header: EncodedHeader; record: EncodedRecord };
  "ner-targets": { header: TargetsHeader; record: TargetsRecord };
  "ner-label-ids": { header: LabelIdsHeader; record: LabelIdsRecord };
}

/** A shape check: the first problem found, or undefined. */
type ShapeCheck = (value: unknown) => string | undefined;

interface ArtifactKind {
  /** What a file of the type is called in messages: `a dataset file`. */
  what: string;
  /** The output that writes it: `load.dataset`. */
  producer: string;
}

interface StreamKind extends ArtifactKind {
  header: ShapeCheck;
  /** Checks the trailer's `end` object. */
  end?: (end: Record<string, unknown>) => string | undefined;
  /** Checks one record's fields (not every item of its lists: that costs more than the parse). */
  record: ShapeCheck;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const isInt = (value: unknown): value is number => Number.isSafeInteger(value);

const isSplit = (value: unknown): value is Split => value === "train" || value === "validation";

const STRINGS = (v: unknown) => Array.isArray(v) && v.every((l) => typeof l === "string");

const STREAMS: Record<keyof StreamArtifacts, StreamKind> = {
  "ner-dataset": {
    what: "dataset",
    producer: "load.dataset",
    header: (v) => isObject(v) && typeof v.format === "string" ? undefined : 'it lacks "format"',
    end: (v) =>
      STRINGS(v.labels) && isInt(v.train) && isInt(v.validation)
        ? undefined
        : 'its trailer lacks "labels", "train" or "validation"',
    record: (d) =>
      isObject(d) && isSplit(d.split) && typeof d.text === "string" && Array.isArray(d.entities)
        ? undefined
        : 'lacks "split", "text" or "entities"',
  },
  "ner-encoded": {
    what: "encoded",
    producer: "preprocess-input.encoded",
    header: (v) =>
      isObject(v) && isInt(v.max_length) && isInt(v.pad_id)
        ? undefined
        : 'it lacks "max_length" or "pad_id"',
    record: (w) =>
      isObject(w) && isSplit(w.split) && isInt(w.doc) && w.doc >= 0 && Array.isArray(w.ids) &&
        Array.isArray(w.offsets) && Array.isArray(w.wordStart)
        ? undefined
        : 'lacks "split", "doc", "ids", "offsets" or "wordStart"',
  },
  "ner-targets": {
    what: "targets",
    producer: "preprocess-target.targets",
    header: (v) =>
      isObject(v) && typeof v.label_all_tokens === "boolean"
        ? undefined
        : 'it has no boolean "label_all_tokens"',
    record: (t) =>
      isObject(t) && isSplit(t.split) && isInt(t.doc) && Array.isArray(t.tags)
        ? undefined
        : 'lacks "split", "doc" or a list of "tags"',
  },
  "ner-label-ids": {
    what: "label ids",
    producer: "label-ids.ids",
    header: (v) =>
      isObject(v) && isInt(v.pad_id) && isInt(v.max_length)
        ? undefined
        : 'it lacks "pad_id" or "max_length"',
    record: (r) =>
      isObject(r) && isSplit(r.split) && Array.isArray(r.ids) && Array.isArray(r.labels) &&
        r.ids.length === r.labels.length
        ? undefined
        : 'lacks "split", or "ids" and "labels" of one length',
  },
};

/**
 * The first problem of one record of a stream artifact (as {@link openStream} checks it), or
 * undefined.
 */
export function recordProblem(type: keyof StreamArtifacts, value: unknown): string | undefined {
  return STREAMS[type].record(value);
}

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

const LABELS_KIND: ArtifactKind = { what: "label dictionary", producer: "label-ids.labels" };

/** An open stream input: its header, then its records once, then its trailer. */
export interface StreamInput<K extends keyof StreamArtifacts> {
  /** The header line. */
  header: StreamArtifacts[K]["header"];
  /** The records, read a chunk at a time; iterate once. */
  records: AsyncGenerator<StreamArtifacts[K]["record"]>;
  /** The trailer's `end` object, once `records` is done (empty before). */
  end: Record<string, unknown>;
}

/**
 * Opens a stream artifact input (JSON Lines, see ner/_jsonl.ts): reads and checks its
 * header, and gives its records one at a time, each checked as it is read; the trailer must
 * follow the last record.
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param type Its declared type.
 * @returns The header, the records and (after them) the trailer.
 * @throws {ArtifactError} When the file is not of that type, naming input, file and line.
 */
export async function openStream<K extends keyof StreamArtifacts>(
  inputs: Readonly<Record<string, string>>,
  name: string,
  type: K,
): Promise<StreamInput<K>> {
  const kind = STREAMS[type];
  const hint = producerHint(kind.producer);
  const path = await inputPath(inputs, name, kind.what, hint);
  const fail = (problem: string) => notA(name, path, kind.what, problem, hint);
  const lines = readJsonl(path);
  const next = async () => {
    try {
      return await lines.next();
    } catch (error) {
      if (error instanceof JsonlLineError) {
        throw fail(
          error.line === 1 && /JSON/.test(error.message) ? "it is not JSON" : error.message,
        );
      }
      throw error;
    }
  };
  const first = await next();
  const header = first.done ? undefined : first.value;
  if (!isObject(header) || header.artifact !== type) {
    await lines.return(undefined);
    throw fail(
      isObject(header) && typeof header.artifact === "string"
        ? `it is a ${header.artifact} file`
        : `its first line is not a ${type} header`,
    );
  }
  const problem = kind.header(header);
  if (problem) {
    await lines.return(undefined);
    throw fail(problem);
  }
  const input = { header, end: {} } as unknown as StreamInput<K>;
  const records = (async function* () {
    let line = 1;
    try {
      while (true) {
        const item = await next();
        line++;
        if (item.done) throw fail("it ends before its trailer line (the file was cut short)");
        const value = item.value;
        if (isObject(value) && isObject(value.end)) {
          const bad = kind.end?.(value.end);
          if (bad) throw fail(bad);
          input.end = value.end;
          return;
        }
        const bad = kind.record(value);
        if (bad) throw fail(`line ${line} ${bad}`);
        yield value as StreamArtifacts[K]["record"];
      }
    } finally {
      await lines.return(undefined);
    }
  })();
  // A generator that never started skips its finally when returned: close the file here too.
  const close = records.return.bind(records);
  records.return = async (value) => {
    await lines.return(undefined);
    return await close(value);
  };
  input.records = records;
  return input;
}

/**
 * Reads the trailer of a stream artifact input without reading its records: the file's last
 * line, read from its end (the header is checked too).
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param type Its declared type.
 * @returns The trailer's `end` object.
 * @throws {ArtifactError} When the file is not of that type or has no trailer.
 */
export async function readStreamEnd<K extends keyof StreamArtifacts>(
  inputs: Readonly<Record<string, string>>,
  name: string,
  type: K,
): Promise<Record<string, unknown>> {
  const input = await openStream(inputs, name, type);
  await input.records.return(undefined);
  const kind = STREAMS[type];
  const hint = producerHint(kind.producer);
  const path = inputs[name]!;
  const fail = (problem: string) => notA(name, path, kind.what, problem, hint);
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    for (let want = 1 << 16;; want *= 4) {
      const from = Math.max(0, size - want);
      const bytes = new Uint8Array(size - from);
      await file.seek(from, Deno.SeekMode.Start);
      for (let got = 0; got < bytes.length;) {
        const n = await file.read(bytes.subarray(got));
        if (n === null) break;
        got += n;
      }
      const text = new TextDecoder().decode(bytes).replace(/\n$/, "");
      const cut = text.lastIndexOf("\n");
      if (cut < 0 && from > 0) continue;
      let last: unknown;
      try {
        last = JSON.parse(text.slice(cut + 1));
      } catch {
        throw fail("it ends before its trailer line (the file was cut short)");
      }
      if (!isObject(last) || !isObject(last.end)) {
        throw fail("it ends before its trailer line (the file was cut short)");
      }
      const bad = kind.end?.(last.end);
      if (bad) throw fail(bad);
      return last.end;
    }
  } finally {
    file.close();
  }
}

/**
 * Writes a stream artifact: the header, then records with {@link StreamOutput.write}, then
 * the trailer with {@link StreamOutput.end}.
 */
export class StreamOutput<K extends keyof StreamArtifacts> {
  #writer: JsonlWriter;
  #path: string;
  private constructor(writer: JsonlWriter, path: string) {
    this.#writer = writer;
    this.#path = path;
  }
  /**
   * Creates the file and writes its header.
   *
   * @param path The output's path (`ctx.output(name)`).
   * @param header The header.
   */
  static async create<K extends keyof StreamArtifacts>(
    path: string,
    header: StreamArtifacts[K]["header"],
  ): Promise<StreamOutput<K>> {
    const writer = await JsonlWriter.create(path);
    await writer.write(header);
    return new StreamOutput<K>(writer, path);
  }
  /** Appends one record. */
  write(record: StreamArtifacts[K]["record"]): Promise<void> {
    return this.#writer.write(record);
  }
  /**
   * Appends the records of another file (lines written by a {@link JsonlWriter}, as a worker
   * writes its share of the records), a chunk at a time.
   */
  append(path: string): Promise<void> {
    return this.#writer.append(path);
  }
  /** Writes the trailer and closes the file. */
  async end(end: Record<string, unknown>): Promise<void> {
    await this.#writer.write({ end });
    await this.#writer.close();
  }
  /** Closes and removes the file (after a failure: a stage leaves no partial output). */
  async abort(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await Deno.remove(this.#path).catch(() => {});
  }
}

/**
 * Reads one split (or both) of a stream artifact into memory, each record to `item`.
 */
async function gather<K extends keyof StreamArtifacts, T>(
  input: StreamInput<K>,
  item: (r: StreamArtifacts[K]["record"]) => T,
  only?: Split,
): Promise<Record<Split, T[]>> {
  const out: Record<Split, T[]> = { train: [], validation: [] };
  for await (const r of input.records) {
    const split = (r as { split: Split }).split;
    if (only === undefined || split === only) out[split].push(item(r));
  }
  return out;
}

/** The message of an input that is not of its declared type. */
function notA(
  name: string,
  path: string,
  what: string,
  problem: string,
  hint: string,
): ArtifactError {
  return new ArtifactError(`Input "${name}" (${path}) is not a ${what} file: ${problem}: ${hint}`, [
    name,
  ]);
}

function producerHint(producer: string): string {
  const kind = producer.slice(0, producer.indexOf("."));
  return `use the ${producer.slice(kind.length + 1)} output of a ${kind} stage (${producer})`;
}

/** The path of an input, checked to be a file. */
async function inputPath(
  inputs: Readonly<Record<string, string>>,
  name: string,
  what: string,
  hint: string,
): Promise<string> {
  const path = inputs[name];
  if (path === undefined) throw new Error(`Input "${name}" is not wired`);
  const info = await Deno.stat(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) {
      throw notA(name, path, what, "it does not exist", hint);
    }
    throw error;
  });
  if (info.isDirectory) throw notA(name, path, what, "it is a directory", hint);
  return path;
}

async function readInputBytes(
  inputs: Readonly<Record<string, string>>,
  name: string,
  what: string,
  hint: string,
): Promise<{ path: string; bytes: Uint8Array }> {
  const path = await inputPath(inputs, name, what, hint);
  return { path, bytes: await Deno.readFile(path) };
}

/** Options of {@link readArtifact}. */
export interface ReadArtifactOptions {
  /** Keep the records of this split only (the other split's lists are empty). */
  split?: Split;
}

/**
 * Reads an artifact input whole and checks its shape against its declared type: the label
 * dictionary, or a stream artifact (dataset, encoded, targets) gathered into one object (its
 * records are checked as they are read; see {@link openStream} to read them one at a time).
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param type Its declared artifact type.
 * @param opts Which split to keep.
 * @returns The artifact.
 * @throws {ArtifactError} When the file is not of that shape, naming input and file.
 */
export async function readArtifact<K extends keyof JsonArtifacts>(
  inputs: Readonly<Record<string, string>>,
  name: string,
  type: K,
  opts: ReadArtifactOptions = {},
): Promise<JsonArtifacts[K]> {
  if (type === "label-dictionary") {
    const hint = producerHint(LABELS_KIND.producer);
    const { path, bytes } = await readInputBytes(inputs, name, LABELS_KIND.what, hint);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (error) {
      const detail = error instanceof SyntaxError ? "it is not JSON" : "it is not UTF-8 text";
      throw notA(name, path, LABELS_KIND.what, detail, hint);
    }
    const problem = labelsProblem(value);
    if (problem) throw notA(name, path, LABELS_KIND.what, problem, hint);
    return value as JsonArtifacts[K];
  }
  if (type === "ner-dataset") {
    const input = await openStream(inputs, name, "ner-dataset");
    const splits = await gather(input, ({ split: _, ...doc }) => doc as Document, opts.split);
    const { labels, skipped } = input.end as unknown as DatasetEnd;
    return { format: input.header.format, labels, skipped, ...splits } as JsonArtifacts[K];
  }
  if (type === "ner-encoded") {
    const input = await openStream(inputs, name, "ner-encoded");
    const splits = await gather(
      input,
      ({ split: _, ...w }) => w as EncodedWindow,
      opts.split,
    );
    const { artifact: _a, ...header } = input.header;
    return { ...header, splits, report: input.end.report } as JsonArtifacts[K];
  }
  const input = await openStream(inputs, name, "ner-targets");
  const splits = await gather(input, (t) => t.tags, opts.split);
  return {
    label_all_tokens: input.header.label_all_tokens,
    splits,
    report: input.end.report,
  } as JsonArtifacts[K];
}

/**
 * Reads a `ner-batches` input (see ner/batches.ts), checking its magic and its header against
 * its size: whole, or with `stream` batch by batch from the file as they are used (the last
 * few kept; see `openBatches`).
 *
 * @param inputs The stage's inputs (`ctx.inputs`).
 * @param name The input's name.
 * @param opts `stream: true` to read batches from the file as they are used.
 * @returns The batches by split.
 * @throws {ArtifactError} When the file is not a batches file, naming input and file.
 */
export async function readBatches(
  inputs: Readonly<Record<string, string>>,
  name: string,
  opts: { stream?: boolean } = {},
): Promise<BatchSet> {
  if (opts.stream) {
    const path = await inputPath(inputs, name, "batches", BATCHES_HINT);
    try {
      return (await openBatches(path)).set;
    } catch (error) {
      if (error instanceof BatchesFormatError) {
        throw notA(name, path, "batches", error.detail, BATCHES_HINT);
      }
      throw error;
    }
  }
  const { path, bytes } = await readInputBytes(inputs, name, "batches", BATCHES_HINT);
  try {
    return decodeBatches(bytes);
  } catch (error) {
    if (error instanceof BatchesFormatError) {
      throw notA(name, path, "batches", error.detail, BATCHES_HINT);
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
      [name],
    );
  }
  try {
    return await read(path);
  } catch (error) {
    if (!(error instanceof UserError)) throw error;
    throw new ArtifactError(
      `Input "${name}" (${path}) is not a ${what} directory: ${error.message}`,
      [name],
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
    [a, b],
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
  // setImmediate: one turn of the event loop (a few microseconds); setTimeout(0) waits a
  // millisecond or more, which cost preprocess-input 2 s on 100k sentences.
  await new Promise((resolve) => setImmediate(resolve));
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

// ---------------------------------------------------------------------------------------------
// The declarations of label-ids (and of its old name, embed-pad), which both kinds share; their
// work is in _label_ids.ts.

/** The inputs of `label-ids` (and of its old name, `embed-pad`). */
export const LABEL_IDS_INPUTS = {
  dataset: { type: "ner-dataset", description: "Output of load (its training types)" },
  encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
  targets: { type: "ner-targets", description: "Output of preprocess-target" },
} as const;

/** The label dictionary output. */
export const LABELS_OUTPUT = {
  type: "label-dictionary",
  description:
    "Label dictionary: `labels` (id = position) and `label_all_tokens` (how pieces were labelled)",
  extension: ".json",
} as const;

/** The label-ids output. */
export const IDS_OUTPUT = {
  type: "ner-label-ids",
  description: "Piece ids and label ids of each window, not padded (tensorize pads them), " +
    "one window per line",
  extension: ".jsonl",
} as const;
