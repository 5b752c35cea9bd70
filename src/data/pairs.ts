/**
 * Selection of the (query, passage) pairs to attribute, per SPEC "Aggregation":
 * - relevant: qrel grade >= the dataset's threshold (`Collection.relThreshold`: TREC DL 2, binary collections 1);
 * - non-relevant: judged 0 (with `unlistedNonRelevant`, an unlisted document of a judged query counts as judged
 *   0), or, only with `allowUnjudged`, a candidate without any judgement (grade null in the output);
 * - neither: grades between 0 and the threshold (TREC DL grade 1, "related"), negative grades (trec_eval's "in the
 *   pool, unjudged"), unjudged candidates without `allowUnjudged`, and documents or queries without text.
 * Pairs come from the collection's candidates (a run, a JSON list, or BM25); without candidates, from the qrels.
 *
 * Determinism: the eligible pairs of each (dataset, label) are listed in a fixed order (qid in byte order, then
 * candidate rank), shuffled by Fisher-Yates with mulberry32 seeded from (seed, dataset, label), then taken
 * greedily in that order while the per-query and per-dataset caps of the label allow. The same options thus
 * always give the same pairs; the relevant pairs do not depend on the non-relevant pool, nor one dataset on
 * another. The optional `filter` (e.g. "the model classifies the pair correctly") decides which pairs may be
 * kept; only kept pairs count toward the caps, so the result is the greedy selection over the kept pairs. It is
 * asked in batches about the pairs the walk needs (not the whole pool); it must answer the same for the same pair.
 * Output order: dataset, then qid (byte order), label ('rel' first), then docid (byte order).
 */
import { compareBytes } from './ranking.ts';
import { UserError } from '../util/errors.ts';
import { mulberry32 } from '../util/rng.ts';
import type { Collection } from './collection.ts';

export type Label = 'rel' | 'nonrel';

export interface Pair {
  dataset: string;
  qid: string;
  docid: string;
  label: Label;
  /** qrel grade (0 for an unlisted document of a collection whose qrels list relevant documents only); null: unjudged */
  grade: number | null;
  query: string;
  passage: string;
}

/** A cap per label; a single number caps both labels. Undefined: no cap. */
export type Cap = number | { rel?: number; nonrel?: number };

export interface PairOptions {
  /** PRNG seed (default 0) */
  seed?: number;
  /** most pairs of each label per query */
  perQuery?: Cap;
  /** most pairs of each label per dataset */
  perDataset?: Cap;
  /** unjudged candidates may serve as non-relevant pairs (default false) */
  allowUnjudged?: boolean;
  /** overrides `Collection.relThreshold` */
  relThreshold?: number;
  /** keep only pairs for which it answers true (same length as its argument) */
  filter?: (pairs: Pair[]) => Promise<boolean[]>;
}

/** Counts of what was not eligible, for reports. */
export interface PoolStats {
  rel: number;
  nonrel: number;
  /** 0 < grade < threshold */
  between: number;
  /** no judgement and allowUnjudged off */
  unjudged: number;
  /** negative grade */
  negative: number;
  /** document or query text missing or empty */
  noText: number;
}

/** FNV-1a (32 bits) of a string's UTF-16 code units, for deriving seeds. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Fisher-Yates shuffle in place with `rand` in [0, 1). */
export function shuffle<T>(xs: T[], rand: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

function capOf(c: Cap | undefined, label: Label, what: string): number {
  const v = typeof c === 'number' || c === undefined ? c : c[label];
  if (v === undefined) return Infinity;
  if (!Number.isInteger(v) || v < 0) throw new UserError(`pair selection: ${what} cap for '${label}' is ${v}; give a whole number >= 0`);
  return v;
}

/** All eligible pairs of a collection, by label, in the fixed pre-shuffle order, with the counts of the rest. */
export function eligiblePairs(c: Collection, opts: Pick<PairOptions, 'allowUnjudged' | 'relThreshold'> = {}): { rel: Pair[]; nonrel: Pair[]; stats: PoolStats } {
  const threshold = opts.relThreshold ?? c.relThreshold;
  if (!Number.isFinite(threshold) || threshold <= 0) throw new UserError(`${c.name}: relevance threshold ${threshold} must be > 0 (grade 0 means non-relevant); fix the dataset config`);
  const stats: PoolStats = { rel: 0, nonrel: 0, between: 0, unjudged: 0, negative: 0, noText: 0 };
  const rel: Pair[] = [];
  const nonrel: Pair[] = [];
  const source = c.candidates ?? new Map([...c.qrels].map(([q, m]) => [q, [...m.keys()]]));
  for (const qid of [...source.keys()].sort(compareBytes)) {
    const judged = c.qrels.get(qid);
    const query = c.queries.get(qid);
    for (const docid of source.get(qid)!) {
      let grade: number | null = judged?.get(docid) ?? null;
      if (grade === null && judged && c.unlistedNonRelevant) grade = 0;
      let label: Label | undefined;
      if (grade === null) {
        if (opts.allowUnjudged) label = 'nonrel';
        else stats.unjudged++;
      } else if (grade >= threshold) label = 'rel';
      else if (grade === 0) label = 'nonrel';
      else if (grade < 0) stats.negative++;
      else stats.between++;
      if (!label) continue;
      const passage = c.docs.get(docid);
      if (!query || !passage) { stats.noText++; continue; }
      (label === 'rel' ? rel : nonrel).push({ dataset: c.name, qid, docid, label, grade, query, passage });
      stats[label]++;
    }
  }
  return { rel, nonrel, stats };
}

/**
 * Greedy selection over `order` under the caps, kept pairs only. Answers of `filter` are asked in batches: from
 * the first pair whose answer the greedy walk needs, every pair it would need if all asked pairs were kept,
 * up to the room left. A wrong guess only means another round; the result is the plain greedy one.
 */
async function takeGreedy(order: Pair[], perQuery: number, perDataset: number, filter: PairOptions['filter']): Promise<Pair[]> {
  const answers: (boolean | undefined)[] = filter ? new Array(order.length) : order.map(() => true);
  const taken: Pair[] = [];
  const perQ = new Map<string, number>();
  let pos = 0;
  for (;;) {
    for (; pos < order.length && taken.length < perDataset; pos++) { // the greedy walk, as far as answers are known
      const p = order[pos];
      if ((perQ.get(p.qid) ?? 0) >= perQuery) continue;
      if (answers[pos] === undefined) break;
      if (!answers[pos]) continue;
      taken.push(p);
      perQ.set(p.qid, (perQ.get(p.qid) ?? 0) + 1);
    }
    if (pos >= order.length || taken.length >= perDataset) return taken;
    const batch: number[] = [];
    const hopeQ = new Map(perQ);
    let hope = taken.length;
    for (let j = pos; j < order.length && hope < perDataset; j++) { // what the walk needs if every asked pair is kept
      const q = order[j].qid;
      if ((hopeQ.get(q) ?? 0) >= perQuery || answers[j] === false) continue;
      if (answers[j] === undefined) batch.push(j);
      hopeQ.set(q, (hopeQ.get(q) ?? 0) + 1);
      hope++;
    }
    const keep = await filter!(batch.map((j) => order[j]));
    if (!Array.isArray(keep) || keep.length !== batch.length) {
      throw new UserError(`pair selection: the filter returned ${Array.isArray(keep) ? keep.length : typeof keep} answers for ${batch.length} pairs; return one boolean per pair`);
    }
    batch.forEach((j, k) => { answers[j] = keep[k] === true; });
  }
}

/** Selects the pairs of one collection (see the header); sorted by qid, label, docid. */
export async function selectPairs(c: Collection, opts: PairOptions = {}): Promise<Pair[]> {
  const seed = opts.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new UserError(`pair selection: seed ${seed} is not an integer; give a whole number`);
  const pool = eligiblePairs(c, opts);
  const out: Pair[] = [];
  for (const label of ['rel', 'nonrel'] as const) {
    const rand = mulberry32(hash32(`${seed}\n${c.name}\n${label}`));
    const order = shuffle([...pool[label]], rand);
    out.push(...await takeGreedy(order, capOf(opts.perQuery, label, 'per-query'), capOf(opts.perDataset, label, 'per-dataset'), opts.filter));
  }
  return out.sort(comparePairs);
}

function comparePairs(a: Pair, b: Pair): number {
  return compareBytes(a.dataset, b.dataset) || compareBytes(a.qid, b.qid) || (a.label === b.label ? 0 : a.label === 'rel' ? -1 : 1) || compareBytes(a.docid, b.docid);
}

/** Selects over several collections (names must differ) and concatenates, in dataset order. */
export async function selectAllPairs(cs: readonly Collection[], opts: PairOptions = {}): Promise<Pair[]> {
  const names = new Set<string>();
  const out: Pair[] = [];
  for (const c of cs) {
    if (names.has(c.name)) throw new UserError(`pair selection: dataset name '${c.name}' is used twice; give each dataset its own name`);
    names.add(c.name);
    out.push(...await selectPairs(c, opts));
  }
  return out;
}

export interface DatasetManifest {
  version: 1;
  options: { seed: number; perQuery: Cap | null; perDataset: Cap | null; allowUnjudged: boolean; relThreshold: number | null; filtered: boolean };
  /** dataset -> counts */
  counts: Record<string, { rel: number; nonrel: number; queries: number }>;
  total: number;
  pairs: { dataset: string; qid: string; docid: string; label: Label; grade: number | null }[];
}

/** A JSON-ready record of exactly which pairs were used, with the options and counts (texts left out). */
export function datasetManifest(pairs: readonly Pair[], opts: PairOptions = {}): DatasetManifest {
  const counts: DatasetManifest['counts'] = {};
  const queries = new Map<string, Set<string>>();
  for (const p of pairs) {
    const c = (counts[p.dataset] ??= { rel: 0, nonrel: 0, queries: 0 });
    c[p.label]++;
    let q = queries.get(p.dataset);
    if (!q) queries.set(p.dataset, (q = new Set()));
    q.add(p.qid);
  }
  for (const [d, q] of queries) counts[d].queries = q.size;
  return {
    version: 1,
    options: {
      seed: opts.seed ?? 0,
      perQuery: opts.perQuery ?? null,
      perDataset: opts.perDataset ?? null,
      allowUnjudged: opts.allowUnjudged ?? false,
      relThreshold: opts.relThreshold ?? null,
      filtered: opts.filter !== undefined,
    },
    counts,
    total: pairs.length,
    pairs: pairs.map(({ dataset, qid, docid, label, grade }) => ({ dataset, qid, docid, label, grade })),
  };
}
