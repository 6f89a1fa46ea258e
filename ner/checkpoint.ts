/**
 * A model directory in Hugging Face layout: `config.json` (BertConfig with id2label/label2id),
 * `model.safetensors` (HF weight names and shapes) and the tokenizer files.
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";
import { type BertConfig, fromHfConfigJson, toHfConfigJson } from "./bert/config.ts";
import type { HostTensor } from "./bert/init.ts";
import {
  readSafetensors,
  SafetensorsError,
  type SafetensorsTensor,
  writeSafetensors,
} from "./bert/safetensors.ts";

/** Tokenizer files copied into a model directory when present. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
];

/** A problem with a checkpoint directory the user gave. */
export class CheckpointError extends UserError {
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
 *   `label_all_tokens`, from which predictions choose their units (see {@link ModelDir}).
 */
export async function saveModelDir(
  dir: string,
  config: BertConfig,
  labels: readonly string[],
  weights: Map<string, HostTensor>,
  tokenizerDir?: string,
  training: { labelAllTokens?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const json: Record<string, unknown> = toHfConfigJson(config, labels);
  if (training.labelAllTokens !== undefined) json.label_all_tokens = training.labelAllTokens;
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
   * Tensors left out of `weights` because they are not floating point, such as the int64
   * `bert.embeddings.position_ids` buffer that transformers < 4.31 saved.
   */
  ignored?: string[];
}

/**
 * Reads a model directory: `config.json` and `model.safetensors` (or the shards of
 * `model.safetensors.index.json`). The file is read once into one buffer and F32 weights are
 * views of it, so a 440 MB bert-base checkpoint takes 440 MB, not twice that; F16, BF16 and
 * F64 weights are converted to new F32 arrays. Tensors that are not floating point are left
 * out and named in `ignored`.
 *
 * @param dir The directory.
 * @returns Its config, labels and weights (HF names as stored; see `adaptCheckpoint`).
 * @throws {CheckpointError} When config.json or the weights are missing or unreadable; with
 *   only `pytorch_model.bin` there, the message says how to convert it.
 * @example
 * ```ts
 * import { loadModelDir } from "./checkpoint.ts";
 * const { config, labels } = await loadModelDir("tests/testdata/hf_tiny");
 * console.assert(config.hidden_size === 16 && labels[0] === "O");
 * ```
 */
export async function loadModelDir(dir: string): Promise<ModelDir> {
  let json: unknown;
  try {
    json = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  } catch (error) {
    throw new CheckpointError(
      `Cannot read "${dir}/config.json": ${(error as Error).message}: a model directory needs ` +
        `a Hugging Face BertConfig`,
    );
  }
  let parsed: { config: BertConfig; labels: string[] };
  try {
    parsed = fromHfConfigJson(json);
  } catch (error) {
    throw new CheckpointError(`Invalid "${dir}/config.json": ${(error as Error).message}`);
  }
  const tensors = await readTensors(dir);
  const weights = new Map<string, HostTensor>();
  const ignored: string[] = [];
  for (const [name, t] of tensors) {
    if (!FLOAT_DTYPES.has(t.dtype)) {
      ignored.push(name);
      continue;
    }
    weights.set(name, { shape: t.shape, data: toFloat32(t) });
  }
  const labelAllTokens = (json as { label_all_tokens?: unknown }).label_all_tokens;
  return {
    config: parsed.config,
    labels: parsed.labels,
    weights,
    ignored,
    ...(typeof labelAllTokens === "boolean" ? { labelAllTokens } : {}),
  };
}

const FLOAT_DTYPES = new Set(["F32", "F64", "F16", "BF16"]);

/** How to turn a `pytorch_model.bin` into `model.safetensors`. */
const CONVERT_HINT = "convert it with PyTorch alone: `python3 tools/bin_to_safetensors.py DIR`, " +
  "or with transformers: `AutoModelForTokenClassification.from_pretrained(DIR)" +
  ".save_pretrained(DIR, safe_serialization=True)`";

/**
 * Reads `model.safetensors`, or the shards listed by `model.safetensors.index.json`. Each file
 * is read with one read and its tensors are views of that buffer (no second copy).
 */
async function readTensors(dir: string): Promise<Map<string, SafetensorsTensor>> {
  const out = new Map<string, SafetensorsTensor>();
  const read = async (file: string) => {
    let tensors;
    try {
      ({ tensors } = await readSafetensors(file));
    } catch (error) {
      if (error instanceof SafetensorsError) {
        throw new CheckpointError(`Cannot read "${file}": ${error.message}`);
      }
      throw error;
    }
    for (const [name, t] of tensors) out.set(name, t);
  };
  const single = `${dir}/model.safetensors`;
  if (await exists(single)) {
    await read(single);
    return out;
  }
  const indexPath = `${dir}/model.safetensors.index.json`;
  if (await exists(indexPath)) {
    let map: Record<string, unknown>;
    try {
      map = JSON.parse(await Deno.readTextFile(indexPath)).weight_map;
      if (typeof map !== "object" || map === null) throw new Error(`no "weight_map" object`);
    } catch (error) {
      throw new CheckpointError(`Invalid "${indexPath}": ${(error as Error).message}`);
    }
    const shards = [...new Set(Object.values(map).map(String))].sort();
    for (const shard of shards) await read(`${dir}/${shard}`);
    return out;
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
