/**
 * Where a config path is in the pipeline file (or on the command line), for a diagnostic.
 *
 * @module
 */

import type { Diagnostic } from "../errors.ts";

/** The file, line and column of a config path (or of its key, when `key` is set). */
export type Where = (path: string, key?: boolean) => Omit<Diagnostic, "message">;
