/**
 * Parameter names, shapes and seeded initialisation of a
 * `BertForTokenClassification`, in Hugging Face naming and layout.
 *
 * @module
 */
import { type BertConfig, classifierHead } from "./config.ts";
import { Rng } from "./_random.ts";

/** A float32 array with its shape (row-major). */
export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

/** How a parameter is initialised and whether weight decay applies. */
export type ParamKind = "dense" | "embedding" | "bias" | "norm_weight" | "norm_bias" | "crf";

/** One parameter: its Hugging Face name, Hugging Face shape and kind. */
export interface ParamSpec {
  name: string;
  /** Shape as stored by PyTorch (`[out, in]` for dense weights). */
  shape: number[];
  kind: ParamKind;
}

/**
 * Lists the parameters of `BertForTokenClassification` (no pooler) in
 * checkpoint order; with a CRF head (`nerpipe_head: "crf"`), its scores follow:
 * `crf.transitions` `[numLabels, numLabels]` (row: the previous class), `crf.start_transitions`
 * and `crf.end_transitions` `[numLabels]`.
 *
 * @param config Model hyper-parameters.
 * @param numLabels Number of classes of the token classifier.
 * @returns The parameter specs.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeBertConfig } from "./config.ts";
 * import { paramSpecs } from "./init.ts";
 *
 * const specs = paramSpecs(makeBertConfig(100, { num_hidden_layers: 1 }), 5);
 * assert.deepEqual(specs.filter((s) => s.name.startsWith("classifier.")), [
 *   { name: "classifier.weight", shape: [5, 128], kind: "dense" },
 *   { name: "classifier.bias", shape: [5], kind: "bias" },
 * ]);
 * ```
 */
export function paramSpecs(config: BertConfig, numLabels: number): ParamSpec[] {
  const h = config.hidden_size;
  const inter = config.intermediate_size;
  const specs: ParamSpec[] = [
    {
      name: "bert.embeddings.word_embeddings.weight",
      shape: [config.vocab_size, h],
      kind: "embedding",
    },
    {
      name: "bert.embeddings.position_embeddings.weight",
      shape: [config.max_position_embeddings, h],
      kind: "embedding",
    },
    {
      name: "bert.embeddings.token_type_embeddings.weight",
      shape: [config.type_vocab_size, h],
      kind: "embedding",
    },
    { name: "bert.embeddings.LayerNorm.weight", shape: [h], kind: "norm_weight" },
    { name: "bert.embeddings.LayerNorm.bias", shape: [h], kind: "norm_bias" },
  ];
  const dense = (prefix: string, out: number, inp: number) => {
    specs.push({ name: `${prefix}.weight`, shape: [out, inp], kind: "dense" });
    specs.push({ name: `${prefix}.bias`, shape: [out], kind: "bias" });
  };
  const norm = (prefix: string) => {
    specs.push({ name: `${prefix}.weight`, shape: [h], kind: "norm_weight" });
    specs.push({ name: `${prefix}.bias`, shape: [h], kind: "norm_bias" });
  };
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `bert.encoder.layer.${i}`;
    dense(`${p}.attention.self.query`, h, h);
    dense(`${p}.attention.self.key`, h, h);
    dense(`${p}.attention.self.value`, h, h);
    dense(`${p}.attention.output.dense`, h, h);
    norm(`${p}.attention.output.LayerNorm`);
    dense(`${p}.intermediate.dense`, inter, h);
    dense(`${p}.output.dense`, h, inter);
    norm(`${p}.output.LayerNorm`);
  }
  dense("classifier", numLabels, h);
  if (classifierHead(config) === "crf") {
    specs.push({ name: "crf.transitions", shape: [numLabels, numLabels], kind: "crf" });
    specs.push({ name: "crf.start_transitions", shape: [numLabels], kind: "crf" });
    specs.push({ name: "crf.end_transitions", shape: [numLabels], kind: "crf" });
  }
  return specs;
}

/**
 * Whether AdamW weight decay applies to a parameter: not to biases and
 * LayerNorm weights (the usual Hugging Face `no_decay` rule, by name), nor to the CRF's scores
 * (`crf.*`: like biases, a few offsets, and decay would pull the learned transitions back to
 * "anything may follow anything").
 *
 * @param name A Hugging Face parameter name.
 * @returns True for dense and embedding weights.
 */
export function usesWeightDecay(name: string): boolean {
  return !(name.endsWith(".bias") || name.includes("LayerNorm.") || name.includes("layer_norm.") ||
    name.startsWith("crf."));
}

/**
 * Creates seeded initial weights as `BertPreTrainedModel._init_weights` does:
 * normal(0, initializer_range) for dense and embedding weights, zero biases,
 * LayerNorm weight 1 and bias 0; a CRF's scores start at 0 (no transition preferred, so the
 * first steps train the classifier as a per-unit softmax would).
 *
 * @param config Model hyper-parameters.
 * @param numLabels Number of classes.
 * @param seed Seed of the generator.
 * @returns Weights by Hugging Face name, in Hugging Face layout.
 */
export function initWeights(
  config: BertConfig,
  numLabels: number,
  seed: number,
): Map<string, HostTensor> {
  const rng = new Rng(seed);
  const out = new Map<string, HostTensor>();
  for (const spec of paramSpecs(config, numLabels)) {
    const data = new Float32Array(spec.shape.reduce((a, b) => a * b, 1));
    if (spec.kind === "dense" || spec.kind === "embedding") {
      rng.fillNormal(data, config.initializer_range);
    } else if (spec.kind === "norm_weight") data.fill(1);
    out.set(spec.name, { shape: spec.shape, data });
  }
  return out;
}
