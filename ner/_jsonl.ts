/**
 * JSON Lines artifacts, read and written incrementally: memory is bounded by one chunk of the
 * file (1 MiB) and the lines a caller keeps, never by the file.
 *
 * A stream artifact is a header line (an object naming its `artifact` type and its fixed
 * fields), then one line per record, then a trailer line `{"end": {...}}` holding counts and
 * reports known only once every record was written. A file without its trailer was cut short.
 *
 * @module
 */

/** Bytes buffered by a {@link JsonlWriter} before they are written. */
const WRITE_CHUNK = 1 << 20;
/** Bytes read at a time by {@link readJsonl}. */
export const READ_CHUNK = 1 << 20;

/** Writes one JSON value per line, in chunks. */
export class JsonlWriter {
  #file: Deno.FsFile;
  #parts: string[] = [];
  #size = 0;
  #encoder = new TextEncoder();
  /** Lines written so far. */
  lines = 0;

  private constructor(file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Creates (or truncates) the file.
   *
   * @param path The file.
   * @returns The writer; close it.
   */
  static async create(path: string): Promise<JsonlWriter> {
    return new JsonlWriter(
      await Deno.open(path, { write: true, create: true, truncate: true }),
    );
  }

  /** Appends one value as a line; writes the buffer out when it is full. */
  async write(value: unknown): Promise<void> {
    const line = JSON.stringify(value);
    this.#parts.push(line, "\n");
    this.#size += line.length + 1;
    this.lines++;
    if (this.#size >= WRITE_CHUNK) await this.flush();
  }

  /** Writes out what is buffered. */
  flush(): Promise<void> {
    if (this.#parts.length === 0) return Promise.resolve();
    const bytes = this.#encoder.encode(this.#parts.join(""));
    this.#parts = [];
    this.#size = 0;
    // Written synchronously: an asynchronous write of a chunk costs a turn of the event loop
    // and a thread hop, which added up to a second on a large artifact.
    for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
    return Promise.resolve();
  }

  /**
   * Appends the bytes of another file (whole lines), a chunk at a time.
   *
   * @param path The file.
   */
  async append(path: string): Promise<void> {
    await this.flush();
    const from = await Deno.open(path, { read: true });
    try {
      const buffer = new Uint8Array(WRITE_CHUNK);
      for (let n = from.readSync(buffer); n !== null; n = from.readSync(buffer)) {
        const bytes = buffer.subarray(0, n);
        for (let at = 0; at < bytes.length;) at += this.#file.writeSync(bytes.subarray(at));
        for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, i + 1)) this.lines++;
      }
    } finally {
      from.close();
    }
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.#file.close();
    }
  }
}

/** A line of a JSON Lines file that is not UTF-8 JSON. */
export class JsonlLineError extends Error {
  /** 1-based line number. */
  readonly line: number;
  /**
   * Creates the error.
   *
   * @param line 1-based line number.
   * @param detail What is wrong.
   */
  constructor(line: number, detail: string) {
    super(`line ${line} ${detail}`);
    this.name = "JsonlLineError";
    this.line = line;
  }
}

/** A part of a file: bytes `start` to `end` (exclusive), cut after a line's `\n`. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The raw text lines of a file, read a chunk at a time (a last line without `\n` included,
 * an empty last line not).
 *
 * @param path The file.
 * @param chunk Bytes read at a time.
 * @param range Read only these bytes of the file (lines are numbered from the range's start).
 * @throws {JsonlLineError} When the file is not UTF-8.
 */
export async function* readLines(
  path: string,
  chunk = READ_CHUNK,
  range?: ByteRange,
): AsyncGenerator<string> {
  const file = await Deno.open(path, { read: true });
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const buffer = new Uint8Array(chunk);
  let rest = "";
  let line = 0;
  let left = Infinity;
  try {
    if (range) {
      await file.seek(range.start, Deno.SeekMode.Start);
      left = range.end - range.start;
    }
    while (true) {
      let n = left <= 0 ? null : await file.read(
        left < buffer.length ? buffer.subarray(0, left) : buffer,
      );
      if (n !== null) left -= n;
      if (n === 0) n = null;
      let text: string;
      try {
        text = n === null
          ? decoder.decode()
          : decoder.decode(buffer.subarray(0, n), { stream: true });
      } catch {
        throw new JsonlLineError(line + 1, "is not UTF-8 text");
      }
      text = rest + text;
      let start = 0;
      for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", start)) {
        line++;
        yield text.slice(start, end);
        start = end + 1;
      }
      rest = text.slice(start);
      if (n === null) break;
    }
    if (rest !== "") yield rest;
  } finally {
    file.close();
  }
}

/**
 * The JSON values of a JSON Lines file, one per line, read a chunk at a time.
 *
 * @param path The file.
 * @param chunk Bytes read at a time.
 * @param range Read only these bytes of the file.
 * @throws {JsonlLineError} When a line is not JSON or the file is not UTF-8.
 */
export async function* readJsonl(
  path: string,
  chunk = READ_CHUNK,
  range?: ByteRange,
): AsyncGenerator<unknown> {
  let line = 0;
  for await (const text of readLines(path, chunk, range)) {
    line++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new JsonlLineError(line, "is not JSON");
    }
    yield value;
  }
}
