/**
 * The path helpers the engine uses (POSIX semantics, as `node:path`'s `posix`), written here so
 * that a cached run imports no `node:` module: the first `node:` import starts Deno's Node
 * compatibility layer, which costs a no-op rerun 10 to 25 ms on the 2-core build machine (half
 * of `deno run hello.ts`). Every path the engine builds joins its parts with `/`.
 *
 * @module
 */

/** The path separator. */
export const sep = "/";

/** Whether a path is absolute. */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/** `.` and `..` resolved, repeated and trailing slashes dropped (`""` stays `"."`). */
export function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part !== "..") parts.push(part);
    else if (parts.length && parts[parts.length - 1] !== "..") parts.pop();
    else if (!absolute) parts.push("..");
  }
  const joined = parts.join("/");
  return absolute ? `/${joined}` : joined || ".";
}

/** An absolute path: the parts from the last absolute one on, against the working directory. */
export function resolve(...paths: string[]): string {
  let path = "";
  for (let i = paths.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    const part = paths[i]!;
    if (part) path = path ? `${part}/${path}` : part;
  }
  return normalize(path.startsWith("/") ? path : `${Deno.cwd()}/${path}`);
}

/** The parts joined with `/` and normalised. */
export function join(...paths: string[]): string {
  const joined = paths.filter((p) => p !== "").join("/");
  return joined ? normalize(joined) : ".";
}

/** The directory part of a path (`.` when there is none), as `node:path` has it. */
export function dirname(path: string): string {
  if (path === "") return ".";
  // The last slash before the last name (trailing slashes are not a name); index 0 is the root.
  let end = -1;
  let named = false;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] !== "/") named = true;
    else if (named) {
      end = i;
      break;
    }
  }
  if (end === -1) return path.startsWith("/") ? "/" : ".";
  return path.startsWith("/") && end === 1 ? "//" : path.slice(0, end);
}

/** The last part of a path. */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** The path from `from` to `to` (both resolved first); `""` when they are the same. */
export function relative(from: string, to: string): string {
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let common = 0;
  while (common < a.length && common < b.length && a[common] === b[common]) common++;
  return [...a.slice(common).map(() => ".."), ...b.slice(common)].join("/");
}

/** The path of a `file:` URL. */
export function fileURLToPath(url: string | URL): string {
  const parsed = typeof url === "string" ? new URL(url) : url;
  if (parsed.protocol !== "file:") throw new TypeError(`The URL must be of scheme file: ${url}`);
  if (parsed.hostname !== "" && parsed.hostname !== "localhost") {
    throw new TypeError(`File URL host must be "localhost" or empty: ${url}`);
  }
  if (/%2f/i.test(parsed.pathname)) {
    throw new TypeError(`File URL path must not include encoded / characters: ${url}`);
  }
  return decodeURIComponent(parsed.pathname);
}

/** The `file:` URL of a path (resolved first), with `%`, `\`, `#`, `?` and controls escaped. */
export function pathToFileURL(path: string): URL {
  let absolute = resolve(path);
  if (path.endsWith("/") && absolute !== "/") absolute += "/";
  const url = new URL("file:///");
  url.pathname = absolute
    .replaceAll("%", "%25")
    .replaceAll("\\", "%5C")
    .replaceAll("\n", "%0A")
    .replaceAll("\r", "%0D")
    .replaceAll("\t", "%09");
  return url;
}
