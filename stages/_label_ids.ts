/**
 * The work of label-ids (and of its old name, embed-pad), in one pass or, on a large corpus, in
 * two parts at once (the stage and a worker, see `_parts.ts`): the label dictionary from the
 * training types, and each window's piece ids with its tags as label ids. Here, so that neither
 * stage module imports the other.
 *
 * @module
 */

import type { StageContext } from "../runner/stage.ts";
import { buildLabelDictionary, encodeLabels, labelToId } from "../ner/labels.ts";
import {
  checkAbort,
  type DatasetEnd,
  type EncodedRecord,
  type LabelIdsRecord,
  type LabelsArtifact,
  mismatchedInputs,
  openStream,
  readStreamEnd,
  type Split,
  SPLITS,
  StreamOutput,
  type TargetsRecord,
  writeJson,
} from "./_artifacts.ts";
import {
  addCounts,
  type ByteRange,
  countLines,
  inTwoParts,
  middleLine,
  PartProblem,
  partsMinBytes,
  rangeRecords,
  streamLayout,
} from "./_parts.ts";

/** Windows labelled between two looks at the abort signal. */
const WINDOWS_PER_CHECK = 1000;

/** Windows of each split. */
export type Counts = Record<Split, number>;

/**
 * Gives each window's piece ids and label ids to `write`, the encoded windows and their tags
 * read side by side.
 *
 * @param encoded The encoded windows.
 * @param targets Their tags, in the same order.
 * @param ids The label dictionary's ids.
 * @param mismatch Makes the error for inputs that do not line up.
 * @param write Receives each record.
 * @param each Called before each window (abort checks).
 * @returns The windows of each split.
 */
export async function labelStreams(
  encoded: AsyncIterable<EncodedRecord>,
  targets: AsyncIterator<TargetsRecord>,
  ids: ReadonlyMap<string, number>,
  mismatch: (problem: string) => Error,
  write: (record: LabelIdsRecord) => Promise<void>,
  each?: (index: number) => Promise<void>,
): Promise<Counts> {
  const counts = { train: 0, validation: 0 };
  let i = 0;
  for await (const w of encoded) {
    await each?.(i++);
    const t = await targets.next();
    const n = counts[w.split];
    if (t.done || t.value.split !== w.split || t.value.tags.length !== w.ids.length) {
      throw mismatch(
        t.done || t.value.split !== w.split
          ? `the targets have fewer ${w.split} windows than the encoding`
          : `${w.split} window ${n} has ${t.value.tags.length} tags for ${w.ids.length} pieces`,
      );
    }
    await write({ split: w.split, ids: w.ids, labels: encodeLabels(t.value.tags, ids, w.split) });
    counts[w.split]++;
  }
  if (!(await targets.next()).done) {
    throw mismatch("the targets have more windows than the encoding");
  }
  return counts;
}

/** One part: the byte ranges of both inputs (the same windows). */
export interface LabelPart {
  encoded: { path: string; range: ByteRange };
  targets: { path: string; range: ByteRange };
}

/**
 * Cuts both inputs in two at the first window after the middle of the encoded file, or returns
 * undefined when it is smaller than `minBytes` (or the files do not line up).
 */
function planLabelParts(
  encoded: string,
  targets: string,
  minBytes: number,
): [LabelPart, LabelPart] | undefined {
  const middle = middleLine(encoded, minBytes);
  const t = streamLayout(targets);
  if (middle === undefined || t === undefined) return undefined;
  const { layout: e, at } = middle;
  const k = countLines(encoded, { start: e.records.start, end: at }).lines;
  const cut = countLines(targets, t.records, k);
  if (cut.lines !== k || cut.at >= t.records.end) return undefined;
  return [
    {
      encoded: { path: encoded, range: { start: e.records.start, end: at } },
      targets: { path: targets, range: { start: t.records.start, end: cut.at } },
    },
    {
      encoded: { path: encoded, range: { start: at, end: e.records.end } },
      targets: { path: targets, range: { start: cut.at, end: t.records.end } },
    },
  ];
}

/**
 * The label ids of one part (what the worker does, and the stage with the first part).
 *
 * @param part The part.
 * @param dictionary The label dictionary.
 * @param write Receives each record.
 * @param each Called before each window.
 * @throws {PartProblem} When the part's inputs do not line up.
 */
export function labelPart(
  part: LabelPart,
  dictionary: readonly string[],
  write: (record: LabelIdsRecord) => Promise<void>,
  each?: (index: number) => Promise<void>,
): Promise<Counts> {
  return labelStreams(
    rangeRecords("ner-encoded", part.encoded.path, part.encoded.range),
    rangeRecords("ner-targets", part.targets.path, part.targets.range),
    labelToId(dictionary),
    (problem) => new PartProblem(problem),
    write,
    each,
  );
}

/**
 * Writes the label dictionary to the `labels` output and the label ids of every window to
 * `output`.
 *
 * @param ctx The stage's context.
 * @param output The name of the label-ids output (`ids`; `padded` for `embed-pad`).
 */
export async function writeLabelIds(ctx: StageContext<unknown>, output: string): Promise<void> {
  // Only the training types are needed: the dataset's trailer.
  const dataset = await readStreamEnd(
    ctx.inputs,
    "dataset",
    "ner-dataset",
  ) as unknown as DatasetEnd;
  const encoded = await openStream(ctx.inputs, "encoded", "ner-encoded");
  const targets = await openStream(ctx.inputs, "targets", "ner-targets");
  const dictionary = buildLabelDictionary(dataset.labels);
  const header = {
    artifact: "ner-label-ids" as const,
    pad_id: encoded.header.pad_id,
    max_length: encoded.header.max_length,
  };
  const each = async (i: number) => {
    if (i % WINDOWS_PER_CHECK === 0) await checkAbort(ctx.signal);
  };
  const plan = planLabelParts(ctx.inputs.encoded!, ctx.inputs.targets!, partsMinBytes());
  if (plan) {
    // The parts read the files by byte range: these streams gave their headers only.
    await encoded.records.return(undefined);
    await targets.records.return(undefined);
    const [first, second] = plan;
    const out = await StreamOutput.create<"ner-label-ids">(ctx.output(output), header);
    const result = await inTwoParts<Counts>({
      scratch: ctx.scratch,
      name: output,
      worker: new URL("./_label_ids_worker.ts", import.meta.url),
      task: (file) => ({ part: second, dictionary, out: file }),
      output: out,
      mine: () => labelPart(first, dictionary, (r) => out.write(r), each),
      add: addCounts,
      signal: ctx.signal,
    });
    if (result instanceof PartProblem) ctx.log.info(`labelling in one pass: ${result.message}`);
    else {
      ctx.log.info("labelled in two parts at once (the stage and a worker)");
      await finish(ctx, dictionary, targets.header.label_all_tokens, out, result);
      return;
    }
  }
  const windows = plan ? await openStream(ctx.inputs, "encoded", "ner-encoded") : encoded;
  const tags = plan ? await openStream(ctx.inputs, "targets", "ner-targets") : targets;
  const out = await StreamOutput.create<"ner-label-ids">(ctx.output(output), header);
  let counts: Counts;
  try {
    counts = await labelStreams(
      windows.records,
      tags.records,
      labelToId(dictionary),
      (problem) => mismatchedInputs(ctx.inputs, "targets", "encoded", problem),
      (r) => out.write(r),
      each,
    );
  } catch (error) {
    await out.abort();
    await tags.records.return(undefined);
    throw error;
  }
  await finish(ctx, dictionary, tags.header.label_all_tokens, out, counts);
}

/** Logs the counts, writes the label dictionary and the trailer. */
async function finish(
  ctx: StageContext<unknown>,
  dictionary: string[],
  labelAllTokens: boolean,
  out: StreamOutput<"ner-label-ids">,
  counts: Counts,
): Promise<void> {
  ctx.log.info(
    `${dictionary.length} labels; ${SPLITS.map((s) => `${counts[s]} ${s} windows`).join(", ")}`,
  );
  const labelsArtifact: LabelsArtifact = { labels: dictionary, label_all_tokens: labelAllTokens };
  await writeJson(ctx.output("labels"), labelsArtifact);
  await out.end({ windows: counts });
}
