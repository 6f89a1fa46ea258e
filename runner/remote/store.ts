/**
 * What a remote cache is kept on, whatever its scheme: a {@link RemoteStore} of objects by name,
 * read as they come and written whole; and what a scheme is ({@link Scheme}): how a URL of it is
 * parsed and how its store is opened. The schemes are registered in schemes.ts.
 *
 * @module
 */

/** The remote could not be used: unreachable, too slow, refused, or misconfigured. */
export class RemoteFailure extends Error {
  /** How to fix it. */
  readonly hint: string;
  /**
   * @param message What went wrong (holds no credential).
   * @param hint How to fix it.
   */
  constructor(message: string, hint: string) {
    super(message);
    this.name = "RemoteFailure";
    this.hint = hint;
  }
}

/**
 * An answer longer than the caller would read: the size a run record declares for an object,
 * or a fixed bound for records and listings. Nothing past the bound was read.
 */
export class ObjectTooLarge extends Error {
  /** The bound, in bytes. */
  readonly limit: number;
  /** The length the server declared (`Content-Length`), when it declared one over the bound. */
  readonly declared: number | undefined;
  /**
   * @param limit The bound, in bytes.
   * @param declared The length the server declared, when over the bound.
   */
  constructor(limit: number, declared?: number) {
    super(
      declared === undefined
        ? `it is longer than the ${limit} bytes expected`
        : `the server declares ${declared} bytes, more than the ${limit} expected`,
    );
    this.name = "ObjectTooLarge";
    this.limit = limit;
    this.declared = declared;
  }
}

/** A remote's objects: what a client of S3, or a directory, must do. */
export interface RemoteStore {
  /** Where it is, for messages (never with credentials). */
  readonly where: string;
  /**
   * Reads an object as it comes, giving each chunk to `sink` (which may keep it): the bytes
   * read, or undefined when there is no such object.
   *
   * @throws {ObjectTooLarge} Past `limit` bytes (nothing more is read).
   */
  read(
    key: string,
    limit: number,
    sink: (chunk: Uint8Array) => Promise<void>,
  ): Promise<number | undefined>;
  has(key: string): Promise<boolean>;
  put(key: string, body: Uint8Array, sha256?: string): Promise<void>;
  /**
   * Writes an object only where there is none; false when one is there (a run record that
   * another clone pushed first is never replaced).
   */
  create(key: string, body: Uint8Array): Promise<boolean>;
  scrub(text: string): string;
}

/** Why a remote location was refused, and how to fix it (neither repeats the value). */
export interface RemoteProblem {
  problem: string;
  hint: string;
}

/** A remote location, parsed: what it shows, and how its store is opened. */
export interface ParsedRemote {
  /** The remote as shown in messages (`s3://bucket/prefix`, `file:///dir`): no credentials. */
  display: string;
  /**
   * Opens its store (importing its client, if any, only then).
   *
   * @param env The environment (credentials and servers, such as the AWS variables).
   * @throws {RemoteFailure} When it is misconfigured (its run then warns once, or fails under
   *   `--require-remote`).
   */
  open(env: (name: string) => string | undefined): Promise<RemoteStore>;
}

/**
 * A scheme of remote locations (`s3://`, `file://`): one module exporting one, and one line in
 * schemes.ts. Its module is imported whenever a pipeline is checked, so it stays small: a heavy
 * client is imported by {@link ParsedRemote.open}.
 */
export interface Scheme {
  /** The URL prefix, e.g. `s3://`. */
  readonly prefix: string;
  /** How a location is written, for hints: `s3://<bucket>/<prefix> (credentials in ...)`. */
  readonly example: string;
  /**
   * Parses a location of this scheme. Messages never repeat the value: a mistaken one may hold
   * a secret (`s3://KEY:SECRET@bucket`).
   */
  parse(url: string): ParsedRemote | RemoteProblem;
}
