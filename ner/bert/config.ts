/**
 * BERT hyper-parameters with Hugging Face field names, and conversion to and
 * from a `config.json` that PyTorch `transformers` accepts.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";

/** BERT hyper-parameters, named as in Hugging Face `BertConfig`. */
export interface BertConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  /** Only `"gelu"` (exact erf form) is supported. */
  hidden_act: "gelu";
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  layer_norm_eps: number;
  initializer_range: number;
  /** Dropout before the classifier; `null` means `hidden_dropout_prob` (as in HF). */
  classifier_dropout?: number | null;
  pad_token_id?: number;
  /**
   * The head over the classifier's logits (not a Hugging Face field; `from_pretrained` keeps it
   * as an attribute): absent or `"softmax"` for independent per-unit classes, `"crf"` for a
   * linear-chain CRF whose scores are the `crf.*` tensors (see {@link CLASSIFIER_HEADS}).
   */
  nerpipe_head?: ClassifierHead;
}

/** The heads a token classifier can have: per-unit softmax, or a linear-chain CRF. */
export const CLASSIFIER_HEADS = ["softmax", "crf"] as const;

/** One of {@link CLASSIFIER_HEADS}. */
export type ClassifierHead = typeof CLASSIFIER_HEADS[number];

/**
 * The head of a model: `nerpipe_head`, `"softmax"` when absent.
 *
 * @param config Model hyper-parameters.
 * @returns The head.
 */
export function classifierHead(config: BertConfig): ClassifierHead {
  return config.nerpipe_head ?? "softmax";
}

/** The small default model: 2 layers, hidden 128, 2 heads, intermediate 512. */
export const DEFAULT_BERT_CONFIG: Readonly<Omit<BertConfig, "vocab_size">> = {
  hidden_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 512,
  hidden_act: "gelu",
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  initializer_range: 0.02,
};

/**
 * A config with another head (the encoder and classifier are the same for every head).
 *
 * @param config Model hyper-parameters.
 * @param head The head to give it.
 * @returns A copy; with `softmax`, without `nerpipe_head` (as a softmax model's config.json).
 */
export function withClassifierHead(config: BertConfig, head: ClassifierHead): BertConfig {
  const { nerpipe_head: _, ...rest } = config;
  return head === "crf" ? { ...rest, nerpipe_head: "crf" } : rest;
}

/**
 * Builds a full config from a vocabulary size and optional overrides.
 *
 * @param vocabSize Number of rows of the word-embedding table.
 * @param overrides Fields that replace the defaults of {@link DEFAULT_BERT_CONFIG}.
 * @returns A validated config.
 * @throws {RangeError} When the hidden size is not a multiple of the number of heads.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBertConfig } from "./config.ts";
 *
 * const c = makeBertConfig(1000, { num_hidden_layers: 1 });
 * assert.equal(c.vocab_size, 1000);
 * assert.equal(c.num_hidden_layers, 1);
 * assert.equal(c.hidden_size, 128); // the default
 * ```
 */
export function makeBertConfig(vocabSize: number, overrides: Partial<BertConfig> = {}): BertConfig {
  const config: BertConfig = { ...DEFAULT_BERT_CONFIG, vocab_size: vocabSize, ...overrides };
  validateBertConfig(config);
  return config;
}

/**
 * The largest value of each size of a {@link BertConfig}: far above any published BERT (bert-large
 * has 24 layers, hidden 1024, intermediate 4096, 512 positions; multilingual vocabularies reach
 * 250,000 pieces), and low enough that a typo such as `num_hidden_layers: 1000000` is refused
 * before anything is allocated.
 */
export const BERT_LIMITS: Readonly<
  Record<
    | "vocab_size"
    | "hidden_size"
    | "num_hidden_layers"
    | "num_attention_heads"
    | "intermediate_size"
    | "max_position_embeddings"
    | "type_vocab_size",
    number
  >
> = {
  vocab_size: 2_097_152,
  hidden_size: 16_384,
  num_hidden_layers: 256,
  num_attention_heads: 1_024,
  intermediate_size: 65_536,
  max_position_embeddings: 65_536,
  type_vocab_size: 1_024,
};

/** The most values one weight matrix may hold (2^30 float32 values, 4 GiB). */
export const MAX_TENSOR_VALUES = 2 ** 30;

/**
 * Checks the invariants the model relies on.
 *
 * @param config The config to check.
 * @throws {RangeError} On a size that is not a positive integer or exceeds {@link BERT_LIMITS},
 *   a weight matrix of more than {@link MAX_TENSOR_VALUES} values, or a hidden size not
 *   divisible by the heads.
 */
export function validateBertConfig(config: BertConfig): void {
  for (const key of Object.keys(BERT_LIMITS) as (keyof typeof BERT_LIMITS)[]) {
    const v = config[key];
    if (!Number.isInteger(v) || v <= 0) {
      throw new RangeError(`BERT config "${key}" must be a positive integer: got ${v}`);
    }
    if (v > BERT_LIMITS[key]) {
      throw new RangeError(
        `BERT config "${key}" is ${v}: at most ${BERT_LIMITS[key]} is supported`,
      );
    }
  }
  for (
    const key of ["vocab_size", "max_position_embeddings", "intermediate_size"] as const
  ) {
    if (config[key] * config.hidden_size > MAX_TENSOR_VALUES) {
      throw new RangeError(
        `BERT config "${key}" (${config[key]}) times "hidden_size" (${config.hidden_size}) ` +
          `makes a weight matrix of more than ${MAX_TENSOR_VALUES} values`,
      );
    }
  }
  if (config.hidden_size % config.num_attention_heads !== 0) {
    throw new RangeError(
      `BERT config "hidden_size" (${config.hidden_size}) must be a multiple of ` +
        `"num_attention_heads" (${config.num_attention_heads})`,
    );
  }
  if (config.hidden_act !== "gelu") {
    throw new RangeError(`BERT config "hidden_act" must be "gelu": got "${config.hidden_act}"`);
  }
  if (!CLASSIFIER_HEADS.includes(classifierHead(config))) {
    throw new RangeError(
      `BERT config "nerpipe_head" must be "softmax" or "crf": got "${config.nerpipe_head}"`,
    );
  }
}

/** Dropout rate used before the classifier, following HF's fallback rule. */
export function classifierDropout(config: BertConfig): number {
  return config.classifier_dropout ?? config.hidden_dropout_prob;
}

/**
 * Builds the `config.json` object of a `BertForTokenClassification` checkpoint.
 *
 * @param config Model hyper-parameters.
 * @param labels Label names in class-index order (e.g. `["O", "B-PS", "I-PS"]`).
 * @returns A JSON-serialisable object that `from_pretrained` accepts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBertConfig, toHfConfigJson } from "./config.ts";
 *
 * const json = toHfConfigJson(makeBertConfig(100), ["O", "B-PS"]);
 * assert.deepEqual(json.id2label, { "0": "O", "1": "B-PS" });
 * assert.deepEqual(json.label2id, { O: 0, "B-PS": 1 });
 * ```
 */
export function toHfConfigJson(
  config: BertConfig,
  labels: readonly string[],
): Record<string, unknown> {
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  labels.forEach((label, i) => {
    id2label[String(i)] = label;
    label2id[label] = i;
  });
  return {
    architectures: ["BertForTokenClassification"],
    model_type: "bert",
    attention_probs_dropout_prob: config.attention_probs_dropout_prob,
    classifier_dropout: config.classifier_dropout ?? null,
    hidden_act: config.hidden_act,
    hidden_dropout_prob: config.hidden_dropout_prob,
    hidden_size: config.hidden_size,
    id2label,
    initializer_range: config.initializer_range,
    intermediate_size: config.intermediate_size,
    label2id,
    layer_norm_eps: config.layer_norm_eps,
    max_position_embeddings: config.max_position_embeddings,
    num_attention_heads: config.num_attention_heads,
    num_hidden_layers: config.num_hidden_layers,
    pad_token_id: config.pad_token_id ?? 0,
    position_embedding_type: "absolute",
    torch_dtype: "float32",
    type_vocab_size: config.type_vocab_size,
    use_cache: true,
    vocab_size: config.vocab_size,
    // Only a CRF says so: a softmax model's config.json stays what it always was.
    ...(classifierHead(config) === "crf" ? { nerpipe_head: "crf" } : {}),
  };
}

/** Error for a `config.json` that cannot describe a supported BERT. */
export class BertConfigError extends UserError {
  /** The offending field. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "BertConfigError";
    this.field = field;
  }
}

/**
 * Reads a Hugging Face BERT `config.json` object.
 *
 * @param json The parsed JSON object.
 * @returns The config and the label names in class-index order (empty when absent).
 * @throws {BertConfigError} On a missing or ill-typed field or an unsupported model.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHfConfigJson, makeBertConfig, toHfConfigJson } from "./config.ts";
 *
 * const { config, labels } = fromHfConfigJson(toHfConfigJson(makeBertConfig(10), ["O", "B-X"]));
 * assert.deepEqual(labels, ["O", "B-X"]);
 * // Every field survives the round trip; toHfConfigJson writes pad_token_id (0 when unset).
 * assert.deepEqual(config, { ...makeBertConfig(10), pad_token_id: 0 });
 * ```
 */
export function fromHfConfigJson(json: unknown): { config: BertConfig; labels: string[] } {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new BertConfigError("", "BERT config must be a JSON object");
  }
  const o = json as Record<string, unknown>;
  if (o.model_type !== undefined && o.model_type !== "bert") {
    throw new BertConfigError(
      "model_type",
      `Unsupported model type "${String(o.model_type)}": expected "bert"`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new BertConfigError(
        key,
        `BERT config field "${key}" must be a number: got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const act = o.hidden_act ?? "gelu";
  if (act !== "gelu") {
    throw new BertConfigError(
      "hidden_act",
      `Unsupported "hidden_act" "${String(act)}": expected "gelu"`,
    );
  }
  const posType = o.position_embedding_type ?? "absolute";
  if (posType !== "absolute") {
    throw new BertConfigError(
      "position_embedding_type",
      `Unsupported "position_embedding_type" "${String(posType)}": expected "absolute"`,
    );
  }
  const config: BertConfig = {
    vocab_size: num("vocab_size"),
    hidden_size: num("hidden_size", 768),
    num_hidden_layers: num("num_hidden_layers", 12),
    num_attention_heads: num("num_attention_heads", 12),
    intermediate_size: num("intermediate_size", 3072),
    hidden_act: "gelu",
    hidden_dropout_prob: num("hidden_dropout_prob", 0.1),
    attention_probs_dropout_prob: num("attention_probs_dropout_prob", 0.1),
    max_position_embeddings: num("max_position_embeddings", 512),
    type_vocab_size: num("type_vocab_size", 2),
    layer_norm_eps: num("layer_norm_eps", 1e-12),
    initializer_range: num("initializer_range", 0.02),
    pad_token_id: num("pad_token_id", 0),
  };
  if (o.classifier_dropout !== undefined && o.classifier_dropout !== null) {
    config.classifier_dropout = num("classifier_dropout");
  }
  const head = o.nerpipe_head ?? "softmax";
  if (!(CLASSIFIER_HEADS as readonly unknown[]).includes(head)) {
    throw new BertConfigError(
      "nerpipe_head",
      `Unsupported "nerpipe_head" ${JSON.stringify(head)}: expected ${
        CLASSIFIER_HEADS.map((h) => `"${h}"`).join(" or ")
      }`,
    );
  }
  if (head === "crf") config.nerpipe_head = "crf";
  try {
    validateBertConfig(config);
  } catch (e) {
    throw new BertConfigError("", (e as Error).message);
  }
  const labels: string[] = [];
  const id2label = o.id2label;
  if (typeof id2label === "object" && id2label !== null) {
    const entries = Object.entries(id2label as Record<string, unknown>);
    for (const [k, v] of entries) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= entries.length || typeof v !== "string") {
        throw new BertConfigError(
          "id2label",
          `Bad "id2label" entry ${JSON.stringify(k)}: ${JSON.stringify(v)}`,
        );
      }
      labels[i] = v;
    }
  }
  return { config, labels };
}
