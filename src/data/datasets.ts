/**
 * The experiment datasets config (data/datasets.json) and the loader that turns one entry into a Collection.
 *
 * Config: `{ "version": 1, "datasets": [entry, ...] }`; each entry:
 *   name          unique, [A-Za-z0-9._-]+
 *   group         "in-domain" | "out-of-domain"
 *   format        "rank-llm-json" | "tsv" | "beir" | "smart" | "scifact-csv-zip"
 *   files         paths; `${shared}` is replaced by the shared root given to loadDatasetConfig, and a relative
 *                 path is taken from the config file's folder. Keys by format:
 *                   rank-llm-json: candidates (the JSON list: queries, passages, candidates), qrels, [topics]
 *                   tsv:           docs, queries, qrels, [candidates | run]
 *                   beir:          dir, [candidates | run]
 *                   smart:         docs, queries, qrels, [candidates | run]
 *                   scifact-csv-zip: zip, qrels, [candidates | run]
 *   relThreshold  minimum grade of a relevant pair (TREC DL 2; binary collections 1)
 *   unlisted      "nonrel": the qrels list relevant documents only and any other document of a judged query is
 *                 judged non-relevant; "unjudged": unlisted documents are unjudged
 *   bm25          first stage when there is no candidates/run file: { k (default 100), k1, b, stopwords }
 *   qrelsFormat   smart only: "trec" | "cranfield" | "smart" (see src/data/smart.ts)
 *   queryIds      smart only: "file" | "running" (Cranfield: running, to match cranqrel)
 *   docQuoting    tsv only: "none" | "csv" (see src/data/tsv.ts)
 *   split         beir: qrels split (default "test"); scifact-csv-zip: claims file (default "validation")
 *   grades, notes free text for people (what the grades mean, choices made)
 * Unknown keys are errors, so that a typo does not silently fall back to a default.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { UserError } from '../util/errors.ts';
import { readBeirFolder } from './beir.ts';
import { bm25Run, type Bm25Options } from './bm25.ts';
import { readCandidateJson } from './candidates-json.ts';
import { candidatesOfRun, type Collection, parseJson } from './collection.ts';
import { readSciFactZip, type SciFactFiles } from './scifact.ts';
import { readSmartCollection, type SmartQrelsFormat } from './smart.ts';
import { readQrels, readRun, readTopicsTsv } from './trec.ts';
import { readDocsTsv } from './tsv.ts';
import { decodeUtf8 } from './text.ts';

export type DatasetFormat = 'rank-llm-json' | 'tsv' | 'beir' | 'smart' | 'scifact-csv-zip';
export type DatasetGroup = 'in-domain' | 'out-of-domain';

export interface DatasetEntry {
  name: string;
  group: DatasetGroup;
  format: DatasetFormat;
  /** absolute paths */
  files: Record<string, string>;
  relThreshold: number;
  unlisted: 'nonrel' | 'unjudged';
  bm25?: Bm25Options & { k?: number };
  qrelsFormat?: SmartQrelsFormat;
  queryIds?: 'file' | 'running';
  docQuoting?: 'none' | 'csv';
  split?: string;
  grades?: string;
  notes?: string;
  /** where the entry was read, for messages: `file: datasets[i] ('name')` */
  where: string;
}

export interface DatasetConfig {
  file: string;
  datasets: DatasetEntry[];
}

const FILES: Record<DatasetFormat, { required: string[]; optional: string[] }> = {
  'rank-llm-json': { required: ['candidates', 'qrels'], optional: ['topics'] },
  tsv: { required: ['docs', 'queries', 'qrels'], optional: ['candidates', 'run'] },
  beir: { required: ['dir'], optional: ['candidates', 'run'] },
  smart: { required: ['docs', 'queries', 'qrels'], optional: ['candidates', 'run'] },
  'scifact-csv-zip': { required: ['zip', 'qrels'], optional: ['candidates', 'run'] },
};
const KEYS = new Set(['name', 'group', 'format', 'files', 'relThreshold', 'unlisted', 'bm25', 'qrelsFormat', 'queryIds', 'docQuoting', 'split', 'grades', 'notes']);
const BM25_KEYS = new Set(['k', 'k1', 'b', 'stopwords']);

function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string, key: string): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new UserError(`${where}: "${key}" is ${JSON.stringify(v)}; use one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  return v as T;
}

/** Replaces `${shared}` and resolves a path against the config file's folder. */
function expandPath(p: string, shared: string, configDir: string, where: string): string {
  const s = p.replace(/\$\{(\w+)\}/g, (m, name: string) => {
    if (name !== 'shared') throw new UserError(`${where}: unknown placeholder ${m} in ${JSON.stringify(p)}; only \${shared} is defined`);
    return shared;
  });
  return isAbsolute(s) ? s : resolve(configDir, s);
}

function checkEntry(raw: unknown, i: number, file: string, shared: string): DatasetEntry {
  const name = (raw as { name?: unknown } | null)?.name;
  const where = `${file}: datasets[${i}]${typeof name === 'string' ? ` ('${name}')` : ''}`;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UserError(`${where}: expected an object; see src/data/datasets.ts for the fields`);
  const e = raw as Record<string, unknown>;
  for (const k of Object.keys(e)) if (!KEYS.has(k)) throw new UserError(`${where}: unknown key "${k}"; known: ${[...KEYS].join(', ')}`);
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) throw new UserError(`${where}: "name" must be letters, digits, '.', '_' or '-'; fix the name`);
  const format = oneOf(e.format, Object.keys(FILES) as DatasetFormat[], where, 'format');
  const group = oneOf(e.group, ['in-domain', 'out-of-domain'] as const, where, 'group');
  const unlisted = oneOf(e.unlisted, ['nonrel', 'unjudged'] as const, where, 'unlisted');
  if (typeof e.relThreshold !== 'number' || !Number.isInteger(e.relThreshold) || e.relThreshold <= 0) {
    throw new UserError(`${where}: "relThreshold" is ${JSON.stringify(e.relThreshold)}; give the minimum relevant grade, a whole number > 0 (TREC DL 2, binary 1)`);
  }
  if (typeof e.files !== 'object' || e.files === null || Array.isArray(e.files)) throw new UserError(`${where}: "files" must be an object of paths`);
  const spec = FILES[format];
  const files: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.files as Record<string, unknown>)) {
    if (!spec.required.includes(k) && !spec.optional.includes(k)) throw new UserError(`${where}: files."${k}" is not used by format "${format}" (it takes ${[...spec.required, ...spec.optional].join(', ')})`);
    if (typeof v !== 'string' || v === '') throw new UserError(`${where}: files."${k}" must be a path string`);
    files[k] = expandPath(v, shared, dirname(resolve(file)), where);
  }
  for (const k of spec.required) if (!(k in files)) throw new UserError(`${where}: files."${k}" is required for format "${format}"`);
  if (files.candidates && files.run && format !== 'rank-llm-json') throw new UserError(`${where}: give files."candidates" or files."run", not both`);
  const entry: DatasetEntry = { name, group, format, files, relThreshold: e.relThreshold, unlisted, where };
  if (e.bm25 !== undefined) {
    if (typeof e.bm25 !== 'object' || e.bm25 === null) throw new UserError(`${where}: "bm25" must be an object {k, k1, b, stopwords}`);
    const b = e.bm25 as Record<string, unknown>;
    for (const k of Object.keys(b)) if (!BM25_KEYS.has(k)) throw new UserError(`${where}: unknown bm25 key "${k}"; known: k, k1, b, stopwords`);
    for (const k of ['k', 'k1', 'b'] as const) if (b[k] !== undefined && (typeof b[k] !== 'number' || !((b[k] as number) >= 0))) throw new UserError(`${where}: bm25.${k} must be a number >= 0`);
    if (b.k !== undefined && !Number.isInteger(b.k)) throw new UserError(`${where}: bm25.k must be a whole number`);
    if (b.stopwords !== undefined && typeof b.stopwords !== 'boolean') throw new UserError(`${where}: bm25.stopwords must be true or false`);
    entry.bm25 = b as DatasetEntry['bm25'];
  }
  if (format === 'smart') {
    entry.qrelsFormat = oneOf(e.qrelsFormat, ['trec', 'cranfield', 'smart'] as const, where, 'qrelsFormat');
    entry.queryIds = e.queryIds === undefined ? 'file' : oneOf(e.queryIds, ['file', 'running'] as const, where, 'queryIds');
  } else if (e.qrelsFormat !== undefined || e.queryIds !== undefined) throw new UserError(`${where}: "qrelsFormat" and "queryIds" belong to format "smart" only`);
  if (e.docQuoting !== undefined) {
    if (format !== 'tsv') throw new UserError(`${where}: "docQuoting" belongs to format "tsv" only`);
    entry.docQuoting = oneOf(e.docQuoting, ['none', 'csv'] as const, where, 'docQuoting');
  }
  if (e.split !== undefined) {
    if (format === 'scifact-csv-zip') oneOf(e.split, ['train', 'validation', 'test'] as const, where, 'split');
    else if (format !== 'beir' || typeof e.split !== 'string') throw new UserError(`${where}: "split" belongs to formats "beir" and "scifact-csv-zip"`);
    entry.split = e.split as string;
  }
  for (const k of ['grades', 'notes'] as const) {
    if (e[k] !== undefined && typeof e[k] !== 'string') throw new UserError(`${where}: "${k}" must be a string`);
    if (e[k] !== undefined) entry[k] = e[k] as string;
  }
  return entry;
}

/** Parses a datasets config; `shared` replaces `${shared}` in paths. */
export function parseDatasetConfig(text: string, file: string, opts: { shared: string }): DatasetConfig {
  const data = parseJson(text, file, 'datasets config');
  if (typeof data !== 'object' || data === null || !Array.isArray((data as { datasets?: unknown }).datasets)) {
    throw new UserError(`${file}: expected {"version": 1, "datasets": [...]}; see data/datasets.json`);
  }
  for (const k of Object.keys(data)) if (!['version', 'notes', 'datasets'].includes(k)) throw new UserError(`${file}: unknown top-level key "${k}"; known: version, notes, datasets`);
  const version = (data as { version?: unknown }).version;
  if (version !== 1) throw new UserError(`${file}: "version" is ${JSON.stringify(version)}; this reader knows version 1`);
  const datasets = ((data as { datasets: unknown[] }).datasets).map((d, i) => checkEntry(d, i, file, resolve(opts.shared)));
  const seen = new Set<string>();
  for (const d of datasets) {
    if (seen.has(d.name)) throw new UserError(`${d.where}: dataset name '${d.name}' is used twice; names must be unique`);
    seen.add(d.name);
  }
  return { file, datasets };
}

export function loadDatasetConfig(file: string, opts: { shared: string }): DatasetConfig {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new UserError(`${file}: cannot read the datasets config (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`);
  }
  const text = decodeUtf8(bytes, file);
  return parseDatasetConfig(text, file, opts);
}

/** The collection of one entry, with candidates from its JSON list or run, else (unless `bm25: false`) BM25. */
export function loadDataset(entry: DatasetEntry, opts: { bm25?: boolean } = {}): Collection {
  const f = entry.files;
  let c: Collection;
  switch (entry.format) {
    case 'rank-llm-json': {
      const list = readCandidateJson(f.candidates);
      if (f.topics) {
        const topics = readTopicsTsv(f.topics);
        for (const [qid, q] of list.queries) {
          const t = topics.get(qid);
          if (t === undefined) throw new UserError(`${entry.where}: query '${qid}' of ${f.candidates} is not in ${f.topics}; use the matching topics file`);
          if (t !== q) throw new UserError(`${entry.where}: query '${qid}' reads ${JSON.stringify(q)} in ${f.candidates} but ${JSON.stringify(t)} in ${f.topics}; use matching files`);
        }
      }
      c = { name: entry.name, docs: list.docs, queries: list.queries, qrels: readQrels(f.qrels), candidates: list.candidates, run: list.run, relThreshold: 1, unlistedNonRelevant: false };
      break;
    }
    case 'tsv':
      c = { name: entry.name, docs: readDocsTsv(f.docs, { quoting: entry.docQuoting }), queries: readTopicsTsv(f.queries), qrels: readQrels(f.qrels), relThreshold: 1, unlistedNonRelevant: false };
      break;
    case 'beir':
      c = readBeirFolder(f.dir, entry.name, entry.split ?? 'test');
      break;
    case 'smart':
      c = readSmartCollection({ name: entry.name, docs: f.docs, queries: f.queries, qrels: f.qrels, qrelsFormat: entry.qrelsFormat!, queryIds: entry.queryIds });
      break;
    case 'scifact-csv-zip':
      c = readSciFactZip({ name: entry.name, zip: f.zip, qrels: f.qrels, claims: (entry.split ?? 'validation') as SciFactFiles['claims'] });
      break;
  }
  c.name = entry.name;
  c.relThreshold = entry.relThreshold;
  c.unlistedNonRelevant = entry.unlisted === 'nonrel';
  if (entry.format !== 'rank-llm-json' && (f.candidates || f.run)) {
    if (f.candidates) {
      const list = readCandidateJson(f.candidates);
      c.candidates = list.candidates;
      c.run = list.run;
    } else {
      c.run = readRun(f.run);
      c.candidates = candidatesOfRun(c.run);
    }
    const missing = [...c.candidates].flatMap(([, ds]) => ds.filter((d) => !c.docs.has(d)));
    if (missing.length) throw new UserError(`${entry.where}: ${missing.length} candidate documents of ${f.candidates ?? f.run} are not in the collection (e.g. '${missing[0]}'); use the run of this collection`);
  } else if (!c.candidates && opts.bm25 !== false) {
    const { k = 100, ...bm25 } = entry.bm25 ?? {};
    c.run = bm25Run(c.docs, c.queries, k, bm25);
    c.candidates = candidatesOfRun(c.run);
  }
  return c;
}
