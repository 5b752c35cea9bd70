/**
 * The classic SMART test collections (Glasgow/Cornell files): Cranfield, MEDLINE, CISI, CACM, ADI.
 *
 * Records: a line `.I <id>` starts a record; a line `.X` (one capital letter alone, trailing blanks allowed) starts
 * field X of it, whose text runs to the next marker (a letter followed by text, `.A foo`, is a text line). Fields seen: .T title, .A author (repeated per author in
 * CISI), .B bibliography, .W abstract/body, .X citations, .K keywords, .C categories, .N entry note.
 * CRLF and LF files parse alike (MED.*, CISI.*, ADI.*, cran.qry and CACM are CRLF; cran.all.1400 is LF).
 * Damaged records kept readable, each case seen in the real files:
 * - a marker that repeats a field while inside .W is a stray line and the body goes on (Cranfield 240 has `.A`
 *   and `.B` lines inside its abstract, 576 and 578 a second `.W`; ir_datasets would move those lines to the
 *   author and bib fields and lose them from the text);
 * - a repeated field elsewhere is appended, unless its text repeats what is there (ADI 67 has its title twice);
 * - digits alone on the line after `.I <digits>` continue the id (this CACM copy splits `.I 2856` into `.I 28`
 *   and `56`: the +1 byte noted in data/REPORT.md). Any other text before the first field marker is an error.
 * Ids made of digits lose their leading zeros (`.I 001` -> `1`, qrels `01` -> `1`).
 * Document text = title + ' ' + body, whitespace collapsed; when the body starts with the title (Cranfield
 * repeats it) the body alone. Query text = .W (or .T when there is no .W).
 *
 * Qrels formats:
 * - `trec`: `qid 0 docid grade` (MEDLINE's MED.REL: `qid 0 docid 1`), read by src/data/trec.ts;
 * - `cranfield`: `qid docid code` (cranqrel). The codes are -1, 1, 2, 3, 4. We follow ir_datasets
 *   (datasets/cranfield.py, QREL_DEFS): 4 = complete answer, 3 = high relevance, 2 = useful, 1 = minimum
 *   interest, -1 = no interest, which becomes grade 0 (judged non-relevant). cranqrel.readme quotes Cleverdon's
 *   opposite scale (1 = complete answer ... 4 = minimum interest, 5 = none); the two conflict, and with a
 *   binary threshold of 1 the choice does not change which pairs are relevant, only the nDCG gains.
 *   cranqrel numbers queries 1..225 in file order while cran.qry says `.I 001, 002, 004 ... 365`: read the
 *   queries with `ids: 'running'` so that they match.
 * - `smart`: `qid docid 0 0[.000000]` (CISI.REL, ADI.REL, CACM qrels.text): each line marks a relevant
 *   document, grade 1; the last two fields carry nothing.
 * These qrels list relevant documents only: every other document is non-relevant (`unlistedNonRelevant`).
 */
import { UserError } from '../util/errors.ts';
import { addQrel, collapseSpace, type Collection, normaliseNumericId, show, splitLines } from './collection.ts';
import { parseQrels, type Qrels, readText } from './trec.ts';

export interface SmartRecord {
  /** id as written after `.I`, leading zeros removed when numeric */
  id: string;
  /** id exactly as written (`001`) */
  rawId: string;
  /** line of the `.I` */
  line: number;
  /** field letter -> text segments (each the raw lines of one marker, joined by '\n') */
  fields: Map<string, string[]>;
}

const MARKER = /^\.([A-Z])(?:[ \t]+(\S.*))?$/;

/** Parses `.I/.T/.A/.B/.W/...` records. */
export function parseSmart(text: string, file: string): SmartRecord[] {
  const records: SmartRecord[] = [];
  const seenAt = new Map<string, number>();
  let rec: SmartRecord | undefined;
  let field: string | undefined; // undefined: right after `.I`
  let segment: string[] = [];
  const flush = () => {
    if (!rec || field === undefined) return;
    const seg = segment.join('\n');
    const list = rec.fields.get(field) ?? [];
    if (!list.some((s) => collapseSpace(s) === collapseSpace(seg))) list.push(seg);
    rec.fields.set(field, list);
  };
  for (const { no, text: raw } of splitLines(text)) {
    const t = raw.trimEnd();
    const m = MARKER.exec(t);
    if (m && m[1] === 'I') {
      flush();
      const rawId = (m[2] ?? '').trim();
      if (rawId === '' || /\s/.test(rawId)) {
        throw new UserError(`${file}:${no}: expected '.I <id>' with one id, found ${show(raw)}; fix the record header`);
      }
      rec = { id: normaliseNumericId(rawId), rawId, line: no, fields: new Map() };
      records.push(rec);
      field = undefined;
      segment = [];
      continue;
    }
    if (!rec) {
      if (t.trim() === '') continue;
      throw new UserError(`${file}:${no}: text before the first '.I' record header: ${show(raw)}; a SMART file starts with '.I <id>'`);
    }
    if (m && m[2] === undefined) {
      const letter = m[1];
      if (field === 'W' && (letter === 'W' || rec.fields.has(letter))) continue; // stray marker inside the body
      flush();
      field = letter;
      segment = [];
      continue;
    }
    if (field === undefined) {
      if (t.trim() === '') continue;
      if (/^\d+$/.test(t.trim()) && /^\d+$/.test(rec.rawId)) { // id split over two lines (CACM 2856)
        rec.rawId += t.trim();
        rec.id = normaliseNumericId(rec.rawId);
        continue;
      }
      throw new UserError(`${file}:${no}: text before the first field marker of record '${rec.rawId}' (line ${rec.line}): ${show(raw)}; start the field with '.T', '.W', ...`);
    }
    segment.push(raw);
  }
  flush();
  for (const r of records) {
    const prev = seenAt.get(r.id);
    if (prev !== undefined) throw new UserError(`${file}:${r.line}: record id '${r.id}' already used on line ${prev}; ids must be unique`);
    seenAt.set(r.id, r.line);
  }
  return records;
}

/** The collapsed text of a field (its segments joined), '' when absent. */
export function smartField(rec: SmartRecord, letter: string): string {
  return collapseSpace((rec.fields.get(letter) ?? []).join(' '));
}

/** docid -> title + body (see the header for the rule); '' for an empty record (Cranfield 471 and 995 are). */
export function smartDocs(records: readonly SmartRecord[]): Map<string, string> {
  const docs = new Map<string, string>();
  for (const r of records) {
    const title = smartField(r, 'T');
    const body = smartField(r, 'W');
    docs.set(r.id, !title ? body : !body ? title : body.startsWith(title) ? body : `${title} ${body}`);
  }
  return docs;
}

/** qid -> query text (.W, else .T). `ids: 'running'` numbers the queries 1, 2, ... in file order (Cranfield). */
export function smartQueries(records: readonly SmartRecord[], file: string, ids: 'file' | 'running' = 'file'): Map<string, string> {
  const queries = new Map<string, string>();
  records.forEach((r, i) => {
    const text = smartField(r, 'W') || smartField(r, 'T');
    if (!text) throw new UserError(`${file}:${r.line}: query '${r.rawId}' has no .W (or .T) text; add the query text or remove the record`);
    queries.set(ids === 'running' ? String(i + 1) : r.id, text);
  });
  return queries;
}

export type SmartQrelsFormat = 'trec' | 'cranfield' | 'smart';

/** Cranfield relevance code -> grade (ir_datasets' reading; see the header). */
const CRANFIELD_GRADE = new Map([[-1, 0], [1, 1], [2, 2], [3, 3], [4, 4]]);

/** Parses the qrels of a SMART collection; see the header for the three layouts. */
export function parseSmartQrels(text: string, file: string, format: SmartQrelsFormat): Qrels {
  if (format === 'trec') {
    const out: Qrels = new Map();
    for (const [qid, docs] of parseQrels(text, file)) {
      for (const [docid, g] of docs) addQrel(out, normaliseNumericId(qid), normaliseNumericId(docid), g, file);
    }
    return out;
  }
  const qrels: Qrels = new Map();
  const layout = format === 'cranfield' ? "'qid docid code' (cranqrel)" : "'qid docid 0 0' (SMART relevance list)";
  const want = format === 'cranfield' ? 3 : 4;
  for (const { no, text: raw } of splitLines(text)) {
    const f = raw.trim().split(/\s+/).filter((x) => x !== '');
    if (f.length === 0) continue;
    if (f.length !== want) throw new UserError(`${file}:${no}: expected ${want} fields ${layout}, found ${f.length}: ${show(raw)}; fix or remove the line`);
    if (!/^\d+$/.test(f[0]) || !/^\d+$/.test(f[1])) {
      throw new UserError(`${file}:${no}: query and document ids must be numbers in ${layout}, found '${f[0]}' and '${f[1]}'; fix the line`);
    }
    let grade = 1;
    if (format === 'cranfield') {
      const g = CRANFIELD_GRADE.get(/^-?\d+$/.test(f[2]) ? Number(f[2]) : NaN);
      if (g === undefined) throw new UserError(`${file}:${no}: relevance code '${f[2]}' is not one of -1, 1, 2, 3, 4 (cranqrel): ${show(raw)}; fix the line`);
      grade = g;
    }
    addQrel(qrels, normaliseNumericId(f[0]), normaliseNumericId(f[1]), grade, `${file}:${no}`);
  }
  return qrels;
}

export interface SmartFiles {
  name: string;
  docs: string;
  queries: string;
  qrels: string;
  qrelsFormat: SmartQrelsFormat;
  queryIds?: 'file' | 'running';
  relThreshold?: number;
}

/** Reads a SMART collection from its three files (without candidates). */
export function readSmartCollection(f: SmartFiles): Collection {
  return {
    name: f.name,
    docs: smartDocs(parseSmart(readText(f.docs, 'documents'), f.docs)),
    queries: smartQueries(parseSmart(readText(f.queries, 'queries'), f.queries), f.queries, f.queryIds),
    qrels: parseSmartQrels(readText(f.qrels, 'qrels'), f.qrels, f.qrelsFormat),
    relThreshold: f.relThreshold ?? 1,
    unlistedNonRelevant: true,
  };
}
