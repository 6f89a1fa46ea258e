/**
 * Generates the SYNTHETIC sample NER corpus in `data/sample/`.
 *
 * Every sentence here is made up: templates and name lists were written for this project, and
 * the fillers are drawn by a seeded PRNG (mulberry32), so the output is identical on every run.
 * Names are invented combinations or well-known public places and organisations; no sentence
 * describes a real event.
 *
 * The corpus mixes Korean and English sentences with the entity types PS (person), LC
 * (location), OG (organization), DT (date), TI (time) and QT (quantity). About 20% of the
 * person, location and organisation name parts are held out of the training split; each name
 * slot of a validation sentence draws from that held-out part with probability
 * `VALIDATION_HELD_SHARE` (0.1), so validation is mostly new combinations of known names and
 * templates, with some generalisation to unseen names.
 *
 * Writes, relative to this file:
 * - `sample/train.txt`, `sample/validation.txt`: KMOU format (`; raw`, `$tagged`, blank line)
 * - `sample/conll/train.txt`, `sample/conll/validation.txt`: the same sentences as CoNLL,
 *   `token TAG` per line, tokens split on spaces, a token tagged with the entity it overlaps
 *
 * Run: `deno run --allow-write data/generate_sample.ts`
 *
 * @module
 */

import { mulberry32 } from "../ner/random.ts";

/** An entity in a generated sentence: a half-open UTF-16 span with its type. */
export interface SampleEntity {
  start: number;
  end: number;
  label: string;
}

/** One generated sentence. */
export interface SampleSentence {
  lang: "ko" | "en";
  /** The plain sentence. */
  text: string;
  /** Entities in text order; no two entities share a whitespace-separated token. */
  entities: SampleEntity[];
}

/** Both splits of the sample corpus. */
export interface SampleCorpus {
  train: SampleSentence[];
  validation: SampleSentence[];
}

/** How many sentences each split gets, and the seed. */
export const SAMPLE_CONFIG = { seed: 20240611, train: 3000, validation: 500 } as const;

/** The files the generator writes, relative to this module. */
export const SAMPLE_FILES = {
  kmouTrain: "sample/train.txt",
  kmouValidation: "sample/validation.txt",
  conllTrain: "sample/conll/train.txt",
  conllValidation: "sample/conll/validation.txt",
} as const;

// ---------------------------------------------------------------------------------------------
// Random numbers

type Rng = () => number;

function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

function int(rng: Rng, low: number, high: number): number {
  return low + Math.floor(rng() * (high - low + 1));
}

/** Splits a list into about 80% for training and 20% held out, deterministically. */
function holdOut<T>(items: readonly T[], rng: Rng): { train: T[]; held: T[] } {
  const order = items.map((item) => ({ item, key: rng() }));
  order.sort((a, b) => a.key - b.key);
  const cut = Math.round(items.length * 0.2);
  return {
    held: order.slice(0, cut).map((o) => o.item),
    train: order.slice(cut).map((o) => o.item),
  };
}

// ---------------------------------------------------------------------------------------------
// Name lists (written for this project)

// deno-fmt-ignore
const KO_SURNAMES = [
  "김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황",
  "안", "송", "류", "홍", "전", "고", "문", "양", "손", "배", "백", "허", "유", "남", "심", "노",
  "하", "곽", "성", "차", "주", "우", "구", "민",
];

// deno-fmt-ignore
const KO_GIVEN = [
  "민준", "서연", "지훈", "하은", "도윤", "수아", "예준", "지우", "시우", "서윤", "주원", "하준",
  "지호", "지민", "현우", "은서", "준서", "채원", "건우", "지유", "우진", "수빈", "선우", "다은",
  "연우", "예린", "민재", "소율", "현준", "유진", "정우", "민서", "승우", "가은", "지환", "윤서",
  "승민", "하린", "재원", "세아", "태윤", "나연", "동현", "수진", "영호", "미경", "성민", "혜진",
  "상훈", "은지", "병철", "순자", "경수", "영숙", "재석", "보람", "한별", "슬기", "태호", "진아",
];

// deno-fmt-ignore
const EN_FIRST = [
  "James", "Mary", "Robert", "Linda", "Michael", "Sarah", "David", "Emily", "Daniel", "Laura",
  "Thomas", "Grace", "Andrew", "Olivia", "Peter", "Hannah", "Samuel", "Chloe", "Henry", "Alice",
  "Oliver", "Emma", "Lucas", "Sofia", "Ethan", "Mia", "Noah", "Ava", "Liam", "Isabella", "Jacob",
  "Zoe", "Nathan", "Ruth", "Victor", "Helen", "Simon", "Clara", "Martin", "Nora", "Arthur",
  "Julia", "Felix", "Ivy", "Oscar", "Maya", "Leo", "Elena", "Hugo", "Anna", "Marcus", "Priya",
  "Ahmed", "Fatima", "Kenji", "Yuki", "Carlos", "Lucia", "Tomas", "Ingrid",
];

// deno-fmt-ignore
const EN_LAST = [
  "Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Thomas", "Roberts",
  "Walker", "Wright", "Thompson", "White", "Hughes", "Edwards", "Green", "Hall", "Wood",
  "Harris", "Martin", "Jackson", "Clarke", "Turner", "Hill", "Cooper", "Ward", "Morris", "Moore",
  "Baker", "Carter", "Mitchell", "Parker", "Bennett", "Collins", "Stewart", "Morgan", "Bell",
  "Murphy", "Bailey", "Cox", "Richardson", "Howard", "Foster", "Gray", "Brooks", "Sanders",
  "Price", "Patel", "Nguyen", "Tanaka", "Garcia", "Rossi", "Novak", "Fischer", "Larsen",
  "Okafor", "Silva", "Kowalski", "Haddad", "Lindqvist",
];

// deno-fmt-ignore
const KO_CITIES = [
  "서울", "부산", "대구", "인천", "광주", "대전", "울산", "수원", "창원", "고양", "용인", "성남",
  "청주", "전주", "천안", "안산", "포항", "김해", "제주", "강릉", "춘천", "원주", "목포", "여수",
  "순천", "경주", "군산", "통영", "거제", "속초", "안동", "구미", "진주", "세종", "평택", "익산",
];

// deno-fmt-ignore
const KO_PLACES = [
  "미국", "일본", "중국", "프랑스", "독일", "영국", "캐나다", "호주", "베트남", "태국", "인도",
  "브라질", "이탈리아", "스페인", "러시아", "몽골", "뉴욕", "파리", "런던", "도쿄", "베이징",
  "오사카", "하노이", "방콕", "시드니", "한강", "설악산", "지리산", "한라산", "해운대", "독도",
  "울릉도", "강남역", "명동", "광화문", "동해", "남해", "낙동강", "경기도", "강원도", "전라남도",
  "경상북도", "충청북도", "제주도",
];

// deno-fmt-ignore
const EN_PLACES = [
  "London", "Paris", "Berlin", "Tokyo", "Osaka", "New York", "Los Angeles", "San Francisco",
  "Chicago", "Boston", "Seattle", "Toronto", "Vancouver", "Sydney", "Melbourne", "Dublin",
  "Madrid", "Barcelona", "Rome", "Milan", "Lisbon", "Vienna", "Prague", "Warsaw", "Athens",
  "Istanbul", "Cairo", "Nairobi", "Lagos", "Cape Town", "Mumbai", "New Delhi", "Singapore",
  "Seoul", "Busan", "Incheon", "Bangkok", "Hanoi", "Jakarta", "Manila", "Mexico City",
  "Buenos Aires", "Lima", "Santiago", "Rio de Janeiro", "Havana", "Oslo", "Stockholm",
  "Helsinki", "Copenhagen", "Amsterdam", "Brussels", "Geneva", "Zurich", "Hong Kong",
  "Shanghai", "Beijing", "Taipei", "Kyoto", "Honolulu", "Denver", "Houston", "Miami", "Atlanta",
  "Montreal", "Edinburgh", "Glasgow", "Manchester", "Jeju Island", "France", "Germany", "Japan",
  "Canada", "Brazil", "Kenya", "Norway", "Vietnam", "Australia", "Mexico", "Egypt", "Peru",
  "Spain", "Italy", "Greece", "India", "South Korea",
];

// deno-fmt-ignore
const KO_ORGS = [
  "삼성전자", "현대자동차", "LG화학", "SK텔레콤", "네이버", "카카오", "한국은행", "서울대학교",
  "연세대학교", "고려대학교", "한국해양대학교", "국립중앙박물관", "대한적십자사", "기상청",
  "국토교통부", "교육부", "보건복지부", "해양수산부", "한국전력", "포스코", "대한항공",
  "아시아나항공", "롯데마트", "이마트", "신한은행", "국민은행", "KBS", "MBC", "SBS",
  "한국개발연구원", "한국과학기술원", "경찰청", "국회", "대법원", "통계청", "한국관광공사",
  "한국철도공사", "쿠팡", "배달의민족", "유엔", "세계보건기구", "국제올림픽위원회",
  "한국수자원공사", "국립해양조사원", "해양경찰청", "한국소비자원", "대한축구협회",
];

// deno-fmt-ignore
const KO_ORG_STEMS = [
  "한빛", "새솔", "푸른바다", "누리", "동방", "해오름", "다온", "미래", "한결", "은하", "별빛",
  "초록", "가람", "새벽", "하늘", "바른", "온누리", "늘봄", "청해", "무지개",
];

// deno-fmt-ignore
const KO_ORG_SUFFIXES = [
  "전자", "건설", "해운", "제약", "식품", "은행", "항공", "물산", "증권", "통신", "조선", "화학",
];

/** Organisations built on a city name: `${city}${suffix}`. */
// deno-fmt-ignore
const KO_CITY_ORG_SUFFIXES = ["시청", "대학교", "지방법원", " 해양경찰서", " 시립미술관", "항만공사"];

// deno-fmt-ignore
const EN_ORGS = [
  "United Nations", "World Health Organization", "Red Cross", "Google", "Microsoft", "Apple",
  "Amazon", "Samsung Electronics", "Hyundai Motor", "Toyota", "Boeing", "Airbus", "Reuters",
  "BBC", "NASA", "Harvard University", "Oxford University", "Stanford University", "MIT",
  "World Bank", "European Central Bank", "Bank of Korea", "Korea Maritime and Ocean University",
  "Tesla", "Netflix", "Nike", "Siemens", "Nestle", "IKEA", "FIFA", "UNESCO", "Interpol",
  "General Electric", "Sony", "Nintendo", "Volvo", "Maersk", "Pfizer", "Greenpeace", "Unicef",
];

// deno-fmt-ignore
const EN_ORG_STEMS = [
  "Northwind", "Bluestone", "Redwood", "Silverline", "Greenfield", "Ironbridge", "Oakridge",
  "Starlight", "Riverside", "Summit", "Pinecrest", "Goldcoast", "Brightwave", "Clearwater",
  "Highland", "Seabird", "Falcon", "Crescent", "Evergreen", "Lighthouse", "Stonegate",
  "Westport", "Sunrise", "Blue Ocean", "Polaris", "Horizon",
];

// deno-fmt-ignore
const EN_ORG_SUFFIXES = [
  "Bank", "Airlines", "Motors", "Labs", "Group", "Foods", "Energy", "Systems", "Shipping",
  "Insurance", "Pharmaceuticals", "Media", "Logistics",
];

const EN_CITY_ORGS = ["University of {}", "{} City Council", "{} General Hospital", "Port of {}"];

// deno-fmt-ignore
const EN_MONTHS = [
  "January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December",
];
const EN_MONTHS_SHORT = ["Jan.", "Feb.", "Aug.", "Sept.", "Oct.", "Nov.", "Dec."];
const EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const KO_WEEKDAYS = ["월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"];

// ---------------------------------------------------------------------------------------------
// Templates. `{TYPE}` is an entity; `{TYPE.kind}` picks a kind of value; `{TYPE|은}` appends
// the Korean particle that fits the value's last syllable (은/는, 이/가, 을/를, 과/와, 으로/로,
// 이다/다).

const KO_TEMPLATES = [
  "{PS|은} {DT}에 {LC|으로} 출장을 떠났다.",
  "{OG|은} {DT} {LC}에 새 공장을 세운다고 밝혔다.",
  "{PS} 대표는 {TI}에 {OG} 본사에서 기자회견을 열었다.",
  "{LC}에서 {DT}부터 축제가 열린다.",
  "{OG} 소속 {PS} 연구원이 상을 받았다.",
  "{PS|이} {LC}에서 {QT.count|을} 팔았다.",
  "{DT} {TI} {LC} 일대에 많은 비가 내렸다.",
  "{OG|은} 매출이 {QT.pct} 늘었다고 발표했다.",
  "{PS} 씨는 매일 {TI}에 집 근처를 산책한다.",
  "{LC|과} {LC} 사이의 거리는 약 {QT.dist|이다}.",
  "경찰은 {DT} {TI}쯤 {LC}에서 사고가 났다고 전했다.",
  "{OG|은} {PS|을} 새 사장으로 임명했다.",
  "{PS|은} {LC} 출신의 배우다.",
  "{DT}에 열린 회의에는 {QT.people|이} 참석했다.",
  "{PS|과} {PS|은} {LC}에서 처음 만났다.",
  "{OG} 관계자는 {DT}까지 공사를 마칠 예정이라고 말했다.",
  "화물선 {QT.ships|이} {TI}에 {LC} 항구에 들어왔다.",
  "{LC} 날씨는 {DT}부터 맑아지겠다.",
  "{PS|은} {TI}에 {OG} 앞에서 {PS|을} 기다렸다.",
  "{OG|은} {LC}에 {QT.money|을} 투자하기로 했다.",
  "이번 행사에는 {LC}에서 온 {QT.people|이} 참가했다.",
  "{PS} 교수는 {OG}에서 해양학을 가르친다.",
  "{DT} {OG|은} {LC} 지점을 열었다.",
  "{PS|이} 쓴 책이 {QT.books} 넘게 팔렸다.",
  "{LC|으로} 가는 비행기는 {TI}에 출발한다.",
  "{OG|과} {OG|은} {DT}에 협약을 맺었다.",
  "{PS} 선수는 {DT} 경기에서 {QT.dist|을} 달렸다.",
  "{LC}의 인구는 {QT.people|이다}.",
  "{PS|은} {DT.ym} {LC}에서 태어났다.",
  "{TI}부터 {LC} 도심의 도로가 통제된다.",
  "{OG|은} 직원 {QT.people|을} 새로 뽑았다.",
  "{PS} 의원은 {DT} {OG|을} 방문했다.",
  "배는 {TI}에 {LC|을} 떠나 {LC|으로} 향했다.",
  "{PS|은} 시장에서 사과 {QT.count|을} 샀다.",
  "{OG} 연구팀은 {DT} 새로운 기술을 공개했다.",
  "{LC}에서 {LC}까지 고속도로는 {QT.dist|이다}.",
  "{PS} 감독의 영화가 {DT}에 개봉한다.",
  "{DT} {TI} 현재 {LC}의 기온은 {QT.temp|이다}.",
  "{OG|은} 트럭 {QT.vehicles|으로} 구호품을 {LC}에 보냈다.",
  "{PS|은} {DT.ym}부터 {OG}에서 근무하고 있다.",
  "{LC} 시민 {QT.people|이} {DT} 집회에 참여했다.",
  "{PS|과} 함께 {LC|을} 여행한 것은 {DT.ym|이다}.",
  "{OG|은} {TI}에 긴급 회의를 소집했다.",
  "회의는 {DT} {TI}에 {OG} 대회의실에서 열린다.",
  "{PS} 기자가 {LC} 현지에서 소식을 전했다.",
  "{LC} 앞바다에서 어선 {QT.ships|이} 조업 중이다.",
  '{PS|은} "{OG}에서 일하는 것이 꿈"이라고 말했다.',
  "{OG|은} {DT.ym} 기준으로 {QT.pct} 성장했다.",
  "{PS} 박사 연구팀은 {LC}에서 {QT.weight}의 화석을 발견했다.",
  "신임 대표에 {PS}",
  "{QT.people|이} {DT} {LC} 마라톤 대회에 나섰다.",
  "{PS|은} {OG} 주식을 {QT.money}어치 샀다.",
];

const EN_TEMPLATES = [
  "{PS} flew to {LC} on {DT}.",
  "{OG} will open a new office in {LC}.",
  "{PS}, the chief executive of {OG}, spoke at {TI}.",
  "The festival in {LC} starts on {DT}.",
  "{PS} works as a researcher at {OG}.",
  "Police said the accident happened near {LC} at {TI} on {DT}.",
  "{OG} reported that sales rose {QT.pct} after the merger.",
  "The distance between {LC} and {LC} is about {QT.dist}.",
  "{OG} appointed {PS} as its new president.",
  "{PS} was born in {LC} on {DT}.",
  "More than {QT.people} attended the meeting on {DT}.",
  "{PS} and {PS} first met in {LC}.",
  "A spokesperson for {OG} said the work will finish by {DT}.",
  "The cargo ship carrying {QT.weight} of grain reached {LC} at {TI}.",
  "{OG} plans to invest {QT.money} in {LC}.",
  "Professor {PS} teaches marine biology at {OG}.",
  "The flight to {LC} leaves at {TI}.",
  "{OG} and {OG} signed an agreement on {DT}.",
  "{PS} ran {QT.dist} in the race on {DT}.",
  "The population of {LC} is {QT.people}.",
  "Roads in central {LC} will be closed from {TI}.",
  "{OG} hired {QT.people} for its new factory in {LC}.",
  "Senator {PS} visited {OG} on {DT}.",
  "The ship left {LC} at {TI} and sailed to {LC}.",
  "{PS} bought {QT.count} at the market in {LC}.",
  "Researchers at {OG} unveiled the new engine on {DT}.",
  "The highway from {LC} to {LC} is {QT.dist} long.",
  "A film by director {PS} opens on {DT}.",
  "At {TI} on {DT}, the temperature in {LC} was {QT.temp}.",
  "{OG} sent {QT.vehicles} of relief supplies to {LC}.",
  "{PS} has worked at {OG} since {DT.ym}.",
  "About {QT.people} from {LC} joined the rally on {DT}.",
  "{OG} called an emergency meeting at {TI}.",
  "The meeting will be held at {OG} headquarters at {TI} on {DT}.",
  "Reporter {PS} is covering the story from {LC}.",
  "{QT.ships} were fishing off the coast of {LC}.",
  '"I always wanted to work at {OG}," said {PS}.',
  "{OG} grew {QT.pct} in {DT.ym}.",
  "{PS} and her team found {QT.weight} of fossils in {LC}.",
  "{PS} will give a lecture at {OG} at {TI}.",
  "On {DT}, {PS} arrived in {LC} with {QT.people}.",
  "{PS} moved from {LC} to {LC} in {DT.ym}.",
  "Tickets for the concert in {LC} sold out by {TI}.",
  "{OG} shares fell {QT.pct} on {DT}.",
  "The train from {LC} arrives at {TI}.",
  "{PS} told {OG} that the project would cost {QT.money}.",
  "New president named at {OG}: {PS}",
  "{PS} sold {QT.books} of her first novel.",
  "Mr. {PS.last} met officials from {OG} in {LC}.",
  "Heavy rain fell on {LC} from {TI} until {TI}.",
];

// ---------------------------------------------------------------------------------------------
// Fillers

interface Pools {
  koGiven: string[];
  enLast: string[];
  koCities: string[];
  koPlaces: string[];
  enPlaces: string[];
  koOrgs: string[];
  koOrgStems: string[];
  enOrgs: string[];
  enOrgStems: string[];
}

function makePools(rng: Rng): { train: Pools; held: Pools } {
  const lists = {
    koGiven: KO_GIVEN,
    enLast: EN_LAST,
    koCities: KO_CITIES,
    koPlaces: KO_PLACES,
    enPlaces: EN_PLACES,
    koOrgs: KO_ORGS,
    koOrgStems: KO_ORG_STEMS,
    enOrgs: EN_ORGS,
    enOrgStems: EN_ORG_STEMS,
  };
  const train = {} as Pools;
  const held = {} as Pools;
  for (const key of Object.keys(lists) as (keyof Pools)[]) {
    const split = holdOut(lists[key], rng);
    train[key] = split.train;
    held[key] = split.held;
  }
  return { train, held };
}

function person(rng: Rng, lang: "ko" | "en", pools: Pools, kind: string | undefined): string {
  if (lang === "ko") return pick(rng, KO_SURNAMES) + pick(rng, pools.koGiven);
  const last = pick(rng, pools.enLast);
  return kind === "last" ? last : `${pick(rng, EN_FIRST)} ${last}`;
}

function location(rng: Rng, lang: "ko" | "en", pools: Pools): string {
  if (lang === "en") return pick(rng, pools.enPlaces);
  return rng() < 0.5 ? pick(rng, pools.koCities) : pick(rng, pools.koPlaces);
}

function organization(rng: Rng, lang: "ko" | "en", pools: Pools): string {
  const r = rng();
  if (lang === "ko") {
    if (r < 0.45) return pick(rng, pools.koOrgs);
    if (r < 0.75) return pick(rng, pools.koOrgStems) + pick(rng, KO_ORG_SUFFIXES);
    return pick(rng, pools.koCities) + pick(rng, KO_CITY_ORG_SUFFIXES);
  }
  if (r < 0.45) return pick(rng, pools.enOrgs);
  if (r < 0.75) return `${pick(rng, pools.enOrgStems)} ${pick(rng, EN_ORG_SUFFIXES)}`;
  const city = pick(rng, pools.enPlaces.filter((place) => !place.includes(" ")));
  return pick(rng, EN_CITY_ORGS).replace("{}", city);
}

function date(rng: Rng, lang: "ko" | "en", kind: string | undefined): string {
  const y = int(rng, 1985, 2025);
  const m = int(rng, 1, 12);
  const d = int(rng, 1, 28);
  const r = rng();
  if (lang === "ko") {
    if (kind === "ym") return r < 0.6 ? `${y}년 ${m}월` : `${y}년`;
    if (r < 0.4) return `${y}년 ${m}월 ${d}일`;
    if (r < 0.7) return `${m}월 ${d}일`;
    if (r < 0.85) return `${y}년 ${m}월`;
    return pick(rng, KO_WEEKDAYS);
  }
  const month = EN_MONTHS[m - 1]!;
  if (kind === "ym") return r < 0.6 ? `${month} ${y}` : `${y}`;
  if (r < 0.35) return `${month} ${d}, ${y}`;
  if (r < 0.5) return `${d} ${month} ${y}`;
  if (r < 0.7) return `${month} ${d}`;
  if (r < 0.8) return `${pick(rng, EN_MONTHS_SHORT)} ${d}`;
  return pick(rng, EN_WEEKDAYS);
}

function time(rng: Rng, lang: "ko" | "en"): string {
  const h = int(rng, 1, 12);
  const minute = pick(rng, ["00", "10", "15", "20", "30", "40", "45", "50"]);
  const r = rng();
  if (lang === "ko") {
    const part = pick(rng, ["오전", "오후", "새벽", "저녁", "밤"]);
    if (r < 0.4) return `${part} ${h}시`;
    if (r < 0.65) return `${part} ${h}시 ${Number(minute)}분`;
    if (r < 0.8) return `${int(rng, 13, 23)}시 ${Number(minute)}분`;
    if (r < 0.93) return `${part} ${h}시 반`;
    return pick(rng, ["정오", "자정"]);
  }
  const half = pick(rng, ["a.m.", "p.m."]);
  if (r < 0.4) return `${h} ${half}`;
  if (r < 0.65) return `${h}:${minute} ${half}`;
  if (r < 0.8) return `${int(rng, 13, 23)}:${minute}`;
  if (r < 0.92) return `${h} o'clock`;
  return pick(rng, ["noon", "midnight"]);
}

function number(rng: Rng, low: number, high: number): string {
  return int(rng, low, high).toLocaleString("en-US");
}

function quantity(rng: Rng, lang: "ko" | "en", kind: string | undefined): string {
  const ko = lang === "ko";
  switch (kind) {
    case "count":
      return ko
        ? `${number(rng, 2, 500)}${pick(rng, ["개", "상자", "봉지"])}`
        : `${number(rng, 2, 500)} ${pick(rng, ["boxes", "bags", "apples", "items"])}`;
    case "pct":
      return ko
        ? `${int(rng, 1, 90)}${pick(rng, ["%", "퍼센트"])}`
        : `${int(rng, 1, 90)}${pick(rng, ["%", " percent"])}`;
    case "dist":
      return ko
        ? `${number(rng, 2, 900)}${pick(rng, ["킬로미터", "km", "미터"])}`
        : `${number(rng, 2, 900)} ${pick(rng, ["kilometers", "miles", "meters"])}`;
    case "people":
      return ko
        ? pick(rng, [`${number(rng, 2, 9000)}명`, `${int(rng, 2, 900)}만 명`])
        : pick(rng, [`${number(rng, 2, 9000)} people`, `${int(rng, 2, 9)} million people`]);
    case "ships":
      return ko ? `${int(rng, 2, 60)}척` : `${int(rng, 2, 60)} ships`;
    case "money":
      return ko
        ? pick(rng, [`${number(rng, 2, 9000)}만 원`, `${int(rng, 2, 900)}억 원`])
        : pick(rng, [`${int(rng, 2, 900)} million dollars`, `$${number(rng, 20, 90000)}`]);
    case "books":
      return ko ? `${int(rng, 2, 90)}만 권` : `${number(rng, 2000, 90000)} copies`;
    case "temp":
      return ko
        ? pick(rng, [`${int(rng, 2, 35)}도`, `영하 ${int(rng, 2, 15)}도`])
        : `${int(rng, 2, 35)} degrees`;
    case "weight":
      return ko
        ? `${number(rng, 2, 900)}${pick(rng, ["kg", "톤", "킬로그램"])}`
        : `${number(rng, 2, 900)} ${pick(rng, ["tons", "kilograms", "pounds"])}`;
    case "vehicles":
      return ko ? `${int(rng, 2, 90)}대` : `${int(rng, 2, 90)} truckloads`;
    default:
      throw new Error(`Unknown quantity kind "${kind}"`);
  }
}

// ---------------------------------------------------------------------------------------------
// Korean particles

const PARTICLES: Record<string, [string, string]> = {
  "은": ["은", "는"],
  "이": ["이", "가"],
  "을": ["을", "를"],
  "과": ["과", "와"],
  "으로": ["으로", "로"],
  "이다": ["이다", "다"],
};

/** The final consonant of how a word ends when read aloud: "none", "rieul" or "other". */
function ending(word: string): "none" | "rieul" | "other" {
  const last = word[word.length - 1] ?? "";
  const code = last.charCodeAt(0);
  if (code >= 0xac00 && code <= 0xd7a3) {
    const final = (code - 0xac00) % 28;
    return final === 0 ? "none" : final === 8 ? "rieul" : "other";
  }
  if (/[0-9]/.test(last)) {
    // 영 일 이 삼 사 오 육 칠 팔 구
    return ["other", "rieul", "none", "other", "none", "none", "other", "rieul", "rieul", "none"][
      Number(last)
    ] as "none" | "rieul" | "other";
  }
  if (/[LR]/i.test(last)) return "rieul";
  if (/[MN]/i.test(last)) return "other";
  return "none";
}

function particle(word: string, base: string): string {
  const pair = PARTICLES[base];
  if (pair === undefined) throw new Error(`Unknown particle "${base}"`);
  const end = ending(word);
  if (base === "으로") return end === "other" ? pair[0] : pair[1];
  return end === "none" ? pair[1] : pair[0];
}

// ---------------------------------------------------------------------------------------------
// Sentences

const SLOT = /\{([A-Z]{2})(?:\.([a-z]+))?(?:\|([^}]+))?\}/g;

function fill(
  rng: Rng,
  template: string,
  lang: "ko" | "en",
  pools: () => Pools,
): SampleSentence {
  let text = "";
  const entities: SampleEntity[] = [];
  let at = 0;
  for (const slot of template.matchAll(SLOT)) {
    text += template.slice(at, slot.index);
    const [whole, label, kind, josa] = slot as unknown as [string, string, string?, string?];
    let value: string;
    switch (label) {
      case "PS":
        value = person(rng, lang, pools(), kind);
        break;
      case "LC":
        value = location(rng, lang, pools());
        break;
      case "OG":
        value = organization(rng, lang, pools());
        break;
      case "DT":
        value = date(rng, lang, kind);
        break;
      case "TI":
        value = time(rng, lang);
        break;
      case "QT":
        value = quantity(rng, lang, kind);
        break;
      default:
        throw new Error(`Unknown slot "${whole}"`);
    }
    entities.push({ start: text.length, end: text.length + value.length, label });
    text += value;
    if (josa !== undefined) text += particle(value, josa);
    at = slot.index + whole.length;
    // "3 p.m." before a full stop: do not write two full stops.
    if (value.endsWith(".") && josa === undefined && template[at] === ".") at++;
  }
  text += template.slice(at);
  return { lang, text, entities };
}

/** Chance that a name slot of a validation sentence uses a name held out of training. */
export const VALIDATION_HELD_SHARE = 0.1;

/**
 * Generates the sample corpus in memory.
 *
 * @param config Seed and split sizes; defaults to {@linkcode SAMPLE_CONFIG}.
 * @returns The train and validation sentences.
 */
export function generateSample(
  config: { seed: number; train: number; validation: number } = SAMPLE_CONFIG,
): SampleCorpus {
  const rng = mulberry32(config.seed);
  const { train, held } = makePools(rng);
  const seen = new Set<string>();
  const make = (count: number, heldShare: number): SampleSentence[] => {
    const out: SampleSentence[] = [];
    while (out.length < count) {
      const lang = rng() < 0.5 ? "ko" : "en";
      const template = pick(rng, lang === "ko" ? KO_TEMPLATES : EN_TEMPLATES);
      const sentence = fill(rng, template, lang, () => rng() < heldShare ? held : train);
      if (seen.has(sentence.text)) continue;
      seen.add(sentence.text);
      out.push(sentence);
    }
    return out;
  };
  return {
    train: make(config.train, 0),
    validation: make(config.validation, VALIDATION_HELD_SHARE),
  };
}

/**
 * Generates `count` sentences one at a time, for benchmarks that need corpora far larger than
 * the sample (`bench/scale.ts`). Unlike {@linkcode generateSample} it keeps no set of the
 * sentences seen, so memory stays flat: a large corpus repeats some sentences, as a real one
 * repeated to size does. Names come from the training pools only.
 *
 * @param count How many sentences.
 * @param seed The PRNG seed.
 * @returns The sentences, lazily.
 */
export function* generateSentences(count: number, seed: number): Generator<SampleSentence> {
  const rng = mulberry32(seed);
  const { train } = makePools(rng);
  for (let i = 0; i < count; i++) {
    const lang = rng() < 0.5 ? "ko" : "en";
    const template = pick(rng, lang === "ko" ? KO_TEMPLATES : EN_TEMPLATES);
    yield fill(rng, template, lang, () => train);
  }
}

// ---------------------------------------------------------------------------------------------
// Writers

/**
 * Writes sentences in the KMOU format: `; raw`, `$tagged`, a blank line.
 *
 * @param sentences The sentences.
 * @returns The file text.
 */
export function toKmou(sentences: SampleSentence[]): string {
  return sentences.map((sentence) => {
    let tagged = "";
    let at = 0;
    for (const entity of sentence.entities) {
      tagged += sentence.text.slice(at, entity.start);
      tagged += `<${sentence.text.slice(entity.start, entity.end)}:${entity.label}>`;
      at = entity.end;
    }
    tagged += sentence.text.slice(at);
    return `; ${sentence.text}\n$${tagged}\n\n`;
  }).join("");
}

/**
 * Writes sentences in a two-column CoNLL format, `-DOCSTART-` first: each space-separated
 * token gets `B-X` when it holds the start of an entity `X`, `I-X` when it lies in one, else `O`.
 *
 * @param sentences The sentences.
 * @returns The file text.
 * @throws {Error} When a token would hold two entities.
 */
export function toConll(sentences: SampleSentence[]): string {
  const out = ["-DOCSTART- O", ""];
  for (const sentence of sentences) {
    let start = 0;
    for (const token of sentence.text.split(" ")) {
      const end = start + token.length;
      const inside = sentence.entities.filter((e) => e.start < end && e.end > start);
      if (inside.length > 1) throw new Error(`Token "${token}" holds two entities`);
      const entity = inside[0];
      const tag = entity === undefined
        ? "O"
        : `${entity.start >= start ? "B" : "I"}-${entity.label}`;
      out.push(`${token} ${tag}`);
      start = end + 1;
    }
    out.push("");
  }
  return out.join("\n") + "\n";
}

/**
 * Renders every sample file.
 *
 * @returns File text keyed by path relative to this module.
 */
export function renderSampleFiles(): Record<string, string> {
  const corpus = generateSample();
  return {
    [SAMPLE_FILES.kmouTrain]: toKmou(corpus.train),
    [SAMPLE_FILES.kmouValidation]: toKmou(corpus.validation),
    [SAMPLE_FILES.conllTrain]: toConll(corpus.train),
    [SAMPLE_FILES.conllValidation]: toConll(corpus.validation),
  };
}

if (import.meta.main) {
  await Deno.mkdir(new URL("./sample/conll/", import.meta.url), { recursive: true });
  for (const [path, text] of Object.entries(renderSampleFiles())) {
    await Deno.writeTextFile(new URL(path, import.meta.url), text);
    console.log(`wrote data/${path} (${new TextEncoder().encode(text).length} bytes)`);
  }
}
