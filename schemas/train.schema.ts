/**
 * The parameters of stage kind `train` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "train.schema",
  title: "train",
  description:
    "Trains a BERT token classifier (Hugging Face BertForTokenClassification semantics) with TensorFlow.js.",
  type: "object",
  additionalProperties: false,
  properties: {
    epochs: {
      type: "integer",
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: "Passes over the training batches.",
    },
    learning_rate: {
      type: "number",
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.0005,
      description: "Peak learning rate of AdamW.",
    },
    weight_decay: {
      type: "number",
      minimum: 0,
      maximum: 1,
      default: 0.01,
      description: "Decoupled weight decay (not on biases and LayerNorm).",
    },
    warmup_ratio: {
      type: "number",
      minimum: 0,
      maximum: 1,
      default: 0.1,
      description: "Share of steps of linear warm-up; then linear decay to 0.",
    },
    max_grad_norm: {
      type: "number",
      exclusiveMinimum: 0,
      maximum: 1000000,
      default: 1.0,
      description:
        "Global-norm gradient clipping (a finite norm; a large one, such as 1000, clips almost never).",
    },
    seed: {
      type: "integer",
      minimum: -9007199254740991,
      maximum: 9007199254740991,
      default: 42,
      description: "Seed of initialisation, dropout and batch order.",
    },
    backend: {
      enum: ["auto", "wasm", "cpu", "webgpu", "tensorflow"],
      default: "auto",
      description: "TensorFlow.js backend; auto picks the fastest available.",
    },
    workers: {
      oneOf: [{
        type: "integer",
        minimum: 1,
        maximum: 256,
      }, {
        const: "auto",
      }],
      default: "auto",
      description:
        "Data-parallel replicas in worker threads on wasm and cpu (auto: one per core, at most 4); GPU backends always train in one. A number above the machine's core count is lowered to it, with a warning.",
    },
    from: {
      type: "string",
      "x-path": "dir",
      description:
        "A Hugging Face BERT checkpoint directory (config.json, model.safetensors) to start from.",
    },
    layers: {
      type: "integer",
      minimum: 1,
      maximum: 48,
      default: 2,
      description:
        "Transformer layers (from scratch), at most 48 (BERT-base has 12, BERT-large 24).",
    },
    hidden: {
      type: "integer",
      minimum: 8,
      maximum: 4096,
      default: 128,
      description:
        "Hidden size (from scratch), at most 4096 (BERT-base has 768, BERT-large 1024); a multiple of heads.",
    },
    heads: {
      type: "integer",
      minimum: 1,
      maximum: 64,
      default: 2,
      description:
        "Attention heads (from scratch), at most 64 (BERT-base has 12, BERT-large 16); must divide hidden.",
    },
    intermediate: {
      type: "integer",
      minimum: 8,
      maximum: 16384,
      default: 512,
      description:
        "Feed-forward size (from scratch), at most 16384 (BERT-base has 3072, BERT-large 4096).",
    },
    max_positions: {
      type: "integer",
      minimum: 8,
      maximum: 4096,
      default: 512,
      description:
        "Position embeddings (from scratch), at most 4096 (BERT-base and BERT-large have 512); at least preprocess-input's max_length, the longest window.",
    },
    head: {
      enum: ["softmax", "crf"],
      default: "softmax",
      description:
        "The head over the classifier's logits: softmax (each unit's class on its own; cross-entropy loss) or crf (a linear-chain CRF over each window's units: learned transition, start and end scores, the CRF's negative log-likelihood as the loss, Viterbi decoding); see docs/crf.md.",
    },
    dropout: {
      type: "number",
      minimum: 0,
      maximum: 0.9,
      default: 0.1,
      description: "Hidden and attention dropout.",
    },
    boundaries: {
      enum: ["auto", "words+learned-tails", "pieces"],
      default: "auto",
      description:
        "Where decoded entities may start and end, stored with the model for validate and predict. words+learned-tails: an entity starts at a word start and ends at a word end or right before a tail (a word ending such as a Korean particle) seen after a training entity, learned here (needs the inputs encoded and dataset); pieces: at any piece boundary; auto: words+learned-tails when train has the inputs encoded and dataset, pieces otherwise.",
    },
    select: {
      enum: ["headline", "f1", "span_f1", "loss"],
      default: "headline",
      description:
        "The validation figure that chooses the epoch kept (when early_stopping is not given): headline is what validate reports first, from the same decoder (span_f1 for kmou and klue when train has the inputs encoded and dataset, f1 otherwise); f1: word-piece entity F1 of the decoded tags; span_f1: exact character-span F1 (needs encoded and dataset); loss: validation loss (lower is better).",
    },
    checkpoint_every: {
      oneOf: [{
        type: "integer",
        minimum: 1,
        maximum: 100000000,
      }, {
        const: "epoch",
      }],
      default: "epoch",
      description:
        "When to write a checkpoint to resume a killed run from (.pipeline/checkpoints/<key>/): every this many steps, or epoch: after each epoch and at least every 10 minutes of training.",
    },
    keep_checkpoints: {
      type: "integer",
      minimum: 0,
      maximum: 1000,
      default: 0,
      description:
        "Checkpoints kept after the stage succeeds, newest first, in .pipeline/checkpoints/<key>/kept/ (0: all removed).",
    },
    early_stopping: {
      type: "object",
      additionalProperties: false,
      description:
        "Stop when the validation metric has not improved by more than min_delta for patience epochs; the best epoch by that metric is kept.",
      properties: {
        metric: {
          enum: ["headline", "f1", "span_f1", "loss"],
          default: "headline",
          description:
            "headline: what validate reports first, from the same decoder (span_f1 for kmou and klue when train has the inputs encoded and dataset, f1 otherwise); f1: word-piece entity F1 of the decoded tags; span_f1: exact character-span F1 (needs the inputs encoded and dataset); loss: validation loss (lower is better).",
        },
        patience: {
          type: "integer",
          minimum: 1,
          maximum: 1000,
          default: 2,
          description: "Epochs without improvement before training stops.",
        },
        min_delta: {
          type: "number",
          minimum: 0,
          maximum: 1000,
          default: 0,
          description: "Least change of the metric that counts as an improvement.",
        },
      },
    },
  },
} as const;
