/**
 * trec_eval-compatible measures (src/analysis/metrics.ts), TREC parsers (src/data/trec.ts) and the `evaluate`
 * command. Fixture tests reproduce trec_eval's own `make quicktest` outputs line for line and the published BM25
 * numbers on TREC DL 19/20; they need ../shared/data: on CI (CI=true) a missing folder fails them, locally
 * they are skipped with a note.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  evaluate, formatLine, formatTrecEval, formatValue, judgeRanking, ndcgCut, parseMeasure, parseMeasures,
  recipRank, type EvalOptions,
} from '../src/analysis/metrics.ts';
import { compareBytes } from '../src/data/ranking.ts';
import { main } from '../src/cli/main.ts';
import {
  parseQrels, parseRun, parseRunWithTag, parseTopicsTsv, readQrels, readRunWithTag, readTopicsTsv, type Qrels, type Run,
} from '../src/data/trec.ts';
import { UserError } from '../src/util/errors.ts';
import { needsShared, throwsUserError } from './helpers/shared.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '../shared');
const DATA = path.join(SHARED, 'data');
const TE = path.join(DATA, 'reference/trec_eval-test');
const DL = path.join(DATA, 'trec-dl');
const TMP = mkdtempSync(path.join(tmpdir(), 'ir-neurons-metrics-'));

/** A test that needs ../shared/data (the one rule of test/helpers/shared.ts). */
const fixtureTest = (name: string, fn: () => void | Promise<void>): void => needsShared(test, name, fn, DATA);


function tmpFile(name: string, content: string | Uint8Array): string {
  const p = path.join(TMP, name);
  writeFileSync(p, content);
  return p;
}

async function runCli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

// ------------------------------------------------------------------ trec_eval's own test outputs

/** Lines `name\tqid\tvalue` of a trec_eval output whose measure we implement (plus runid and num_q). */
function ourLines(text: string): string[] {
  return text.split('\n').filter((l) => {
    const name = l.split('\t')[0]?.trim();
    if (!name) return false;
    if (name === 'runid' || name === 'num_q') return true;
    try {
      return parseMeasure(name).name === name;
    } catch {
      return false;
    }
  });
}

// The quicktest commands of trec_eval's Makefile that these files come from.
const QUICKTEST: { out: string; qrels: string; results: string; opts: EvalOptions; perQuery: boolean }[] = [
  { out: 'out.test', qrels: 'qrels.test', results: 'results.test', opts: {}, perQuery: false },
  { out: 'out.test.a', qrels: 'qrels.test', results: 'results.test', opts: {}, perQuery: false }, // -m all_trec
  { out: 'out.test.aq', qrels: 'qrels.test', results: 'results.test', opts: {}, perQuery: true }, // -q
  { out: 'out.test.aqc', qrels: 'qrels.test', results: 'results.trunc', opts: { complete: true }, perQuery: true }, // -q -c
  { out: 'out.test.aql', qrels: 'qrels.rel_level', results: 'results.test', opts: { relevanceLevel: 2 }, perQuery: true }, // -q -l2
  // -q -m P.5,7,3 -m recall.20,2000 -mndcg_cut.10,20,23.4 (and measures we do not implement)
  { out: 'out.test.meas_params', qrels: 'qrels.test', results: 'results.test', opts: {}, perQuery: true },
];

for (const c of QUICKTEST) {
  fixtureTest(`trec_eval quicktest ${c.out}: every line of a measure we implement, layout included`, () => {
    const expected = ourLines(readFileSync(path.join(TE, c.out), 'utf8'));
    const names = [...new Set(expected.map((l) => l.split('\t')[0].trim()).filter((n) => n !== 'runid' && n !== 'num_q'))];
    assert.ok(names.length >= 3, `${c.out}: too few of our measures found (${names})`);
    const { run, tag } = readRunWithTag(path.join(TE, c.results));
    const ev = evaluate(readQrels(path.join(TE, c.qrels)), run, names, c.opts);
    const printed = new Set(expected.map((l) => l.split('\t')[0].trim()));
    const ours = formatTrecEval(ev, { perQuery: c.perQuery, runid: tag }).trimEnd().split('\n')
      .filter((l) => printed.has(l.split('\t')[0].trim()));
    assert.equal(ours, expected);
  });
}

fixtureTest('trec_eval headline values: nDCG@10 0.3016 binary, 0.2656 graded', () => {
  const run = readRunWithTag(path.join(TE, 'results.test')).run;
  const binary = evaluate(readQrels(path.join(TE, 'qrels.test')), run, ['ndcg_cut_10']);
  assert.is(formatValue(binary.all.get('ndcg_cut_10')!), '0.3016');
  const graded = readQrels(path.join(TE, 'qrels.rel_level'));
  // nDCG ignores the relevance level: the same with -l1 and -l2
  for (const level of [1, 2]) assert.is(formatValue(evaluate(graded, run, ['ndcg_cut_10'], { relevanceLevel: level }).all.get('ndcg_cut_10')!), '0.2656');
});

fixtureTest('BM25 top-100 on TREC DL 19/20: nDCG@10 0.5058 / 0.4796, R@100 (grade >= 2) 0.4910 / 0.5599', () => {
  const want = { 19: { ndcg: '0.5058', r100: '0.4910', mrr10: '0.7024', n: 43 }, 20: { ndcg: '0.4796', r100: '0.5599', mrr10: '0.6533', n: 54 } };
  for (const year of [19, 20] as const) {
    const qrels = readQrels(path.join(DL, `anserini-tools/qrels.dl${year}-passage.txt`));
    const run = readRunWithTag(path.join(DL, `rank_llm-bm25-top100/trec_results_dl${year}.txt`)).run;
    const ndcg = evaluate(qrels, run, ['ndcg_cut_10']);
    const l2 = evaluate(qrels, run, ['recall_100', 'recip_rank_10'], { relevanceLevel: 2 });
    assert.is(ndcg.numQ, want[year].n);
    assert.is(formatValue(ndcg.all.get('ndcg_cut_10')!), want[year].ndcg, `DL${year} nDCG@10`);
    assert.is(formatValue(l2.all.get('recall_100')!), want[year].r100, `DL${year} R@100`);
    // MRR@10 has no published figure; this pins the value data/REPORT.md computed independently
    assert.is(formatValue(l2.all.get('recip_rank_10')!), want[year].mrr10, `DL${year} MRR@10`);
  }
});

fixtureTest('CLI on trec_eval files: `evaluate -q -l2` prints out.test.aql lines exactly', async () => {
  const measures = 'ndcg_cut_10,map,recip_rank,P_10,recall_100,num_rel';
  const r = await runCli(['evaluate', '--qrels', path.join(TE, 'qrels.rel_level'), '--run', path.join(TE, 'results.test'), '-q', '-l2', '--measures', measures]);
  assert.is(r.code, 0, r.err);
  const names = new Set([...measures.split(','), 'runid', 'num_q']);
  const expected = readFileSync(path.join(TE, 'out.test.aql'), 'utf8').split('\n').filter((l) => names.has(l.split('\t')[0].trim()));
  assert.equal(r.out.trimEnd().split('\n'), expected);
});

fixtureTest('topics: DL20 TSV with CRLF and BEIR .tsv.gz', () => {
  const dl20 = readTopicsTsv(path.join(DL, 'anserini-tools/topics.dl20.txt'));
  assert.is(dl20.size, 200);
  for (const q of dl20.values()) assert.not.match(q, /\r/);
  const scifact = readTopicsTsv(path.join(DATA, 'beir-qrels-topics/topics.beir-v1.0.0-scifact.test.tsv.gz'));
  assert.is(scifact.size, 300);
  assert.is(scifact.get('1'), '0-dimensional biomaterials show inductive properties.');
});

// ------------------------------------------------------------------ hand-made cases

test('ties are broken by docid descending (strcmp order); the rank field is ignored', () => {
  // all scores equal: trec_eval ranks c, b, a; the file's ranks (a first) mean nothing
  const run = parseRun('q1 Q0 a 1 5 t\nq1 Q0 b 2 5 t\nq1 Q0 c 3 5 t\n', 'run.txt');
  const qrels = parseQrels('q1 0 a 1\n', 'qrels.txt');
  const ev = evaluate(qrels, run, ['recip_rank', 'P_1', 'ndcg_cut_3']);
  assert.is(ev.all.get('recip_rank'), 1 / 3);
  assert.is(ev.all.get('P_1'), 0);
  assert.ok(Math.abs(ev.all.get('ndcg_cut_3')! - 1 / Math.log2(4)) < 1e-15);
  // byte order: 'a' (0x61) > 'B' (0x42), so 'a' ranks first among equal scores; higher score still wins
  const j = judgeRanking('q', [{ docid: 'B', score: 1 }, { docid: 'a', score: 1 }, { docid: 'Z', score: 2 }], new Map([['B', 1]]));
  assert.equal(j.rels, [-1, -1, 1]);
  assert.ok(compareBytes('\u{1F600}', '\uFFFD') > 0, 'astral characters sort after the BMP, as in UTF-8');
});

test('nDCG: gain = grade, log2(rank + 1), ideal from all judged grades > 0, negative grades give nothing', () => {
  const qrels = new Map([['q', new Map([['d1', 3], ['d2', 2], ['d3', 0], ['d4', -1], ['d5', 1]])]]);
  // ranking d4, d2, d3, d1 (d5 not retrieved, still in the ideal)
  const docs = [{ docid: 'd4', score: 4 }, { docid: 'd2', score: 3 }, { docid: 'd3', score: 2 }, { docid: 'd1', score: 1 }];
  const j = judgeRanking('q', docs, qrels.get('q'));
  assert.equal(j.rels, [-2, 2, 0, 3]);
  const dcg = 2 / Math.log2(3) + 3 / Math.log2(5);
  const idcg = (k: number) => [3, 2, 1].slice(0, k).reduce((s, g, i) => s + g / Math.log2(i + 2), 0);
  assert.ok(Math.abs(ndcgCut(j, 10) - dcg / idcg(10)) < 1e-15);
  assert.ok(Math.abs(ndcgCut(j, 2) - (2 / Math.log2(3)) / idcg(2)) < 1e-15);
  // a negative grade is never relevant, even at -l 0 where grade 0 is
  assert.is(recipRank(j, 0), 1 / 2);
});

test('relevance level: recip_rank_k, recall_k and P_k use grade >= level; P divides by k', () => {
  const qrels = parseQrels('q 0 a 1\nq 0 b 2\nq 0 c 3\n', 'qrels.txt');
  const run = parseRun('q Q0 a 1 3 t\nq Q0 x 2 2 t\nq Q0 b 3 1 t\n', 'run.txt');
  const ms = ['recip_rank', 'recip_rank_2', 'recall_2', 'recall_10', 'P_10', 'map', 'num_rel', 'num_rel_ret', 'num_ret'];
  const l1 = evaluate(qrels, run, ms).all;
  const l2 = evaluate(qrels, run, ms, { relevanceLevel: 2 }).all;
  assert.equal([...l1.values()], [3, 3, 2, (1 + 2 / 3) / 3, 1, 1, 0.2, 1 / 3, 2 / 3]);
  assert.equal(parseMeasures(ms).map((m) => m.name), ['num_ret', 'num_rel', 'num_rel_ret', 'map', 'recip_rank_2', 'recip_rank', 'P_10', 'recall_2', 'recall_10']);
  assert.is(l2.get('recip_rank'), 1 / 3);
  assert.is(l2.get('recip_rank_2'), 0);
  assert.is(l2.get('recall_2'), 0);
  assert.is(l2.get('recall_10'), 1 / 2);
  assert.is(l2.get('P_10'), 0.1);
  assert.is(l2.get('num_rel'), 2);
});

test('queries: intersection by default; a qrels query without relevant docs counts and scores 0; -c', () => {
  const qrels = parseQrels('q1 0 a 1\nq2 0 b 0\nq3 0 c 1\n', 'qrels.txt');
  const run = parseRun('q1 Q0 a 1 1 t\nq2 Q0 b 1 1 t\nq9 Q0 z 1 1 t\n', 'run.txt'); // q3 missing, q9 not judged
  const ev = evaluate(qrels, run, ['ndcg_cut_10', 'recall_10', 'recip_rank', 'num_rel']);
  assert.equal([...ev.perQuery.keys()], ['q1', 'q2']);
  assert.is(ev.numQ, 2);
  assert.equal([...ev.perQuery.get('q2')!.values()], [0, 0, 0, 0]);
  assert.is(ev.all.get('ndcg_cut_10'), 0.5);
  assert.is(ev.all.get('num_rel'), 1);
  const c = evaluate(qrels, run, ['ndcg_cut_10', 'recall_10', 'num_rel'], { complete: true });
  assert.equal([...c.perQuery.keys()], ['q1', 'q2', 'q3']);
  assert.is(c.numQ, 3);
  assert.is(c.all.get('ndcg_cut_10'), 1 / 3);
  assert.equal([...c.perQuery.get('q3')!.values()], [1, 0, 0], 'a missing query keeps its num_rel (num_rel, recall_10, ndcg_cut_10)');
  assert.is(evaluate(qrels, new Map(), ['map']).numQ, 0);
});

test('duplicates: a docid twice for one query is an error, as in trec_eval', () => {
  throwsUserError(() => parseRun('q Q0 a 1 2 t\nq Q0 b 2 1 t\nq Q0 a 3 0 t\n', 'run.txt'), /^run\.txt:3: .*'a'.*line 1/);
  throwsUserError(() => parseQrels('q 0 a 1\r\nq 0 a 2\r\n', 'qrels.txt'), /^qrels\.txt:2: .*'a'.*line 1/);
  throwsUserError(() => judgeRanking('q', [{ docid: 'a', score: 1 }, { docid: 'a', score: 2 }], undefined), /twice/);
  // the same docid under two queries is fine
  assert.is(parseRun('q1 Q0 a 1 1 t\nq2 Q0 a 1 1 t\n', 'run.txt').size, 2);
});

test('formatValue is printf %6.4f: exact ties (odd multiples of 1/32) round half to even', () => {
  assert.is(formatValue(0.30158), '0.3016');
  assert.is(formatValue(0.03125), '0.0312'); // toFixed would give 0.0313; trec_eval prints 0.0312 (out.test.a)
  assert.is(formatValue(0.09375), '0.0938');
  assert.is(formatValue(1), '1.0000');
  assert.is(formatValue(0), '0.0000');
  assert.is(formatValue(-412.66666666), '-412.6667');
  assert.is(formatLine('ndcg_cut_10', 'all', '0.3016'), 'ndcg_cut_10           \tall\t0.3016');
});

test('measure names', () => {
  for (const bad of ['ndcg', 'ndcg_cut', 'P', 'recall', 'map_5', 'P_0', 'num_q', 'recip_rank_x', 'MRR@10']) {
    throwsUserError(() => parseMeasure(bad), new RegExp(`unknown measure '${bad.replace(/[$()*+.?[\\\]^{|}]/g, '\\$&')}'`));
  }
  assert.is(parseMeasure('P_010').name, 'P_10');
  assert.equal(parseMeasures(['P_10', 'P_010']).map((m) => m.name), ['P_10']);
});

// ------------------------------------------------------------------ parsers

test('qrels: CRLF, blank and comment lines, negative grades; malformed lines name file:line', () => {
  const q = parseQrels('\uFEFF# judgements\r\n301 0 d1 2\r\n\r\n301\t0\td2\t-1\r\n302 0 d1 0', 'q.txt');
  assert.equal([...q.keys()], ['301', '302']);
  assert.equal([...q.get('301')!], [['d1', 2], ['d2', -1]]);
  throwsUserError(() => parseQrels('1 0 a 1\n1 0 b\n', 'q.txt'), /^q\.txt:2: expected 4 fields .*found 3/);
  throwsUserError(() => parseQrels('1 0 a 1\n\n1 0 b 1 extra\n', 'q.txt'), /^q\.txt:3: expected 4 fields .*found 5/);
  throwsUserError(() => parseQrels('1 0 a 1.5\n', 'q.txt'), /^q\.txt:1: grade '1\.5' is not an integer/);
});

test('runs: CRLF, extra fields after the tag ignored, tag of the last line; malformed lines name file:line', () => {
  const { run, tag } = parseRunWithTag('1 Q0 a 1 2.5 A\r\n1 Q0 b 2 -1e3 B more junk\r\n2\tQ0\tc\t1\t  0.5\tC\r\n', 'r.txt');
  assert.is(tag, 'C');
  assert.equal(run.get('1'), [{ docid: 'a', score: 2.5 }, { docid: 'b', score: -1000 }]);
  assert.equal(run.get('2'), [{ docid: 'c', score: 0.5 }]);
  throwsUserError(() => parseRun('1 Q0 a 1 2.5 A\n1 Q0 b 2 2.4\n', 'r.txt'), /^r\.txt:2: expected 6 fields .*found 5/);
  throwsUserError(() => parseRun('1 Q0 a 1 high A\n', 'r.txt'), /^r\.txt:1: score 'high'/);
  throwsUserError(() => parseRun('1 Q0 a 1 NaN A\n', 'r.txt'), /^r\.txt:1: score 'NaN'/);
});

test('topics TSV: CRLF, query after the first tab; malformed lines name file:line; .gz through node:zlib', () => {
  const t = parseTopicsTsv('1\twhat is wifi\r\n2\tsplit\there too \r\n\r\n', 't.tsv');
  assert.equal([...t], [['1', 'what is wifi'], ['2', 'split\there too']]);
  throwsUserError(() => parseTopicsTsv('1\tok\n2 no tab\n', 't.tsv'), /^t\.tsv:2: expected 'qid<TAB>query', found no tab/);
  throwsUserError(() => parseTopicsTsv('1\tok\n1\tagain\n', 't.tsv'), /^t\.tsv:2: query id '1' already defined on line 1/);
  throwsUserError(() => parseTopicsTsv('1\t \n', 't.tsv'), /^t\.tsv:1: query '1' has empty text/);
  const gz = tmpFile('topics.tsv.gz', gzipSync(Buffer.from('7\tgzipped query\n')));
  assert.equal([...readTopicsTsv(gz)], [['7', 'gzipped query']]);
  throwsUserError(() => readTopicsTsv(path.join(TMP, 'absent.tsv')), /absent\.tsv: cannot read the topics file \(ENOENT\)/);
});

// ------------------------------------------------------------------ CLI

test('CLI evaluate: trec_eval layout, -q before the all lines, -l, -c, num_q', async () => {
  const qrels = tmpFile('qrels.txt', 'q2 0 a 2\nq2 0 b 1\nq1 0 x 1\nq3 0 y 2\n');
  const run = tmpFile('run.txt', 'q1 Q0 x 1 1.0 myrun\nq2 Q0 b 1 2.0 myrun\nq2 Q0 a 2 1.0 myrun\n');
  let r = await runCli(['evaluate', '--qrels', qrels, '--run', run, '--measures', 'recip_rank_10,ndcg_cut_10', '-q', '-l', '2']);
  assert.is(r.code, 0, r.err);
  const ndcgQ2 = (1 / Math.log2(3) * 2 + 1) / (2 + 1 / Math.log2(3));
  assert.is(r.out, [
    'recip_rank_10         \tq1\t0.0000',
    'ndcg_cut_10           \tq1\t1.0000',
    'recip_rank_10         \tq2\t0.5000',
    `ndcg_cut_10           \tq2\t${ndcgQ2.toFixed(4)}`,
    'runid                 \tall\tmyrun',
    'num_q                 \tall\t2',
    'recip_rank_10         \tall\t0.2500',
    `ndcg_cut_10           \tall\t${((1 + ndcgQ2) / 2).toFixed(4)}`,
    '',
  ].join('\n'));
  r = await runCli(['evaluate', '--qrels', qrels, '--run', run, '--measures', 'recip_rank', '-c', '-l2']);
  assert.is(r.code, 0, r.err);
  assert.is(r.out, 'runid                 \tall\tmyrun\nnum_q                 \tall\t3\nrecip_rank            \tall\t0.1667\n');
});

test('CLI evaluate: errors are one line with file:line and exit code 2', async () => {
  const qrels = tmpFile('bad-qrels.txt', 'q1 0 a 1\r\nq1 0 b\r\n');
  const run = tmpFile('ok-run.txt', 'q1 Q0 a 1 1 t\n');
  let r = await runCli(['evaluate', '--qrels', qrels, '--run', run]);
  assert.is(r.code, 2);
  assert.match(r.err, /^ir-neurons evaluate: .*bad-qrels\.txt:2: expected 4 fields/);
  assert.is(r.err.trimEnd().split('\n').length, 1);
  r = await runCli(['evaluate', '--qrels', run, '--run', run]);
  assert.is(r.code, 2);
  assert.match(r.err, /ok-run\.txt:1: expected 4 fields/);
  r = await runCli(['evaluate', '--qrels', tmpFile('other-qrels.txt', 'q7 0 a 1\n'), '--run', run]);
  assert.is(r.code, 2);
  assert.match(r.err, /no query of .*ok-run\.txt/);
  r = await runCli(['evaluate', '--qrels', qrels, '--run', run, '-x']);
  assert.is(r.code, 2);
  assert.match(r.err, /unknown option -x/);
  r = await runCli(['evaluate', '--run', run]);
  assert.is(r.code, 2);
  assert.match(r.err, /--qrels is required/);
});

test.after(() => rmSync(TMP, { recursive: true, force: true }));

test.run();
