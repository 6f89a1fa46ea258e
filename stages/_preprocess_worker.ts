/**
 * The worker of preprocess-input on a large corpus (see `_preprocess_part.ts` and `_parts.ts`):
 * counts the words of its part's training texts, then encodes its part's documents into a file
 * of its own. Tasks: `{ task: "count", part, lowercase, cut }` answers `{ words, counts }`;
 * `{ task: "encode", part, tokenizer, maxLength, overflow, out }` answers the part's stats.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { JsonlWriter } from "../ner/_jsonl.ts";
import { loadTokenizer } from "../ner/tokenizer/mod.ts";
import { countPart, encodePart, type Part } from "./_preprocess_part.ts";
import { servePart } from "./_parts.ts";

/** A message from the stage. */
export type WorkerTask =
  | { task: "count"; part: Part; lowercase: boolean; cut: boolean }
  | {
    task: "encode";
    part: Part;
    tokenizer: string;
    maxLength: number;
    overflow: "window" | "truncate";
    out: string;
  };

servePart<WorkerTask>(async (msg) => {
  if (msg.task === "count") {
    const counts = await countPart(msg.part, msg.lowercase, msg.cut);
    return { words: counts.words, counts: counts.counts };
  }
  const tok = await loadTokenizer(msg.tokenizer, { transformers: false });
  const out = await JsonlWriter.create(msg.out);
  try {
    return await encodePart(
      tok,
      msg.part,
      { maxLength: msg.maxLength, overflow: msg.overflow },
      (w) => out.write(w),
    );
  } finally {
    await out.close();
  }
});
