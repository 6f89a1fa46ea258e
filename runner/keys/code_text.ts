/**
 * The text a code file is hashed by: scripts with comments and layout taken out (editing a
 * comment reruns nothing), JSON re-serialised. {@link normalizeScript} is one cohesive
 * algorithm, a JavaScript/TypeScript tokenizer that keeps strings, templates and regular
 * expressions as written; it is the bulk of this file, and it stays whole.
 *
 * @module
 */

const LINE_BREAK = /[\n\r\u2028\u2029]/;

/** Words after which a `/` starts a regular expression rather than a division. */
const BEFORE_EXPRESSION = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/** Keywords whose parenthesised head may be followed by a statement starting with a regex. */
const HEAD_KEYWORDS = new Set(["if", "while", "for", "with"]);

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 ||
    c === 36 || c === 92 || c >= 128;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 11 || c === 12 || c === 0xa0 || c === 0xfeff ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x202f || c === 0x205f || c === 0x3000 ||
    c === 0x1680;
}

function isBreak(c: number): boolean {
  return c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
}

/**
 * JavaScript or TypeScript source with its comments removed and its layout reduced to what can
 * change the meaning: every run of whitespace and comments becomes one newline if it holds a
 * line break (automatic semicolon insertion depends on those), otherwise one space. Tokens are
 * kept as written, so two texts that differ in anything but comments, indentation, blank lines
 * and trailing spaces normalise differently.
 *
 * Strings, template literals (with nested `${}`) and regex literals are copied verbatim. Whether
 * a `/` starts a regex is decided from the token before it, as JavaScript tokenizers that have
 * no parser do (after `)` only when it closes the head of `if`/`while`/`for`/`with`; after `}`
 * always). Anything the scanner does not expect (an unterminated string, comment, template or
 * regex) gives `null`: hash the raw text then.
 *
 * @param text The source.
 * @returns The normalised source, or `null` when it could not be scanned with certainty.
 */
export function normalizeScript(text: string): string | null {
  const out: string[] = [];
  const n = text.length;
  let i = 0;
  // Pending separator: 0 none, 1 a space, 2 a line break.
  let gap = 0;
  // Whether a `/` here would start a regex.
  let regexOk = true;
  // The previous token was `.` or `?.` or `#` (so a word after it is a property name).
  let afterDot = false;
  let lastWord = "";
  let braces = 0;
  const templates: number[] = [];
  const parens: boolean[] = [];
  const emit = (start: number, end: number) => {
    if (gap && out.length) out.push(gap === 2 ? "\n" : " ");
    gap = 0;
    out.push(text.slice(start, end));
  };
  /** Scans template characters from `j` (after `` ` `` or `}`); returns the end index, or -1. */
  const template = (j: number): number => {
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 92) j += 2;
      else if (c === 96) return j + 1;
      else if (c === 36 && text.charCodeAt(j + 1) === 123) {
        templates.push(braces);
        braces++;
        return j + 2;
      } else j++;
    }
    return -1;
  };
  /**
   * Takes a template's text from `start` (a backtick, or the `}` closing a `${`) to the next
   * `${` or closing backtick; false when the text ends first.
   */
  const templateText = (start: number): boolean => {
    const end = template(start + 1);
    if (end < 0) return false;
    i = end;
    emit(start, i);
    // After `${` an expression follows; after the closing backtick, an operator.
    regexOk = text.charCodeAt(i - 1) !== 96;
    afterDot = false;
    lastWord = "";
    return true;
  };
  if (text.startsWith("#!")) {
    const end = text.search(LINE_BREAK);
    i = end < 0 ? n : end;
    emit(0, i);
  }
  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      if (!gap) gap = 1;
      i++;
      continue;
    }
    if (isBreak(c)) {
      gap = 2;
      i++;
      continue;
    }
    const start = i;
    if (c === 47) {
      const next = text.charCodeAt(i + 1);
      if (next === 47) {
        while (i < n && !isBreak(text.charCodeAt(i))) i++;
        if (!gap) gap = 1;
        continue;
      }
      if (next === 42) {
        const end = text.indexOf("*/", i + 2);
        if (end < 0) return null;
        if (LINE_BREAK.test(text.slice(i + 2, end))) gap = 2;
        else if (!gap) gap = 1;
        i = end + 2;
        continue;
      }
      if (regexOk) {
        i++;
        let inClass = false;
        for (;;) {
          if (i >= n) return null;
          const r = text.charCodeAt(i);
          if (isBreak(r)) return null;
          if (r === 92) {
            if (i + 1 >= n || isBreak(text.charCodeAt(i + 1))) return null;
            i += 2;
            continue;
          }
          i++;
          if (r === 91) inClass = true;
          else if (r === 93) inClass = false;
          else if (r === 47 && !inClass) break;
        }
        while (i < n && isWordChar(text.charCodeAt(i))) i++;
        emit(start, i);
        regexOk = false;
        afterDot = false;
        lastWord = "";
        continue;
      }
      i += next === 61 ? 2 : 1;
      emit(start, i);
      regexOk = true;
      afterDot = false;
      continue;
    }
    if (c === 34 || c === 39) {
      i++;
      for (;;) {
        if (i >= n) return null;
        const s = text.charCodeAt(i);
        if (s === 92) {
          // An escaped CRLF is one line continuation.
          i += text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10 ? 3 : 2;
          continue;
        }
        if (s === 10 || s === 13) return null;
        i++;
        if (s === c) break;
      }
      emit(start, i);
      regexOk = false;
      afterDot = false;
      lastWord = "";
      continue;
    }
    if (c === 96) {
      if (!templateText(start)) return null;
      continue;
    }
    if (isWordChar(c)) {
      // A number takes its dots (`1.5`, `1.`), so that `1./2` divides.
      const number = c >= 48 && c <= 57;
      while (i < n && (isWordChar(text.charCodeAt(i)) || (number && text.charCodeAt(i) === 46))) {
        i++;
      }
      emit(start, i);
      const word = text.slice(start, i);
      regexOk = !afterDot && BEFORE_EXPRESSION.has(word);
      lastWord = afterDot ? "" : word;
      afterDot = false;
      continue;
    }
    // Punctuation, one character at a time (`++` and `--` as one).
    if (c === 125 && templates.length && templates[templates.length - 1] === braces - 1) {
      templates.pop();
      braces--;
      if (!templateText(start)) return null;
      continue;
    }
    i++;
    if ((c === 43 || c === 45) && text.charCodeAt(i) === c) i++;
    emit(start, i);
    const double = i - start === 2;
    if (c === 40) parens.push(HEAD_KEYWORDS.has(lastWord));
    if (c === 123) braces++;
    if (c === 125) braces--;
    // `x! / 2`: a `!` right after a value is TypeScript's non-null assertion, not a negation.
    if (c === 33 && text.charCodeAt(i) !== 61) {
      afterDot = false;
      lastWord = "";
      continue;
    }
    regexOk = double ? false : c === 41 ? parens.pop() ?? false : c !== 93;
    afterDot = c === 46 || c === 35;
    lastWord = "";
  }
  if (templates.length) return null;
  return out.join("");
}

/** JSON text re-serialised without layout, or `null` when it does not parse. */
export function normalizeJson(text: string): string | null {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return null;
  }
}

/**
 * The text a code file is hashed by: for scripts, {@link normalizeScript}; for `.json`,
 * {@link normalizeJson}; for anything else (or a script the scanner is not sure of), the file
 * itself. Each form is tagged, so two forms never hash alike.
 *
 * @param path The file's path (its extension decides).
 * @param bytes Its content.
 */
export function codeText(path: string, bytes: Uint8Array): string | Uint8Array {
  const script = /\.[cm]?[jt]s$/.test(path);
  const json = /\.json$/.test(path);
  if (!script && !json) return bytes;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bytes;
  }
  const normal = script ? normalizeScript(text) : normalizeJson(text);
  return normal === null ? bytes : `${script ? "script" : "json"}\n${normal}`;
}
