/**
 * The worker of preprocess-input on a large corpus (see `_preprocess_part.ts`): counts the
 * words of its part's training texts, then encodes its part's documents into a file of its
 * own. Messages: `{ task: "count", part, lowercase, cut }` answers `{ ok, words, counts }`;
 * `{ task: "encode", part, tokenizer, maxLength, overflow, out }` answers `{ ok, stats }`; a
 * problem answers `{ ok: false, problem, part }` (`part`: a {@link PartProblem}, which the stage
 * answers by running the single pass).
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { JsonlWriter } from "../ner/_jsonl.ts";
import { loadTokenizer } from "../ner/tokenizer/mod.ts";
import { countPart, encodePart, type Part, PartProblem } from "./_preprocess_part.ts";

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

self.onmessage = async (event: MessageEvent<WorkerTask>) => {
  const msg = event.data;
  try {
    if (msg.task === "count") {
      const counts = await countPart(msg.part, msg.lowercase, msg.cut);
      self.postMessage({ ok: true, words: counts.words, counts: counts.counts });
    } else {
      const tok = await loadTokenizer(msg.tokenizer, { transformers: false });
      const out = await JsonlWriter.create(msg.out);
      try {
        const stats = await encodePart(
          tok,
          msg.part,
          { maxLength: msg.maxLength, overflow: msg.overflow },
          (w) => out.write(w),
        );
        self.postMessage({ ok: true, stats });
      } finally {
        await out.close();
      }
    }
  } catch (error) {
    self.postMessage({
      ok: false,
      part: error instanceof PartProblem,
      problem: error instanceof Error ? error.message : String(error),
    });
  }
};
