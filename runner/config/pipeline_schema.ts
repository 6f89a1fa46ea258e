/**
 * The schema of a pipeline file: `schemas/pipeline.schema.json`, with what the engine's
 * registries decide filled in: `executor:` is one of the executors of exec/registry.ts.
 *
 * @module
 */

import fileSchema from "../../schemas/pipeline.schema.json" with { type: "json" };
import { EXECUTOR_NAMES } from "../exec/registry.ts";
import type { JsonSchema } from "../stage.ts";

/** The pipeline file's schema, as loading checks it (and remembers checks by). */
export const pipelineSchema: JsonSchema = {
  ...fileSchema,
  properties: {
    ...fileSchema.properties,
    executor: { ...fileSchema.properties.executor, enum: [...EXECUTOR_NAMES] },
  },
};
