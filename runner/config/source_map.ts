/**
 * Where every key and value of a pipeline file is written, by config path
 * (`stages.train.with.epochs`), so that a diagnostic names `file:line:col`.
 *
 * @module
 */

/** A 1-based position in a file. */
export interface Position {
  line: number;
  column: number;
}

/** Positions of keys and values by config path (`stages.train.with.epochs`). */
export class SourceMap {
  readonly file: string;
  readonly #keys = new Map<string, Position>();
  readonly #values = new Map<string, Position>();

  constructor(file: string) {
    this.file = file;
  }

  /** @internal */
  set(path: string, key: Position | undefined, value: Position | undefined): void {
    if (key) this.#keys.set(path, key);
    if (value) this.#values.set(path, value);
  }

  /** Where the key of `path` is written, falling back to its value, then to its parent. */
  key(path: string): Position {
    return this.#keys.get(path) ?? this.#values.get(path) ?? this.#parent(path, true);
  }

  /** Where the value of `path` is written, falling back to its key, then to its parent. */
  value(path: string): Position {
    return this.#values.get(path) ?? this.#keys.get(path) ?? this.#parent(path, false);
  }

  /** Whether the file wrote this path (false for values set on the command line). */
  has(path: string): boolean {
    return this.#keys.has(path) || this.#values.has(path);
  }

  #parent(path: string, key: boolean): Position {
    const cut = path.lastIndexOf(".");
    if (cut < 0) return { line: 1, column: 1 };
    const parent = path.slice(0, cut);
    return key ? this.key(parent) : this.value(parent);
  }
}
