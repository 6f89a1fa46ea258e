/**
 * The worker of preprocess-target on a large corpus (see `_parts.ts`): tags the second part's
 * documents and writes their targets records to a file of its own; answers the part's counts.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { JsonlWriter } from "../ner/_jsonl.ts";
import { servePart } from "./_parts.ts";
import { type TagPart, tagPart } from "./_preprocess_target_part.ts";

/** A message from the stage. */
export interface TargetTask {
  part: TagPart;
  labelAllTokens: boolean;
  out: string;
}

servePart<TargetTask>(async ({ part, labelAllTokens, out }) => {
  const file = await JsonlWriter.create(out);
  try {
    return await tagPart(part, labelAllTokens, (record) => file.write(record));
  } finally {
    await file.close();
  }
});
