/**
 * Ranking measures with trec_eval's conventions (usnistgov/trec_eval; the file named with each rule). Pure
 * functions on plain maps and arrays: no Node imports, so this runs anywhere (`import type` below is erased).
 *
 * Ranking (form_res_rels.c; rankDocs and compareBytes in src/data/ranking.ts): a query's documents are sorted by score descending, ties broken by docid
 * descending (byte-wise strcmp); the run's rank field is never used. A docid retrieved twice for one query
 * makes trec_eval stop ("duplicate docs"); so does judging a docid twice. We throw a UserError in both cases.
 *
 * Relevance of a ranked doc: its qrels grade when judged with grade >= 0; -2 when judged with a negative grade
 * ("in the pool but unjudged"); -1 when absent from the qrels. A doc is relevant when that value >= the relevance
 * level (trec_eval -l, default 1; TREC DL uses 2). num_rel counts judged grades >= max(level, 0).
 *
 * Measures, per query (k = cutoff; fewer than k retrieved docs means the rest are non-relevant):
 * - ndcg_cut_k (m_ndcg_cut.c): DCG = sum over ranks r <= k of grade / log2(r + 1), grades <= 0 giving nothing;
 *   ideal DCG from all judged grades > 0 of the query, sorted descending, cut at k. The relevance level plays
 *   no part. A query without positive grades scores 0.
 * - recip_rank (m_recip_rank.c): 1 / rank of the first relevant doc, 0 if none. recip_rank_k (MRR@k) is ours:
 *   the same, looking at the top k only (what `trec_eval -M k -m recip_rank` gives).
 * - P_k (m_P.c): relevant in top k / k, always divided by k.
 * - recall_k (m_recall.c): relevant in top k / num_rel; 0 when num_rel is 0.
 * - map (m_map.c): sum of precision at each relevant rank / num_rel; 0 when none is retrieved.
 * - num_ret, num_rel, num_rel_ret: counts; their `all` value is the sum, not the mean.
 *
 * Queries (trec_eval.c): those of the qrels that also have results, in strcmp order; queries only in the run are
 * ignored. A qrels query with no relevant documents is still evaluated and counted (its recall, map, recip_rank and
 * P are 0; the test files have no such query, this follows the source). With `complete` (-c) every qrels query
 * counts, a query missing from the run scoring 0 everywhere (num_rel keeps its qrels count). `all` is the mean
 * over the counted queries.
 */
import type { Qrels, Run, ScoredDoc } from '../data/trec.ts';
import { compareBytes, rankDocs } from '../data/ranking.ts';
import { UserError } from '../util/errors.ts';

/** A ranked list reduced to what the measures need. */
export interface JudgedRanking {
  /** (num_ret) relevance value at each rank: grade if judged >= 0, -2 if judged negative, -1 if not judged. */
  rels: number[];
  /** judged grades >= 0 of the query, descending (ideal ranking; num_rel). */
  grades: number[];
}

/** Ranks `docs` as trec_eval does and looks up each doc's relevance in `judged` (undefined: query not judged). */
export function judgeRanking(qid: string, docs: readonly ScoredDoc[], judged: ReadonlyMap<string, number> | undefined): JudgedRanking {
  const ranked = rankDocs(docs);
  for (let i = 0; i < ranked.length; i++) {
    if (Number.isNaN(ranked[i].score)) throw new UserError(`query '${qid}': docid '${ranked[i].docid}' has a NaN score; give every document a number`);
  }
  const seen = new Set<string>();
  const rels = ranked.map(({ docid }) => {
    if (seen.has(docid)) throw new UserError(`query '${qid}': docid '${docid}' is retrieved twice (trec_eval stops on duplicate docs); keep one entry per docid`);
    seen.add(docid);
    const g = judged?.get(docid);
    return g === undefined ? -1 : g < 0 ? -2 : g;
  });
  const grades = judged ? [...judged.values()].filter((g) => g >= 0).sort((a, b) => b - a) : [];
  return { rels, grades };
}

export function numRel(j: JudgedRanking, level: number): number {
  let n = 0;
  for (const g of j.grades) if (g >= level) n++;
  return n;
}

function relevantInTop(j: JudgedRanking, k: number, level: number): number {
  let n = 0;
  for (let i = 0; i < Math.min(k, j.rels.length); i++) if (j.rels[i] >= level) n++;
  return n;
}

/** nDCG@k, trec_eval's ndcg_cut (gain = grade, discount log2(rank + 1), ideal from all judged grades > 0). */
export function ndcgCut(j: JudgedRanking, k: number): number {
  let dcg = 0;
  for (let i = 0; i < Math.min(k, j.rels.length); i++) if (j.rels[i] > 0) dcg += j.rels[i] / Math.log2(i + 2);
  let ideal = 0;
  for (let i = 0; i < Math.min(k, j.grades.length) && j.grades[i] > 0; i++) ideal += j.grades[i] / Math.log2(i + 2);
  return ideal > 0 ? dcg / ideal : 0;
}

/** Reciprocal rank of the first relevant doc within the top k (k = Infinity: trec_eval's recip_rank). */
export function recipRank(j: JudgedRanking, level: number, k = Infinity): number {
  for (let i = 0; i < Math.min(k, j.rels.length); i++) if (j.rels[i] >= level) return 1 / (i + 1);
  return 0;
}

export function precisionAt(j: JudgedRanking, k: number, level: number): number {
  return relevantInTop(j, k, level) / k;
}

export function recallAt(j: JudgedRanking, k: number, level: number): number {
  const r = numRel(j, level);
  return r === 0 ? 0 : relevantInTop(j, k, level) / r;
}

export function averagePrecision(j: JudgedRanking, level: number): number {
  let found = 0;
  let sum = 0;
  for (let i = 0; i < j.rels.length; i++) {
    if (j.rels[i] >= level) sum += ++found / (i + 1);
  }
  return found ? sum / numRel(j, level) : 0;
}

// ---------------------------------------------------------------- measure names

export type Family = 'num_ret' | 'num_rel' | 'num_rel_ret' | 'map' | 'recip_rank' | 'P' | 'recall' | 'ndcg_cut';
/** trec_eval's print order of measure families (measures.c); cutoffs ascending within a family. */
const ORDER: Family[] = ['num_ret', 'num_rel', 'num_rel_ret', 'map', 'recip_rank', 'P', 'recall', 'ndcg_cut'];
const COUNTS = new Set<Family>(['num_ret', 'num_rel', 'num_rel_ret']);
const CUT_REQUIRED = new Set<Family>(['P', 'recall', 'ndcg_cut']);

export interface Measure {
  /** printed name, e.g. `ndcg_cut_10` */
  name: string;
  family: Family;
  /** cutoff; Infinity for measures without one */
  k: number;
  /** a count (printed as an integer, summed for `all`) */
  count: boolean;
}

export const MEASURE_HELP = 'map, recip_rank, recip_rank_K, P_K, recall_K, ndcg_cut_K, num_ret, num_rel, num_rel_ret (K a positive integer)';

/** Parses one measure name as trec_eval prints it (`ndcg_cut_10`, `P_5`, `recall_100`, `map`, ...). */
export function parseMeasure(name: string): Measure {
  const m = /^(num_ret|num_rel_ret|num_rel|map|recip_rank|P|recall|ndcg_cut)(?:_(\d+))?$/.exec(name);
  if (m) {
    const family = m[1] as Family;
    const k = m[2] === undefined ? Infinity : Number(m[2]);
    const ok = m[2] === undefined
      ? !CUT_REQUIRED.has(family)
      : (family === 'recip_rank' || CUT_REQUIRED.has(family)) && Number.isSafeInteger(k) && k > 0;
    if (ok) return { name: k === Infinity ? family : `${family}_${k}`, family, k, count: COUNTS.has(family) };
  }
  throw new UserError(`unknown measure '${name}'; known: ${MEASURE_HELP}`);
}

/** Parses measure names, drops repeats and sorts them into trec_eval's print order. */
export function parseMeasures(names: readonly string[]): Measure[] {
  const byName = new Map<string, Measure>();
  for (const n of names) {
    const m = parseMeasure(n);
    if (!byName.has(m.name)) byName.set(m.name, m);
  }
  return [...byName.values()].sort((a, b) => ORDER.indexOf(a.family) - ORDER.indexOf(b.family) || a.k - b.k);
}

/** The value of one measure for one judged ranking. */
export function measureValue(m: Measure, j: JudgedRanking, level: number): number {
  switch (m.family) {
    case 'num_ret': return j.rels.length;
    case 'num_rel': return numRel(j, level);
    case 'num_rel_ret': return relevantInTop(j, Infinity, level);
    case 'map': return averagePrecision(j, level);
    case 'recip_rank': return recipRank(j, level, m.k);
    case 'P': return precisionAt(j, m.k, level);
    case 'recall': return recallAt(j, m.k, level);
    case 'ndcg_cut': return ndcgCut(j, m.k);
  }
}

// ---------------------------------------------------------------- whole runs

export interface EvalOptions {
  /** trec_eval -l: minimum grade that counts as relevant (default 1). */
  relevanceLevel?: number;
  /** trec_eval -c: average over every qrels query, missing run queries scoring 0. */
  complete?: boolean;
}

export interface Evaluation {
  /** in print order */
  measures: Measure[];
  /** qid (strcmp order) -> measure name -> value */
  perQuery: Map<string, Map<string, number>>;
  /** measure name -> mean over the counted queries (sum for counts); 0 when no query counted */
  all: Map<string, number>;
  numQ: number;
}

/** Evaluates `run` against `qrels` like trec_eval with `-m` for each of `measures` (names or parsed). */
export function evaluate(qrels: Qrels, run: Run, measures: readonly (string | Measure)[], opts: EvalOptions = {}): Evaluation {
  const ms = parseMeasures(measures.map((m) => (typeof m === 'string' ? m : m.name)));
  const level = opts.relevanceLevel ?? 1;
  const qids = [...qrels.keys()].filter((q) => opts.complete || run.has(q)).sort(compareBytes);
  const perQuery = new Map<string, Map<string, number>>();
  const sums = new Map<string, number>(ms.map((m) => [m.name, 0]));
  for (const qid of qids) {
    const j = judgeRanking(qid, run.get(qid) ?? [], qrels.get(qid));
    const values = new Map<string, number>();
    for (const m of ms) {
      const v = measureValue(m, j, level);
      values.set(m.name, v);
      sums.set(m.name, sums.get(m.name)! + v);
    }
    perQuery.set(qid, values);
  }
  const all = new Map<string, number>();
  for (const m of ms) all.set(m.name, m.count || qids.length === 0 ? sums.get(m.name)! : sums.get(m.name)! / qids.length);
  return { measures: ms, perQuery, all, numQ: qids.length };
}

// ---------------------------------------------------------------- trec_eval's output layout

/**
 * C printf("%6.4f", x): like toFixed(4), except that an exact tie (x * 10^4 ending in .5 exactly, which for a
 * double only happens at odd multiples of 1/32) rounds to even as glibc does, where toFixed rounds up.
 */
export function formatValue(x: number): string {
  const a = Math.abs(x);
  let s: string;
  if (Number.isFinite(a) && Number.isInteger(a * 32) && (a * 32) % 2 === 1) {
    const lo = Math.floor(a * 1e4); // exact: a * 1e4 is a half-integer here
    s = ((lo % 2 === 0 ? lo : lo + 1) / 1e4).toFixed(4);
    if (x < 0) s = `-${s}`;
  } else s = x.toFixed(4);
  return s.padStart(6);
}

/** One trec_eval output line: `%-22s\t%s\t%s`. */
export function formatLine(name: string, qid: string, value: string): string {
  return `${name.padEnd(22)}\t${qid}\t${value}`;
}

/** trec_eval's text: per-query lines (with perQuery, as -q), then `runid` (if given), `num_q` and the `all` lines. */
export function formatTrecEval(ev: Evaluation, opts: { perQuery?: boolean; runid?: string } = {}): string {
  const lines: string[] = [];
  const value = (m: Measure, v: number) => (m.count ? String(Math.round(v)) : formatValue(v));
  if (opts.perQuery) {
    for (const [qid, values] of ev.perQuery) {
      for (const m of ev.measures) lines.push(formatLine(m.name, qid, value(m, values.get(m.name)!)));
    }
  }
  if (opts.runid !== undefined) lines.push(formatLine('runid', 'all', opts.runid));
  lines.push(formatLine('num_q', 'all', String(ev.numQ)));
  for (const m of ev.measures) lines.push(formatLine(m.name, 'all', value(m, ev.all.get(m.name)!)));
  return `${lines.join('\n')}\n`;
}
