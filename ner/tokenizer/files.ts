/**
 * Reading and writing Hugging Face tokenizer directories.
 *
 * A directory written by {@link writeTokenizerFiles} holds `tokenizer.json`,
 * `tokenizer_config.json`, `special_tokens_map.json` and `vocab.txt`, which is
 * what `AutoTokenizer.from_pretrained(dir)` of Python transformers and
 * transformers.js read.
 *
 * @module
 */

import { UserError } from "../../runner/errors.ts";
import { join } from "node:path";
import type { NormalizerConfig } from "./_normalize.ts";
import { maxPieceChars } from "./_wordpiece.ts";
import type { NerTokenizer } from "./encode.ts";

/** Special tokens, in the order of their ids in a learned vocabulary. */
export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

/** Options of {@link buildTokenizerJson} and {@link writeTokenizerFiles}. */
export interface TokenizerFileOptions {
  /** Lowercase and strip accents before WordPiece. */
  lowercase: boolean;
  /**
   * Append an `NFC` normaliser after `BertNormalizer` when lowercasing
   * (default true), so that accent stripping, which decomposes text with NFD,
   * does not break Hangul syllables into jamo. Set it to false to reproduce
   * a plain BERT uncased tokenizer.
   */
  nfc?: boolean;
}

/** A tokenizer directory that cannot be read. */
export class TokenizerFileError extends UserError {
  /** The file or directory at fault. */
  path: string;
  /**
   * @param message What is wrong.
   * @param path The file or directory at fault.
   */
  constructor(message: string, path: string) {
    super(message);
    this.name = "TokenizerFileError";
    this.path = path;
  }
}

function specialIds(vocab: readonly string[], where: string): Map<string, number> {
  const ids = new Map<string, number>();
  vocab.forEach((t, i) => {
    if ((SPECIAL_TOKENS as readonly string[]).includes(t) && !ids.has(t)) ids.set(t, i);
  });
  for (const t of ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]) {
    if (!ids.has(t)) {
      throw new TokenizerFileError(`Missing special token "${t}" in ${where}`, where);
    }
  }
  return ids;
}

/**
 * Build the content of a Hugging Face `tokenizer.json` for a BERT WordPiece
 * vocabulary.
 *
 * @param vocab Tokens by id; must hold `[PAD]`, `[UNK]`, `[CLS]` and `[SEP]`.
 * @param opts Lowercasing and NFC.
 * @returns The JSON object.
 * @throws {TokenizerFileError} When a special token is missing.
 * @example
 * ```ts
 * import { buildTokenizerJson } from "./files.ts";
 * const json = buildTokenizerJson(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"], { lowercase: true });
 * ```
 */
export function buildTokenizerJson(
  vocab: readonly string[],
  opts: TokenizerFileOptions,
): Record<string, unknown> {
  const specials = specialIds(vocab, "the vocabulary");
  const vocabObj: Record<string, number> = {};
  vocab.forEach((t, i) => {
    if (!(t in vocabObj)) vocabObj[t] = i;
  });
  const bert = {
    type: "BertNormalizer",
    clean_text: true,
    handle_chinese_chars: true,
    strip_accents: null,
    lowercase: opts.lowercase,
  };
  const normalizer = opts.lowercase && (opts.nfc ?? true)
    ? { type: "Sequence", normalizers: [bert, { type: "NFC" }] }
    : bert;
  const cls = specials.get("[CLS]")!;
  const sep = specials.get("[SEP]")!;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...specials].sort((a, b) => a[1] - b[1]).map(([content, id]) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer,
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "[SEP]", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: {
        "[CLS]": { id: "[CLS]", ids: [cls], tokens: ["[CLS]"] },
        "[SEP]": { id: "[SEP]", ids: [sep], tokens: ["[SEP]"] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: vocabObj,
    },
  };
}

function buildTokenizerConfig(
  vocab: readonly string[],
  lowercase: boolean,
  maxLength: number,
): Record<string, unknown> {
  const specials = specialIds(vocab, "the vocabulary");
  const decoder: Record<string, unknown> = {};
  for (const [content, id] of [...specials].sort((a, b) => a[1] - b[1])) {
    decoder[String(id)] = {
      content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    };
  }
  return {
    tokenizer_class: "BertTokenizer",
    do_lower_case: lowercase,
    do_basic_tokenize: true,
    never_split: null,
    strip_accents: null,
    tokenize_chinese_chars: true,
    model_max_length: maxLength,
    clean_up_tokenization_spaces: true,
    ...specialTokensMap(specials),
    added_tokens_decoder: decoder,
  };
}

function specialTokensMap(specials: Map<string, number>): Record<string, string> {
  const map: Record<string, string> = {
    unk_token: "[UNK]",
    sep_token: "[SEP]",
    pad_token: "[PAD]",
    cls_token: "[CLS]",
  };
  if (specials.has("[MASK]")) map.mask_token = "[MASK]";
  return map;
}

/**
 * Write a BERT WordPiece tokenizer directory that Python's
 * `AutoTokenizer.from_pretrained(dir)` and transformers.js load:
 * `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`,
 * `vocab.txt`. The directory is created when missing.
 *
 * @param dir The directory.
 * @param vocab Tokens by id (from `learnWordPiece` or a pretrained `vocab.txt`).
 * @param opts `lowercase`, `maxLength` (written as `model_max_length`), `nfc`.
 * @throws {TokenizerFileError} When a special token is missing.
 * @throws {Error} When the vocabulary has a duplicate or a line break.
 * @example
 * ```ts ignore
 * await writeTokenizerFiles("out/tokenizer", vocab, { lowercase: false, maxLength: 128 });
 * ```
 */
export async function writeTokenizerFiles(
  dir: string,
  vocab: readonly string[],
  opts: TokenizerFileOptions & { maxLength: number },
): Promise<void> {
  const seen = new Set<string>();
  for (const t of vocab) {
    if (seen.has(t)) throw new Error(`Duplicate token "${t}" in the vocabulary`);
    if (/[\r\n]/.test(t) || t.length === 0) {
      throw new Error(`Invalid token ${JSON.stringify(t)} in the vocabulary`);
    }
    seen.add(t);
  }
  const json = buildTokenizerJson(vocab, opts);
  const config = buildTokenizerConfig(vocab, opts.lowercase, opts.maxLength);
  await Deno.mkdir(dir, { recursive: true });
  const specials = specialIds(vocab, "the vocabulary");
  await Promise.all([
    Deno.writeTextFile(join(dir, "tokenizer.json"), JSON.stringify(json, null, 2) + "\n"),
    Deno.writeTextFile(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n"),
    Deno.writeTextFile(
      join(dir, "special_tokens_map.json"),
      JSON.stringify(specialTokensMap(specials), null, 2) + "\n",
    ),
    Deno.writeTextFile(join(dir, "vocab.txt"), vocab.join("\n") + "\n"),
  ]);
}

/** Options of {@link loadTokenizer}. */
export interface LoadTokenizerOptions {
  /**
   * Load transformers.js's tokenizer library (`@huggingface/tokenizers`, the code behind
   * transformers.js's `AutoTokenizer`) too, for `encodeIds` (default true). Without it,
   * `encodeIds` throws.
   */
  transformers?: boolean;
  /** Override lowercasing for a directory that has only `vocab.txt`. */
  lowercase?: boolean;
}

type Json = Record<string, unknown>;

function isObject(x: unknown): x is Json {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

async function readJson(path: string): Promise<Json | null> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TokenizerFileError(`Invalid JSON in ${path}: ${(e as Error).message}`, path);
  }
  if (!isObject(value)) throw new TokenizerFileError(`Expected an object in ${path}`, path);
  return value;
}

function tokenName(config: Json, key: string, fallback: string): string {
  const v = config[key];
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v.content === "string") return v.content;
  return fallback;
}

function parseNormalizer(n: unknown, path: string): NormalizerConfig {
  const off = {
    cleanText: false,
    handleChineseChars: false,
    lowercase: false,
    stripAccents: false,
    nfc: false,
  };
  if (n === null || n === undefined) return off;
  const parts = isObject(n) && n.type === "Sequence" && Array.isArray(n.normalizers)
    ? n.normalizers as unknown[]
    : [n];
  const cfg = { ...off };
  parts.forEach((p, i) => {
    const type = isObject(p) ? p.type : undefined;
    if (isObject(p) && type === "BertNormalizer" && i === 0) {
      cfg.cleanText = p.clean_text !== false;
      cfg.handleChineseChars = p.handle_chinese_chars !== false;
      cfg.lowercase = p.lowercase !== false;
      cfg.stripAccents = typeof p.strip_accents === "boolean" ? p.strip_accents : cfg.lowercase;
    } else if (type === "NFC" && i === parts.length - 1 && i > 0) {
      cfg.nfc = true;
    } else {
      throw new TokenizerFileError(
        `Unsupported normalizer ${JSON.stringify(type)} in ${path}: expected "BertNormalizer", ` +
          `optionally followed by "NFC"`,
        path,
      );
    }
  });
  return cfg;
}

/**
 * Make a tokenizer from the objects of `tokenizer.json` and
 * `tokenizer_config.json`.
 *
 * @param json The `tokenizer.json` object.
 * @param config The `tokenizer_config.json` object (may be empty).
 * @param path Where `json` came from, for messages.
 * @param encodeIds Reference encoder (transformers.js), if any.
 * @returns The tokenizer.
 * @throws {TokenizerFileError} When the tokenizer is not a BERT WordPiece one.
 */
export function tokenizerFromJson(
  json: Json,
  config: Json,
  path: string,
  encodeIds?: (text: string) => number[],
): NerTokenizer {
  const model = json.model;
  if (!isObject(model) || (model.type !== undefined && model.type !== "WordPiece")) {
    const t = isObject(model) ? model.type : undefined;
    throw new TokenizerFileError(
      `Unsupported tokenizer model ${JSON.stringify(t)} in ${path}: expected "WordPiece"`,
      path,
    );
  }
  if (!isObject(model.vocab)) {
    throw new TokenizerFileError(`Missing model.vocab in ${path}`, path);
  }
  const pre = json.pre_tokenizer;
  if (!isObject(pre) || pre.type !== "BertPreTokenizer") {
    const t = isObject(pre) ? pre.type : pre;
    throw new TokenizerFileError(
      `Unsupported pre_tokenizer ${JSON.stringify(t)} in ${path}: expected "BertPreTokenizer"`,
      path,
    );
  }
  const normalizer = parseNormalizer(json.normalizer, path);
  const vocab: string[] = [];
  const tokenToId = new Map<string, number>();
  for (const [t, id] of Object.entries(model.vocab)) {
    if (typeof id !== "number") continue;
    vocab[id] = t;
    tokenToId.set(t, id);
  }
  const specialTokens: string[] = [];
  if (Array.isArray(json.added_tokens)) {
    for (const a of json.added_tokens) {
      if (!isObject(a) || typeof a.content !== "string" || typeof a.id !== "number") continue;
      vocab[a.id] = a.content;
      tokenToId.set(a.content, a.id);
      if (a.normalized !== true) specialTokens.push(a.content);
    }
  }
  for (let i = 0; i < vocab.length; i++) vocab[i] ??= "";
  const unkName = typeof model.unk_token === "string" ? model.unk_token : "[UNK]";
  const id = (key: string, fallback: string, required: boolean): number | null => {
    const name = key === "unk_token" ? unkName : tokenName(config, key, fallback);
    const v = tokenToId.get(name);
    if (v === undefined && required) {
      throw new TokenizerFileError(`Missing special token "${name}" in ${path}`, path);
    }
    return v ?? null;
  };
  const prefix = typeof model.continuing_subword_prefix === "string"
    ? model.continuing_subword_prefix
    : "##";
  const maxLen = config.model_max_length;
  return {
    vocab,
    tokenToId,
    lowercase: normalizer.lowercase,
    normalizer,
    continuingSubwordPrefix: prefix,
    maxInputCharsPerWord: typeof model.max_input_chars_per_word === "number"
      ? model.max_input_chars_per_word
      : 100,
    maxPieceChars: maxPieceChars(vocab, prefix),
    specialTokens,
    clsId: id("cls_token", "[CLS]", true)!,
    sepId: id("sep_token", "[SEP]", true)!,
    padId: id("pad_token", "[PAD]", true)!,
    unkId: id("unk_token", "[UNK]", true)!,
    maskId: id("mask_token", "[MASK]", false),
    modelMaxLength: typeof maxLen === "number" ? maxLen : Infinity,
    encodeIds: encodeIds ?? (() => {
      throw new Error("encodeIds needs a tokenizer loaded with transformers: true");
    }),
  };
}

/**
 * Load a BERT WordPiece tokenizer directory: `tokenizer.json` (with an
 * optional `tokenizer_config.json`), or only `vocab.txt`. With only
 * `vocab.txt`, `tokenizer.json` is built in memory as Hugging Face's
 * `BertTokenizer` would behave: lowercasing comes from `opts.lowercase`, else
 * `do_lower_case` of `tokenizer_config.json`, else false (note: Hugging Face's
 * own default is true), and accents are stripped with NFD as plain BERT does
 * (no NFC step).
 *
 * `@huggingface/tokenizers` (transformers.js's tokenizer library, without its image and ONNX
 * runtimes) is imported lazily, and only when `opts.transformers` is not false.
 *
 * @param dir The directory.
 * @param opts See {@link LoadTokenizerOptions}.
 * @returns The tokenizer.
 * @throws {TokenizerFileError} When the directory has no usable tokenizer.
 * @example
 * ```ts ignore
 * const tok = await loadTokenizer("out/tokenizer");
 * tok.encodeIds("Émile Zola"); // ids from transformers.js's tokenizer library
 * ```
 */
export async function loadTokenizer(
  dir: string,
  opts: LoadTokenizerOptions = {},
): Promise<NerTokenizer> {
  const config = (await readJson(join(dir, "tokenizer_config.json"))) ?? {};
  let json = await readJson(join(dir, "tokenizer.json"));
  let path = join(dir, "tokenizer.json");
  let hfConfig = config;
  if (json === null) {
    path = join(dir, "vocab.txt");
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new TokenizerFileError(
          `No tokenizer in "${dir}": expected "tokenizer.json" or "vocab.txt"`,
          dir,
        );
      }
      throw e;
    }
    const vocab = text.split("\n").map((l) => l.replace(/\r$/, ""));
    if (vocab.length > 0 && vocab[vocab.length - 1] === "") vocab.pop();
    const lowercase = opts.lowercase ??
      (typeof config.do_lower_case === "boolean" ? config.do_lower_case : false);
    try {
      json = buildTokenizerJson(vocab, { lowercase, nfc: false });
    } catch (e) {
      if (e instanceof TokenizerFileError) throw new TokenizerFileError(e.message, path);
      throw e;
    }
    const model = json.model as Json;
    const norm = json.normalizer as Json;
    if (typeof config.strip_accents === "boolean") norm.strip_accents = config.strip_accents;
    if (typeof config.tokenize_chinese_chars === "boolean") {
      norm.handle_chinese_chars = config.tokenize_chinese_chars;
    }
    model.unk_token = tokenName(config, "unk_token", "[UNK]");
    hfConfig = { tokenizer_class: "BertTokenizer", ...config, do_lower_case: lowercase };
    for (const [k, v] of Object.entries(specialTokensMap(specialIds(vocab, path)))) {
      hfConfig[k] ??= v;
    }
  } else if (opts.lowercase !== undefined) {
    const cfg = parseNormalizer(json.normalizer, path);
    if (cfg.lowercase !== opts.lowercase) {
      throw new TokenizerFileError(
        `Cannot override lowercase in ${path}: it is fixed by the file's normalizer`,
        path,
      );
    }
  }
  let encodeIds: ((text: string) => number[]) | undefined;
  if (opts.transformers !== false) {
    // The tokenizer library of transformers.js on its own: importing transformers.js itself
    // would also load sharp's libvips and onnxruntime (tests/native_libs_test.ts).
    const { Tokenizer } = await import("@huggingface/tokenizers");
    const hf = new Tokenizer(json, hfConfig);
    encodeIds = (text: string) => hf.encode(text).ids;
  }
  return tokenizerFromJson(json, hfConfig, path, encodeIds);
}
