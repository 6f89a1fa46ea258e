// A stage kind declares its parameters once, as its JSON Schema: `ctx.params` is typed from it
// (runner/from_schema.ts), and `ctx.inputs` / `ctx.output()` from its declared inputs and
// outputs. Most of what this file checks is checked by the type checker (`deno check`, which
// `deno test` runs first): an `Equal` that does not hold, or a `@ts-expect-error` line that is
// no longer an error, fails the check and so the test run.
import assert from "node:assert/strict";
import { BACKEND_NAMES } from "../ner/bert/backend.ts";
import type { BoundaryMode } from "../ner/boundaries.ts";
import type { CorpusFormat } from "../ner/formats/mod.ts";
import { defineStage, type FromSchema, type ParamsOf } from "../runner/stage.ts";
import type { EmbedPadParams } from "../stages/embed_pad.ts";
import type { LoadParams } from "../stages/load.ts";
import type { PreprocessInputParams } from "../stages/preprocess_input.ts";
import type { PreprocessTargetParams } from "../stages/preprocess_target.ts";
import type { TensorizeParams } from "../stages/tensorize.ts";
import type { TrainParams } from "../stages/train.ts";
import type { ValidateParams } from "../stages/validate.ts";
import type { labelIds } from "../stages/label_ids.ts";
import trainSchema from "../schemas/train.schema.ts";
import validateSchema from "../schemas/validate.schema.ts";
import { builtinStages } from "../stages/mod.ts";

/** True when `A` and `B` are the same type (not merely assignable one way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;

/** Compiles only when `T` is `true`. */
function holds<T extends true>(_proof?: T): void {}

/**
 * The path of each member typed `unknown` (a schema keyword the derivation does not read, or an
 * object open to any key), or `never` when there is none.
 */
type Unread<T, Path extends string = "params"> = unknown extends T ? Path
  : T extends readonly (infer E)[] ? Unread<E, `${Path}[]`>
  : T extends object ? { [K in keyof T & string]-?: Unread<T[K], `${Path}.${K}`> }[keyof T & string]
  : never;

/** Compiles only when `T` is `never`: the error names the unread member's path. */
type NothingUnread<T extends never> = T;

Deno.test("a schema's types, required members and defaults give the parameters' type", () => {
  const schema = {
    type: "object",
    additionalProperties: false,
    required: ["train"],
    properties: {
      train: { type: "string", "x-path": "file", description: "Required" },
      epochs: { type: "integer", minimum: 1, default: 8, description: "Defaulted" },
      rate: { type: "number", description: "Neither: optional" },
      head: { enum: ["softmax", "crf"], default: "softmax" },
      workers: { oneOf: [{ type: "integer" }, { const: "auto" }], default: "auto" },
      either: { type: ["string", "null"] },
      tags: { type: "array", items: { type: "string" }, default: [] },
      split: {
        type: "object",
        additionalProperties: false,
        default: { ratio: 0.1 },
        properties: { ratio: { type: "number", default: 0.1 }, seed: { type: "integer" } },
      },
      tokenizer: {
        type: "object",
        additionalProperties: false,
        properties: { from: { type: "string" }, learn: { type: "boolean" } },
        // Alternatives that only constrain leave the object's type as it is.
        oneOf: [{ required: ["from"] }, { required: ["learn"] }],
      },
      open: { type: "object", properties: { a: { type: "boolean", default: true } } },
      counts: { type: "object", additionalProperties: { type: "integer" } },
      free: { type: "object" },
    },
  } as const;
  holds<
    Equal<FromSchema<typeof schema>, {
      train: string;
      epochs: number;
      rate?: number;
      head: "softmax" | "crf";
      workers: number | "auto";
      either?: string | null;
      tags: string[];
      split: { ratio: number; seed?: number };
      tokenizer?: { from?: string; learn?: boolean };
      open?: { a: boolean } & Record<string, unknown>;
      counts?: Record<string, number>;
      free?: Record<string, unknown>;
    }>
  >();
  // A schema whose literal types are lost (imported from a .json file) types nothing.
  const wide: { type: string; properties: Record<string, { type: string }> } = {
    type: "object",
    properties: { a: { type: "string" } },
  };
  holds<Equal<ParamsOf<typeof wide>, Record<string, unknown>>>();
  assert.ok(true);
});

/** A stage kind as a user writes one, its schema inline. */
const counted = defineStage({
  name: "counted",
  version: 1,
  description: "Counts",
  schema: {
    type: "object",
    additionalProperties: false,
    properties: { times: { type: "integer", minimum: 1, default: 2, description: "Copies" } },
  },
  inputs: {
    text: { type: "file", description: "A text" },
    extra: { type: "file", description: "Another", optional: true },
  },
  outputs: { counts: { type: "file", description: "Counts", extension: ".json" } },
  module: import.meta.url,
  async run(ctx) {
    // Declared inputs are strings; an optional one may be missing.
    const text: string = ctx.inputs.text;
    const extra: string | undefined = ctx.inputs.extra;
    const times: number = ctx.params.times;
    // @ts-expect-error: a typo in an input name is a type error
    void ctx.inputs.txet;
    // @ts-expect-error: so is one in an output name
    void ctx.output("count");
    // @ts-expect-error: and one in a parameter name
    void ctx.params.tims;
    // @ts-expect-error: an optional input is not a string until it is checked
    const sure: string = ctx.inputs.extra;
    void [sure, extra];
    await Deno.writeTextFile(ctx.output("counts"), (await Deno.readTextFile(text)).repeat(times));
  },
});

Deno.test("a stage's context is typed from its declared inputs, outputs and schema", () => {
  type Context = Parameters<typeof counted.run>[0];
  holds<Equal<Context["params"], { times: number }>>();
  holds<Equal<Context["inputs"], { text: string } & { extra?: string }>>();
  holds<Equal<Parameters<Context["output"]>[0], "counts">>();
  // A kind without inputs takes none.
  holds<Equal<Parameters<typeof labelIds.run>[0]["params"], Record<never, never>>>();
  assert.equal(counted.name, "counted");
});

Deno.test("a stage's parameters of the wrong type, or a schema value it cannot have, do not compile", () => {
  defineStage({
    name: "wrong",
    version: 1,
    description: "Misreads its parameters",
    schema: {
      type: "object",
      additionalProperties: false,
      properties: {
        name: { type: "string", default: "x" },
        mode: { enum: ["a", "b"], default: "a" },
      },
    },
    inputs: {},
    outputs: {},
    module: import.meta.url,
    run(ctx) {
      // @ts-expect-error: a string parameter is not a number
      const n: number = ctx.params.name;
      // @ts-expect-error: "c" is not one of the schema's enum
      const mode: "c" = ctx.params.mode;
      void [n, mode];
      return Promise.resolve();
    },
  });
  assert.ok(true);
});

Deno.test("every built-in stage kind's parameters are typed from its schema, none left unknown", () => {
  // Each is `ParamsOf<typeof schema>`: the derivation must read every parameter (a keyword it
  // does not know would type one `unknown`; the error names it).
  type _load = NothingUnread<Unread<LoadParams>>;
  type _input = NothingUnread<Unread<PreprocessInputParams>>;
  type _target = NothingUnread<Unread<PreprocessTargetParams>>;
  type _pad = NothingUnread<Unread<EmbedPadParams>>;
  type _tensorize = NothingUnread<Unread<TensorizeParams>>;
  type _train = NothingUnread<Unread<TrainParams>>;
  type _validate = NothingUnread<Unread<ValidateParams>>;
  holds<Equal<TrainParams["workers"], number | "auto">>();
  holds<
    Equal<
      TrainParams["early_stopping"],
      | { metric: "headline" | "f1" | "span_f1" | "loss"; patience: number; min_delta: number }
      | undefined
    >
  >();
  // Where the ML library has its own name for a list of values, the schema's enum is the same.
  holds<Equal<ValidateParams["backend"], typeof BACKEND_NAMES[number]>>();
  holds<Equal<TrainParams["backend"], typeof BACKEND_NAMES[number]>>();
  holds<Equal<LoadParams["format"], CorpusFormat>>();
  holds<Equal<TrainParams["boundaries"], "auto" | BoundaryMode>>();
  // And the check sees a member typed unknown where there is one.
  holds<Equal<Unread<{ a: { b: unknown } }>, "params.a.b">>();
  // Every built-in kind's schema is the object its module imports (no second copy).
  const byName = new Map(builtinStages().names().map((n) => [n, builtinStages().get(n)!]));
  assert.equal(byName.get("train")!.schema, trainSchema);
  assert.equal(byName.get("validate")!.schema, validateSchema);
});

Deno.test("the backend parameter of train and validate allows exactly the backend list", () => {
  for (const schema of [trainSchema, validateSchema]) {
    assert.deepEqual(schema.properties.backend.enum, [...BACKEND_NAMES], schema.title);
  }
});
