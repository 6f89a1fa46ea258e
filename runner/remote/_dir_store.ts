/**
 * A directory remote's store (the `file://` scheme): files written through a temp name and a
 * rename, created only where none is (a hard link decides who was first), read as they come.
 *
 * @module
 */

import { ObjectTooLarge, RemoteFailure, type RemoteStore } from "./store.ts";

/** Bytes read from a directory remote at a time. */
const CHUNK = 1024 * 1024;

/** A directory remote (NFS and other shared file systems): files written by rename. */
export class DirStore implements RemoteStore {
  readonly where: string;
  #dir: string;
  constructor(dir: string) {
    this.#dir = dir;
    this.where = dir;
  }
  async #root(): Promise<void> {
    try {
      if ((await Deno.stat(this.#dir)).isDirectory) return;
    } catch (error) {
      throw this.#failure(error);
    }
    throw new RemoteFailure(`${this.#dir} is not a directory`, "point the remote at a directory");
  }
  #failure(error: unknown): RemoteFailure {
    if (error instanceof Deno.errors.NotFound) {
      return new RemoteFailure(
        `${this.#dir} does not exist`,
        "create it, or mount the shared file system that holds it",
      );
    }
    if (
      error instanceof Deno.errors.PermissionDenied || error instanceof Deno.errors.NotCapable
    ) {
      return new RemoteFailure(
        `${this.#dir} may not be read or written`,
        "grant this user (and Deno's --allow-read/--allow-write) access to it",
      );
    }
    const message = String((error as Error)?.message ?? error).split("\n")[0];
    return new RemoteFailure(`${this.#dir} cannot be used (${message})`, "check the directory");
  }
  async read(
    key: string,
    limit: number,
    sink: (chunk: Uint8Array) => Promise<void>,
  ): Promise<number | undefined> {
    await this.#root();
    let file: Deno.FsFile;
    try {
      // Only a plain file is read: a device or a FIFO put in the remote never ends.
      if (!(await Deno.stat(`${this.#dir}/${key}`)).isFile) return undefined;
      file = await Deno.open(`${this.#dir}/${key}`, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw this.#failure(error);
    }
    try {
      let bytes = 0;
      for (;;) {
        const buffer = new Uint8Array(Math.min(CHUNK, limit - bytes + 1));
        let n: number | null;
        try {
          n = await file.read(buffer);
        } catch (error) {
          throw this.#failure(error);
        }
        if (n === null) return bytes;
        bytes += n;
        if (bytes > limit) throw new ObjectTooLarge(limit);
        await sink(buffer.subarray(0, n));
      }
    } finally {
      file.close();
    }
  }
  async has(key: string): Promise<boolean> {
    await this.#root();
    try {
      return (await Deno.stat(`${this.#dir}/${key}`)).isFile;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw this.#failure(error);
    }
  }
  async put(key: string, body: Uint8Array): Promise<void> {
    // Written beside its place and renamed into it: a reader never sees a part.
    await this.#beside(key, body, (tmp, path) => Deno.rename(tmp, path));
  }
  async create(key: string, body: Uint8Array): Promise<boolean> {
    try {
      // A hard link is made only where no file is: the file system decides who was first.
      await this.#beside(key, body, (tmp, path) => Deno.link(tmp, path));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) return false;
      throw error;
    }
  }
  /**
   * Writes `body` to a temp file beside `key`'s place and hands both paths to `place`; the temp
   * file is gone afterwards. A failure other than `AlreadyExists` is this store's failure.
   */
  async #beside(
    key: string,
    body: Uint8Array,
    place: (tmp: string, path: string) => Promise<void>,
  ): Promise<void> {
    await this.#root();
    const path = `${this.#dir}/${key}`;
    const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(tmp, body);
      await place(tmp, path);
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists) throw error;
      throw this.#failure(error);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }
  scrub(text: string): string {
    return text;
  }
}
