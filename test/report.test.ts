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
import { mergeCoincident, niceTicks } from '../src/report/svg.ts';
import { intersectionSummary, knownAnswerChecks, relNonrelPerDataset, schemePairCurves, topNeurons } from '../src/analysis/figures.ts';

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
  const PS = [25, 50];
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
    completeness: [{ cut: 'word embeddings', deltas: [0.001, -0.003], gaps: [0.5, 0.25] }, { cut: 'layer 1 output (hidden state 2)', deltas: [0.01, 0.02], gaps: [0.5, -0.25] }],
    fig2: { ps: PS, panels: (['rel', 'nonrel'] as const).map((label) => ({ label, series: schemePairCurves(cells, label, PS) })) },
    fig3: { ps: PS, panels: (['rel', 'nonrel'] as const).map((label) => ({ label, rows: intersectionSummary(cells, label, PS, [[PIPE]]) })), relVsNonrel: relNonrelPerDataset(cells, PS) },
    topNeurons: { label: 'rel', p: 50, ...topNeurons(cells, 'rel', 3) },
    knownAnswers: { headline: '1/1 planted neurons found', checks: knownAnswerChecks(cells, { inDomain: [EVIL], outOfDomain: [PIPE] }, { relevance: [0] }, 50) },
    notes: ['fixture note & more'],
  };
}

test('buildReport: JSON-ready summary of the input', () => {
  const r = buildReport(input());
  assert.equal(JSON.parse(JSON.stringify(r)), r); // no NaN, Maps or typed arrays
  assert.is(r.model.totalUnits, 4);
  assert.is(r.model.units, 'pre-activation');
  assert.equal(r.completeness, [
    { cut: 'word embeddings', pairs: 2, meanAbs: 0.002, maxAbs: 0.003, meanRelAbs: (0.002 + 0.012) / 2, meanAbsGap: 0.375 },
    { cut: 'layer 1 output (hidden state 2)', pairs: 2, meanAbs: 0.015, maxAbs: 0.02, meanRelAbs: (0.02 + 0.08) / 2, meanAbsGap: 0.375 },
  ]);
  // Fig. 2: the two datasets' rel means are reversed ([4,3,2,1] vs [1,2,3,4]): no overlap at 25% (1 unit each), at 50% none either
  assert.equal(r.fig2!.panels[0].series, [{ name: `${EVIL} ∩ ${PIPE}`, values: [0, 0] }]);
  // nonrel means [1,1,2,2] and [2,2,1,1]: top 50% are {2,3} and {0,1}
  assert.equal(r.fig2!.panels[1].series[0].values, [0, 0]);
  // Fig. 3: all datasets ∩ is empty; all but PIPE is EVIL's own set (100 %), named
  assert.equal(r.fig3!.panels[0].rows.map((x) => [x.name, x.sizes, x.shares, x.units]), [
    ['all datasets', [0, 0], [0, 0], [[], []]],
    [`all but ${PIPE}`, [1, 2], [100, 100], [['L0.0'], ['L0.0', 'L0.1']]],
  ]);
  assert.equal(r.fig3!.relVsNonrel, [{ dataset: EVIL, values: [0, 0] }, { dataset: PIPE, values: [0, 0] }]);
  // top neurons by the fused rel mean ([2.5, 2.5, 2.5, 2.5]: ties by index), named, with each cell's mean
  assert.equal(r.topNeurons!.rows.map((x) => [x.name, x.score, x.perCell]), [['L0.0', 2.5, [4, 1, 1, 2]], ['L0.1', 2.5, [3, 2, 1, 2]], ['L1.0', 2.5, [2, 3, 2, 1]]]);
  assert.equal(r.knownAnswers!.checks.map((c) => `${c.role} ${c.found}/${c.total}`), ['relevance 1/1', 'shared 0/1']);
  assert.equal(r.topNeurons!.rows.map((x) => x.role), ['relevance', null, null]);
  // adaptive NIG: the m each pair used, summarised in the model table
  const ad = buildReport({ ...input(), steps: { perPair: [16, 4, 8], estimates: [1e-3, 2e-3, 3e-3] } });
  assert.equal(ad.steps, { pairs: 3, min: 4, median: 8, max: 16, meanEstimate: 0.002 });
  assert.is(r.steps, null);
  assert.ok(renderHtml(ad).includes('<td>4 / 8 / 16 (min / median / max over 3 pairs), mean estimated error 2.00e-3</td>'));
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
  for (const id of ['known-answers', 'model', 'datasets', 'top-neurons', 'fig2', 'fig3', 'completeness', 'layers', 'overlaps', 'label-overlaps', 'ood', 'stability', 'pruning', 'notes']) {
    assert.ok(html.includes(`<section id="${id}">`), `section ${id}`);
    assert.ok(html.includes(`href="#${id}"`), `nav link ${id}`);
  }
  const svgs = html.match(/<svg /g)!.length;
  // 2 layer bar charts + 1 heatmap + 1 OOD bar chart + 2 pruning curves + 2 Fig. 2 panels + 2 Fig. 3 panels + rel ∩ nonrel
  assert.is(svgs, 11);
  assert.is(html.match(/<\/svg>/g)!.length, 11);
  // every section says what it shows; the checks sit beside their sections
  assert.is(html.match(/<p class="how">/g)!.length, 13); // every section but the notes
  assert.match(html, /<section id="top-neurons"><h2>Top neurons<\/h2><p class="how">[^<]*<\/p><div class="check pass" data-role="relevance"><b>✔ known answer — planted relevance neurons: 1\/1 found<\/b>/);
  assert.match(html, /<section id="fig3">(?:(?!<\/section>).)*<div class="check fail" data-role="shared"><b>✘ known answer — relevance neurons shared by every dataset: 0\/1 found<\/b>(?:(?!<\/section>).)*missing L0\.0/s);
  assert.match(html, /<p class="headline" id="headline">1\/1 planted neurons found<\/p>/);
  assert.ok(html.includes('<td>5.00%</td>') && html.includes('<td>0.70%</td>'), 'completeness: |Δ| / |gap| of each cut in percent');
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

test('the model family is named in both reports when the input has it', () => {
  const base = input();
  const r = buildReport({ ...base, model: { ...base.model, family: 'electra' } });
  assert.ok(renderMarkdown(r).includes('| family | electra |'));
  assert.match(renderHtml(r), /<td class="l">family<\/td><td>electra/);
  assert.not.ok(renderMarkdown(buildReport(base)).includes('| family |'), 'no row without a family');
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
  assert.equal(tableAfter('## Known answers').slice(2), ['| relevance | 1/1 | 50 | pass | in the top 50% of the fusion of all datasets (relevant pairs) | L0.0 |', '| shared | 0/1 | 50 | FAIL | in the top 50% of every dataset (intersection of all 2) | L0.0 |']);
  assert.is(tableAfter('## Fig. 3: intersection among all schemes, and with datasets left out')[3], '| rel | all but a\\|b | \\<script\\>alert("x")\\</script\\> | 1 (100.0) | 2 (100.0) |');
  assert.is(tableAfter('## Completeness of full cuts')[3], '| layer 1 output (hidden state 2) | 2 | 0.0150 | 0.0200 | 0.3750 | 0.0500 |');
  assert.ok(tableAfter('## Top neurons')[2].startsWith('| L0.0 | relevance | 2.5000 | 4.0000 | 1.0000 | 1.0000 | 2.0000 |'));
});

test('niceTicks and mergeCoincident: round ticks, coinciding series drawn once', () => {
  assert.equal(niceTicks(0.468, 1.0, 4), [0.6, 0.8, 1]);
  assert.equal(niceTicks(0.4, 0.45, 4), [0.4, 0.42, 0.44]);
  assert.equal(niceTicks(-4, 104, 5), [0, 25, 50, 75, 100]);
  // values equal up to rounding (a pruning that changed no ranking: 0.4362485678434912 vs …9125) are one tick; this
  // looped forever (k past 2^53) before
  assert.equal(niceTicks(0.4362485678434912, 0.43624856784349125, 4), [0.4362485678434912]);
  const pts = [{ p: 1, value: 0.5 }, { p: 5, value: 0.25 }];
  assert.equal(mergeCoincident([{ name: 'a', points: pts }, { name: 'b', points: [{ p: 1, value: 0.5 }, { p: 5, value: 0.3 }] }, { name: 'c', points: [...pts] }]).map((x) => x.name), ['a = c', 'b']);
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
