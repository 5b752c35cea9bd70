/**
 * MS MARCO-style TSV: documents `docid<TAB>text` (collection.tsv, NovelEval corpus.tsv) and queries
 * `qid<TAB>query` (read with parseTopicsTsv of src/data/trec.ts, which this module does not duplicate).
 *
 * The text is everything after the first tab, tabs included. With `quoting: 'csv'` a text that starts with `"`
 * is a CSV-quoted field (pandas `to_csv(sep='\t')` writes them): the outer quotes go and `""` becomes `"`.
 * NovelEval's corpus.tsv needs it (79 of its 420 passages are quoted, one of them holds 23 tabs); its
 * data.json has the same passages unquoted, which the tests compare. MS MARCO's collection.tsv is not quoted:
 * leave `quoting: 'none'` (the default) there, where a passage may start and end with a quote of its own.
 * CRLF endings and a BOM are accepted; blank lines are skipped; a duplicate id is an error.
 */
import { UserError } from '../util/errors.ts';
import { show, splitLines } from './collection.ts';
import { readText } from './trec.ts';

export interface DocsTsvOptions { quoting?: 'none' | 'csv' }

/** Parses `docid<TAB>text` lines into docid -> text. */
export function parseDocsTsv(text: string, file: string, opts: DocsTsvOptions = {}): Map<string, string> {
  const docs = new Map<string, string>();
  const seenAt = new Map<string, number>();
  for (const { no, text: raw } of splitLines(text)) {
    if (raw.trim() === '') continue;
    const tab = raw.indexOf('\t');
    if (tab < 0) throw new UserError(`${file}:${no}: expected 'docid<TAB>text', found no tab: ${show(raw)}; separate the id and the text with a tab`);
    const docid = raw.slice(0, tab).trim();
    if (docid === '' || /\s/.test(docid)) throw new UserError(`${file}:${no}: document id ${JSON.stringify(docid)} is empty or contains spaces: ${show(raw)}; fix the id`);
    let body = raw.slice(tab + 1);
    if (opts.quoting === 'csv' && body.startsWith('"')) {
      const inner = body.slice(1, -1);
      if (body.length < 2 || !body.endsWith('"') || !/^(?:[^"]|"")*$/.test(inner)) {
        throw new UserError(`${file}:${no}: document '${docid}' starts a CSV-quoted text but does not end it with a lone '"' (inner quotes must be doubled): ${show(raw)}; fix the quoting or read the file with quoting 'none'`);
      }
      body = inner.replace(/""/g, '"');
    }
    const prev = seenAt.get(docid);
    if (prev !== undefined) throw new UserError(`${file}:${no}: document id '${docid}' already defined on line ${prev}; keep one line per document`);
    seenAt.set(docid, no);
    docs.set(docid, body.trim());
  }
  return docs;
}

export function readDocsTsv(path: string, opts: DocsTsvOptions = {}): Map<string, string> {
  return parseDocsTsv(readText(path, 'documents'), path, opts);
}
