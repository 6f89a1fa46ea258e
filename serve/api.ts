/**
 * The prediction API's requests and answers, as Hugging Face's token-classification inference
 * API has them: a body `{"inputs": "text"}` or `{"inputs": ["text", ...]}`, optionally with
 * `"parameters"` (`aggregation_strategy`, `min_score`, `ignore_labels`) and `"options"` (what
 * Hugging Face clients send, such as `wait_for_model`: accepted and ignored); the answer is a
 * list of entities `{entity_group, score, word, start, end}` for one text, a list of such
 * lists for a list of texts. Pure logic: no HTTP here (server.ts).
 *
 * @module
 */

import {
  AGGREGATION_STRATEGIES,
  type AggregationStrategy,
  type DecodeOptions,
  type PredictedEntity,
} from "../ner/predict/mod.ts";
import { closest } from "../runner/lib/suggest.ts";

/** The bounds on one request (see docs/serve.md); a request past one is answered 413. */
export interface RequestLimits {
  /** The most bytes of a request's body. */
  bodyBytes: number;
  /** The most texts of one request. */
  texts: number;
}

/** The bounds a server has unless told otherwise: 1 MiB of body, 64 texts. */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = {
  bodyBytes: 1024 * 1024,
  texts: 64,
};

/**
 * What a client got wrong, with the HTTP status it is answered with (400, 413, ...) and a
 * message for `{"error": ...}`.
 */
export class RequestError extends Error {
  /** The HTTP status of the answer. */
  readonly status: number;
  /**
   * Creates the error.
   *
   * @param status The HTTP status.
   * @param message What is wrong, sentence case, with a hint after a colon.
   */
  constructor(status: number, message: string) {
    super(message);
    this.name = "RequestError";
    this.status = status;
  }
}

/** A checked prediction request. */
export interface PredictRequest {
  /** The texts, in order. */
  texts: string[];
  /** Whether `inputs` was one string (the answer is then one list of entities). */
  single: boolean;
  /** The aggregation and minimum score asked for (those left out: the server's). */
  decode: DecodeOptions;
  /** Entity types the client does not want (`ignore_labels`). */
  ignore: ReadonlySet<string>;
}

/** One entity as Hugging Face's token-classification API gives it (with an aggregation). */
export interface HfEntity {
  /** The entity's type, such as `PS`. */
  entity_group: string;
  /** Its score, from 0 to 1 (see docs/pretrained.md for what it means per strategy). */
  score: number;
  /** Its text: the slice of the input from `start` to `end`. */
  word: string;
  /** Index of its first character in the text (UTF-16 code units, as JavaScript counts). */
  start: number;
  /** Index just past its last character. */
  end: number;
}

const FIELDS = ["inputs", "parameters", "options"];
const PARAMETERS = ["aggregation_strategy", "aggregation", "min_score", "ignore_labels"];

const isObject = (x: unknown): x is Record<string, unknown> =>
  x !== null && typeof x === "object" && !Array.isArray(x);

/** A JSON value's kind in words, for messages. */
function kindOf(x: unknown): string {
  if (x === null) return "null";
  if (Array.isArray(x)) return "an array";
  return typeof x === "object" ? "an object" : `a ${typeof x}`;
}

/** `: did you mean "x"`, or a list of what is allowed. */
function unknownHint(name: string, allowed: readonly string[]): string {
  const near = closest(name, allowed);
  return near ? `did you mean "${near}"` : `expected ${allowed.map((a) => `"${a}"`).join(", ")}`;
}

function aggregationOf(value: unknown, field: string): AggregationStrategy {
  const allowed = AGGREGATION_STRATEGIES.map((s) => `"${s}"`).join(", ");
  if (value === "none") {
    throw new RequestError(
      400,
      `parameters.${field} "none" (one entity per word-piece) is not served: expected one of ` +
        allowed,
    );
  }
  if (typeof value !== "string" || !(AGGREGATION_STRATEGIES as readonly string[]).includes(value)) {
    const shown = typeof value === "string" ? `"${value}"` : kindOf(value);
    throw new RequestError(
      400,
      `parameters.${field} ${shown} is unknown: expected one of ${allowed}`,
    );
  }
  return value as AggregationStrategy;
}

/**
 * Checks a parsed request body.
 *
 * @param body The parsed JSON.
 * @param limits The most texts of a request.
 * @returns The texts and what the client asked for.
 * @throws {RequestError} 400 for a wrong shape or value, 413 for too many texts.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePredictRequest } from "./api.ts";
 * const r = parsePredictRequest({ inputs: "Leo flew.", parameters: { min_score: 0.5 } });
 * assert.deepEqual(r.texts, ["Leo flew."]);
 * assert.equal(r.single, true);
 * assert.equal(r.decode.minScore, 0.5);
 * assert.throws(() => parsePredictRequest({ input: "x" }), /did you mean "inputs"/);
 * ```
 */
export function parsePredictRequest(
  body: unknown,
  limits: Pick<RequestLimits, "texts"> = DEFAULT_REQUEST_LIMITS,
): PredictRequest {
  const shape = `{"inputs": "text"} or {"inputs": ["text", ...]}`;
  if (!isObject(body)) {
    throw new RequestError(400, `The body is ${kindOf(body)}: expected ${shape}`);
  }
  for (const key of Object.keys(body)) {
    if (!FIELDS.includes(key)) {
      throw new RequestError(400, `Unknown field "${key}": ${unknownHint(key, FIELDS)}`);
    }
  }
  const inputs = body.inputs;
  if (inputs === undefined) throw new RequestError(400, `No "inputs": expected ${shape}`);
  const single = typeof inputs === "string";
  if (!single && !Array.isArray(inputs)) {
    throw new RequestError(400, `"inputs" is ${kindOf(inputs)}: expected ${shape}`);
  }
  const texts = single ? [inputs] : inputs as unknown[];
  if (texts.length > limits.texts) {
    throw new RequestError(
      413,
      `${texts.length} texts in one request: at most ${limits.texts}: send them in several`,
    );
  }
  texts.forEach((t, i) => {
    if (typeof t !== "string") {
      throw new RequestError(400, `inputs[${i}] is ${kindOf(t)}: expected a string`);
    }
  });
  if (body.options !== undefined && !isObject(body.options)) {
    throw new RequestError(400, `"options" is ${kindOf(body.options)}: expected an object`);
  }
  const decode: DecodeOptions = {};
  const ignore = new Set<string>();
  const params = body.parameters ?? {};
  if (!isObject(params)) {
    throw new RequestError(400, `"parameters" is ${kindOf(params)}: expected an object`);
  }
  for (const [key, value] of Object.entries(params)) {
    if (key === "aggregation_strategy" || key === "aggregation") {
      const strategy = aggregationOf(value, key);
      if (decode.aggregation !== undefined && decode.aggregation !== strategy) {
        throw new RequestError(
          400,
          `parameters.aggregation_strategy and parameters.aggregation differ: give one`,
        );
      }
      decode.aggregation = strategy;
    } else if (key === "min_score") {
      if (typeof value !== "number" || !(value >= 0 && value <= 1)) {
        const shown = typeof value === "number" ? String(value) : kindOf(value);
        throw new RequestError(400, `parameters.min_score ${shown}: expected a number from 0 to 1`);
      }
      decode.minScore = value;
    } else if (key === "ignore_labels") {
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw new RequestError(
          400,
          `parameters.ignore_labels is ${kindOf(value)}: expected an array of entity types`,
        );
      }
      for (const label of value) ignore.add(label);
    } else {
      throw new RequestError(
        400,
        `Unknown parameter "${key}": ${unknownHint(key, PARAMETERS)}`,
      );
    }
  }
  return { texts: texts as string[], single, decode, ignore };
}

/**
 * One text's entities as Hugging Face's API gives them.
 *
 * @param entities The predicted entities, in text order.
 * @param ignore Entity types to leave out.
 * @returns `{entity_group, score, word, start, end}` for each.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hfEntities } from "./api.ts";
 * const e = { start: 0, end: 3, label: "PS", text: "Leo", score: 0.9 };
 * assert.deepEqual(hfEntities([e]), [
 *   { entity_group: "PS", score: 0.9, word: "Leo", start: 0, end: 3 },
 * ]);
 * ```
 */
export function hfEntities(
  entities: readonly PredictedEntity[],
  ignore: ReadonlySet<string> = new Set(),
): HfEntity[] {
  return entities.filter((e) => !ignore.has(e.label)).map((e) => ({
    entity_group: e.label,
    score: e.score,
    word: e.text,
    start: e.start,
    end: e.end,
  }));
}
