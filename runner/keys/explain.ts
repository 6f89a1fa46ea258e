/**
 * Why a stage's key differs from its last run's, in words (`status`, `--dry-run`, the `running`
 * line): a parameter, a code file, a package, an input, the engine's key version.
 *
 * @module
 */

import { stableJson } from "../lib/digest.ts";
import type { KeyParts } from "./stage_key.ts";

/** Reasons a stage's key differs from its last run. */
export function explainChange(
  now: KeyParts,
  last: KeyParts | undefined,
): string[] {
  if (!last) return ["never run"];
  const reasons: string[] = [];
  if (now.engine !== last.engine) {
    reasons.push(
      `engine key format changed (${last.engine ? `v${last.engine}` : "before v1"} -> ` +
        `v${now.engine})`,
    );
  }
  if (now.kind !== last.kind || now.version !== last.version) {
    reasons.push(
      `stage kind changed (${last.kind} v${last.version} -> ${now.kind} v${now.version})`,
    );
  }
  const nowParams = (now.params ?? {}) as Record<string, unknown>;
  const lastParams = (last.params ?? {}) as Record<string, unknown>;
  for (const key of new Set([...Object.keys(nowParams), ...Object.keys(lastParams)])) {
    const a = stableJson(lastParams[key]);
    const b = stableJson(nowParams[key]);
    if (a !== b) reasons.push(`parameter "${key}" changed (${a ?? "unset"} -> ${b ?? "unset"})`);
  }
  for (const file of new Set([...Object.keys(now.code), ...Object.keys(last.code ?? {})])) {
    if (now.code[file] !== last.code?.[file]) reasons.push(`code changed: ${file}`);
  }
  // Before engine key v1 packages were not keyed: the engine line above says so.
  const lastPackages = last.engine ? last.packages ?? {} : now.packages;
  for (const name of new Set([...Object.keys(now.packages), ...Object.keys(lastPackages)])) {
    const change = packageChange(name, lastPackages[name], now.packages[name]);
    if (change) reasons.push(change);
  }
  for (const name of new Set([...Object.keys(now.inputs), ...Object.keys(last.inputs)])) {
    if (now.inputs[name] !== last.inputs[name]) reasons.push(`input "${name}" changed`);
  }
  for (const name of new Set([...Object.keys(now.files), ...Object.keys(last.files)])) {
    if (now.files[name] !== last.files[name]) reasons.push(`file of parameter "${name}" changed`);
  }
  return reasons.length ? reasons : ["cached result missing or damaged"];
}

/** `npm package yaml changed (2.9.1 -> 2.9.2)`, or undefined when it did not change. */
function packageChange(
  name: string,
  was: string | undefined,
  is: string | undefined,
): string | undefined {
  if (was === is) return undefined;
  const what = name.startsWith("jsr:") ? `jsr package ${name.slice(4)}` : `npm package ${name}`;
  // `4.22.0 sha512-…, 5.0.0 sha512-…` -> `4.22.0, 5.0.0` (peer suffixes left out).
  const versions = (v: string) =>
    v.split(", ").map((p) => p.split(" ")[0]!.split("_")[0]!).join(", ");
  if (was === undefined) return `${what} added (${versions(is!)})`;
  if (is === undefined) return `${what} removed (was ${versions(was)})`;
  const a = versions(was);
  const b = versions(is);
  if (a !== b) return `${what} changed (${a} -> ${b})`;
  const integrity = (v: string) => v.split(", ").map((p) => p.split(" ")[1] ?? "none").join(", ");
  return `${what} changed (${a}, integrity ${integrity(was)} -> ${integrity(is)})`;
}
