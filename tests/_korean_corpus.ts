/**
 * A generated Korean corpus for tests, in KLUE's character-BIO format: names, places and
 * organisations with the particles Korean writes onto them (`서울에서`, `김철수는`), from our
 * own templates and name lists and a seeded generator. Nothing in it is real.
 *
 * @module
 */

import { mulberry32 } from "../ner/random.ts";

const PS = [
  "김철수",
  "이영희",
  "박민준",
  "최지우",
  "정하늘",
  "강서연",
  "윤도현",
  "한지민",
  "유리",
  "하나",
  "남궁민수",
  "제갈공명",
  "황보영진",
];
const LC = ["서울", "부산", "대구", "인천", "광주", "제주", "울산", "수원", "강릉", "전주"];
const OG = ["삼성전자", "현대자동차", "국립중앙박물관", "한국은행", "서울시청", "기아"];

/** Topic particle 은/는, subject 이/가, object 을/를: chosen by the final syllable's coda. */
function particle(word: string, withCoda: string, without: string): string {
  const code = word.charCodeAt(word.length - 1) - 0xac00;
  return code >= 0 && code < 11172 && code % 28 !== 0 ? withCoda : without;
}

type Part = string | { text: string; label: string };

const TEMPLATES: ((pick: (xs: string[]) => string) => Part[])[] = [
  (pick) => {
    const ps = pick(PS), lc = pick(LC);
    return [
      { text: ps, label: "PS" },
      `${particle(ps, "은", "는")} `,
      { text: lc, label: "LC" },
      "에서 태어났다.",
    ];
  },
  (pick) => {
    const ps = pick(PS), og = pick(OG);
    return [
      { text: ps, label: "PS" },
      `${particle(ps, "이", "가")} `,
      { text: og, label: "OG" },
      "에 들어갔다.",
    ];
  },
  (pick) => {
    const lc = pick(LC), og = pick(OG);
    return [
      { text: lc, label: "LC" },
      "의 ",
      { text: og, label: "OG" },
      `${particle(og, "은", "는")} 새 건물을 지었다.`,
    ];
  },
  (pick) => {
    const ps = pick(PS), lc = pick(LC);
    return ["어제 ", { text: ps, label: "PS" }, `${particle(ps, "을", "를")} `, {
      text: lc,
      label: "LC",
    }, "에서 만났다."];
  },
  (pick) => {
    const lc = pick(LC);
    return ["그는 ", { text: lc, label: "LC" }, "으로 떠났다."];
  },
  (pick) => {
    const og = pick(OG), lc = pick(LC);
    return ["지난해 ", { text: og, label: "OG" }, `${particle(og, "이", "가")} `, {
      text: lc,
      label: "LC",
    }, "에 공장을 세웠다."];
  },
];

/**
 * Writes `n` sentences in KLUE's format.
 *
 * @param n Sentences.
 * @param seed Generator seed.
 * @returns The file's text.
 */
export function koreanKlueCorpus(n: number, seed: number): string {
  const rand = mulberry32(seed);
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)]!;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const parts = TEMPLATES[Math.floor(rand() * TEMPLATES.length)]!(pick);
    const inline = parts.map((p) => typeof p === "string" ? p : `<${p.text}:${p.label}>`).join("");
    out.push(`## gen-${seed}-${i}\t${inline}`);
    for (const p of parts) {
      const text = typeof p === "string" ? p : p.text;
      [...text].forEach((c, k) => {
        const tag = typeof p === "string" ? "O" : `${k === 0 ? "B" : "I"}-${p.label}`;
        out.push(`${c}\t${tag}`);
      });
    }
    out.push("");
  }
  return out.join("\n") + "\n";
}
