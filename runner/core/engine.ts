/**
 * The engine's own folder, `runner/`: its files are part of no stage's code (a stage's key holds
 * `ENGINE_KEY_VERSION` instead, see `keys/code_index.ts`), and its frames are cut from the stack
 * of a stage that failed (`core/failure.ts`). Both ask here, so that moving a file inside the
 * engine never moves the anchor.
 *
 * @module
 */

import { fileURLToPath } from "../paths.ts";

/** The engine's folder as a `file:` URL, with a trailing slash. */
export const ENGINE_URL: URL = new URL("../", import.meta.url);

/** The engine's folder as a path, without a trailing slash. */
export const ENGINE_DIR: string = fileURLToPath(ENGINE_URL).replace(/\/$/, "");
