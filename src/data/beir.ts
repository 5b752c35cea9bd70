/**
 * BEIR folders: `corpus.jsonl` (`{"_id", "title", "text"}` per line), `queries.jsonl` (`{"_id", "text"}`),
 * `qrels/<split>.tsv` (header `query-id<TAB>corpus-id<TAB>score`, then one judgement per line).
 *
 * Passage text = title + ' ' + text, trimmed: what BEIR's cross-encoder re-ranking (`beir.reranking.Rerank`)
 * feeds the model. Ids may be JSON strings or numbers (a few BEIR exports write numbers); both become strings.
 * Scores are integers (BEIR keeps 0 judgements for some sets, e.g. TREC-COVID, NFCorpus); a negative score is
 * kept and, as in trec_eval, never counts as relevant. BEIR's evaluation treats every unlisted document as
 * non-relevant; whether pair selection does so is the dataset config's `unlisted` choice.
 * Every malformed line is a UserError naming `file:line`.
 */
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { addQrel, type Collection, show, splitLines } from './collection.ts';
import { type Qrels, readText } from './trec.ts';

function idOf(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.trim() !== '') return v.trim();
  return undefined;
}

/** Calls fn(object, lineNo) for each non-blank JSONL line. */
function eachJsonLine(text: string, file: string, fn: (o: Record<string, unknown>, no: number) => void): void {
  for (const { no, text: raw } of splitLines(text)) {
    if (raw.trim() === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      throw new UserError(`${file}:${no}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}): ${show(raw)}; each line must be one JSON object`);
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new UserError(`${file}:${no}: expected a JSON object, found ${show(raw)}; each line must be one JSON object`);
    fn(o as Record<string, unknown>, no);
  }
}

function putUnique(map: Map<string, string>, seenAt: Map<string, number>, id: string, value: string, file: string, no: number): void {
  const prev = seenAt.get(id);
  if (prev !== undefined) throw new UserError(`${file}:${no}: id '${id}' already defined on line ${prev}; keep one line per id`);
  seenAt.set(id, no);
  map.set(id, value);
}

/** corpus.jsonl -> docid -> (title + ' ' + text). */
export function parseBeirCorpus(text: string, file: string): Map<string, string> {
  const docs = new Map<string, string>();
  const seenAt = new Map<string, number>();
  eachJsonLine(text, file, (o, no) => {
    const id = idOf(o._id);
    if (id === undefined) throw new UserError(`${file}:${no}: missing "_id" (a non-empty string or number); BEIR corpus lines are {"_id", "title", "text"}`);
    for (const k of ['title', 'text'] as const) {
      if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') throw new UserError(`${file}:${no}: "${k}" of document '${id}' must be a string; fix the line`);
    }
    if (typeof o.text !== 'string') throw new UserError(`${file}:${no}: document '${id}' has no "text" string; BEIR corpus lines are {"_id", "title", "text"}`);
    putUnique(docs, seenAt, id, `${(o.title as string | undefined) ?? ''} ${o.text}`.trim(), file, no);
  });
  return docs;
}

/** queries.jsonl -> qid -> text. */
export function parseBeirQueries(text: string, file: string): Map<string, string> {
  const queries = new Map<string, string>();
  const seenAt = new Map<string, number>();
  eachJsonLine(text, file, (o, no) => {
    const id = idOf(o._id);
    if (id === undefined) throw new UserError(`${file}:${no}: missing "_id" (a non-empty string or number); BEIR query lines are {"_id", "text"}`);
    if (typeof o.text !== 'string' || o.text.trim() === '') throw new UserError(`${file}:${no}: query '${id}' has no "text"; add the query text`);
    putUnique(queries, seenAt, id, o.text.trim(), file, no);
  });
  return queries;
}

/** qrels/<split>.tsv (`query-id corpus-id score`, header first) -> Qrels. */
export function parseBeirQrels(text: string, file: string): Qrels {
  const qrels: Qrels = new Map();
  let header = false;
  for (const { no, text: raw } of splitLines(text)) {
    if (raw.trim() === '') continue;
    const f = raw.split('\t').map((x) => x.trim());
    if (!header) {
      if (f.join(' ') !== 'query-id corpus-id score') {
        throw new UserError(`${file}:${no}: expected the header 'query-id<TAB>corpus-id<TAB>score', found ${show(raw)}; BEIR qrels files start with it`);
      }
      header = true;
      continue;
    }
    if (f.length !== 3 || f[0] === '' || f[1] === '') throw new UserError(`${file}:${no}: expected 3 tab-separated fields 'query-id corpus-id score', found ${show(raw)}; fix or remove the line`);
    if (!/^[+-]?\d+$/.test(f[2])) throw new UserError(`${file}:${no}: score '${f[2]}' is not an integer: ${show(raw)}; write integer scores`);
    addQrel(qrels, f[0], f[1], Number(f[2]), `${file}:${no}`);
  }
  if (!header) throw new UserError(`${file}: empty qrels file; expected the header 'query-id<TAB>corpus-id<TAB>score' and judgement lines`);
  return qrels;
}

/** Reads a BEIR folder (`corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`), without candidates. */
export function readBeirFolder(dir: string, name: string, split = 'test', relThreshold = 1): Collection {
  const corpus = join(dir, 'corpus.jsonl');
  const queries = join(dir, 'queries.jsonl');
  const qrels = join(dir, 'qrels', `${split}.tsv`);
  return {
    name,
    docs: parseBeirCorpus(readText(corpus, 'BEIR corpus'), corpus),
    queries: parseBeirQueries(readText(queries, 'BEIR queries'), queries),
    qrels: parseBeirQrels(readText(qrels, 'BEIR qrels'), qrels),
    relThreshold,
    unlistedNonRelevant: true,
  };
}
