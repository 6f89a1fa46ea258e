/**
 * Stage `preprocess-target`: the entity spans of each document become a BIO tag per
 * word-piece, found by comparing each piece's start offset with the spans. [CLS]/[SEP] and (by
 * default) continuation pieces are ignored (null here, -100 after label-ids).
 *
 * @module
 */

import { defineStage, type ParamsOf, type StageContext } from "../runner/stage.ts";
import schema from "../schemas/preprocess-target.schema.ts";
import {
  checkAbort,
  type DatasetEnd,
  mismatchedInputs,
  openStream,
  readStreamEnd,
  SPLITS,
  StreamOutput,
} from "./_artifacts.ts";
import { addCounts, inTwoParts, PartProblem, partsMinBytes } from "./_parts.ts";
import { planTagParts, tagPart, type TagStats, tagStreams } from "./_preprocess_target_part.ts";
import type { TargetTask } from "./_preprocess_target_worker.ts";

/** Documents tagged between two looks at the abort signal. */
const DOCS_PER_CHECK = 500;

/** Parameters of `preprocess-target`, typed from its schema (schemas/preprocess-target.schema.ts). */
export type PreprocessTargetParams = ParamsOf<typeof schema>;

/** The `preprocess-target` stage kind. */
export const preprocessTarget = defineStage({
  name: "preprocess-target",
  version: 2,
  description: schema.description,
  schema,
  inputs: {
    dataset: { type: "ner-dataset", description: "Output of load" },
    encoded: { type: "ner-encoded", description: "Output of preprocess-input" },
  },
  outputs: {
    targets: {
      type: "ner-targets",
      description: "A BIO tag (or null) per word-piece per window, one window per line",
      extension: ".jsonl",
    },
  },
  module: import.meta.url,
  async run(ctx) {
    const labelAllTokens = ctx.params.label_all_tokens;
    const header = { artifact: "ner-targets" as const, label_all_tokens: labelAllTokens };
    const each = async (index: number) => {
      if (index % DOCS_PER_CHECK === 0) await checkAbort(ctx.signal);
    };
    // Checks both headers and gives the training count.
    const counts = await readStreamEnd(
      ctx.inputs,
      "dataset",
      "ner-dataset",
    ) as unknown as DatasetEnd;
    const encodedHead = await openStream(ctx.inputs, "encoded", "ner-encoded");
    await encodedHead.records.return(undefined);
    let plan: ReturnType<typeof planTagParts>;
    try {
      plan = planTagParts(ctx.inputs.dataset, ctx.inputs.encoded, counts.train, partsMinBytes());
    } catch (error) {
      if (!(error instanceof PartProblem)) throw error;
      plan = undefined;
    }
    if (plan) {
      // A large corpus: in two parts at once, the second by a worker.
      const [first, second] = plan;
      const out = await StreamOutput.create<"ner-targets">(ctx.output("targets"), header);
      const result = await inTwoParts<TagStats>({
        scratch: ctx.scratch,
        name: "targets",
        worker: new URL("./_preprocess_target_worker.ts", import.meta.url),
        task: (file): TargetTask => ({ part: second, labelAllTokens, out: file }),
        output: out,
        mine: () => tagPart(first, labelAllTokens, (record) => out.write(record), each),
        add: addCounts,
        signal: ctx.signal,
      });
      if (result instanceof PartProblem) ctx.log.info(`tagging in one pass: ${result.message}`);
      else {
        ctx.log.info("tagged in two parts at once (the stage and a worker)");
        await finish(ctx, out, result);
        return;
      }
    }
    const dataset = await openStream(ctx.inputs, "dataset", "ner-dataset");
    const encoded = await openStream(ctx.inputs, "encoded", "ner-encoded");
    const out = await StreamOutput.create<"ner-targets">(ctx.output("targets"), header);
    let stats: TagStats;
    try {
      stats = await tagStreams(
        dataset.records,
        encoded.records,
        {
          labelAllTokens,
          first: { train: 0, validation: 0 },
          mismatch: (problem) => mismatchedInputs(ctx.inputs, "encoded", "dataset", problem),
          each,
        },
        (record) => out.write(record),
      );
    } catch (error) {
      await out.abort();
      await encoded.records.return(undefined);
      throw error;
    }
    await finish(ctx, out, stats);
  },
});

/** Logs what was tagged and writes the trailer. */
async function finish(
  ctx: StageContext<PreprocessTargetParams>,
  out: StreamOutput<"ner-targets">,
  { windows, report }: TagStats,
): Promise<void> {
  for (const split of SPLITS) {
    const r = report[split];
    const problems = [
      r.outside_window && `${r.outside_window} outside the window`,
      r.not_on_boundary &&
      `${r.not_on_boundary} not starting and ending on word-piece boundaries`,
      r.crosses_window && `${r.crosses_window} split across windows`,
    ].filter(Boolean);
    ctx.log.info(
      `${split}: ${r.entities} entities${problems.length ? `; ${problems.join(", ")}` : ""}`,
    );
  }
  await out.end({ windows, report });
}
