/**
 * The worker of label-ids on a large corpus (see `_parts.ts`): the label ids of the second
 * part's windows, written to a file of its own; answers the part's window counts.
 *
 * @module
 */

/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />

import { JsonlWriter } from "../ner/_jsonl.ts";
import { type LabelPart, labelPart } from "./_label_ids.ts";
import { servePart } from "./_parts.ts";

servePart<{ part: LabelPart; dictionary: string[]; out: string }>(
  async ({ part, dictionary, out }) => {
    const file = await JsonlWriter.create(out);
    try {
      return await labelPart(part, dictionary, (record) => file.write(record));
    } finally {
      await file.close();
    }
  },
);
