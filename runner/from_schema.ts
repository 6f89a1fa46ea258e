/**
 * The TypeScript type of what a JSON Schema accepts, read from the schema's own type: a stage
 * kind's parameters are declared once, as its schema, and `ctx.params` is typed from it.
 *
 * The schema must be a literal type: written inline in `defineStage({ schema: { … } })`, or a
 * module's `{ … } as const`. A schema imported from a `.json` file has only `string` where it
 * says `"integer"`, so nothing can be read from it (its parameters are `Record<string, unknown>`).
 *
 * What it reads: `type` (one or a list), `const`, `enum`, `properties` with `required`, `default`
 * and `additionalProperties`, `items`, and `oneOf`/`anyOf` (the union of the alternatives; an
 * alternative that only constrains, such as `{ "required": ["from"] }`, is the schema itself).
 * Everything else (`minimum`, `pattern`, `x-path`, …) constrains values without changing
 * their type, and is left to the validator.
 *
 * @module
 */

/**
 * The type of a value that a JSON Schema (a literal type) accepts, after its defaults are
 * filled: a property with a `default` is always there.
 *
 * @typeParam S The schema's type.
 * @example
 * ```ts
 * import type { FromSchema } from "./from_schema.ts";
 *
 * const schema = {
 *   type: "object",
 *   additionalProperties: false,
 *   required: ["train"],
 *   properties: {
 *     train: { type: "string" },
 *     epochs: { type: "integer", default: 8 },
 *     head: { enum: ["softmax", "crf"] },
 *   },
 * } as const;
 * const params: FromSchema<typeof schema> = { train: "a.txt", epochs: 3 };
 * // params.head is "softmax" | "crf" | undefined
 * ```
 */
export type FromSchema<S> =
  // A constant, or one of a list of values.
  S extends { readonly const: infer C } ? C
    : S extends { readonly enum: readonly (infer E)[] } ? E
    // Alternatives: each one's type; one that only constrains (`{ required: [...] }`) is `S`.
    : S extends
      | { readonly oneOf: infer A extends readonly unknown[] }
      | { readonly anyOf: infer A extends readonly unknown[] }
      ? A[number] extends infer X ? X extends
          | { readonly type: unknown }
          | { readonly const: unknown }
          | { readonly enum: unknown }
          | { readonly properties: unknown }
          | { readonly oneOf: unknown }
          | { readonly anyOf: unknown } ? FromSchema<X>
        : FromSchema<Omit<S, "oneOf" | "anyOf">>
      : never
    // Each name of `type` (one, or a list of them) gives its type.
    : S extends { readonly type: infer T }
      ? (T extends readonly (infer U)[] ? U : T) extends infer N
        ? N extends "object"
          ? S extends { readonly properties: unknown } | { readonly additionalProperties: unknown }
            ? FromSchema<Omit<S, "type">>
          : Record<string, unknown>
        : N extends "array" ? S extends { readonly items: infer I } ? FromSchema<I>[] : unknown[]
        : N extends "string" ? string
        : N extends "integer" | "number" ? number
        : N extends "boolean" ? boolean
        : N extends "null" ? null
        : unknown
      : never
    // An object: the properties in `required` or with a `default` are there, the others
    // optional (written out as one object type); other keys are allowed unless
    // `additionalProperties` is false.
    : S extends { readonly properties: infer P } ?
        & ((
          & {
            [
              K in keyof P as K extends
                | (S extends { readonly required: readonly (infer R)[] } ? R : never)
                | {
                  [L in keyof P]: P[L] extends { readonly default: unknown } ? L : never;
                }[keyof P] ? K
                : never
            ]: FromSchema<P[K]>;
          }
          & {
            [
              K in keyof P as K extends
                | (S extends { readonly required: readonly (infer R)[] } ? R : never)
                | {
                  [L in keyof P]: P[L] extends { readonly default: unknown } ? L : never;
                }[keyof P] ? never
                : K
            ]?: FromSchema<P[K]>;
          }
        ) extends infer O ? { -readonly [K in keyof O]: O[K] } : never)
        & (S extends { readonly additionalProperties: false } ? unknown
          : S extends { readonly additionalProperties: infer A extends object }
            ? Record<string, FromSchema<A>>
          : Record<string, unknown>)
    : S extends { readonly additionalProperties: infer A extends object }
      ? Record<string, FromSchema<A>>
    : S extends { readonly additionalProperties: false } ? Record<never, never>
    : unknown;
