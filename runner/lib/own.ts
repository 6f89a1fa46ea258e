/**
 * Names a user (or a stage) gives, looked up in plain objects as own properties only: a name
 * such as `constructor`, `toString` or `__proto__` must not find what every object inherits
 * from `Object.prototype`, nor set a prototype when it is written.
 *
 * @module
 */

/** The value of `record`'s own property `name`, or undefined (inherited ones do not count). */
export function own<T>(record: Readonly<Record<string, T>>, name: string): T | undefined {
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

/** Whether `value` is an object that names can be looked up in (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/**
 * Sets `value` at a dotted config path of `doc` (`stages.train.with.epochs`), making the
 * objects on the way as own properties: `__proto__` becomes a key like any other, and never
 * reaches a prototype.
 */
export function setOwnPath(doc: Record<string, unknown>, parts: string[], value: unknown): void {
  const define = (node: Record<string, unknown>, key: string, v: unknown) =>
    Object.defineProperty(node, key, {
      value: v,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  let node = doc;
  for (const part of parts.slice(0, -1)) {
    const next = own(node, part);
    if (isRecord(next)) {
      node = next;
    } else {
      const made: Record<string, unknown> = {};
      define(node, part, made);
      node = made;
    }
  }
  define(node, parts[parts.length - 1]!, value);
}
