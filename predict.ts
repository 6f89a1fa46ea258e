/**
 * The `predict` command: entities of texts, with a model directory or the model a pipeline
 * trained.
 *
 *     deno task predict out/ner/train/model "Leo Smith flew to Lagos."
 *     deno task predict pipelines/ner.yaml --file input.txt --json
 *     deno task predict pipelines/ner.yaml --run last "Leo Smith flew to Lagos."
 *
 * @module
 */

import { UserError } from "./runner/errors.ts";
import { type FlagSpecs, fraction, oneOf, parseArgs } from "./runner/lib/args.ts";
import {
  AGGREGATION_STRATEGIES,
  type AggregationStrategy,
  type PredictedEntity,
} from "./ner/predict/entities.ts";
import { BOUNDARY_MODES, type BoundaryMode } from "./ner/boundaries.ts";
import { BACKEND_NAMES, type BackendName } from "./ner/bert/backend.ts";
import { findModel } from "./predict_model.ts";

const USAGE = `usage:
  predict <model dir | pipeline.yaml> ["text"]... [--file input.txt|-] [--json]
          [--backend auto|wasm|cpu|webgpu|tensorflow]
          [--aggregation exact|simple|first|average|max] [--min-score <0 to 1>]
          [--boundaries words+learned-tails|pieces]
          [--stage <id>] [--run <run id prefix>|last | [--set k=v]... [--allow-outside <path>]...]`;

const HELP = `${USAGE}

Finds the entities of texts with a model directory, or with the model a pipeline trained: the one
of the pipeline's key for the given --set values (its cached object, whatever out/ holds), or the
one of a recorded run (--run).

flags:
  --file <path>|-         predict each non-blank line of a file (- for stdin), as it is read
  --json                  one JSON object a line: {"text", "entities": [...]}
  --backend <name>        the TensorFlow.js backend (default auto)
  --aggregation <a>       how word-pieces become entities (default: the model's own)
  --min-score <s>         drop entities scored under s
  --boundaries <b>        where entities may start and end (default: the model's own)
  --stage <id>            the stage whose model to use, when several make one
  --run <prefix>|last     the model of a recorded run (deno task runs lists them), without
                          repeating its --set and --allow-outside
  --set k=v               the pipeline's parameters, as given to run
  --allow-outside <path>  a path outside the project the pipeline reads, as given to run
  --help                  print this help

More: docs/cli.md#predict`;

interface PredictFlags {
  target?: string;
  texts: string[];
  file?: string;
  json: boolean;
  backend: BackendName;
  stage?: string;
  sets: string[];
  allowOutside: string[];
  aggregation?: AggregationStrategy;
  minScore?: number;
  boundaries?: BoundaryMode;
  run?: string;
}

const FLAGS = {
  json: { type: "boolean" },
  file: { type: "string" },
  stage: { type: "string" },
  set: { type: "strings" },
  "allow-outside": { type: "strings" },
  aggregation: { type: "string" },
  "min-score": { type: "string" },
  boundaries: { type: "string" },
  backend: { type: "string" },
  run: { type: "string" },
} satisfies FlagSpecs;

function parse(args: string[]): PredictFlags {
  const { values: v, positionals } = parseArgs(args, FLAGS, { usage: USAGE, help: HELP });
  const flags: PredictFlags = {
    texts: positionals.slice(1),
    json: v.json ?? false,
    backend: "auto",
    sets: v.set ?? [],
    allowOutside: v["allow-outside"] ?? [],
  };
  if (positionals[0] !== undefined) flags.target = positionals[0];
  if (v.file !== undefined) flags.file = v.file;
  if (v.stage !== undefined) flags.stage = v.stage;
  if (v.run !== undefined) {
    if (flags.sets.length || flags.allowOutside.length) {
      throw new UserError(
        `--run takes the parameters of the run it names: leave out ${
          flags.sets.length ? "--set" : "--allow-outside"
        }, or leave out --run to predict with the model of these parameters`,
      );
    }
    flags.run = v.run;
  }
  if (v.aggregation !== undefined) {
    flags.aggregation = oneOf("aggregation", v.aggregation, AGGREGATION_STRATEGIES);
  }
  if (v["min-score"] !== undefined) flags.minScore = fraction("min-score", v["min-score"]);
  if (v.boundaries !== undefined) {
    flags.boundaries = oneOf("boundaries", v.boundaries, BOUNDARY_MODES);
  }
  if (v.backend !== undefined) flags.backend = oneOf("backend", v.backend, BACKEND_NAMES);
  return flags;
}

/** A text to predict: from the command line, or a line of `--file` (1-based). */
interface Input {
  text: string;
  line?: number;
}

/**
 * The texts to predict: the command line's, then the non-blank lines of `--file` (or stdin),
 * read as they come, never the whole file at once.
 */
async function* readTexts(flags: PredictFlags): AsyncGenerator<Input> {
  for (const text of flags.texts) yield { text };
  if (flags.file === undefined) return;
  const file = flags.file;
  const cannot = (error: unknown) =>
    new UserError(`Cannot read "${file}": ${(error as Error)?.message ?? error}`);
  let stream: ReadableStream<Uint8Array>;
  try {
    stream = file === "-" ? Deno.stdin.readable : (await Deno.open(file)).readable;
  } catch (error) {
    throw cannot(error);
  }
  const { textLines } = await import("./ner/predict/stream.ts");
  const lines = textLines(stream);
  for (let line = 1;; line++) {
    let next: IteratorResult<string>;
    try {
      next = await lines.next();
    } catch (error) {
      throw cannot(error);
    }
    if (next.done) return;
    if (next.value.trim() !== "") yield { text: next.value, line };
  }
}

/** An entity as `--json` writes it (the score to 4 decimals). */
function jsonEntity(e: PredictedEntity) {
  return {
    start: e.start,
    end: e.end,
    label: e.label,
    text: e.text,
    score: Math.round(e.score * 1e4) / 1e4,
  };
}

/**
 * A readable table of one text's entities.
 *
 * @param text The input text.
 * @param entities Its entities.
 * @returns Lines without a trailing newline.
 */
export function formatTable(text: string, entities: readonly PredictedEntity[]): string {
  const lines = [text];
  if (entities.length === 0) return [...lines, "  (no entities)"].join("\n");
  const rows = [
    ["text", "label", "start", "end", "score"],
    ...entities.map((e) => [e.text, e.label, String(e.start), String(e.end), e.score.toFixed(3)]),
  ];
  // Hangul and other wide characters take two columns in a terminal.
  const width = (s: string) =>
    [...s].reduce(
      (w, ch) => w + (/[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uff00-\uff60]/.test(ch) ? 2 : 1),
      0,
    );
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => width(r[c]!))));
  for (const r of rows) {
    lines.push(
      "  " + r.map((cell, c) => cell + " ".repeat(widths[c]! - width(cell))).join("  ").trimEnd(),
    );
  }
  return lines.join("\n");
}

/**
 * Runs `predict`.
 *
 * @param args Arguments after `predict`.
 * @returns The exit code (0).
 * @throws {UserError} On a bad argument, a missing model or an unreadable input file.
 */
export async function predictCommand(args: string[]): Promise<number> {
  const flags = parse(args);
  if (flags.target === undefined) throw new UserError(`Missing model directory\n${USAGE}`);
  const inputs = readTexts(flags);
  // The first text is read before the model is loaded: no text is an error at once.
  const first = await inputs.next();
  if (first.done) {
    throw new UserError(`No text to predict: give "text" or --file\n${USAGE}`);
  }
  const { dir, note } = await findModel(flags.target, {
    sets: flags.sets,
    allowOutside: flags.allowOutside,
    ...(flags.stage ? { stage: flags.stage } : {}),
    ...(flags.run !== undefined ? { run: flags.run } : {}),
  });
  if (note) console.error(note);
  const { loadPredictor } = await import("./ner/predict/mod.ts");
  const predictor = await loadPredictor(dir, {
    backend: flags.backend,
    ...(flags.aggregation ? { aggregation: flags.aggregation } : {}),
    ...(flags.minScore !== undefined ? { minScore: flags.minScore } : {}),
    ...(flags.boundaries ? { boundaries: flags.boundaries } : {}),
  });
  try {
    // Predicted a batch at a time and written as each text is done: the output is JSON Lines
    // (--json: one object a line) or tables, whatever the input's length.
    const { MAX_TEXT_CHARS, predictStream } = await import("./ner/predict/stream.ts");
    const lines: (number | undefined)[] = [];
    const texts = (async function* () {
      for (let next: IteratorResult<Input> = first; !next.done; next = await inputs.next()) {
        lines.push(next.value.line);
        yield next.value.text;
      }
    })();
    // A long text's entities are written as its parts are done (--json), or kept for its
    // table; a short one's go out at once.
    const stdout = (text: string) => {
      const bytes = new TextEncoder().encode(text);
      for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at));
    };
    let kept: PredictedEntity[] = [];
    let comma = "";
    for await (const { text, entities, part, parts } of predictStream(predictor, texts)) {
      if (part === 0 && parts > 1) {
        const line = lines[0];
        console.error(
          `note: ${line === undefined ? "a text" : `line ${line} of "${flags.file}"`} has ` +
            `${text.length} characters: predicted in ${parts} parts of at most ` +
            `${MAX_TEXT_CHARS}, cut at spaces (an entity across a cut is found in two pieces, ` +
            "or not at all); offsets are into the whole line",
        );
      }
      if (part === parts - 1) lines.shift();
      if (!flags.json) {
        for (const e of entities) kept.push(e);
        if (part < parts - 1) continue;
        console.log(formatTable(text, kept) + "\n");
        kept = [];
      } else if (parts === 1) {
        console.log(JSON.stringify({ text, entities: entities.map(jsonEntity) }));
      } else {
        // The object JSON.stringify would write, a part at a time.
        let chunk = part === 0 ? `{"text":${JSON.stringify(text)},"entities":[` : "";
        for (const e of entities) {
          chunk += comma + JSON.stringify(jsonEntity(e));
          comma = ",";
        }
        if (part === parts - 1) {
          chunk += "]}\n";
          comma = "";
        }
        stdout(chunk);
      }
    }
  } finally {
    predictor.dispose();
  }
  return 0;
}
