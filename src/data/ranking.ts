/**
 * trec_eval's order (form_res_rels.c), shared by the data layer (pair selection, BM25 candidates, run files) and
 * the measures in src/analysis/metrics.ts: docids compared as UTF-8 bytes (strcmp), and a query's documents
 * ranked by score descending, ties by docid descending; the run's rank field is never used. No Node imports.
 */
import type { ScoredDoc } from './trec.ts';

/** strcmp order (UTF-8 bytes = code points) for JS strings: lift surrogates above the rest of the BMP. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x = x <= 0xdfff ? x + 0x2000 : x - 0x800;
    if (y >= 0xd800) y = y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/** trec_eval's ranking of one query: score descending, ties by docid descending. Returns a sorted copy. */
export function rankDocs(docs: readonly ScoredDoc[]): ScoredDoc[] {
  return [...docs].sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : compareBytes(b.docid, a.docid)));
}
