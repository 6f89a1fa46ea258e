/**
 * A model directory in Hugging Face layout: `config.json` (BertConfig with id2label/label2id),
 * `model.safetensors` (HF weight names and shapes) and the tokenizer files.
 *
 * @module
 */

import { type BertConfig, fromHfConfigJson, toHfConfigJson } from "./bert/config.ts";
import type { HostTensor } from "./bert/init.ts";
import { readSafetensors, type SafetensorsTensor, writeSafetensors } from "./bert/safetensors.ts";

/** Tokenizer files copied into a model directory when present. */
export const TOKENIZER_FILES = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "vocab.txt",
];

/** A problem with a checkpoint directory the user gave. */
export class CheckpointError extends Error {
  readonly exitCode = 2;
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
 */
export async function saveModelDir(
  dir: string,
  config: BertConfig,
  labels: readonly string[],
  weights: Map<string, HostTensor>,
  tokenizerDir?: string,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify(toHfConfigJson(config, labels), null, 2) + "\n",
  );
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
}

/**
 * Reads a model directory.
 *
 * @param dir The directory.
 * @returns Its config, labels and weights.
 * @throws {CheckpointError} When config.json or model.safetensors is missing or unreadable.
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
  const path = `${dir}/model.safetensors`;
  try {
    await Deno.stat(path);
  } catch {
    let hint = "save the model with save_pretrained(dir, safe_serialization=True)";
    try {
      await Deno.stat(`${dir}/pytorch_model.bin`);
      hint = "only pytorch_model.bin is there: convert it with PyTorch: " +
        "BertForTokenClassification.from_pretrained(dir).save_pretrained(dir, " +
        "safe_serialization=True), or safetensors.torch.save_file(torch.load(path), " +
        "'model.safetensors', metadata={'format': 'pt'})";
    } catch { /* no .bin either */ }
    throw new CheckpointError(`No "model.safetensors" in "${dir}": ${hint}`);
  }
  const { tensors } = await readSafetensors(path);
  const weights = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    weights.set(name, { shape: t.shape, data: toFloat32(t, `${path}: tensor "${name}"`) });
  }
  return { config: parsed.config, labels: parsed.labels, weights };
}

/** A tensor's values as float32 (F32 as is; F16, BF16 and F64 converted). */
function toFloat32(t: SafetensorsTensor, where: string): Float32Array {
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
      throw new CheckpointError(`${where} has dtype ${t.dtype}: expected a floating-point type`);
  }
}
