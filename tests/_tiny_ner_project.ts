/**
 * A tiny NER project for tests that train through the engine: 48 training and 16 validation
 * sentences of the bundled sample, a 300-piece vocabulary and a BERT of hidden size 16 with one
 * layer, trained 3 epochs of 12 steps with a checkpoint every 2 steps (unless overridden).
 *
 * @module
 */

const ROOT = new URL("..", import.meta.url).pathname;

/** The first `n` sentences of a KMOU file (blocks separated by blank lines). */
async function sentences(file: string, n: number): Promise<string> {
  const text = await Deno.readTextFile(`${ROOT}data/sample/${file}`);
  return text.trim().split(/\n\s*\n/).slice(0, n).join("\n\n") + "\n";
}

/**
 * Makes the project in a temporary directory.
 *
 * @param train Parameters of train over the defaults above.
 * @param options `trainInputs`: more of train's inputs (`, name: stage.output`); `after`: YAML
 *   of more stages.
 * @returns The directory.
 */
export async function tinyProject(
  train: Record<string, unknown>,
  options: { trainInputs?: string; after?: string } = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tiny-ner-" });
  await Deno.mkdir(`${dir}/data`);
  await Deno.writeTextFile(`${dir}/data/train.txt`, await sentences("train.txt", 48));
  await Deno.writeTextFile(`${dir}/data/validation.txt`, await sentences("validation.txt", 16));
  const withs = Object.entries({
    epochs: 3,
    learning_rate: 0.005,
    seed: 7,
    layers: 1,
    hidden: 16,
    heads: 2,
    intermediate: 32,
    max_positions: 64,
    checkpoint_every: 2,
    ...train,
  }).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}`).join("\n");
  await Deno.writeTextFile(
    `${dir}/pipeline.yaml`,
    `name: tiny
stages:
  load:
    uses: load
    with: { format: kmou, train: data/train.txt, validation: data/validation.txt }
  preprocess-input:
    uses: preprocess-input
    inputs: { dataset: load.dataset }
    with:
      tokenizer: { learn: { vocab_size: 300, lowercase: false, hangul: true } }
      max_length: 64
  preprocess-target:
    uses: preprocess-target
    inputs: { dataset: load.dataset, encoded: preprocess-input.encoded }
  embed-pad:
    uses: embed-pad
    inputs: { dataset: load.dataset, encoded: preprocess-input.encoded, targets: preprocess-target.targets }
  tensorize:
    uses: tensorize
    inputs: { padded: embed-pad.padded }
    with: { batch_size: 4, seed: 7, shuffle: true }
  train:
    uses: train
    inputs: { batches: tensorize.batches, labels: embed-pad.labels, tokenizer: preprocess-input.tokenizer${
      options.trainInputs ?? ""
    } }
    with:
${withs}
${options.after ?? ""}`,
  );
  return dir;
}
