/**
 * TREC text formats: qrels (`qid iter docid grade`), run files (`qid Q0 docid rank score tag`) and topics
 * TSV (`qid<TAB>query`, optionally gzipped). The pure parsers take the text and the file name (for messages)
 * and come first; the `read*` wrappers below only add file reading.
 *
 * Parsing follows trec_eval (get_qrels.c, get_trec_results.c in usnistgov/trec_eval):
 * - fields are split on C `isspace` characters (space, \t, \r, \v, \f), so CRLF files parse like LF files;
 * - lines whose first non-blank character is `#` are comments; blank lines are skipped (trec_eval skips them in
 *   runs and rejects them in qrels; we skip them in both);
 * - a qrels line has exactly 4 fields, the iter field is ignored, the grade is an integer and may be negative
 *   (trec_eval reads a negative grade as "in the pool but unjudged": no gain, never relevant);
 * - a run line has at least 6 fields; the rank field and anything after the tag are ignored (trec_eval ranks by
 *   score, see src/data/ranking.ts); the run tag reported is the one on the last line, as trec_eval does;
 * - a docid listed twice for one query is an error in both files: trec_eval stops with "duplicate docs".
 * Every malformed line is a UserError naming `file:line`.
 */
import { gunzipSync } from 'node:zlib';
import { UserError } from '../util/errors.ts';
import { decodeUtf8 } from './text.ts';
import { readInput } from '../util/stdio.ts';

/** qid -> docid -> grade. */
export type Qrels = Map<string, Map<string, number>>;
/** One retrieved document of a run. */
export interface ScoredDoc { docid: string; score: number }
/** qid -> retrieved documents, in file order (the order carries no meaning: metrics rank by score). */
export type Run = Map<string, ScoredDoc[]>;
/** qid -> query text. */
export type Topics = Map<string, string>;

const SPACE = /[ \t\r\v\f]+/; // C isspace minus '\n', which never occurs inside a line here

/** Calls `fn(fields, lineNo, raw)` for each content line (1-based line numbers, comments and blanks skipped). */
function eachLine(text: string, fn: (fields: string[], lineNo: number, raw: string) => void): void {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[0].startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    const fields = raw.split(SPACE).filter((f) => f !== '');
    if (fields.length === 0 || fields[0].startsWith('#')) continue;
    fn(fields, i + 1, raw);
  }
}

function show(raw: string): string {
  const s = raw.length > 80 ? `${raw.slice(0, 77)}...` : raw;
  return JSON.stringify(s);
}

/** Parses TREC qrels text (`qid iter docid grade`). */
export function parseQrels(text: string, file: string): Qrels {
  const qrels: Qrels = new Map();
  const seenAt = new Map<string, number>(); // `${qid}\n${docid}` -> line
  eachLine(text, (f, line, raw) => {
    if (f.length !== 4) {
      throw new UserError(`${file}:${line}: expected 4 fields 'qid iter docid grade' (TREC qrels), found ${f.length}: ${show(raw)}; fix or remove the line`);
    }
    const [qid, , docid, g] = f;
    if (!/^[+-]?\d+$/.test(g) || !Number.isSafeInteger(Number(g))) {
      throw new UserError(`${file}:${line}: grade '${g}' is not an integer (TREC qrels 'qid iter docid grade'): ${show(raw)}; write integer grades`);
    }
    const key = `${qid}\n${docid}`;
    const prev = seenAt.get(key);
    if (prev !== undefined) {
      throw new UserError(`${file}:${line}: docid '${docid}' of query '${qid}' is already judged on line ${prev} (trec_eval stops on duplicate docs); keep one judgement`);
    }
    seenAt.set(key, line);
    let q = qrels.get(qid);
    if (!q) qrels.set(qid, (q = new Map()));
    q.set(docid, Number(g));
  });
  return qrels;
}

/** Parses a TREC run (`qid Q0 docid rank score tag`) and returns it with the tag of its last line. */
export function parseRunWithTag(text: string, file: string): { run: Run; tag: string } {
  const run: Run = new Map();
  const seenAt = new Map<string, number>();
  let tag = '';
  eachLine(text, (f, line, raw) => {
    if (f.length < 6) {
      throw new UserError(`${file}:${line}: expected 6 fields 'qid Q0 docid rank score tag' (TREC run), found ${f.length}: ${show(raw)}; fix or remove the line`);
    }
    const [qid, , docid, , s] = f;
    const score = Number(s);
    if (s === '' || !Number.isFinite(score)) {
      throw new UserError(`${file}:${line}: score '${s}' (field 5 of 'qid Q0 docid rank score tag') is not a finite number: ${show(raw)}; write a numeric score`);
    }
    const key = `${qid}\n${docid}`;
    const prev = seenAt.get(key);
    if (prev !== undefined) {
      throw new UserError(`${file}:${line}: docid '${docid}' of query '${qid}' already appears on line ${prev} (trec_eval stops on duplicate docs); keep one line per docid`);
    }
    seenAt.set(key, line);
    let docs = run.get(qid);
    if (!docs) run.set(qid, (docs = []));
    docs.push({ docid, score });
    tag = f[5];
  });
  return { run, tag };
}

/** Parses a TREC run (`qid Q0 docid rank score tag`). */
export function parseRun(text: string, file: string): Run {
  return parseRunWithTag(text, file).run;
}

/** Parses a topics TSV (`qid<TAB>query`; the query is everything after the first tab, trimmed). */
export function parseTopicsTsv(text: string, file: string): Topics {
  const topics: Topics = new Map();
  const seenAt = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.length > 0 && lines[0].startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i].endsWith('\r') ? lines[i].slice(0, -1) : lines[i];
    if (raw.trim() === '') continue;
    const tab = raw.indexOf('\t');
    if (tab < 0) throw new UserError(`${file}:${line}: expected 'qid<TAB>query', found no tab: ${show(raw)}; separate the id and the query with a tab`);
    const qid = raw.slice(0, tab).trim();
    const query = raw.slice(tab + 1).trim();
    if (qid === '' || /\s/.test(qid)) throw new UserError(`${file}:${line}: query id ${JSON.stringify(qid)} is empty or contains spaces: ${show(raw)}; fix the id`);
    if (query === '') throw new UserError(`${file}:${line}: query '${qid}' has empty text; add the query or remove the line`);
    const prev = seenAt.get(qid);
    if (prev !== undefined) throw new UserError(`${file}:${line}: query id '${qid}' already defined on line ${prev}; keep one line per query`);
    seenAt.set(qid, line);
    topics.set(qid, query);
  }
  return topics;
}

/** The most bytes a text file may decompress to: about the longest string V8 holds (2^29 − 24 characters). */
const MAX_TEXT_BYTES = 2 ** 29;

/** Reads a file as strict UTF-8 text (BOM dropped, other bytes refused: src/data/text.ts), gunzipping it first when it starts with the gzip magic bytes. */
export function readText(path: string, what: string): string {
  let buf: Buffer;
  try {
    buf = readInput(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new UserError(`${path}: cannot read the ${what} file (${code}); check the path`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: MAX_TEXT_BYTES }); // a gzip bomb stops here, not in memory
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new UserError(`${path}: the ${what} file inflates to more than ${MAX_TEXT_BYTES} bytes, more than a JavaScript string holds; split it or check that it is the right file`);
      throw new UserError(`${path}: the ${what} file looks gzipped but does not decompress (${(e as Error).message.replace(/\s+/g, ' ')}); re-download it`);
    }
  }
  return decodeUtf8(buf, path);
}

export function readQrels(path: string): Qrels {
  return parseQrels(readText(path, 'qrels'), path);
}

export function readRun(path: string): Run {
  return parseRun(readText(path, 'run'), path);
}

export function readRunWithTag(path: string): { run: Run; tag: string } {
  return parseRunWithTag(readText(path, 'run'), path);
}

/** Reads a topics TSV; `.gz` files (any file with the gzip magic bytes) are decompressed with node:zlib. */
export function readTopicsTsv(path: string): Topics {
  return parseTopicsTsv(readText(path, 'topics'), path);
}
