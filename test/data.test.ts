/**
 * Collection readers (src/data/*), BM25, pair selection and the datasets config. Unit tests run on small inline
 * inputs; fixture tests read the real files of ../shared/data and check the counts of data/REPORT.md: on CI
 * (CI=true) a missing folder fails them, locally they are skipped with a note.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluate } from '../src/analysis/metrics.ts';
import { parseBeirCorpus, parseBeirQrels, parseBeirQueries, readBeirFolder } from '../src/data/beir.ts';
import { bm25Run, tokenize } from '../src/data/bm25.ts';
import { parseCandidateJson, readCandidateJson } from '../src/data/candidates-json.ts';
import { type Collection, jsonLineOf, qrelsCount, splitLines } from '../src/data/collection.ts';
import { csvTable, parseCsv, parseNumpyStrArray } from '../src/data/csv.ts';
import { type DatasetEntry, loadDataset, loadDatasetConfig, parseDatasetConfig } from '../src/data/datasets.ts';
import { datasetManifest, eligiblePairs, hash32, type Pair, type PairOptions, selectAllPairs, selectPairs, shuffle } from '../src/data/pairs.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { readSciFactZip } from '../src/data/scifact.ts';
import { parseSmart, parseSmartQrels, smartDocs, smartQueries } from '../src/data/smart.ts';
import { readQrels, readRun, readText, readTopicsTsv } from '../src/data/trec.ts';
import { parseDocsTsv } from '../src/data/tsv.ts';
import { UserError } from '../src/util/errors.ts';
import { needsShared, throwsUserError } from './helpers/shared.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '../shared');
const DATA = path.join(SHARED, 'data');
const COLL = path.join(DATA, 'collections');
const TMP = mkdtempSync(path.join(tmpdir(), 'ir-neurons-data-'));

/** A test that needs ../shared/data (the one rule of test/helpers/shared.ts). */
const fixtureTest = (name: string, fn: () => void | Promise<void>): void => needsShared(test, name, fn, DATA);


async function rejectsUserError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, UserError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a UserError matching ${pattern}`);
}

function tmpFile(name: string, content: string | Uint8Array): string {
  const p = path.join(TMP, name);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

// ------------------------------------------------------------------ line handling, SMART

test('splitLines: LF, CRLF and a BOM give the same lines; line numbers are 1-based', () => {
  const lf = splitLines('a\nb\n\nc\n');
  assert.equal(splitLines('\uFEFFa\r\nb\r\n\r\nc\r\n'), lf);
  assert.equal(lf.map((l) => [l.no, l.text]), [[1, 'a'], [2, 'b'], [3, ''], [4, 'c']]);
});

const SMART_DOCS = [
  '.I 1', '.T', 'a title .', '.A', 'someone', '.W', 'a title .', 'the body', 'goes on .',
  '.I 2', '.T', 'second', '.A', 'x', '.W', 'body two', '.A', 'stray marker inside the body', '.W', 'still the body .', '.X', '1 5 2',
  '.I 0003', '.A', 'x', '.T', 'three', '.T', 'three', '.W', 'body three',
].join('\r\n');

test('parseSmart: CRLF, fields, stray markers inside .W, repeated titles, ids without leading zeros', () => {
  const recs = parseSmart(SMART_DOCS, 'd.all');
  assert.equal(recs.map((r) => [r.id, r.rawId, r.line]), [['1', '1', 1], ['2', '2', 10], ['3', '0003', 23]]);
  const docs = smartDocs(recs);
  assert.is(docs.get('1'), 'a title . the body goes on .', 'the body repeats the title: body only');
  assert.is(docs.get('2'), 'second body two stray marker inside the body still the body .');
  assert.is(docs.get('3'), 'three body three', 'a title given twice is kept once');
  assert.is(recs[1].fields.get('X')![0], '1 5 2');
  for (const t of docs.values()) assert.not.match(t, /\r/);
});

test('parseSmart: an id split over two lines is joined (CACM 2856); errors name file:line', () => {
  assert.is(parseSmart('.I 28\n56\n.T\nx\n', 'c.all')[0].id, '2856');
  throwsUserError(() => parseSmart('junk\n.I 1\n.W\nx\n', 'f.all'), /^f\.all:1: text before the first '\.I'/);
  throwsUserError(() => parseSmart('.I 1\n.W\nx\n.I\n.W\ny\n', 'f.all'), /^f\.all:4: expected '\.I <id>'/);
  throwsUserError(() => parseSmart('.I 1\nnot a field\n', 'f.all'), /^f\.all:2: text before the first field marker of record '1'/);
  throwsUserError(() => parseSmart('.I 1\n.W\nx\n.I 01\n.W\ny\n', 'f.all'), /^f\.all:4: record id '1' already used on line 1/);
  throwsUserError(() => smartQueries(parseSmart('.I 1\n.A\nx\n', 'q.qry'), 'q.qry'), /^q\.qry:1: query '1' has no \.W/);
});

test('smartQueries: running ids number the queries in file order (Cranfield)', () => {
  const recs = parseSmart('.I 001\n.W\nfirst\n.I 002\n.W\nsecond\n.I 004\n.W\nthird\n', 'cran.qry');
  assert.equal([...smartQueries(recs, 'cran.qry', 'running')], [['1', 'first'], ['2', 'second'], ['3', 'third']]);
  assert.equal([...smartQueries(recs, 'cran.qry').keys()], ['1', '2', '4']);
});

test('parseSmartQrels: cranfield codes (-1 -> 0), SMART lists (grade 1, ids without zeros), TREC; malformed lines', () => {
  const cran = parseSmartQrels('1 184 2\n1 29 4 \n1 486 -1\n2 12 1', 'cranqrel', 'cranfield');
  assert.equal([...cran.get('1')!], [['184', 2], ['29', 4], ['486', 0]]);
  assert.is(cran.get('2')!.get('12'), 1);
  const smart = parseSmartQrels('01 1410  0 0\r\n     1     28\t0\t0.000000\r\n', 'qrels.text', 'smart');
  assert.equal([...smart.get('1')!], [['1410', 1], ['28', 1]]);
  assert.equal([...parseSmartQrels('1 0 13 1\n', 'MED.REL', 'trec').get('1')!], [['13', 1]]);
  throwsUserError(() => parseSmartQrels('1 2 3\n1 2 5\n', 'cranqrel', 'cranfield'), /^cranqrel:2: relevance code '5' is not one of/);
  throwsUserError(() => parseSmartQrels('1 2 3\n1 2\n', 'cranqrel', 'cranfield'), /^cranqrel:2: expected 3 fields/);
  throwsUserError(() => parseSmartQrels('1 2 0 0\nx 3 0 0\n', 'CISI.REL', 'smart'), /^CISI\.REL:2: query and document ids must be numbers/);
  throwsUserError(() => parseSmartQrels('1 2 0 0\n01 2 0 0\n', 'CISI.REL', 'smart'), /^CISI\.REL:2: document '2' of query '1' is judged twice/);
  throwsUserError(() => parseSmartQrels('1 0 13\n', 'MED.REL', 'trec'), /^MED\.REL:1: expected 4 fields/);
});

// ------------------------------------------------------------------ TSV, BEIR, JSON candidates, CSV

test('parseDocsTsv: text after the first tab; CSV quoting on request; CRLF; errors name file:line', () => {
  const docs = parseDocsTsv('d1\tplain text\r\nd2\t"quoted ""x""\twith a tab"\r\n\r\nd3\tx "y" z\r\n', 'c.tsv', { quoting: 'csv' });
  assert.equal([...docs], [['d1', 'plain text'], ['d2', 'quoted "x"\twith a tab'], ['d3', 'x "y" z']]);
  assert.is(parseDocsTsv('d2\t"a ""b"""\n', 'c.tsv').get('d2'), '"a ""b"""', 'quoting none keeps the quotes');
  throwsUserError(() => parseDocsTsv('d1\tx\nd2 no tab\n', 'c.tsv'), /^c\.tsv:2: expected 'docid<TAB>text', found no tab/);
  throwsUserError(() => parseDocsTsv('d1\tx\nd1\ty\n', 'c.tsv'), /^c\.tsv:2: document id 'd1' already defined on line 1/);
  throwsUserError(() => parseDocsTsv('d1\t"open "quote" x"\n', 'c.tsv', { quoting: 'csv' }), /^c\.tsv:1: document 'd1' starts a CSV-quoted text/);
});

test('BEIR: corpus (title + text), queries, qrels with header; errors name file:line; readBeirFolder', () => {
  const corpus = '{"_id": "d1", "title": "T1", "text": "body one"}\r\n{"_id": 2, "title": "", "text": "body two"}\n';
  assert.equal([...parseBeirCorpus(corpus, 'corpus.jsonl')], [['d1', 'T1 body one'], ['2', 'body two']]);
  assert.equal([...parseBeirQueries('{"_id": "q1", "text": " what? "}\n', 'queries.jsonl')], [['q1', 'what?']]);
  const qrels = parseBeirQrels('query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\t2\t0\n', 'test.tsv');
  assert.equal([...qrels.get('q1')!], [['d1', 1], ['2', 0]]);
  throwsUserError(() => parseBeirCorpus('{"_id": "d1", "text": "x"}\n{"_id": "d2", "text": x}\n', 'corpus.jsonl'), /^corpus\.jsonl:2: not valid JSON/);
  throwsUserError(() => parseBeirCorpus('{"_id": "d1", "text": "x"}\n{"_id": "d1", "text": "y"}\n', 'corpus.jsonl'), /^corpus\.jsonl:2: id 'd1' already defined on line 1/);
  throwsUserError(() => parseBeirCorpus('{"title": "x", "text": "y"}\n', 'corpus.jsonl'), /^corpus\.jsonl:1: missing "_id"/);
  throwsUserError(() => parseBeirQrels('q1\td1\t1\n', 'test.tsv'), /^test\.tsv:1: expected the header/);
  throwsUserError(() => parseBeirQrels('query-id\tcorpus-id\tscore\nq1\td1\t0.5\n', 'test.tsv'), /^test\.tsv:2: score '0\.5' is not an integer/);
  const dir = path.join(TMP, 'beir-mini');
  tmpFile('beir-mini/corpus.jsonl', corpus);
  tmpFile('beir-mini/queries.jsonl', '{"_id": "q1", "text": "body"}\n');
  tmpFile('beir-mini/qrels/test.tsv', 'query-id\tcorpus-id\tscore\nq1\td1\t1\n');
  const c = readBeirFolder(dir, 'mini');
  assert.is(c.docs.size, 2);
  assert.is(c.queries.get('q1'), 'body');
  assert.is(qrelsCount(c.qrels), 1);
});

const CAND_JSON = `[
  {
    "query": "q one",
    "hits": [
      {"content": "second", "qid": 7, "docid": "b", "rank": 2, "score": 1.5},
      {"content": "first", "qid": 7, "docid": "a", "rank": 1, "score": 2.5}
    ]
  },
  {
    "query": "q two",
    "hits": [
      {"content": "first", "qid": "8", "docid": "a", "rank": 1, "score": 9}
    ]
  }
]`;

test('parseCandidateJson: rank order, numeric ids, shared passages; structural errors name file:line and the place', () => {
  const l = parseCandidateJson(CAND_JSON, 'c.json');
  assert.equal([...l.candidates], [['7', ['a', 'b']], ['8', ['a']]]);
  assert.equal([...l.queries], [['7', 'q one'], ['8', 'q two']]);
  assert.equal(l.run.get('7'), [{ docid: 'a', score: 2.5 }, { docid: 'b', score: 1.5 }]);
  assert.is(l.docs.size, 2);
  throwsUserError(() => parseCandidateJson(CAND_JSON.replace('"qid": "8", "docid": "a"', '"qid": "8", "docid": 5, "x": "a"').replace('"content": "first", "qid": "8"', '"content": 3, "qid": "8"'), 'c.json'), /^c\.json:12: \[1\]\.hits\[0\]: "content" of document '5' is not a string/);
  throwsUserError(() => parseCandidateJson(CAND_JSON.replace('"content": "first", "qid": "8"', '"content": "other", "qid": "8"'), 'c.json'), /^c\.json:12: \[1\]\.hits\[0\]: document 'a' has a different text than at \[0\]\.hits\[1\]/);
  throwsUserError(() => parseCandidateJson(CAND_JSON.replace('"qid": 7, "docid": "a"', '"qid": 9, "docid": "a"'), 'c.json'), /^c\.json:6: \[0\]\.hits\[1\]: qid '9' differs from '7'/);
  throwsUserError(() => parseCandidateJson(CAND_JSON.replace('"qid": "8"', '"qid": 7'), 'c.json'), /^c\.json:9: \[1\]: query '7' already has the entry \[0\]/);
  throwsUserError(() => parseCandidateJson('[\n {"query": "x",\n  "hits": [}\n]', 'c.json'), /^c\.json:3:\d+: the candidate list is not valid JSON/);
  assert.is(jsonLineOf(CAND_JSON, [1, 0]), 12);
  assert.is(jsonLineOf(CAND_JSON, [5]), undefined);
});

test('parseCsv: quotes, doubled quotes, newlines inside quotes, CRLF; csvTable checks fields; errors name file:line', () => {
  const rows = parseCsv('id,text\r\n1,"a, ""b""\nc"\r\n2,plain "x"\r\n', 'f.csv');
  assert.equal(rows, [{ line: 1, fields: ['id', 'text'] }, { line: 2, fields: ['1', 'a, "b"\nc'] }, { line: 4, fields: ['2', 'plain "x"'] }]);
  assert.is(csvTable(rows, 'f.csv', ['id'])[1].get('text'), 'plain "x"');
  throwsUserError(() => parseCsv('id,text\n1,"never closed\n', 'f.csv'), /^f\.csv:2: a quoted field opened on this line is never closed/);
  throwsUserError(() => parseCsv('id,text\n1,"a"b\n', 'f.csv'), /^f\.csv:2: text "b\\n" follows a closing quote/);
  throwsUserError(() => csvTable(parseCsv('id,text\n1,a\n2,b,c\n', 'f.csv'), 'f.csv', ['id']), /^f\.csv:3: record has 3 fields, the header 2/);
  throwsUserError(() => csvTable(parseCsv('id,text\n', 'f.csv'), 'f.csv', ['doc_id']), /^f\.csv:1: the header lacks column\(s\) doc_id/);
});

test('parseNumpyStrArray: quotes of both kinds, Python escapes, newline separators; errors', () => {
  const s = `['One.'\n "Patients' symptoms \\\\ x"\n 'it\\'s 5\\\\\\' end' 'tab\\there\\x96 \\u200b.   \\n' '\\q']`;
  assert.equal(parseNumpyStrArray(s, 'w'), ['One.', "Patients' symptoms \\ x", "it's 5\\' end", 'tab\there\x96 \u200b.   \n', '\\q']);
  assert.equal(parseNumpyStrArray('[]', 'w'), []);
  throwsUserError(() => parseNumpyStrArray("['a' 'b'", 'f.csv:9: abstract'), /^f\.csv:9: abstract: not a numpy string-array repr: no closing '\]'/);
  throwsUserError(() => parseNumpyStrArray("['a''b']", 'w'), /strings must be separated by blanks/);
  throwsUserError(() => parseNumpyStrArray("['a' b]", 'w'), /expected a quoted string/);
});

// ------------------------------------------------------------------ BM25

test('BM25: tokeniser; a matching document ranks first; rarer terms weigh more; ties by docid descending; top k', () => {
  assert.equal(tokenize('The Wing-tip, at Mach 2.5!'), ['the', 'wing', 'tip', 'at', 'mach', '2', '5']);
  assert.equal(tokenize('The wing is in the tunnel', true), ['wing', 'tunnel']);
  const docs = new Map([
    ['d1', 'the wing in a slipstream'], ['d2', 'heat transfer in the boundary layer'],
    ['d3', 'boundary layer of a wing'], ['d4', 'nothing here'], ['d5', 'nothing here'],
  ]);
  const run = bm25Run(docs, new Map([['q', 'wing slipstream'], ['t', 'nothing'], ['z', 'absent words']]), 2);
  assert.equal(run.get('q')!.map((d) => d.docid), ['d1', 'd3']);
  assert.equal(run.get('t')!.map((d) => d.docid), ['d5', 'd4'], 'equal scores: docid descending (trec_eval order)');
  assert.equal(run.get('z'), []);
  assert.ok(run.get('q')![0].score > run.get('q')![1].score);
});

// ------------------------------------------------------------------ pair selection

function toyCollection(): Collection {
  const docs = new Map<string, string>();
  const queries = new Map<string, string>();
  const qrels = new Map<string, Map<string, number>>();
  const candidates = new Map<string, string[]>();
  for (let q = 0; q < 6; q++) {
    const qid = `q${q}`;
    queries.set(qid, `query ${q}`);
    const judged = new Map<string, number>();
    const cands: string[] = [];
    for (let d = 0; d < 20; d++) {
      const docid = `d${q}-${d}`;
      docs.set(docid, `passage ${q} ${d}`);
      cands.push(docid);
      if (d < 12) judged.set(docid, d % 4); // grades 0, 1, 2, 3; d >= 12 unjudged
    }
    qrels.set(qid, judged);
    candidates.set(qid, cands);
  }
  return { name: 'toy', docs, queries, qrels, candidates, relThreshold: 2, unlistedNonRelevant: false };
}

const key = (p: Pair) => `${p.dataset}/${p.qid}/${p.docid}/${p.label}/${p.grade}`;

test('mulberry32, hash32, shuffle: deterministic and a permutation', () => {
  const a = mulberry32(42);
  const b = mulberry32(42);
  const xs = Array.from({ length: 5 }, () => a());
  assert.equal(xs, Array.from({ length: 5 }, () => b()));
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  assert.is.not(hash32('a'), hash32('b'));
  const s = shuffle([...Array(50).keys()], mulberry32(1));
  assert.equal([...s].sort((x, y) => x - y), [...Array(50).keys()]);
  assert.not.equal(s, [...Array(50).keys()]);
});

test('eligiblePairs: threshold, judged 0, grades in between, unjudged only on request, unlisted as non-relevant, no text', () => {
  const c = toyCollection();
  const pool = eligiblePairs(c);
  assert.equal(pool.stats, { rel: 36, nonrel: 18, between: 18, unjudged: 48, negative: 0, noText: 0 });
  assert.ok(pool.rel.every((p) => p.grade! >= 2 && p.label === 'rel'));
  assert.ok(pool.nonrel.every((p) => p.grade === 0));
  assert.is(eligiblePairs(c, { relThreshold: 1 }).stats.rel, 54);
  const open = eligiblePairs(c, { allowUnjudged: true });
  assert.is(open.stats.nonrel, 18 + 48);
  assert.ok(open.nonrel.filter((p) => p.grade === null).length === 48);
  const listed = eligiblePairs({ ...c, unlistedNonRelevant: true });
  assert.is(listed.stats.nonrel, 18 + 48);
  assert.ok(listed.nonrel.every((p) => p.grade === 0));
  c.docs.set('d0-0', '');
  c.qrels.get('q1')!.set('d1-0', -1);
  const st = eligiblePairs(c).stats;
  assert.is(st.noText, 1);
  assert.is(st.negative, 1);
  throwsUserError(() => eligiblePairs(c, { relThreshold: 0 }), /toy: relevance threshold 0 must be > 0/);
});

test('selectPairs: caps per query and per dataset, same seed same pairs, another seed other pairs, canonical order', async () => {
  const c = toyCollection();
  const opts: PairOptions = { seed: 7, perQuery: { rel: 2, nonrel: 1 }, perDataset: { rel: 9 } };
  const a = await selectPairs(c, opts);
  const b = await selectPairs(c, opts);
  assert.equal(a.map(key), b.map(key));
  const rel = a.filter((p) => p.label === 'rel');
  const non = a.filter((p) => p.label === 'nonrel');
  assert.is(rel.length, 9);
  assert.is(non.length, 6, 'one non-relevant pair for each of the 6 queries');
  for (const q of c.queries.keys()) {
    assert.ok(rel.filter((p) => p.qid === q).length <= 2);
    assert.ok(non.filter((p) => p.qid === q).length <= 1);
  }
  const other = await selectPairs(c, { ...opts, seed: 8 });
  assert.not.equal(other.map(key), a.map(key));
  const sorted = [...a].sort((x, y) => (x.qid < y.qid ? -1 : x.qid > y.qid ? 1 : x.label !== y.label ? (x.label === 'rel' ? -1 : 1) : x.docid < y.docid ? -1 : 1));
  assert.equal(a.map(key), sorted.map(key));
  // the relevant pairs do not depend on the non-relevant pool
  const withUnjudged = await selectPairs(c, { ...opts, allowUnjudged: true });
  assert.equal(withUnjudged.filter((p) => p.label === 'rel').map(key), rel.map(key));
  assert.is((await selectPairs(c, { perQuery: 0 })).length, 0);
  assert.is((await selectPairs(c)).length, 36 + 18, 'no caps: the whole pool');
  await rejectsUserError(selectPairs(c, { perQuery: 1.5 }), /per-query cap for 'rel' is 1\.5/);
});

test('selectPairs filter hook: same result as the greedy walk over kept pairs, asked in batches, not on the whole pool', async () => {
  const c = toyCollection();
  const keep = (p: Pair) => hash32(p.docid) % 3 !== 0;
  const asked: number[] = [];
  const filter = async (ps: Pair[]) => { asked.push(ps.length); return ps.map(keep); };
  for (const caps of [{ perQuery: 2, perDataset: 7 }, { perQuery: 3 }, { perDataset: 5 }, { perQuery: { rel: 1, nonrel: 2 }, perDataset: { nonrel: 4 } }] as PairOptions[]) {
    asked.length = 0;
    const got = await selectPairs(c, { seed: 3, ...caps, filter });
    assert.ok(got.every(keep));
    assert.equal(got.map(key), referenceGreedy(c, 3, caps, keep).map(key), JSON.stringify(caps));
    assert.ok(asked.reduce((x, y) => x + y, 0) <= 36 + 18, 'each pair asked once at most');
  }
  asked.length = 0;
  await selectPairs(c, { seed: 3, perDataset: 4, filter });
  assert.ok(asked.reduce((x, y) => x + y, 0) < 20, `asked ${asked} pairs for 2 x 4 slots`);
  await rejectsUserError(selectPairs(c, { filter: async (ps) => ps.slice(1).map(() => true) }), /the filter returned \d+ answers for \d+ pairs/);
});

/** The greedy selection written plainly: shuffle each label's pool as selectPairs does, walk, keep what fits. */
function referenceGreedy(c: Collection, seed: number, caps: PairOptions, keep: (p: Pair) => boolean): Pair[] {
  const pool = eligiblePairs(c);
  const out: Pair[] = [];
  for (const label of ['rel', 'nonrel'] as const) {
    const cap = (x: PairOptions['perQuery']) => (x === undefined ? Infinity : typeof x === 'number' ? x : x[label] ?? Infinity);
    const order = shuffle([...pool[label]], mulberry32(hash32(`${seed}\n${c.name}\n${label}`)));
    const perQ = new Map<string, number>();
    let n = 0;
    for (const p of order) {
      if (n >= cap(caps.perDataset) || (perQ.get(p.qid) ?? 0) >= cap(caps.perQuery) || !keep(p)) continue;
      out.push(p);
      perQ.set(p.qid, (perQ.get(p.qid) ?? 0) + 1);
      n++;
    }
  }
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0); // ASCII ids: byte order
  return out.sort((x, y) => cmp(x.qid, y.qid) || (x.label === y.label ? 0 : x.label === 'rel' ? -1 : 1) || cmp(x.docid, y.docid));
}

test('datasetManifest: exactly the pairs (no texts), options and counts; JSON round trip', async () => {
  const c = toyCollection();
  const opts: PairOptions = { seed: 5, perQuery: 1, allowUnjudged: true, filter: async (ps) => ps.map(() => true) };
  const pairs = await selectPairs(c, opts);
  const m = JSON.parse(JSON.stringify(datasetManifest(pairs, opts)));
  assert.equal(m.options, { seed: 5, perQuery: 1, perDataset: null, allowUnjudged: true, relThreshold: null, filtered: true });
  assert.equal(m.counts, { toy: { rel: 6, nonrel: 6, queries: 6 } });
  assert.is(m.total, 12);
  assert.equal(m.pairs, pairs.map(({ dataset, qid, docid, label, grade }) => ({ dataset, qid, docid, label, grade })));
  const both = await selectAllPairs([c, { ...toyCollection(), name: 'toy2' }], { seed: 5, perDataset: 3 });
  assert.equal(datasetManifest(both).counts, { toy: { rel: 3, nonrel: 3, queries: datasetManifest(both.slice(0, 6)).counts.toy.queries }, toy2: { rel: 3, nonrel: 3, queries: datasetManifest(both.slice(6)).counts.toy2.queries } });
  await rejectsUserError(selectAllPairs([c, c]), /dataset name 'toy' is used twice/);
});

// ------------------------------------------------------------------ datasets config

test('parseDatasetConfig: ${shared} and relative paths, defaults; every mistake is a UserError naming the entry', () => {
  const entry = { name: 'm', group: 'out-of-domain', format: 'smart', files: { docs: '${shared}/a/MED.ALL', queries: 'rel/MED.QRY', qrels: '/abs/MED.REL' }, qrelsFormat: 'trec', relThreshold: 1, unlisted: 'nonrel' };
  const cfg = parseDatasetConfig(JSON.stringify({ version: 1, datasets: [entry] }), '/cfg/datasets.json', { shared: '/sh' });
  const e = cfg.datasets[0];
  assert.equal(e.files, { docs: '/sh/a/MED.ALL', queries: '/cfg/rel/MED.QRY', qrels: '/abs/MED.REL' });
  assert.is(e.queryIds, 'file');
  const bad = (patch: object, re: RegExp) => throwsUserError(() => parseDatasetConfig(JSON.stringify({ version: 1, datasets: [{ ...entry, ...patch }] }), 'ds.json', { shared: '/sh' }), re);
  bad({ format: 'xml' }, /^ds\.json: datasets\[0\] \('m'\): "format" is "xml"; use one of/);
  bad({ relThreshold: 0 }, /"relThreshold" is 0/);
  bad({ unlisted: 'maybe' }, /"unlisted" is "maybe"/);
  bad({ files: { docs: 'a', queries: 'b' } }, /files\."qrels" is required for format "smart"/);
  bad({ files: { ...entry.files, zip: 'x' } }, /files\."zip" is not used by format "smart"/);
  bad({ files: { ...entry.files, docs: '${home}/x' } }, /unknown placeholder \$\{home\}/);
  bad({ relTreshold: 2 }, /unknown key "relTreshold"/);
  bad({ qrelsFormat: 'cran' }, /"qrelsFormat" is "cran"/);
  bad({ bm25: { k: 10, k2: 1 } }, /unknown bm25 key "k2"/);
  throwsUserError(() => parseDatasetConfig(JSON.stringify({ version: 1, datasets: [entry, entry] }), 'ds.json', { shared: '/' }), /datasets\[1\] \('m'\): dataset name 'm' is used twice/);
  throwsUserError(() => parseDatasetConfig('{"version": 2, "datasets": []}', 'ds.json', { shared: '/' }), /"version" is 2/);
  throwsUserError(() => parseDatasetConfig('{"version": 1,\n "datasets": [,]}', 'ds.json', { shared: '/' }), /^ds\.json:2:\d+: the datasets config is not valid JSON/);
});

// ------------------------------------------------------------------ real collections (../shared/data)

const CONFIG = path.join(ROOT, 'data/datasets.json');
const loaded = new Map<string, Collection>();
function dataset(name: string): Collection {
  let c = loaded.get(name);
  if (!c) {
    const e = loadDatasetConfig(CONFIG, { shared: SHARED }).datasets.find((d) => d.name === name);
    assert.ok(e, `${name} in data/datasets.json`);
    loaded.set(name, (c = loadDataset(e as DatasetEntry)));
  }
  return c;
}
const nCandidates = (c: Collection) => [...c.candidates!.values()].reduce((n, ds) => n + ds.length, 0);
const firstLast = (m: Map<string, string>) => [[...m.keys()][0], [...m.keys()].at(-1)];

fixtureTest('data/datasets.json: every entry parses, its files exist, groups and thresholds as in SPEC', () => {
  const cfg = loadDatasetConfig(CONFIG, { shared: SHARED });
  assert.equal(cfg.datasets.map((d) => d.name), ['dl19', 'dl20', 'scifact', 'medline', 'noveleval', 'cranfield', 'cisi', 'cacm', 'adi']);
  for (const d of cfg.datasets) {
    for (const f of Object.values(d.files)) assert.ok(existsSync(f), `${d.name}: ${f}`);
    assert.is(d.group, d.name.startsWith('dl') ? 'in-domain' : 'out-of-domain');
    assert.is(d.relThreshold, d.name.startsWith('dl') || d.name === 'noveleval' ? 2 : 1);
  }
});

fixtureTest('TREC DL 19/20 from the rank_llm JSON: 43 / 54 queries x 100 passages, judged pairs, the same run as the TREC file', () => {
  const want = { dl19: { q: 43, docs: 4297, judged: 2257, rel1: 1372, rel2: 846, zero: 885, ndcg: 0.5058 }, dl20: { q: 54, docs: 5396, judged: 2859, rel1: 1277, rel2: 613, zero: 1582, ndcg: 0.4796 } };
  for (const name of ['dl19', 'dl20'] as const) {
    const c = dataset(name);
    const w = want[name];
    assert.is(c.queries.size, w.q);
    assert.is(c.candidates!.size, w.q);
    assert.ok([...c.candidates!.values()].every((ds) => ds.length === 100));
    assert.is(nCandidates(c), w.q * 100);
    assert.is(c.docs.size, w.docs, 'distinct passages (a few are retrieved for two queries)');
    const pairs = [...c.candidates!].flatMap(([q, ds]) => ds.map((d) => c.qrels.get(q)?.get(d)));
    assert.is(pairs.filter((g) => g !== undefined).length, w.judged);
    assert.is(pairs.filter((g) => g !== undefined && g >= 1).length, w.rel1);
    const pool = eligiblePairs(c);
    assert.equal([pool.stats.rel, pool.stats.nonrel, pool.stats.unjudged], [w.rel2, w.zero, w.q * 100 - w.judged]);
    const txt = readRun(path.join(DATA, `trec-dl/rank_llm-bm25-top100/trec_results_${name}.txt`));
    const txtLines = readText(path.join(DATA, `trec-dl/rank_llm-bm25-top100/trec_results_${name}.txt`), 'run').trim().split('\n').map((l) => l.split(' '));
    assert.equal(txtLines.map((f) => `${f[0]} ${f[2]} ${f[3]}`), [...c.candidates!].flatMap(([q, ds]) => ds.map((d, i) => `${q} ${d} ${i + 1}`)));
    assert.is(evaluate(c.qrels, txt, ['ndcg_cut_10']).all.get('ndcg_cut_10')!.toFixed(4), w.ndcg.toFixed(4));
    assert.is(evaluate(c.qrels, c.run!, ['ndcg_cut_10']).all.get('ndcg_cut_10')!.toFixed(4), w.ndcg.toFixed(4));
  }
  const dl20topics = readTopicsTsv(path.join(DATA, 'trec-dl/anserini-tools/topics.dl20.txt'));
  assert.is(dl20topics.size, 200);
  assert.is(dataset('dl19').queries.get('1112341'), 'what is the daily life of thai people');
});

fixtureTest('Cranfield: 1,400 docs, 225 queries renumbered to match cranqrel, 1,837 judgements, codes mapped', () => {
  const c = dataset('cranfield');
  assert.equal([c.docs.size, c.queries.size, c.qrels.size, qrelsCount(c.qrels)], [1400, 225, 225, 1837]);
  assert.equal(firstLast(c.docs), ['1', '1400']);
  assert.ok(c.docs.get('1')!.startsWith('experimental investigation of the aerodynamics of a wing in a slipstream . an experimental study'));
  assert.ok(c.docs.get('1400')!.endsWith('for panels with ratios of width to stiffener spacing of graphical forms .'));
  assert.is(c.docs.get('471'), '');
  assert.match(c.docs.get('240')!, /separated region \. application to turbulent separations .* unity in low-speed flow/, 'stray .A/.B lines stay in the body');
  const qry = parseSmart(readText(path.join(COLL, 'cranfield/cran.qry'), 'q'), 'cran.qry');
  assert.equal(qry.slice(0, 4).map((r) => r.rawId), ['001', '002', '004', '008']);
  assert.is(qry.at(-1)!.rawId, '365');
  assert.is(c.queries.get('3'), 'what problems of heat conduction in composite slabs have been solved so far .', 'cranqrel query 3 = .I 004');
  assert.is(c.queries.get('225'), 'what design factors can be used to control lift-drag ratios at mach numbers above 5 .');
  const grades = new Map<number, number>();
  for (const q of c.qrels.values()) for (const g of q.values()) grades.set(g, (grades.get(g) ?? 0) + 1);
  assert.equal([0, 1, 2, 3, 4].map((g) => grades.get(g)), [225, 128, 387, 734, 363], 'one -1 (-> 0) per query');
  assert.is(readText(path.join(COLL, 'cranfield/cranqrel'), 'q').split('\n').length, 1837, '1,836 newlines: the last line has none');
  for (const [, q] of c.qrels) for (const d of q.keys()) assert.ok(c.docs.has(d));
});

fixtureTest('MEDLINE (CRLF), CISI, ADI, CACM: counts of REPORT.md, spot texts, qrels ids resolve', () => {
  const want = { medline: [1033, 30, 30, 696], cisi: [1460, 112, 76, 3114], adi: [82, 35, 35, 170], cacm: [3204, 64, 52, 796] };
  for (const [name, counts] of Object.entries(want)) {
    const c = dataset(name);
    assert.equal([c.docs.size, c.queries.size, c.qrels.size, qrelsCount(c.qrels)], counts, name);
    assert.ok(c.unlistedNonRelevant);
    for (const [q, ds] of c.qrels) {
      assert.ok(c.queries.has(q), `${name} query ${q}`);
      for (const [d, g] of ds) { assert.ok(c.docs.has(d), `${name} doc ${d}`); assert.is(g, 1); }
    }
    for (const t of [...c.docs.values(), ...c.queries.values()]) assert.not.match(t, /\r|\n/);
    assert.equal(firstLast(c.docs), ['1', String(counts[0])]);
  }
  assert.ok(readText(path.join(COLL, 'medline/MED.ALL'), 'd').includes('\r\n'), 'MED.ALL is CRLF');
  assert.ok(dataset('medline').docs.get('1')!.startsWith('correlation between maternal and fetal plasma levels of glucose and free fatty acids . correlation coefficients'));
  assert.ok(dataset('medline').docs.get('1033')!.endsWith('these questions can be answered only by further longterm prospective medicosocial studies.'));
  assert.is(dataset('medline').queries.get('1'), 'the crystalline lens in vertebrates, including humans.');
  assert.ok(dataset('cisi').docs.get('1')!.startsWith('18 Editions of the Dewey Decimal Classifications The present study is a history'));
  assert.is(dataset('cacm').docs.get('1'), 'Preliminary Report-International Algebraic Language');
  assert.ok(dataset('cacm').docs.get('2856')!.startsWith('The Synthetic Approach to Decision Table Conversion Previous approaches'), 'the split .I 28 / 56 header');
  assert.ok(dataset('cacm').docs.get('28')!.startsWith('Request for Methods or Programs'));
  assert.ok(dataset('adi').docs.get('67')!.startsWith('a national plan for science abstracting and indexing services . a national plan'), 'title once, then the body');
});

fixtureTest('NovelEval: 420 passages (CSV-quoted TSV equals data.json), 21 queries, 420 judgements (0/1/2), 20 candidates each', () => {
  const c = dataset('noveleval');
  assert.equal([c.docs.size, c.queries.size, c.qrels.size, qrelsCount(c.qrels)], [420, 21, 21, 420]);
  const list = readCandidateJson(path.join(COLL, 'noveleval/data.json'));
  assert.equal([...list.docs].sort(), [...c.docs].sort(), 'every passage equals its data.json text');
  assert.ok([...c.candidates!.values()].every((ds) => ds.length === 20));
  assert.ok(c.docs.get('14-17')!.includes('Player\tClub\tEstimated Annual Salary'));
  assert.ok(c.docs.get('0-4')!.startsWith('"The exact number? Oh boy'));
  const pool = eligiblePairs(c);
  assert.equal([pool.stats.rel, pool.stats.between, pool.stats.nonrel], [90, 40, 290]);
});

fixtureTest('SciFact from the CSV zip: 5,183 abstracts, 300 claims = BEIR test topics, 339 qrels on known docs', () => {
  const c = dataset('scifact');
  assert.equal([c.docs.size, c.queries.size, c.qrels.size, qrelsCount(c.qrels)], [5183, 300, 300, 339]);
  const topics = readTopicsTsv(path.join(DATA, 'beir-qrels-topics/topics.beir-v1.0.0-scifact.test.tsv.gz'));
  assert.equal([...topics].sort(), [...c.queries].sort());
  for (const ds of c.qrels.values()) for (const d of ds.keys()) assert.ok(c.docs.has(d));
  assert.equal(firstLast(c.docs), ['4983', '198309074']);
  assert.ok(c.docs.get('4983')!.startsWith('Microstructural development of human newborn cerebral white matter assessed in vivo by diffusion tensor magnetic resonance imaging. Alterations of the architecture'));
  assert.ok(c.docs.get('4983')!.includes('functional disabilities. A line scan'), 'sentences joined by one space');
  assert.ok(c.docs.get('198309074')!.startsWith('Adhesion molecules and chemokines: relation to anthropometric, body composition, biochemical and dietary variables'));
  assert.ok(c.docs.get('393001')!.includes('"high Km" 5\'-nucleotid'), 'escaped quote decoded');
  assert.is(c.queries.get('1'), '0-dimensional biomaterials show inductive properties.');
  // the reader on its own, with the claims of another split
  assert.is(readSciFactZip({ zip: path.join(COLL, 'scifact/scifact-hf-csv.zip'), qrels: path.join(DATA, 'beir-qrels-topics/qrels.beir-v1.0.0-scifact.test.txt'), claims: 'test' }).queries.size > 0, true);
});

// BM25 bands measured with this implementation (k1 0.9, b 0.4, Lucene stopwords, no stemming); SciFact matches
// BEIR's published BM25 nDCG@10 (0.665) closely.
fixtureTest('BM25 first stage: nDCG@10 and R@100 on Cranfield, MEDLINE, SciFact within the measured bands', () => {
  const bands: Record<string, { ndcg: [number, number]; r100: [number, number]; mrr: [number, number] }> = {
    cranfield: { ndcg: [0.28, 0.31], r100: [0.67, 0.70], mrr: [0.46, 0.50] },
    medline: { ndcg: [0.64, 0.69], r100: [0.75, 0.79], mrr: [0.86, 0.91] },
    scifact: { ndcg: [0.65, 0.68], r100: [0.87, 0.90], mrr: [0.62, 0.65] },
  };
  for (const [name, b] of Object.entries(bands)) {
    const c = dataset(name);
    const ev = evaluate(c.qrels, c.run!, ['ndcg_cut_10', 'recall_100', 'recip_rank']);
    const [ndcg, r100, mrr] = ['ndcg_cut_10', 'recall_100', 'recip_rank'].map((m) => ev.all.get(m)!);
    assert.ok(ndcg >= b.ndcg[0] && ndcg <= b.ndcg[1], `${name} nDCG@10 ${ndcg}`);
    assert.ok(r100 >= b.r100[0] && r100 <= b.r100[1], `${name} R@100 ${r100}`);
    assert.ok(mrr >= b.mrr[0] && mrr <= b.mrr[1], `${name} MRR ${mrr}`);
  }
  // Cranfield with the file's own query ids (.I 001, 002, 004 ...) scores near zero: the renumbering matters
  const c = dataset('cranfield');
  const fileIds = smartQueries(parseSmart(readText(path.join(COLL, 'cranfield/cran.qry'), 'q'), 'cran.qry'), 'cran.qry');
  const wrong = evaluate(c.qrels, bm25Run(c.docs, fileIds, 100, { stopwords: true }), ['ndcg_cut_10']);
  assert.ok(wrong.all.get('ndcg_cut_10')! < 0.05);
});

fixtureTest('pairs on the real datasets: deterministic, caps respected, thresholds per dataset, manifest counts', async () => {
  const opts: PairOptions = { seed: 11, perQuery: { rel: 2, nonrel: 2 }, perDataset: 40 };
  for (const name of ['dl19', 'medline', 'noveleval']) {
    const c = dataset(name);
    const a = await selectPairs(c, opts);
    assert.equal(a.map(key), (await selectPairs(c, opts)).map(key));
    assert.not.equal(a.map(key), (await selectPairs(c, { ...opts, seed: 12 })).map(key));
    const m = datasetManifest(a, opts);
    assert.equal(m.counts[name], { rel: 40, nonrel: 40, queries: new Set(a.map((p) => p.qid)).size });
    for (const p of a) {
      assert.ok(p.label === 'rel' ? p.grade! >= c.relThreshold : p.grade === 0, `${name} ${p.qid} ${p.docid} ${p.grade}`);
      assert.is(p.passage, c.docs.get(p.docid));
      assert.is(p.query, c.queries.get(p.qid));
    }
  }
});

test.after(() => rmSync(TMP, { recursive: true, force: true }));

test.run();
