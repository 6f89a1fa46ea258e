/**
 * A model directory in Hugging Face layout: `config.json` (BertConfig with id2label/label2id),
 * `model.safetensors` (HF weight names and shapes) and the tokenizer files.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";
import type { CrfParams } from "../crf.ts";
import { type BertConfig, classifierHead, fromHfConfigJson, toHfConfigJson } from "./config.ts";
import { type HostTensor, paramSpecs } from "./init.ts";
import {
  readSafetensors,
  readSafetensorsHeader,
  type SafetensorsEntry,
  SafetensorsError,
  type SafetensorsTensor,
  writeSafetensors,
} from "./safetensors.ts";
import { type Boundaries, type BoundariesJson, parseBoundaries } from "../boundaries.ts";
import type { NumericSetup } from "./backend.ts";

/** Tokenizer files copied into a model directory when present. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
];

/** A problem with a checkpoint directory the user gave. */
export class CheckpointError extends UserError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with which file, and a hint.
   */
  constructor(message: string) {
    super(message);
    this.name = "CheckpointError";
  }
}

/**
 * Writes a model directory.
 *
 * @param dir Target directory (created).
 * @param config The BERT configuration.
 * @param labels Label of each class id.
 * @param weights Weights in Hugging Face naming and layout.
 * @param tokenizerDir A directory whose tokenizer files are copied along.
 * @param training How the model was trained: `labelAllTokens` is written to `config.json` as
 *   `label_all_tokens`, from which predictions choose their units, and `boundaries` as
 *   `span_boundaries`, the rules its entities are decoded under (see {@link ModelDir});
 *   `numerics` (backend, BLAS, threads, replicas: {@link NumericSetup}) as
 *   `nerpipe_numerics`, so that models of one key trained on two machines can be told apart.
 */
export async function saveModelDir(
  dir: string,
  config: BertConfig,
  labels: readonly string[],
  weights: Map<string, HostTensor>,
  tokenizerDir?: string,
  training: { labelAllTokens?: boolean; boundaries?: BoundariesJson; numerics?: NumericSetup } = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const json: Record<string, unknown> = toHfConfigJson(config, labels);
  if (training.labelAllTokens !== undefined) json.label_all_tokens = training.labelAllTokens;
  if (training.boundaries !== undefined) json.span_boundaries = training.boundaries;
  if (training.numerics) json.nerpipe_numerics = training.numerics;
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json, null, 2) + "\n");
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of weights) {
    tensors.set(name, { dtype: "F32", shape: t.shape, data: t.data });
  }
  await writeSafetensors(`${dir}/model.safetensors`, tensors, { format: "pt" });
  if (tokenizerDir) {
    for (const name of TOKENIZER_FILES) {
      try {
        await Deno.copyFile(`${tokenizerDir}/${name}`, `${dir}/${name}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
  }
}

/** A loaded model directory. */
export interface ModelDir {
  config: BertConfig;
  /** Label of each class id, from `id2label` (empty when the config has none). */
  labels: string[];
  weights: Map<string, HostTensor>;
  /**
   * `label_all_tokens` of `config.json`: true when every piece was trained with its own label
   * (an entity may end inside a word), false for first-piece labels, absent when the directory
   * does not say (a checkpoint from elsewhere).
   */
  labelAllTokens?: boolean;
  /**
   * `span_boundaries` of `config.json`: where the model's entities may start and end (see
   * ner/boundaries.ts), absent when the directory does not say (a checkpoint from elsewhere).
   */
  boundaries?: Boundaries;
  /**
   * The CRF's scores of a model with `nerpipe_head: "crf"` (views of `crf.transitions`,
   * `crf.start_transitions` and `crf.end_transitions` in `weights`); absent for a softmax head.
   */
  crf?: CrfParams;
  /**
   * Tensors left out of `weights` because they are not floating point, such as the int64
   * `bert.embeddings.position_ids` buffer that transformers < 4.31 saved.
   */
  ignored?: string[];
}

/** Options of {@link loadModelDir}. */
export interface LoadModelDirOptions {
  /**
   * The model is used as it is (to predict or to evaluate), not adapted to a task: every weight
   * of the `BertForTokenClassification` that `config.json` describes must be in the file
   * (under its Hugging Face name), and `id2label` must name the classifier's classes.
   */
  complete?: boolean;
}

/**
 * Reads a model directory: `config.json` and `model.safetensors` (or the shards of
 * `model.safetensors.index.json`).
 *
 * Before any weight is read, the config is checked against the safetensors headers (read
 * alone; shapes are in them): the sizes of `config.json` are bounded (see `BERT_LIMITS`), each
 * floating-point tensor that the model uses has the shape that `config.json` gives it (vocabulary,
 * hidden, intermediate and position sizes, the label count of `id2label` for the classifier),
 * and the encoder layers in the file are those `num_hidden_layers` counts. So a `config.json`
 * that does not belong to the weights is a {@link CheckpointError} naming the file, the tensor
 * and both shapes, not a RangeError after gigabytes were allocated.
 *
 * Then each file is read once into one buffer and F32 weights are views of it, so a 440 MB
 * bert-base checkpoint takes 440 MB, not twice that; F16, BF16 and F64 weights are converted
 * to new F32 arrays. Tensors that are not floating point are left out and named in `ignored`.
 *
 * @param dir The directory.
 * @param options `complete` when the model is used as it is (see {@link LoadModelDirOptions}).
 * @returns Its config, labels and weights (HF names as stored; see `adaptCheckpoint`).
 * @throws {CheckpointError} When config.json or the weights are missing or unreadable, or do
 *   not match each other; with only `pytorch_model.bin` there, the message says how to
 *   convert it.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadModelDir } from "./checkpoint.ts";
 *
 * const { config, labels } = await loadModelDir("tests/testdata/hf_tiny");
 * assert.equal(config.hidden_size, 16);
 * assert.deepEqual(labels, ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]);
 * ```
 */
export async function loadModelDir(
  dir: string,
  options: LoadModelDirOptions = {},
): Promise<ModelDir> {
  const configPath = `${dir}/config.json`;
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(configPath));
  } catch (error) {
    throw new CheckpointError(
      `Cannot read "${configPath}": ${(error as Error).message}: a model directory needs ` +
        `a Hugging Face BertConfig`,
    );
  }
  let parsed: { config: BertConfig; labels: string[] };
  try {
    parsed = fromHfConfigJson(json);
  } catch (error) {
    throw new CheckpointError(
      `Invalid "${configPath}": ${(error as Error).message}: correct it, or use the ` +
        `config.json saved with the weights`,
    );
  }
  const files = await tensorFiles(dir);
  const headers = new Map<string, { file: string; entry: SafetensorsEntry }>();
  for (const file of files) {
    const { tensors } = await withFileErrors(file, () => readSafetensorsHeader(file));
    for (const [name, entry] of tensors) headers.set(name, { file, entry });
  }
  checkAgainstConfig(headers, parsed.config, parsed.labels, configPath, options);

  const weights = new Map<string, HostTensor>();
  const ignored: string[] = [];
  for (const file of files) {
    const { tensors } = await withFileErrors(file, () => readSafetensors(file));
    for (const [name, t] of tensors) {
      if (!FLOAT_DTYPES.has(t.dtype)) {
        ignored.push(name);
        continue;
      }
      weights.set(name, { shape: t.shape, data: toFloat32(t) });
    }
  }
  const labelAllTokens = (json as { label_all_tokens?: unknown }).label_all_tokens;
  const stored = (json as { span_boundaries?: unknown }).span_boundaries;
  const boundaries = stored === undefined ? undefined : parseBoundaries(stored);
  if (typeof boundaries === "string") {
    throw new CheckpointError(
      `Invalid "${configPath}": span_boundaries: ${boundaries}: correct it, or remove it to ` +
        `decode at any piece boundary`,
    );
  }
  // Present and shaped right: checkAgainstConfig saw them in the headers.
  const crf = classifierHead(parsed.config) === "crf"
    ? {
      transitions: weights.get("crf.transitions")!.data,
      start: weights.get("crf.start_transitions")!.data,
      end: weights.get("crf.end_transitions")!.data,
    }
    : undefined;
  return {
    config: parsed.config,
    labels: parsed.labels,
    weights,
    ignored,
    ...(typeof labelAllTokens === "boolean" ? { labelAllTokens } : {}),
    ...(boundaries ? { boundaries } : {}),
    ...(crf ? { crf } : {}),
  };
}

/** The config field behind each dimension of a parameter (by its layer-0 canonical name). */
function dimensionFields(name: string): string[] {
  if (name.endsWith("word_embeddings.weight")) return ["vocab_size", "hidden_size"];
  if (name.endsWith("position_embeddings.weight")) {
    return ["max_position_embeddings", "hidden_size"];
  }
  if (name.endsWith("token_type_embeddings.weight")) return ["type_vocab_size", "hidden_size"];
  if (name.endsWith("intermediate.dense.weight")) return ["intermediate_size", "hidden_size"];
  if (name.endsWith("intermediate.dense.bias")) return ["intermediate_size"];
  if (name.endsWith("layer.0.output.dense.weight")) return ["hidden_size", "intermediate_size"];
  if (name === "classifier.weight") return ["the label count of id2label", "hidden_size"];
  if (name === "classifier.bias") return ["the label count of id2label"];
  if (name.startsWith("crf.")) {
    return ["the label count of id2label", "the label count of id2label"];
  }
  return ["hidden_size", "hidden_size"];
}

/**
 * The name a checkpoint tensor has in a `BertForTokenClassification`: the `bert.` prefix
 * added when a bare `BertModel` saved it, and the `gamma`/`beta` of old LayerNorm names
 * (the original bert-base checkpoints) renamed `weight`/`bias`, as `from_pretrained` does.
 */
export function canonicalName(name: string): string {
  let n = name.replace(/\.gamma$/, ".weight").replace(/\.beta$/, ".bias");
  if (n.startsWith("embeddings.") || n.startsWith("encoder.") || n.startsWith("pooler.")) {
    n = `bert.${n}`;
  }
  return n;
}

/**
 * Checks the tensors named in the headers against `config.json`, before any weight is read.
 * Tensors the model does not use (a pooler, `cls.*` heads, buffers) are not checked.
 */
function checkAgainstConfig(
  headers: Map<string, { file: string; entry: SafetensorsEntry }>,
  config: BertConfig,
  labels: readonly string[],
  configPath: string,
  options: LoadModelDirOptions,
): void {
  const hint = (what: string) =>
    `${what}, or use the config.json saved with these weights (the two files must come from ` +
    `the same model)`;
  const classifier = [...headers].find(([n]) => canonicalName(n) === "classifier.weight");
  // Without id2label the classifier's own row count is taken (checked by `complete`).
  const numLabels = labels.length || (classifier?.[1].entry.shape[0] ?? 1);
  // Shapes of one layer stand for every layer: a huge num_hidden_layers allocates nothing.
  const expected = new Map(
    paramSpecs({ ...config, num_hidden_layers: 1 }, Math.max(1, numLabels)).map((
      s,
    ) => [s.name, s.shape]),
  );
  const layers = new Set<number>();
  for (const [name, { file, entry }] of headers) {
    if (!FLOAT_DTYPES.has(entry.dtype)) continue;
    const canonical = canonicalName(name);
    const layer = /^bert\.encoder\.layer\.(\d+)\./.exec(canonical);
    if (layer) layers.add(Number(layer[1]));
    const key = canonical.replace(/^bert\.encoder\.layer\.\d+\./, "bert.encoder.layer.0.");
    const shape = expected.get(key);
    if (!shape) continue;
    const actual = entry.shape;
    if (actual.length === shape.length && actual.every((d, i) => d === shape[i])) continue;
    const fields = dimensionFields(key);
    const differ = shape.flatMap((d, i) =>
      actual.length === shape.length && actual[i] !== d
        ? [`${fields[i]} is ${d} in config.json, ${actual[i]} in the weights`]
        : []
    );
    const what = differ.length
      ? `${[...new Set(differ)].join("; ")}`
      : `the tensor has ${actual.length} dimensions, not ${shape.length}`;
    throw new CheckpointError(
      `Tensor "${name}" of "${file}" has shape [${actual.join(", ")}], but "${configPath}" ` +
        `gives it [${shape.join(", ")}] (${what}): ` +
        hint(
          differ.length && fields[0]!.startsWith("the label count")
            ? "make id2label and label2id name one label per classifier row"
            : "correct config.json",
        ),
    );
  }
  if (classifierHead(config) === "crf") {
    const absent = [...expected.keys()].filter((name) =>
      name.startsWith("crf.") && !FLOAT_DTYPES.has(headers.get(name)?.entry.dtype ?? "")
    );
    if (absent.length) {
      const file = headers.values().next().value?.file ?? "the weights";
      throw new CheckpointError(
        `"${configPath}" gives "nerpipe_head" "crf", but "${file}" lacks ${
          absent.map((a) => `"${a}"`).join(", ")
        }: a CRF head's scores are saved with the weights: use the model.safetensors saved ` +
          `with this config.json, or remove "nerpipe_head" to load the model with a softmax head`,
      );
    }
  }
  const n = config.num_hidden_layers;
  if (layers.size > 0 || options.complete) {
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !layers.has(i));
    const extra = [...layers].filter((i) => i >= n).sort((a, b) => a - b);
    if (missing.length || extra.length) {
      const held = layers.size
        ? `layers ${[...layers].sort((a, b) => a - b).join(", ")}`
        : "no encoder layer";
      throw new CheckpointError(
        `"${configPath}" gives num_hidden_layers ${n}, but the weights hold ${held} ` +
          `(in "${headers.values().next().value?.file ?? "the weights"}"): ` +
          hint(`set num_hidden_layers to ${layers.size} in config.json`),
      );
    }
  }
  if (!options.complete) return;
  if (labels.length === 0) {
    throw new CheckpointError(
      `"${configPath}" has no "id2label": a model used as it is needs the label of each ` +
        `class: add id2label and label2id, or fine-tune it on a corpus first ` +
        `(pipelines/ner-pretrained.yaml)`,
    );
  }
  const missing = paramSpecs({ ...config, num_hidden_layers: 1 }, labels.length)
    .map((s) => s.name)
    .flatMap((name) =>
      name.startsWith("bert.encoder.layer.0.")
        ? Array.from({ length: n }, (_, i) => name.replace(".layer.0.", `.layer.${i}.`))
        : [name]
    )
    .filter((name) => {
      const h = headers.get(name);
      return !h || !FLOAT_DTYPES.has(h.entry.dtype);
    });
  if (missing.length) {
    const file = headers.values().next().value?.file ?? "the weights";
    throw new CheckpointError(
      `"${file}" lacks ${missing.length} of the weights of the token classifier that ` +
        `"${configPath}" describes (${missing.slice(0, 3).join(", ")}${
          missing.length > 3 ? ", …" : ""
        }): a base checkpoint cannot predict: fine-tune it first (pipelines/ner-pretrained.yaml)`,
    );
  }
}

const FLOAT_DTYPES = new Set(["F32", "F64", "F16", "BF16"]);

/** How to turn a `pytorch_model.bin` into `model.safetensors`. */
const CONVERT_HINT =
  "convert it with PyTorch alone: `python3 tools/convert/bin_to_safetensors.py DIR`, " +
  "or with transformers: `AutoModelForTokenClassification.from_pretrained(DIR)" +
  ".save_pretrained(DIR, safe_serialization=True)`";

/** Turns a malformed safetensors file into a CheckpointError naming it. */
async function withFileErrors<T>(file: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof SafetensorsError) {
      throw new CheckpointError(
        `Cannot read "${file}": ${error.message}: the file is damaged or not safetensors: ` +
          `save the model again with save_pretrained(dir, safe_serialization=True)`,
      );
    }
    throw error;
  }
}

/** The weight files of a directory: `model.safetensors`, or the shards of its index. */
async function tensorFiles(dir: string): Promise<string[]> {
  const single = `${dir}/model.safetensors`;
  if (await exists(single)) return [single];
  const indexPath = `${dir}/model.safetensors.index.json`;
  if (await exists(indexPath)) {
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(await Deno.readTextFile(indexPath)).weight_map;
      if (typeof map !== "object" || map === null) throw new Error(`no "weight_map" object`);
    } catch (error) {
      throw new CheckpointError(
        `Invalid "${indexPath}": ${(error as Error).message}: it must map each tensor name ` +
          `to its shard file, as save_pretrained writes it`,
      );
    }
    return [...new Set(Object.values(map).map(String))].sort().map((shard) => `${dir}/${shard}`);
  }
  let hint = "save the model with save_pretrained(dir, safe_serialization=True)";
  if (await exists(`${dir}/pytorch_model.bin`)) {
    hint = `only "pytorch_model.bin" is there: ${CONVERT_HINT.replaceAll("DIR", dir)}`;
  } else if (await exists(`${dir}/tf_model.h5`) || await exists(`${dir}/flax_model.msgpack`)) {
    hint = "only TensorFlow or Flax weights are there: load them with transformers " +
      "(from_tf=True or from_flax=True) and save_pretrained(dir, safe_serialization=True)";
  }
  throw new CheckpointError(`No "model.safetensors" in "${dir}": ${hint}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** A tensor's values as float32 (F32 as is; F16, BF16 and F64 converted). */
function toFloat32(t: SafetensorsTensor): Float32Array {
  switch (t.dtype) {
    case "F32":
      return t.data as Float32Array;
    case "F64":
      return Float32Array.from(t.data as Float64Array);
    case "BF16": {
      const words = t.data as Uint16Array;
      const bits = new Uint32Array(words.length);
      for (let i = 0; i < words.length; i++) bits[i] = words[i]! << 16;
      return new Float32Array(bits.buffer);
    }
    case "F16": {
      const words = t.data as Uint16Array;
      const out = new Float32Array(words.length);
      for (let i = 0; i < words.length; i++) {
        const h = words[i]!;
        const sign = h & 0x8000 ? -1 : 1;
        const exp = (h >> 10) & 0x1f;
        const frac = h & 0x3ff;
        out[i] = exp === 0
          ? sign * 2 ** -14 * (frac / 1024)
          : exp === 31
          ? (frac ? NaN : sign * Infinity)
          : sign * 2 ** (exp - 15) * (1 + frac / 1024);
      }
      return out;
    }
    default:
      throw new RangeError(`Tensor of dtype ${t.dtype} is not floating point`);
  }
}
