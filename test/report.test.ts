/**
 * The report (src/report): buildReport's JSON, the self-contained HTML page (sections, inline SVG, no external
 * resources, escaped text) and the Markdown tables, on a small input built with src/analysis.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { overlapMatrix, relVsNonrel } from '../src/analysis/overlaps.ts';
import { pruningTable } from '../src/analysis/pruning.ts';
import type { Qrels, Run } from '../src/data/trec.ts';
import { buildSchemes, type Cell } from '../src/analysis/schemes.ts';
import { UserError } from '../src/util/errors.ts';
import { renderHtml } from '../src/report/html.ts';
import { renderMarkdown } from '../src/report/markdown.ts';
import { buildReport, type ReportInput } from '../src/report/report.ts';
import { writeReport } from '../src/report/write.ts';

const EVIL = '<script>alert("x")</script>';
const PIPE = 'a|b';

const QRELS: Qrels = new Map([
  ['q1', new Map([['d1', 2], ['d2', 1], ['d3', 0]])],
  ['q2', new Map([['e1', 2], ['e2', 0]])],
]);
const runOf = (q1: string[], q2: string[]): Run => new Map([
  ['q1', q1.map((docid, i) => ({ docid, score: 3 - i }))],
  ['q2', q2.map((docid, i) => ({ docid, score: 2 - i }))],
]);
const UNPRUNED = runOf(['d1', 'd2', 'd3'], ['e1', 'e2']);
const WORSE = runOf(['d3', 'd2', 'd1'], ['e1', 'e2']);
const WORST = runOf(['d3', 'd2', 'd1'], ['e2', 'e1']);

function mkCell(dataset: string, label: 'rel' | 'nonrel', mean: number[]): Cell {
  return { dataset, label, count: 1, sum: Float64Array.from(mean), sumSq: Float64Array.from(mean, (x) => x * x), layers: 2, dff: 2 };
}

function input(): ReportInput {
  const cells = [mkCell(EVIL, 'rel', [4, 3, 2, 1]), mkCell(PIPE, 'rel', [1, 2, 3, 4]), mkCell(EVIL, 'nonrel', [1, 1, 2, 2]), mkCell(PIPE, 'nonrel', [2, 2, 1, 1])];
  const schemes = buildSchemes(cells, 50, { groups: { inDomain: [EVIL], outOfDomain: [PIPE] }, kinds: ['dataset', 'fusion'] });
  const rel = schemes.filter((s) => s.label === 'rel');
  const pruning = pruningTable([{
    dataset: EVIL, qrels: QRELS, relevanceLevel: 2, unpruned: UNPRUNED,
    rows: [
      { scheme: 'fusion/all/rel', p: 1, units: 1, run: WORSE, random: [UNPRUNED, UNPRUNED, UNPRUNED, UNPRUNED, WORSE] },
      { scheme: 'fusion/all/rel', p: 10, units: 3, run: WORST, random: [UNPRUNED, WORSE, WORSE, WORST, UNPRUNED] },
      { scheme: 'dataset/a|b/rel', p: 1, units: 1, run: UNPRUNED, random: [UNPRUNED, UNPRUNED, UNPRUNED, UNPRUNED, UNPRUNED] },
      { scheme: 'dataset/a|b/rel', p: 10, units: 3, run: WORSE, random: [UNPRUNED, WORSE, WORSE, WORST, UNPRUNED] },
    ],
  }]);
  return {
    generatedAt: '2024-07-01T00:00:00Z',
    model: { name: 'tiny-bert', layers: 2, dff: 2, hidden: 8, numLabels: 1, target: 'logit', steps: 50, rule: 'right', baseline: 'pad-keep-special' },
    datasets: [
      { name: EVIL, domain: 'in-domain', relevanceLevel: 2, queries: 43, rel: 1234, nonrel: 5678 },
      { name: PIPE, domain: 'out-of-domain', relevanceLevel: 1, rel: 77, nonrel: 88 },
    ],
    layerDistributions: [{ scheme: 'fusion/all/rel', p: 50, counts: [17, 29] }, { scheme: `dataset/${EVIL}/rel`, p: 50, counts: [2, 0] }],
    overlaps: [overlapMatrix([...rel, { name: 'empty', units: new Uint32Array(0) }], 50, 'rel')],
    labelOverlaps: relVsNonrel(schemes),
    ood: [{ label: 'rel', p: 50, units: Uint32Array.from([2, 3]), perLayer: [0, 2], outOfDomainSize: 2, inDomainSize: 2 }],
    stability: [{ scheme: 'fusion/all/rel', p: 50, resamples: 100, stability: [1, 0.5, 0.95] }],
    pruning,
    completeness: [{ cut: 'word embeddings', deltas: [0.001, -0.003], gaps: [0.5, 0.25] }],
    notes: ['fixture note & more'],
  };
}

test('buildReport: JSON-ready summary of the input', () => {
  const r = buildReport(input());
  assert.equal(JSON.parse(JSON.stringify(r)), r); // no NaN, Maps or typed arrays
  assert.is(r.model.totalUnits, 4);
  assert.is(r.model.units, 'pre-activation');
  assert.equal(r.completeness, [{ cut: 'word embeddings', pairs: 2, meanAbs: 0.002, maxAbs: 0.003, meanRelAbs: (0.002 + 0.012) / 2 }]);
  assert.equal(r.layerDistributions[0], { scheme: 'fusion/all/rel', p: 50, counts: [17, 29], total: 46 });
  const o = r.overlaps[0];
  assert.equal(o.values[o.names.length - 1], o.names.map(() => null)); // the empty set's row: NaN → null
  assert.equal(r.ood[0].units, [2, 3]);
  assert.equal(r.stability[0], { scheme: 'fusion/all/rel', p: 50, resamples: 100, units: 3, mean: 2.45 / 3, min: 0.5, atLeast90: 2 });
  // pruning curves: one per (dataset, measure); the band at each p comes from the row with the most units
  assert.equal(r.pruningCurves.map((c) => `${c.dataset}:${c.measure}`), [`${EVIL}:ndcg10`, `${EVIL}:mrr10`]);
  assert.equal(r.pruningCurves[0].series.map((s) => s.name), ['fusion/all/rel', 'dataset/a|b/rel']);
  assert.equal(r.pruningCurves[0].random.map((b) => b.p), [1, 10]);
  assert.is(r.pruningCurves[0].baseline, 1);
  let err: unknown;
  try { buildReport({ ...input(), layerDistributions: [{ scheme: 's', p: 1, counts: [1, 2, 3] }] }); } catch (e) { err = e; }
  assert.instance(err, UserError);
  assert.match((err as Error).message, /has 3 layers, the model 2/);
});

test('renderHtml: sections, inline SVG charts, numbers, escaping, no external resources', () => {
  const r = buildReport(input());
  const html = renderHtml(r);
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  for (const id of ['model', 'datasets', 'completeness', 'layers', 'overlaps', 'label-overlaps', 'ood', 'stability', 'pruning', 'notes']) {
    assert.ok(html.includes(`<section id="${id}">`), `section ${id}`);
    assert.ok(html.includes(`href="#${id}"`), `nav link ${id}`);
  }
  const svgs = html.match(/<svg /g)!.length;
  // 2 layer bar charts + 1 heatmap + 1 OOD bar chart + 2 pruning curves
  assert.is(svgs, 6);
  assert.is(html.match(/<\/svg>/g)!.length, 6);
  assert.ok(/<svg class="chart heatmap"/.test(html));
  assert.is(html.match(/<polygon class="band"/g)!.length, 2);
  assert.is(html.match(/<rect class="bar"/g)!.length, 2 + 2 + 2);
  // numbers from the input
  for (const s of ['1234', '5678', '43', '>17<', '>29<', '>46<', 'tiny-bert', '0.0020', '0.0030']) assert.ok(html.includes(s), `missing ${s}`);
  const row = r.pruning!.rows[0];
  assert.ok(html.includes(row.ndcg10.value.toFixed(4)));
  assert.ok(html.includes(`${row.ndcg10.random.mean.toFixed(4)} ± ${row.ndcg10.random.std.toFixed(4)} (5)`));
  assert.ok(html.includes(`${row.mrr10.delta.toFixed(4)}`));
  // self-contained and escaped
  assert.not.match(html, /https?:\/\//);
  assert.not.match(html, /<script|<link|<img|<iframe|@import|url\(/i);
  assert.not.ok(html.includes(EVIL));
  assert.ok(html.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'));
  assert.ok(html.includes('fixture note &amp; more'));
});

test('renderMarkdown: tables with the right rows, escaped cells', () => {
  const r = buildReport(input());
  const md = renderMarkdown(r);
  const tableAfter = (heading: string) => {
    const lines = md.split('\n');
    const i = lines.indexOf(heading);
    assert.ok(i >= 0, `heading ${heading}`);
    const out: string[] = [];
    for (let j = i + 2; j < lines.length && lines[j].startsWith('|'); j++) out.push(lines[j]);
    return out;
  };
  const ds = tableAfter('## Datasets');
  assert.is(ds.length, 2 + 2); // header, separator, two datasets
  assert.is(ds[0], '| dataset | domain | relevance level | queries | relevant pairs | non-relevant pairs |');
  assert.is(ds[1], '| :-- | --: | --: | --: | --: | --: |');
  assert.is(ds[2], '| \\<script\\>alert("x")\\</script\\> | in-domain | 2 | 43 | 1234 | 5678 |');
  assert.is(ds[3], '| a\\|b | out-of-domain | 1 | – | 77 | 88 |');
  const ld = tableAfter('## Layer distribution of top units');
  assert.is(ld[0], '| scheme | p (%) | L0 | L1 | total |');
  assert.is(ld[2], '| fusion/all/rel | 50 | 17 | 29 | 46 |');
  const ov = tableAfter('### Top 50% (rel)');
  assert.is(ov.length, 2 + r.overlaps[0].names.length);
  assert.ok(ov[ov.length - 1].startsWith('| empty | 0 | – |'));
  const pr = md.split('## Pruning\n\n')[1].split('\n\n');
  const base = pr[0].split('\n');
  assert.is(base.length, 3);
  assert.ok(base[2].endsWith('| 2 | 2 | 1.0000 | 1.0000 |'));
  const rows = pr[1].split('\n');
  assert.is(rows.length, 2 + 4);
  const x = r.pruning!.rows[1];
  assert.ok(rows[3].startsWith(`| \\<script\\>alert("x")\\</script\\> | fusion/all/rel | 10 | 3 | ${x.ndcg10.value.toFixed(4)} | ${x.ndcg10.delta.toFixed(4)} |`));
  assert.ok(rows[4].includes('| dataset/a\\|b/rel | 1 | 1 | 1.0000 | +0.0000 |'));
  assert.not.match(md, /(^|[^\\])</); // every '<' is backslash-escaped (CommonMark: no raw HTML)
});

test('writeReport writes report.html, report.json and report.md', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ir-neurons-report-'));
  try {
    const { report, files } = writeReport(path.join(dir, 'out'), input());
    assert.equal(files.map((f) => path.basename(f)), ['report.html', 'report.json', 'report.md']);
    assert.equal(JSON.parse(readFileSync(files[1], 'utf8')), report);
    assert.is(readFileSync(files[0], 'utf8'), renderHtml(report));
    assert.is(readFileSync(files[2], 'utf8'), renderMarkdown(report));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
