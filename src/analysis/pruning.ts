/**
 * Pruning experiments on plain arrays: masks from unit sets, uniform random unit sets, re-ranking of re-scored
 * candidates, TREC run text, per-query deltas and the pruning table (scheme x p against the unpruned model and
 * random sets of the same size). The GPU mask kernel is tested against `maskFromUnits`.
 *
 * Measures: nDCG@10 (`ndcg_cut_10`, no relevance level involved) and MRR@10 (`recip_rank_10`, relevant = grade
 * ≥ the dataset's level: 2 for TREC DL, 1 for binary collections), from src/analysis/metrics.ts.
 */
import type { Qrels, Run, ScoredDoc } from '../data/trec.ts';
import { UserError } from '../util/errors.ts';
import { evaluate, type Evaluation } from './metrics.ts';
import { compareBytes, rankDocs } from '../data/ranking.ts';
import { Rng, summarise, type Summary } from './stats.ts';

/** Per-layer keep masks (layers of (dff)): 1 keeps a unit, 0 prunes it (zeroes its output at every token). */
export function maskFromUnits(units: ArrayLike<number>, layers: number, dff: number): Float32Array[] {
  const masks = Array.from({ length: layers }, () => new Float32Array(dff).fill(1));
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (!(Number.isInteger(u) && u >= 0 && u < layers * dff)) {
      throw new UserError(`pruned unit ${u} is outside [0, ${layers * dff}) (${layers} layers x ${dff} neurons); check the unit set against the model`);
    }
    masks[Math.floor(u / dff)][u % dff] = 0;
  }
  return masks;
}

/**
 * n distinct units drawn uniformly from [0, total) without replacement (Floyd's algorithm: for j = total − n ..
 * total − 1 draw t in [0, j]; take t, or j when t is already taken). Seeded; returned ascending.
 */
export function randomUnits(n: number, total: number, seed: number): Uint32Array {
  if (!(Number.isInteger(total) && total >= 0 && total <= 2 ** 32)) throw new UserError(`unit count ${total} is not an integer in [0, 2^32]; check layers x d_ff`);
  if (!(Number.isInteger(n) && n >= 0 && n <= total)) throw new UserError(`cannot draw ${n} distinct units out of ${total}; ask for at most ${total}`);
  const rng = new Rng(seed);
  const taken = new Set<number>();
  for (let j = total - n; j < total; j++) {
    const t = rng.int(j + 1);
    taken.add(taken.has(t) ? j : t);
  }
  return Uint32Array.from(taken).sort();
}

/** A candidate passage of a query, in the order the scores come. */
export interface Candidate {
  qid: string;
  docid: string;
}

/** A run from re-scored candidates (scores[i] for candidates[i]); each query's docs in trec_eval rank order. */
export function rerank(candidates: readonly Candidate[], scores: ArrayLike<number>): Run {
  if (candidates.length !== scores.length) throw new UserError(`${candidates.length} candidates but ${scores.length} scores; score every candidate once`);
  const run: Run = new Map();
  const seen = new Set<string>();
  for (let i = 0; i < candidates.length; i++) {
    const { qid, docid } = candidates[i];
    const s = scores[i];
    if (!Number.isFinite(s)) throw new UserError(`candidate (${qid}, ${docid}) has score ${s}; every score must be a finite number (check the model output)`);
    const key = `${qid}\n${docid}`;
    if (seen.has(key)) throw new UserError(`candidate (${qid}, ${docid}) appears twice; keep one entry per query and docid`);
    seen.add(key);
    let docs = run.get(qid);
    if (!docs) run.set(qid, (docs = []));
    docs.push({ docid, score: s });
  }
  for (const [qid, docs] of run) run.set(qid, rankDocs(docs));
  return run;
}

function checkField(v: string, what: string): void {
  if (v === '' || /\s/.test(v)) throw new UserError(`${what} ${JSON.stringify(v)} is empty or contains whitespace, which a TREC run cannot hold; rename it`);
}

/**
 * TREC run text `qid Q0 docid rank score tag`, queries in strcmp order, docs by score descending with ties by
 * docid descending (trec_eval's order, so the rank column agrees with what trec_eval computes). Scores are
 * written in shortest round-trip form, so reading the file back gives the same ranking.
 */
export function writeTrecRun(run: Run, tag: string): string {
  checkField(tag, 'run tag');
  const lines: string[] = [];
  for (const qid of [...run.keys()].sort(compareBytes)) {
    checkField(qid, 'query id');
    const ranked: ScoredDoc[] = rankDocs(run.get(qid)!);
    ranked.forEach(({ docid, score }, r) => {
      checkField(docid, `docid of query '${qid}'`);
      if (!Number.isFinite(score)) throw new UserError(`query '${qid}', docid '${docid}': score ${score} is not finite; a TREC run needs numbers`);
      lines.push(`${qid} Q0 ${docid} ${r + 1} ${score} ${tag}`);
    });
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** One query's change in a measure. */
export interface QueryDelta {
  qid: string;
  base: number;
  value: number;
  /** value − base */
  delta: number;
}

/** Per-query deltas of `measure` from `base` to `other` (queries of `base`, in its order). */
export function perQueryDeltas(base: Evaluation, other: Evaluation, measure: string): QueryDelta[] {
  const out: QueryDelta[] = [];
  for (const [qid, values] of base.perQuery) {
    const b = values.get(measure);
    const v = other.perQuery.get(qid)?.get(measure);
    if (b === undefined) throw new UserError(`measure '${measure}' was not evaluated; evaluate it in both runs`);
    if (v === undefined) throw new UserError(`query '${qid}' (or measure '${measure}') is missing from the second evaluation; re-score every query of the first`);
    out.push({ qid, base: b, value: v, delta: v - b });
  }
  return out;
}

/** Mean, sample std and count of a measure over random-set seeds. */
export function summariseRandom(values: ArrayLike<number>): Summary {
  return summarise(values);
}

// ---------------------------------------------------------------- the pruning table

export const NDCG10 = 'ndcg_cut_10';
export const MRR10 = 'recip_rank_10';

export interface PruningRowInput {
  scheme: string;
  p: number;
  /** number of pruned units */
  units: number;
  /** the re-ranked candidates with the scheme's units pruned */
  run: Run;
  /** re-ranked candidates with random sets of `units` units, one run per seed */
  random: readonly Run[];
}

export interface PruningDatasetInput {
  dataset: string;
  qrels: Qrels;
  /** minimum grade counted relevant for MRR (TREC DL: 2; binary: 1) */
  relevanceLevel: number;
  unpruned: Run;
  rows: readonly PruningRowInput[];
}

/** One measure of one pruned run. */
export interface MetricCell {
  value: number;
  /** value − unpruned */
  delta: number;
  /** the measure over the random runs: mean, sample std, seeds */
  random: Summary;
  /** queries the pruning improved / hurt (per-query delta > 0 / < 0) */
  wins: number;
  losses: number;
}

export interface PruningRow {
  dataset: string;
  scheme: string;
  p: number;
  units: number;
  ndcg10: MetricCell;
  mrr10: MetricCell;
}

export interface PruningBaseline {
  dataset: string;
  relevanceLevel: number;
  queries: number;
  ndcg10: number;
  mrr10: number;
}

/** JSON-ready (plain objects and arrays). */
export interface PruningTable {
  measures: { ndcg10: string; mrr10: string };
  baselines: PruningBaseline[];
  rows: PruningRow[];
}

export interface PruningTableOptions {
  /** fewest random seeds accepted per row, default 5 */
  minSeeds?: number;
  /** trec_eval -c: count qrels queries missing from a run as 0 */
  complete?: boolean;
}

/** Evaluates every pruned, random and unpruned run and builds the table (rows in input order). */
export function pruningTable(datasets: readonly PruningDatasetInput[], opts: PruningTableOptions = {}): PruningTable {
  const minSeeds = opts.minSeeds ?? 5;
  const baselines: PruningBaseline[] = [];
  const rows: PruningRow[] = [];
  for (const ds of datasets) {
    const ev = (run: Run) => evaluate(ds.qrels, run, [NDCG10, MRR10], { relevanceLevel: ds.relevanceLevel, complete: opts.complete });
    const base = ev(ds.unpruned);
    const b = { ndcg10: base.all.get(NDCG10)!, mrr10: base.all.get(MRR10)! };
    baselines.push({ dataset: ds.dataset, relevanceLevel: ds.relevanceLevel, queries: base.numQ, ...b });
    for (const r of ds.rows) {
      if (r.random.length < minSeeds) {
        throw new UserError(`${ds.dataset}, ${r.scheme} at ${r.p}%: ${r.random.length} random runs, need at least ${minSeeds}; run more seeds`);
      }
      const pruned = ev(r.run);
      const randoms = r.random.map(ev);
      const cell = (m: string, unpruned: number): MetricCell => {
        const deltas = perQueryDeltas(base, pruned, m);
        const value = pruned.all.get(m)!;
        return {
          value, delta: value - unpruned, random: summariseRandom(randoms.map((e) => e.all.get(m)!)),
          wins: deltas.filter((d) => d.delta > 0).length, losses: deltas.filter((d) => d.delta < 0).length,
        };
      };
      rows.push({ dataset: ds.dataset, scheme: r.scheme, p: r.p, units: r.units, ndcg10: cell(NDCG10, b.ndcg10), mrr10: cell(MRR10, b.mrr10) });
    }
  }
  return { measures: { ndcg10: NDCG10, mrr10: MRR10 }, baselines, rows };
}
