/**
 * Disk space: how much is left where a file goes, in bytes people read.
 *
 * @module
 */

import { dirname } from "./paths.ts";

/** Bytes as people read them: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(1)} GiB`;
}

/**
 * The bytes an unprivileged user may still write on the file system that holds `path` (or its
 * nearest existing parent), or undefined when that cannot be told. (`node:fs` is imported here,
 * when it is needed: a cached run never asks.)
 */
export async function freeBytes(path: string): Promise<number | undefined> {
  const { statfsSync } = await import("node:fs");
  for (let dir = path, seen = 0; seen < 4096; seen++) {
    try {
      const fs = statfsSync(dir);
      return Number(fs.bavail) * Number(fs.bsize);
    } catch {
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  }
  return undefined;
}
