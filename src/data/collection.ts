/**
 * The common output of every collection reader, and the small helpers the readers share.
 *
 * A `Collection` holds texts by id and the judgements:
 * - `qrels` only has what the files list. For collections whose qrels list relevant documents only (the SMART
 *   collections, BEIR-SciFact), `unlistedNonRelevant` says that any other document of a judged query counts as
 *   judged non-relevant (grade 0); a query absent from the qrels stays unjudged either way.
 * - `candidates` are the documents to pair with each query, in rank order: from a run file, a JSON candidate list,
 *   or our own BM25 (src/data/bm25.ts). `run` keeps the scores when there are any.
 * - `relThreshold`: the minimum grade of a relevant pair (SPEC: TREC DL 2, binary collections 1).
 */
import { rankDocs } from './ranking.ts';
import { UserError } from '../util/errors.ts';
import type { Qrels, Run } from './trec.ts';

export interface Collection {
  name: string;
  /** docid -> passage text */
  docs: Map<string, string>;
  /** qid -> query text */
  queries: Map<string, string>;
  /** qid -> docid -> grade, as listed in the files (plus the mappings documented by each reader) */
  qrels: Qrels;
  /** qid -> candidate docids in rank order */
  candidates?: Map<string, string[]>;
  /** the scored ranking the candidates come from, when it has scores */
  run?: Run;
  /** minimum grade of a relevant pair */
  relThreshold: number;
  /** the qrels list relevant documents only: every other document of a judged query is non-relevant */
  unlistedNonRelevant: boolean;
}

/** One line of a text file: 1-based number and content without the line terminator (LF or CRLF). */
export interface Line { no: number; text: string }

/** Splits text into lines, dropping a UTF-8 BOM and the CR of CRLF endings. A final empty line is dropped. */
export function splitLines(text: string): Line[] {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const parts = text.split('\n');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts.map((t, i) => ({ no: i + 1, text: t.endsWith('\r') ? t.slice(0, -1) : t }));
}

/** A line quoted for an error message, cut to 80 characters. */
export function show(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 77)}...` : raw);
}

/** Strips leading zeros from an all-digit id (`001` -> `1`, `0` stays); other ids are returned unchanged. */
export function normaliseNumericId(id: string): string {
  return /^\d+$/.test(id) ? id.replace(/^0+(?=\d)/, '') : id;
}

/** Collapses runs of whitespace (newlines included) to one space and trims. */
export function collapseSpace(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

/** Adds a judgement, refusing a second one for the same (qid, docid) as trec_eval does. */
export function addQrel(qrels: Qrels, qid: string, docid: string, grade: number, where: string): void {
  let q = qrels.get(qid);
  if (!q) qrels.set(qid, (q = new Map()));
  if (q.has(docid)) {
    throw new UserError(`${where}: document '${docid}' of query '${qid}' is judged twice (trec_eval stops on duplicate docs); keep one judgement`);
  }
  q.set(docid, grade);
}

/** Number of (qid, docid) judgements. */
export function qrelsCount(qrels: Qrels): number {
  let n = 0;
  for (const q of qrels.values()) n += q.size;
  return n;
}

/** Candidates of a run: each query's docids ranked as trec_eval ranks them (score descending, ties by docid descending). */
export function candidatesOfRun(run: Run): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [qid, docs] of run) out.set(qid, rankDocs(docs).map((d) => d.docid));
  return out;
}

/** Line and column (1-based) of a character offset. */
export function lineColAt(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; start = i + 1; }
  return { line, col: offset - start + 1 };
}

/** JSON.parse with a UserError naming `file:line:col` of a syntax error. */
export function parseJson(text: string, file: string, what: string): unknown {
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  try {
    return JSON.parse(text);
  } catch (e) {
    const at = lineColAt(text, jsonSyntaxErrorAt(text));
    throw new UserError(`${file}:${at.line}:${at.col}: the ${what} is not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); fix the file or download it again`);
  }
}

const JSON_ATOM = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/** Offset of the first JSON syntax error (Node 20's messages do not always give one); text.length if none. */
export function jsonSyntaxErrorAt(text: string): number {
  let i = 0;
  const fail = (): never => { throw i; };
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const str = () => {
    for (i++; ; i++) {
      if (i >= text.length || text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '"') { i++; return; }
      if (text[i] === '\\') {
        i++;
        if (text[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail(); i += 4; }
        else if (!'"\\/bfnrt'.includes(text[i] ?? 'x')) fail();
      }
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) { i++; return; }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') fail();
          str();
          ws();
          if (text[i] !== ':') fail();
          i++;
        }
        value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === close) { i++; return; }
        fail();
      }
    }
    if (c === '"') return str();
    JSON_ATOM.lastIndex = i;
    const m = JSON_ATOM.exec(text);
    if (!m) fail();
    i += m![0].length;
  };
  try {
    value();
    ws();
    return i;
  } catch (e) {
    if (typeof e === 'number') return e;
    throw e;
  }
}

/**
 * Line (1-based) where the JSON value at `path` starts, `path` listing array indices only (object keys skipped):
 * `[3, 17]` is element 17 of the array inside element 3 of the top-level array. For error messages: called
 * after JSON.parse succeeded, when a value is found wrong. Returns undefined when the path does not exist.
 */
export function jsonLineOf(text: string, path: readonly number[]): number | undefined {
  const stack: { arr: boolean; idx: number; expect: boolean }[] = [];
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') { line++; continue; }
    if (c === ' ' || c === '\t' || c === '\r') continue;
    const top = stack[stack.length - 1];
    if (top?.arr && top.expect && c !== ']') {
      top.idx++;
      top.expect = false;
      const p = stack.filter((s) => s.arr).map((s) => s.idx);
      if (p.length === path.length && p.every((x, k) => x === path[k])) return line;
    }
    if (c === '"') { // skip the string
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '[' || c === '{') stack.push({ arr: c === '[', idx: -1, expect: c === '[' });
    else if (c === ']' || c === '}') stack.pop();
    else if (c === ',' && top?.arr) top.expect = true;
  }
  return undefined;
}
