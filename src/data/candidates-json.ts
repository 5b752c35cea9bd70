/**
 * JSON candidate lists as rank_llm writes them (castorini/rank_llm `retrieve_results/BM25/retrieve_results_*.json`,
 * and RankGPT's NovelEval `data.json`): `[{query, hits: [{content, qid, docid, rank, score}]}]`, one entry per
 * query, its hits being the first-stage top-k with the passage text.
 *
 * Rules: ids may be JSON strings or numbers (rank_llm writes `qid` as a number and `docid` as a string); every hit
 * of an entry has the entry's qid; a qid appears in one entry only; a docid once per query; a docid met under
 * several queries must carry the same text each time. Candidates are ordered by the `rank` field (ties and the
 * order of equal ranks: the file's), `score` goes to `run`. An entry without hits is an error (its qid is unknown).
 * Errors name `file:line` (line of the entry or hit) and its place, e.g. `[3].hits[17]`.
 */
import { UserError } from '../util/errors.ts';
import { jsonLineOf, parseJson } from './collection.ts';
import { readText, type Run } from './trec.ts';

export interface CandidateList {
  /** qid -> query text */
  queries: Map<string, string>;
  /** docid -> passage text */
  docs: Map<string, string>;
  /** qid -> docids by rank */
  candidates: Map<string, string[]>;
  /** qid -> (docid, score) by rank */
  run: Run;
}

function idOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.trim() !== '' && !/\s/.test(v.trim())) return v.trim();
  return undefined;
}

/** Parses a rank_llm candidate list. */
export function parseCandidateJson(text: string, file: string): CandidateList {
  const data = parseJson(text, file, 'candidate list');
  const fail = (path: number[], where: string, what: string): never => {
    const line = jsonLineOf(text, path);
    throw new UserError(`${file}${line ? `:${line}` : ''}: ${where}: ${what}`);
  };
  if (!Array.isArray(data)) fail([], 'top level', 'expected an array of {query, hits} entries (rank_llm retrieve_results format); check the file');
  const out: CandidateList = { queries: new Map(), docs: new Map(), candidates: new Map(), run: new Map() };
  const entryOf = new Map<string, number>();
  const docWhere = new Map<string, string>();
  (data as unknown[]).forEach((e, i) => {
    const at = `[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e)) fail([i], at, 'expected an object {query, hits}; fix the entry');
    const entry = e as Record<string, unknown>;
    if (typeof entry.query !== 'string' || entry.query.trim() === '') fail([i], at, 'missing "query" text; every entry needs its query');
    if (!Array.isArray(entry.hits) || entry.hits.length === 0) fail([i], at, '"hits" is missing or empty, so the query id is unknown; give the entry its hits or remove it');
    const hits: { docid: string; rank: number; score: number; order: number }[] = [];
    let qid: string | undefined;
    const seen = new Set<string>();
    (entry.hits as unknown[]).forEach((h, j) => {
      const hat = `${at}.hits[${j}]`;
      if (typeof h !== 'object' || h === null || Array.isArray(h)) fail([i, j], hat, 'expected an object {content, qid, docid, rank, score}; fix the hit');
      const hit = h as Record<string, unknown>;
      const q = idOf(hit.qid);
      const d = idOf(hit.docid);
      if (q === undefined || d === undefined) fail([i, j], hat, '"qid" and "docid" must be non-empty strings or numbers without spaces; fix the hit');
      if (qid === undefined) qid = q;
      else if (q !== qid) fail([i, j], hat, `qid '${q}' differs from '${qid}' of the entry's first hit; one entry holds one query`);
      if (typeof hit.content !== 'string') fail([i, j], hat, `"content" of document '${d}' is not a string; every hit carries its passage text`);
      if (typeof hit.rank !== 'number' || !Number.isFinite(hit.rank) || typeof hit.score !== 'number' || !Number.isFinite(hit.score)) {
        fail([i, j], hat, `"rank" and "score" of document '${d}' must be finite numbers; fix the hit`);
      }
      if (seen.has(d!)) fail([i, j], hat, `document '${d}' is listed twice for query '${qid}'; keep one hit per document`);
      seen.add(d!);
      const content = (hit.content as string).trim();
      const prev = out.docs.get(d!);
      if (prev !== undefined && prev !== content) fail([i, j], hat, `document '${d}' has a different text than at ${docWhere.get(d!)}; one id, one text`);
      out.docs.set(d!, content);
      if (!docWhere.has(d!)) docWhere.set(d!, hat);
      hits.push({ docid: d!, rank: hit.rank as number, score: hit.score as number, order: j });
    });
    const prevEntry = entryOf.get(qid!);
    if (prevEntry !== undefined) fail([i], at, `query '${qid}' already has the entry [${prevEntry}]; merge them`);
    entryOf.set(qid!, i);
    hits.sort((a, b) => a.rank - b.rank || a.order - b.order);
    out.queries.set(qid!, (entry.query as string).trim());
    out.candidates.set(qid!, hits.map((h) => h.docid));
    out.run.set(qid!, hits.map((h) => ({ docid: h.docid, score: h.score })));
  });
  return out;
}

export function readCandidateJson(path: string): CandidateList {
  return parseCandidateJson(readText(path, 'candidate list'), path);
}
