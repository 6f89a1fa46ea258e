/**
 * The parameters of stage kind `preprocess-input` (JSON Schema draft-07): what `with:` may hold, each
 * parameter's default and description. `as const` keeps its literal types, from which the
 * stage's `ctx.params` is typed (runner/from_schema.ts).
 *
 * @module
 */

export default {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "preprocess-input.schema",
  title: "preprocess-input",
  description: "Tokenizes documents into word-pieces with [CLS]/[SEP], ids and character offsets.",
  type: "object",
  additionalProperties: false,
  properties: {
    tokenizer: {
      type: "object",
      additionalProperties: false,
      default: {
        learn: {
          merges: 8000,
          lowercase: false,
          min_frequency: 2,
          entity_boundaries: true,
          hangul: false,
        },
      },
      description:
        "Either { from: <directory with tokenizer.json or vocab.txt> } or { learn: { merges, vocab_size, lowercase, min_frequency, entity_boundaries, hangul } }.",
      properties: {
        from: {
          type: "string",
          "x-path": "dir",
          description: "A directory holding tokenizer.json (+ tokenizer_config.json) or vocab.txt.",
        },
        learn: {
          type: "object",
          additionalProperties: false,
          description: "Learn a WordPiece vocabulary from the training texts.",
          properties: {
            merges: {
              type: "integer",
              minimum: 0,
              maximum: 1000000,
              default: 8000,
              description:
                "Most merged pieces to learn, on top of the alphabet (every training character as a word start and as a ## continuation, and the Hangul syllables with hangul), however many characters the corpus has. The vocabulary's size is then about 5 + 2 x alphabet + merges.",
            },
            vocab_size: {
              type: "integer",
              minimum: 16,
              maximum: 262144,
              description:
                "Largest vocabulary size, special tokens and alphabet included (optional; no bound but merges when absent); at most 262144 (BERT-base and BERT-large have 30522, multilingual BERT 119547). When the training alphabet does not fit in half of it, only its most frequent characters are kept.",
            },
            lowercase: {
              type: "boolean",
              default: false,
              description: "Lowercase and strip accents before WordPiece.",
            },
            min_frequency: {
              type: "integer",
              minimum: 1,
              maximum: 1000000000,
              default: 2,
              description: "Least count of a merged piece.",
            },
            entity_boundaries: {
              type: "boolean",
              default: true,
              description:
                "Count pieces on training words cut at the gold entity boundaries, and drop learned pieces that would still cross one, so that a name and a particle written onto it (서울에서) become separate pieces (서울 + ##에서) and predicted entities can end where the gold ones do. Off: plain WordPiece counts.",
            },
            hangul: {
              type: "boolean",
              default: false,
              description:
                "Add the 2,350 common Hangul syllables (KS X 1001) to the alphabet, so that a Korean word with a syllable never seen in training is split into pieces instead of becoming one [UNK] (particle included).",
            },
          },
        },
      },
      oneOf: [{
        required: ["from"],
      }, {
        required: ["learn"],
      }],
    },
    max_length: {
      type: "integer",
      minimum: 8,
      maximum: 4096,
      default: 128,
      description:
        "Longest sequence in word-pieces, [CLS] and [SEP] included; at most 4096 (BERT has 512 positions) and no more than train's max_positions.",
    },
    overflow: {
      enum: ["window", "truncate"],
      default: "window",
      description:
        "Longer documents are split into consecutive windows (window) or cut (truncate).",
    },
  },
} as const;
