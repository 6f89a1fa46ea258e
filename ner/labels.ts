/**
 * BIO labels: the label dictionary, label ids, and chunking of tag sequences
 * with conlleval semantics.
 *
 * @module
 */

import { UserError } from "../runner/errors.ts";

import { IGNORE_INDEX } from "./types.ts";

export { IGNORE_INDEX };

/**
 * Build the label dictionary of a set of entity types: `O` first, then the
 * tags `B-X` and `I-X` of every type sorted in UTF-16 code unit order (so all
 * `B-` tags come before all `I-` tags).
 *
 * @param types Entity types without a BIO prefix; duplicates are ignored.
 * @returns The labels by id.
 * @example
 * ```ts
 * import { buildLabelDictionary } from "./labels.ts";
 * buildLabelDictionary(["PS", "LC"]); // ["O", "B-LC", "B-PS", "I-LC", "I-PS"]
 * ```
 */
export function buildLabelDictionary(types: readonly string[]): string[] {
  const tags = new Set<string>();
  for (const t of types) {
    tags.add(`B-${t}`);
    tags.add(`I-${t}`);
  }
  return ["O", ...[...tags].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
}

/**
 * Map each label of a dictionary to its id.
 *
 * @param dict Labels by id, from {@link buildLabelDictionary}.
 * @returns Label → id.
 * @example
 * ```ts
 * import { labelToId } from "./labels.ts";
 * labelToId(["O", "B-PS", "I-PS"]).get("I-PS"); // 2
 * ```
 */
export function labelToId(dict: readonly string[]): Map<string, number> {
  return new Map(dict.map((label, id) => [label, id]));
}

/** A label that is not in the label dictionary. */
export class UnknownLabelError extends UserError {
  /** The unknown label, e.g. `B-XX`. */
  label: string;
  /** Where it was found, e.g. `validation`. */
  split: string;
  /**
   * @param label The unknown label.
   * @param split Where it was found (`validation`, `test`...).
   */
  constructor(label: string, split: string) {
    super(
      `Unknown label "${label}" in ${split} data: it is not in the training label dictionary`,
    );
    this.name = "UnknownLabelError";
    this.label = label;
    this.split = split;
  }
}

/**
 * Convert tags to ids; `null` (ignored positions) becomes {@link IGNORE_INDEX}.
 *
 * @param tags Tags of one sequence.
 * @param ids From {@link labelToId}.
 * @param split Name of the data, for the error message.
 * @returns The ids.
 * @throws {UnknownLabelError} When a tag is not in `ids`.
 * @example
 * ```ts
 * import { encodeLabels, labelToId } from "./labels.ts";
 * encodeLabels([null, "B-PS", "O", null], labelToId(["O", "B-PS", "I-PS"]), "train"); // [-100, 1, 0, -100]
 * ```
 */
export function encodeLabels(
  tags: readonly (string | null)[],
  ids: ReadonlyMap<string, number>,
  split: string,
): number[] {
  return tags.map((t) => {
    if (t === null) return IGNORE_INDEX;
    const id = ids.get(t);
    if (id === undefined) throw new UnknownLabelError(t, split);
    return id;
  });
}

/** A chunk of a tag sequence: positions `[start, end)` of one entity. */
export interface Chunk {
  start: number;
  end: number;
  type: string;
}

type Prefix = "B" | "I" | "E" | "S" | "O";

/**
 * Split a tag into its prefix and type. `O`, the empty string, null and tags
 * without a `B-`, `I-`, `E-` or `S-` prefix count as `O`.
 *
 * @param tag A tag such as `B-PS`.
 * @returns Prefix and type (`""` for `O`).
 */
export function parseTag(tag: string | null | undefined): { prefix: Prefix; type: string } {
  if (tag && tag.length > 2 && tag[1] === "-") {
    const p = tag[0];
    if (p === "B" || p === "I" || p === "E" || p === "S") return { prefix: p, type: tag.slice(2) };
  }
  return { prefix: "O", type: "" };
}

/**
 * Chunks of a BIO (or IOBES) tag sequence with conlleval semantics: a chunk
 * starts at `B-X`, at `I-X` after `O`, after the end of a chunk or after a
 * different type, and at `I-X` at the start of the sequence; it ends before
 * `B-`, `O`, or a change of type.
 *
 * @param tags The tags of one sentence.
 * @returns The chunks in order.
 * @example
 * ```ts
 * import { bioChunks } from "./labels.ts";
 * bioChunks(["B-PS", "I-LC", "O", "I-PS"]); // PS [0,1), LC [1,2), PS [3,4)
 * ```
 */
export function bioChunks(tags: readonly (string | null)[]): Chunk[] {
  const chunks: Chunk[] = [];
  let prevPrefix: Prefix = "O";
  let prevType = "";
  let open = -1;
  for (let i = 0; i <= tags.length; i++) {
    const { prefix, type } = i < tags.length
      ? parseTag(tags[i])
      : { prefix: "O" as Prefix, type: "" };
    const end = prevPrefix === "E" || prevPrefix === "S" ||
      ((prevPrefix === "B" || prevPrefix === "I") &&
        (prefix === "B" || prefix === "S" || prefix === "O")) ||
      (prevPrefix !== "O" && prevType !== type);
    const start = prefix === "B" || prefix === "S" ||
      ((prefix === "I" || prefix === "E") &&
        (prevPrefix === "E" || prevPrefix === "S" || prevPrefix === "O")) ||
      (prefix !== "O" && prevType !== type);
    if (end && open >= 0) {
      chunks.push({ start: open, end: i, type: prevType });
      open = -1;
    }
    if (start) open = i;
    prevPrefix = prefix;
    prevType = type;
  }
  return chunks;
}
