/**
 * The upstream chain of keys: a stage's key holds the hashes of its upstream stages' outputs, so
 * a pipeline is keyed in order, each stage's outputs found (in the cache, the remote, or by
 * running it) before the stages below it can be keyed. The run (which keys stages as their
 * upstream stages finish), a Slurm job (which keys its stage's upstream chain from the shared
 * cache), `pull` and `push` all keep their chain here.
 *
 * @module
 */

import type { Pipeline, ResolvedStage } from "../core/pipeline.ts";
import type { StoredOutput } from "../core/result.ts";
import type { Cache } from "../store/cache.ts";
import type { CodeIndex } from "./code_index.ts";
import { type StageKey, stageKey } from "./stage_key.ts";

/** Outputs by stage id. */
export type OutputsById = Map<string, Record<string, StoredOutput>>;

/** One stage of a {@link KeyChain.walk}: keyed, or blocked by an upstream stage without outputs. */
export type ChainStep =
  | { stage: ResolvedStage; key: StageKey; blockedBy?: undefined }
  | { stage: ResolvedStage; key?: undefined; blockedBy: string };

/** The outputs of the stages keyed so far, and the keys of the stages below them. */
export class KeyChain {
  /** The pipeline. */
  readonly pipeline: Pipeline;
  /** Outputs found so far, by stage id: what the stages below them are keyed on. */
  readonly outputs: OutputsById = new Map();
  readonly #cache: Cache;
  readonly #index: CodeIndex;

  /**
   * @param pipeline The pipeline.
   * @param cache The cache (its stat cache hashes file inputs).
   * @param index Code files and deno.lock, read once and shared by the stages keyed.
   */
  constructor(pipeline: Pipeline, cache: Cache, index: CodeIndex) {
    this.pipeline = pipeline;
    this.#cache = cache;
    this.#index = index;
  }

  /** The first upstream stage of `stage` whose outputs are not known, if any. */
  blockedBy(stage: ResolvedStage): string | undefined {
    return stage.upstream.find((id) => !this.outputs.has(id));
  }

  /**
   * A stage's key, from its upstream stages' outputs.
   *
   * @param stage The stage (its upstream stages' outputs must be known).
   * @param assumed Outputs to key it on instead of the chain's (a dry run assumes that a stage
   *   that would run gives what it gave last time).
   */
  key(stage: ResolvedStage, assumed?: OutputsById): Promise<StageKey> {
    return stageKey(stage, assumed ?? this.outputs, this.#cache, this.pipeline.root, this.#index);
  }

  /** Records a stage's outputs, for the stages downstream of it. */
  set(id: string, outputs: Record<string, StoredOutput>): void {
    this.outputs.set(id, outputs);
  }

  /**
   * Keys stages one after the other: each is keyed once its upstream stages have outputs, and
   * `visit` says what its outputs are (undefined: it has none, and the stages below it are
   * blocked, each visited with the upstream stage that blocks it).
   *
   * @param ids The stages, in the pipeline's order.
   * @param visit Called for each stage, keyed or blocked; returns its outputs, if any.
   */
  async walk(
    ids: readonly string[],
    visit: (step: ChainStep) => Promise<Record<string, StoredOutput> | undefined>,
  ): Promise<void> {
    for (const id of ids) {
      const stage = this.pipeline.stages.get(id)!;
      const blockedBy = this.blockedBy(stage);
      const outputs = blockedBy === undefined
        ? await visit({ stage, key: await this.key(stage) })
        : await visit({ stage, blockedBy });
      if (outputs) this.set(id, outputs);
    }
  }
}
