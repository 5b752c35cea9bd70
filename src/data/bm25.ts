/**
 * A small in-memory BM25 first stage, for collections that come without a run (SciFact, the SMART collections).
 *
 * Scoring (Lucene's BM25Similarity, the one Anserini uses): for each query term t with query count qtf,
 *   score += qtf * idf(t) * tf / (tf + k1 * (1 - b + b * dl / avgdl)),  idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 * with Anserini's defaults k1 = 0.9, b = 0.4 (Lucene drops the constant (k1 + 1) factor; rankings are the same).
 * Differences from Anserini, kept on purpose for a dependency-free reader: lengths are exact (Lucene stores
 * them lossily in one byte), and tokens are lowercase runs of Unicode letters and digits with no stemming
 * (Anserini applies Porter). `stopwords: true` drops Lucene's English stop set (EnglishAnalyzer, 33 words).
 * Ranking: score descending, ties by docid descending (trec_eval's order, src/data/ranking.ts), so that a
 * top-k list evaluates like the full ranking cut at k. Documents without any query term are never returned.
 */
import { compareBytes } from './ranking.ts';
import type { Run, ScoredDoc } from './trec.ts';

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET. */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it', 'no', 'not', 'of',
  'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they', 'this', 'to', 'was', 'will', 'with',
]);

export interface Bm25Options {
  /** term-frequency saturation (default 0.9) */
  k1?: number;
  /** length normalisation (default 0.4) */
  b?: number;
  /** drop Lucene's English stopwords (default false) */
  stopwords?: boolean;
}

/** Lowercase runs of letters and digits, optionally without stopwords. */
export function tokenize(text: string, stopwords = false): string[] {
  const toks = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  return stopwords ? toks.filter((t) => !ENGLISH_STOPWORDS.has(t)) : toks;
}

export interface Bm25Index {
  readonly opts: Required<Bm25Options>;
  readonly docids: string[];
  /** (N) document lengths in tokens */
  readonly lengths: Float64Array;
  readonly avgdl: number;
  /** term -> term id */
  readonly vocab: Map<string, number>;
  /** (V + 1) postings of term t: entries start[t] .. start[t + 1] - 1 of `docs` and `tfs` (compressed sparse rows) */
  readonly start: Int32Array;
  /** (nnz) document index of each posting, ascending within a term */
  readonly docs: Int32Array;
  /** (nnz) term frequency of each posting */
  readonly tfs: Int32Array;
}

/** Indexes docid -> text. */
export function buildBm25Index(docs: ReadonlyMap<string, string>, opts: Bm25Options = {}): Bm25Index {
  const o = { k1: opts.k1 ?? 0.9, b: opts.b ?? 0.4, stopwords: opts.stopwords ?? false };
  const docids = [...docs.keys()];
  const lengths = new Float64Array(docids.length);
  const vocab = new Map<string, number>();
  // pass 1: each document's (term, tf) pairs, flat, and each term's document frequency
  const pairTerm: number[] = [];
  const pairTf: number[] = [];
  const pairEnd = new Int32Array(docids.length);
  const df: number[] = [];
  docids.forEach((id, d) => {
    const toks = tokenize(docs.get(id)!, o.stopwords);
    lengths[d] = toks.length;
    const ids = new Int32Array(toks.length);
    for (let i = 0; i < toks.length; i++) {
      let t = vocab.get(toks[i]);
      if (t === undefined) { vocab.set(toks[i], (t = vocab.size)); df.push(0); }
      ids[i] = t;
    }
    ids.sort();
    for (let i = 0; i < ids.length;) {
      let j = i + 1;
      while (j < ids.length && ids[j] === ids[i]) j++;
      pairTerm.push(ids[i]);
      pairTf.push(j - i);
      df[ids[i]]++;
      i = j;
    }
    pairEnd[d] = pairTerm.length;
  });
  // pass 2: postings by term, documents ascending
  const start = new Int32Array(vocab.size + 1);
  for (let t = 0; t < df.length; t++) start[t + 1] = start[t] + df[t];
  const fill = start.slice(0, vocab.size);
  const postDocs = new Int32Array(pairTerm.length);
  const postTfs = new Int32Array(pairTerm.length);
  for (let d = 0, p = 0; d < docids.length; d++) {
    for (; p < pairEnd[d]; p++) {
      const at = fill[pairTerm[p]]++;
      postDocs[at] = d;
      postTfs[at] = pairTf[p];
    }
  }
  let total = 0;
  for (const l of lengths) total += l;
  return { opts: o, docids, lengths, avgdl: docids.length ? total / docids.length : 0, vocab, start, docs: postDocs, tfs: postTfs };
}

/** The top `k` documents of one query, ranked. */
export function bm25Search(index: Bm25Index, query: string, k: number): ScoredDoc[] {
  const { k1, b, stopwords } = index.opts;
  const n = index.docids.length;
  const qtf = new Map<number, number>();
  for (const w of tokenize(query, stopwords)) {
    const t = index.vocab.get(w);
    if (t !== undefined) qtf.set(t, (qtf.get(t) ?? 0) + 1);
  }
  const scores = new Float64Array(n);
  const touched: number[] = [];
  for (const [t, c] of qtf) {
    const from = index.start[t];
    const to = index.start[t + 1];
    const idf = Math.log(1 + (n - (to - from) + 0.5) / (to - from + 0.5));
    for (let i = from; i < to; i++) {
      const d = index.docs[i];
      const tf = index.tfs[i];
      if (scores[d] === 0) touched.push(d);
      scores[d] += c * idf * tf / (tf + k1 * (1 - b + b * index.lengths[d] / index.avgdl));
    }
  }
  const found = touched.map((d) => ({ docid: index.docids[d], score: scores[d] }));
  found.sort((x, y) => (x.score > y.score ? -1 : x.score < y.score ? 1 : compareBytes(y.docid, x.docid)));
  return found.slice(0, k);
}

/** BM25 top-k of every query: a Run whose lists are in rank order. */
export function bm25Run(docs: ReadonlyMap<string, string>, queries: ReadonlyMap<string, string>, k = 100, opts: Bm25Options = {}): Run {
  const index = buildBm25Index(docs, opts);
  const run: Run = new Map();
  for (const [qid, q] of queries) run.set(qid, bm25Search(index, q, k));
  return run;
}
