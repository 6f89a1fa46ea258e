/**
 * The `file://` scheme: a remote cache in a directory (NFS and other shared file systems); its
 * store (_dir_store.ts) is imported when the remote is first used.
 *
 * @module
 */

import { fileURLToPath } from "../paths.ts";
import type { Scheme } from "./store.ts";

/** `file:///absolute/dir`: a directory remote. */
export const file: Scheme = {
  prefix: "file://",
  example: "file:///absolute/dir",
  parse(url) {
    if (!url.startsWith("file:///") || /[?#]/.test(url)) {
      return {
        problem: "A file remote must be an absolute file URL",
        hint: "write file:///absolute/path/to/the/shared/cache",
      };
    }
    let dir: string;
    try {
      dir = fileURLToPath(url).replace(/\/+$/, "") || "/";
    } catch {
      return { problem: "The file remote is not a valid file URL", hint: "write file:///path" };
    }
    return {
      display: `file://${dir}`,
      async open() {
        const { DirStore } = await import(
          new URL("./_dir_store.ts", import.meta.url).href
        ) as typeof import("./_dir_store.ts");
        return new DirStore(dir);
      },
    };
  },
};
