/**
 * One self-contained HTML page from `ReportJson`: inline CSS, inline SVG (svg.ts), no script, no external
 * resource, readable offline. Every piece of text from the data is escaped with `esc`.
 * Sections (ids): known-answers, model, datasets, top-neurons, fig2, fig3, layers (Fig. 4), label-overlaps, ood,
 * completeness, overlaps, stability, pruning, heads (runs with head cells), notes. Each opens with one line saying what it shows and how to read
 * it; known-answer checks (planted models) sit beside the section they test; identical panels are drawn once.
 */
import type { ReportJson } from './report.ts';
import { barChart, esc, fmt4, fmtDelta, fmtPct, gridHeatmap, heatmap, lineChart, percentChart } from './svg.ts';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.muted{color:#777}
nav a{margin-right:12px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{font-size:10px;background:#fff;border:1px solid #eee}svg .ct{font-size:12px;font-weight:600}
svg .axis{stroke:#444}svg .grid{stroke:#eee}svg .bar{fill:#4a78b0}svg .band{fill:#f0a040;fill-opacity:.35;stroke:#d08020;stroke-width:1}
svg .rmean{fill:none;stroke:#b06010;stroke-dasharray:4 3}svg .base{stroke:#000;stroke-dasharray:6 3;stroke-width:1.5}
p.how{color:#555;font-style:italic;margin:4px 0 10px}.check{padding:4px 10px;margin:6px 0;border-left:4px solid}
.check.pass{border-color:#2a8a2a;background:#eef8ee}.check.fail{border-color:#c0302a;background:#fcecea}.headline{font-size:16px;font-weight:600}
.note{color:#555;font-size:13px}
svg.heatmap text.hl{fill:#fff}.scroll{overflow-x:auto}
`;

type Cell = string | number;

/** A table; cells are escaped here. The first column is left-aligned. */
function table(head: readonly Cell[], rows: readonly (readonly Cell[])[], caption?: string): string {
  const tr = (cells: readonly Cell[], tag: 'th' | 'td') => `<tr>${cells.map((c, i) => `<${tag}${i === 0 ? ' class="l"' : ''}>${esc(c)}</${tag}>`).join('')}</tr>`;
  return `<div class="scroll"><table>${caption ? `<caption>${esc(caption)}</caption>` : ''}<thead>${tr(head, 'th')}</thead><tbody>${rows.map((r) => tr(r, 'td')).join('')}</tbody></table></div>`;
}

function section(id: string, title: string, body: string, how?: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>${how ? `<p class="how">${esc(how)}</p>` : ''}${body}</section>`;
}

/** The known-answer checks that belong beside section `id`. */
function checksFor(r: ReportJson, id: string): string {
  return (r.knownAnswers?.checks ?? []).filter((c) => c.section === id).map((c) => `<div class="check ${c.passed ? 'pass' : 'fail'}" data-role="${esc(c.role)}">`
    + `<b>${c.passed ? '✔' : '✘'} known answer — ${esc(ROLE_NAMES[c.role] ?? c.role)}: ${c.found}/${c.total} found</b> at p = ${c.p}% (${esc(c.rule)}): ${esc(c.units.join(' '))}`
    + `${c.missing.length ? `; missing ${esc(c.missing.join(' '))}` : ''}</div>`).join('');
}

const ROLE_NAMES: Record<string, string> = {
  relevance: 'planted relevance neurons', shared: 'relevance neurons shared by every dataset', ood: 'OOD neurons',
  nonrel: 'non-relevance neurons', dead: 'neurons that do nothing',
};

/** Groups items whose `key` is equal (first-seen order); one panel is drawn per group. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const t of items) {
    const k = key(t);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(t);
  }
  return [...m.values()];
}

function modelSection(r: ReportJson): string {
  const m = r.model;
  const rows: [string, Cell][] = [
    ['checkpoint', m.name], ...(m.family !== undefined ? [['family', m.family] as [string, Cell]] : []), ['layers', m.layers], ['FFN neurons per layer (d_ff)', m.dff], ['units pooled', m.totalUnits],
    ['units attributed', m.units],
  ];
  if (m.hidden !== undefined) rows.push(['hidden size', m.hidden]);
  if (m.numLabels !== undefined) rows.push(['labels', m.numLabels]);
  if (m.target !== undefined) rows.push(['target', m.target]);
  if (m.steps !== undefined) rows.push(['integration steps m', m.steps]);
  if (m.rule !== undefined) rows.push(['rule', m.rule]);
  if (m.baseline !== undefined) rows.push(['baseline', m.baseline]);
  if (r.steps) rows.push(['m per pair (adaptive)', `${r.steps.min} / ${r.steps.median} / ${r.steps.max} (min / median / max over ${r.steps.pairs} pairs)${r.steps.meanEstimate !== null ? `, mean estimated error ${r.steps.meanEstimate.toExponential(2)}` : ''}`]);
  return section('model', 'Model and method', table(['setting', 'value'], rows), 'What was attributed and how: the model, the units, the relevance output F, the path (baseline, steps m, rule).');
}

function datasetsSection(r: ReportJson): string {
  const rows = r.datasets.map((d) => [d.name, d.domain, d.relevanceLevel, d.queries ?? '–', d.rel, d.nonrel]);
  return section('datasets', 'Datasets', table(['dataset', 'domain', 'relevance level', 'queries', 'relevant pairs', 'non-relevant pairs'], rows),
    'The pairs averaged into each (dataset, label) cell; every analysis below starts from these cell means.');
}

function completenessSection(r: ReportJson): string {
  if (!r.completeness.length) return '';
  const rows = r.completeness.map((c) => [c.cut, c.pairs, fmt4(c.meanAbs), fmt4(c.maxAbs), fmt4(c.meanAbsGap), c.meanRelAbs === null ? '–' : `${(100 * c.meanRelAbs).toFixed(2)}%`]);
  return section('completeness', 'Completeness of full cuts', table(['cut', 'pairs', 'mean |Δ|', 'max |Δ|', 'mean |F(x) − F(x′)|', 'mean |Δ| / |F(x) − F(x′)|'], rows)
    + '<p class="note">FFN units are not a cut (the residual stream bypasses them), so their NIG is not expected to sum to the gap; the word embeddings and each layer\'s output hidden states are.</p>',
  'Per full cut of the network, Δ = Σ attributions − (F(x) − F(x′)) per pair: the integration error. Read the last column: a few percent or less means the m steps suffice; it shrinks as m grows.');
}

function layersSection(r: ReportJson): string {
  if (!r.layerDistributions.length) return '';
  const groups = groupBy(r.layerDistributions, (l) => `${l.p}|${l.counts.join(',')}`);
  const charts = groups.map((g) => barChart(g[0].counts, `${g.map((l) => l.scheme).join(' = ')}, top ${g[0].p}% (${g[0].total} units)`));
  const collapsed = r.layerDistributions.length - groups.length;
  const head = ['scheme', 'p (%)', ...r.layerDistributions[0].counts.map((_, i) => `L${i}`), 'total'];
  const rows = r.layerDistributions.map((l) => [l.scheme, l.p, ...l.counts, l.total]);
  return section('layers', 'Fig. 4 — layer distribution of the top units', `<div class="charts">${charts.join('')}</div>`
    + (collapsed ? `<p class="note">${collapsed} panel(s) identical to another one are drawn once (their schemes are joined with '=').</p>` : '') + table(head, rows),
  'Bars: how many of a scheme\'s top-p% units sit in each layer (the paper\'s Fig. 4 is the fusion of all datasets at 1%). A layer with a tall bar holds many of the units that matter.');
}

function overlapsSection(r: ReportJson): string {
  if (!r.overlaps.length) return '';
  const groups = groupBy(r.overlaps, (m) => JSON.stringify([m.label, m.names, m.values]));
  const body = groups.map((g) => {
    const m = g[0];
    const title = `Overlap at top ${g.map((x) => `${x.p}%`).join(', ')}${m.label ? ` (${m.label})` : ''}`;
    const rows = m.names.map((name, i) => [name, g.map((x) => x.sizes[i]).join(' / '), ...m.values[i].map(fmtPct)]);
    return `<h3>${esc(title)}</h3>${g.length > 1 ? `<p class="note">Identical at these ${g.length} cut-offs: drawn once.</p>` : ''}${heatmap(m.names, m.values, title)}${table(['row in column (%)', 'size', ...m.names], rows)}`;
  });
  return section('overlaps', 'Overlaps between schemes', body.join(''),
    'Cell (row, column) = |row ∩ column| / |row| in percent: how much of the row scheme\'s top set the column scheme also has. Dark = shared neurons.');
}

function labelOverlapsSection(r: ReportJson): string {
  if (!r.labelOverlaps.length) return '';
  const rows = r.labelOverlaps.map((o) => [o.scheme, o.p, o.rel, o.nonrel, o.shared, fmtPct(o.relInNonrel), fmtPct(o.nonrelInRel)]);
  return section('label-overlaps', 'Relevance vs non-relevance neurons', checksFor(r, 'label-overlaps') + table(['scheme', 'p (%)', 'relevance', 'non-relevance', 'shared', 'rel in nonrel (%)', 'nonrel in rel (%)'], rows),
    'Relevance neurons: top units of the relevant pairs; non-relevance neurons: top units of the non-relevant pairs, each read towards its own class. Low shared percentages mean two distinct sets of neurons.');
}

function oodSection(r: ReportJson): string {
  if (!r.ood.length) return '';
  const groups = groupBy(r.ood.filter((o) => o.count > 0), (o) => `${o.label}|${o.units.join(',')}`);
  const dff = r.model.dff;
  const name = (u: number) => `L${Math.floor(u / dff)}.${u % dff}`;
  const charts = groups.map((g) => barChart(g[0].perLayer, `OOD neurons (${g[0].label}), top ${g.map((o) => `${o.p}%`).join(' = ')}: ${g[0].count}`));
  const empty = r.ood.filter((o) => o.count === 0).map((o) => `${o.label} at ${o.p}%`);
  const rows = r.ood.map((o) => [o.label, o.p, o.outOfDomainSize, o.inDomainSize, o.count, o.units.slice(0, 12).map(name).join(' ') + (o.units.length > 12 ? ' …' : '')]);
  return section('ood', 'OOD neurons', checksFor(r, 'ood') + `<div class="charts">${charts.join('')}</div>`
    + (empty.length ? `<p class="note">No OOD neurons (no panel) for ${esc(empty.join(', '))}.</p>` : '')
    + table(['label', 'p (%)', 'out-of-domain set', 'in-domain set', 'OOD neurons', 'neurons'], rows),
  'Units in the top p% of the out-of-domain fusion but not of the in-domain fusion: neurons that matter only out of domain. Identical panels are drawn once.');
}

function stabilitySection(r: ReportJson): string {
  if (!r.stability.length) return '';
  const rows = r.stability.map((s) => [s.scheme, s.p, s.resamples, s.units, fmt4(s.mean), fmt4(s.min), s.atLeast90]);
  return section('stability', 'Bootstrap stability', table(['scheme', 'p (%)', 'resamples', 'units', 'mean kept', 'min kept', 'kept ≥ 90%'], rows),
    'Pairs resampled with replacement: the share of resamples whose top-p% set keeps each unit. Near 1: the set does not depend on which pairs were drawn.');
}

/** The pruning table's charts and tables (FFN units, or heads with `what` = 'heads'). */
function pruningParts(t: NonNullable<ReportJson['pruning']>, curves: ReportJson['pruningCurves'], what = 'units'): string {
  const charts = curves.map((c) => {
    const label = c.measure === 'ndcg10' ? 'nDCG@10' : 'MRR@10';
    return lineChart(c.series, c.random, c.baseline ?? NaN, `${c.dataset}: ${label} after pruning${what === 'heads' ? ' heads' : ''}`, label);
  });
  const base = table(['dataset', 'relevance level', 'queries', 'nDCG@10', 'MRR@10'], t.baselines.map((b) => [b.dataset, b.relevanceLevel, b.queries, fmt4(b.ndcg10), fmt4(b.mrr10)]), 'unpruned');
  const pm = (s: { mean: number; std: number; n: number }) => `${fmt4(s.mean)} ± ${fmt4(s.std)} (${s.n})`;
  const rows = t.rows.map((x) => [
    x.dataset, x.scheme, x.p, x.units,
    fmt4(x.ndcg10.value), fmtDelta(x.ndcg10.delta), pm(x.ndcg10.random), `${x.ndcg10.wins}/${x.ndcg10.losses}`,
    fmt4(x.mrr10.value), fmtDelta(x.mrr10.delta), pm(x.mrr10.random),
  ]);
  const head = ['dataset', 'scheme', 'p (%)', what, 'nDCG@10', 'Δ', 'random nDCG@10 (seeds)', 'better/worse queries', 'MRR@10', 'Δ', 'random MRR@10 (seeds)'];
  return `<div class="charts">${charts.join('')}</div>${base}${table(head, rows, 'pruned')}`;
}

function headsSection(r: ReportJson): string {
  const h = r.heads;
  if (!h) return '';
  const rows = Array.from({ length: h.layers }, (_, l) => `L${l}`), cols = Array.from({ length: h.heads }, (_, j) => `H${j}`);
  const maps = h.maps.map((m) => gridHeatmap(rows, cols, m.values, m.name, (i, j) => `L${i}.H${j}`));
  const methods = h.methods.length ? table(['method', 'method', 'Spearman ρ over heads'], h.methods.map((a) => [a.a, a.b, fmt4(a.spearman)]), 'rank agreement between the methods') : '';
  const agree = h.agreement.length ? table(['map', 'map', 'Spearman ρ over heads'], h.agreement.map((a) => [a.a, a.b, fmt4(a.spearman)])) : '';
  const top = table(['rank', 'head', 'score'], h.top.map((x, i) => [i + 1, x.name, fmt4(x.score)]), `top heads of ${h.maps[0].name}`);
  const prune = h.pruning ? `<h3>Head pruning</h3>${pruningParts(h.pruning, h.pruningCurves, 'heads')}` : '';
  return section('heads', 'Heads', `${h.note ? `<p class="note">${esc(h.note)}</p>` : ''}<div class="charts">${maps.join('')}</div>${methods}${agree}${top}${prune}`,
    'Layer × head maps (rows: layers, columns: heads; red positive, blue negative, scaled per map) side by side, with their rank agreement (Spearman ρ over all heads); the top heads, named L<layer>.H<head>; and, with a head-pruning table, each head scheme\'s nDCG@10 against p beside random head sets of the same count (mean ± std).');
}

function pruningSection(r: ReportJson): string {
  const t = r.pruning;
  if (!t) return '';
  return section('pruning', 'Pruning', pruningParts(t, r.pruningCurves),
    'Each line: the ranking quality after zeroing a scheme\'s top-p% units; the orange band: random sets of the same size (mean ± std); dashed: unpruned. A line far below the band means those neurons matter.');
}

function knownAnswersSection(r: ReportJson): string {
  const k = r.knownAnswers;
  if (!k) return '';
  const rows = k.checks.map((c) => [ROLE_NAMES[c.role] ?? c.role, `${c.found}/${c.total}`, c.p, c.passed ? 'pass' : 'FAIL', c.rule, c.units.join(' ')]);
  return section('known-answers', 'Known answers', (k.headline ? `<p class="headline">${esc(k.headline)}</p>` : '') + table(['role', 'found', 'p (%)', 'check', 'found means', 'planted units'], rows),
    'The model was built with planted neurons of known roles: each row says whether the analysis finds them (k of k). Each check is repeated beside its section.');
}

function topNeuronsSection(r: ReportJson): string {
  const t = r.topNeurons;
  if (!t) return '';
  const known = t.rows.some((x) => x.role !== null);
  const head = ['rank', 'neuron', ...(known ? ['planted role'] : []), 'fused score', ...t.cells.map((c) => `mean NIG ${c}`), ...(t.rows[0]?.segments ? t.segments.map((s) => `${s} share`) : [])];
  const share = (x: number | null, tot: number | null) => (x === null || !tot ? '–' : `${Math.abs((100 * x) / tot) < 0.5 ? 0 : ((100 * x) / tot).toFixed(0)}%`);
  const rows = t.rows.map((x, i) => [i + 1, x.name, ...(known ? [x.role ?? '–'] : []), fmt4(x.score), ...x.perCell.map(fmt4), ...(x.segments ? x.segments.map((s) => share(s, x.score)) : [])]);
  return section('top-neurons', 'Top neurons', checksFor(r, 'top-neurons') + table(head, rows),
    `The ${t.rows.length} highest units of the fusion of every dataset's ${t.label === 'rel' ? 'relevant' : 'non-relevant'} cells, named L<layer>.<neuron>: their mean NIG in every (dataset, label) cell (the run's target; non-relevant cells are not turned here) and where along the input the fused score comes from ([CLS], query, [SEP], passage).`);
}

function fig2Section(r: ReportJson): string {
  const f = r.fig2;
  if (!f || !f.panels.some((p) => p.series.length)) return '';
  const charts = f.panels.filter((p) => p.series.length).map((p) => percentChart(p.series.map((s) => ({ name: s.name, points: f.ps.map((q, i) => ({ p: q, value: s.values[i] ?? NaN })) })),
    `${p.label === 'rel' ? 'Relevant' : 'Non-relevant'} pairs: overlap of two datasets' top-p% sets`, 'overlap (%)'));
  const rows = f.panels.flatMap((p) => p.series.map((s) => [p.label, s.name, ...s.values.map(fmtPct)]));
  return section('fig2', 'Fig. 2 — intersection between pairs of attribution schemes', `<div class="charts">${charts.join('')}</div>` + table(['label', 'pair', ...f.ps.map((q) => `${q}%`)], rows),
    'One line per pair of per-dataset schemes (relevant pairs, then non-relevant): the share of one dataset\'s top-p% neurons that the other also ranks top-p%, against p. High at small p: the datasets agree on their most important neurons.');
}

function fig3Section(r: ReportJson): string {
  const f = r.fig3;
  if (!f) return '';
  const charts = f.panels.map((p) => percentChart(p.rows.map((row) => ({ name: row.name, points: f.ps.map((q, i) => ({ p: q, value: row.shares[i] ?? NaN })) })),
    `${p.label === 'rel' ? 'Relevant' : 'Non-relevant'}: intersection of the datasets' top-p% sets`, 'in every set (% of p)'));
  if (f.relVsNonrel.length) {
    charts.push(percentChart(f.relVsNonrel.map((x) => ({ name: x.dataset, points: f.ps.map((q, i) => ({ p: q, value: x.values[i] ?? NaN })) })), 'Relevant ∩ non-relevant sets, per dataset', '|R ∩ N| / |R| (%)'));
  }
  const rows = f.panels.flatMap((p) => p.rows.map((row) => [p.label, row.name, row.datasets.join(', '), ...row.sizes.map((n, i) => `${n} (${fmtPct(row.shares[i])}%)`)]));
  const named = f.panels.flatMap((p) => p.rows.map((row) => {
    let j = f.p !== null ? f.ps.indexOf(f.p) : -1; // the report's p, else the largest p whose intersection fits on a line
    if (j < 0) row.units.forEach((u, k) => { if (u.length <= 16 || k === 0) j = k; });
    const list = row.units[j].slice(0, 16).join(' ') + (row.units[j].length > 16 ? ' …' : '');
    return `<li>${esc(p.label)}, ${esc(row.name)}, top ${f.ps[j]}%: ${esc(list || 'none')}</li>`;
  }));
  return section('fig3', 'Fig. 3 — intersection among all schemes, and with datasets left out', checksFor(r, 'fig3') + `<div class="charts">${charts.join('')}</div>`
    + table(['label', 'datasets', 'kept', ...f.ps.map((q) => `${q}%: |∩| (share)`)], rows) + `<ul class="note">${named.join('')}</ul>`,
  'Neurons in the top p% of every dataset (and of every dataset but the excluded ones: report --exclude): the share of p that all agree on. Excluding a dataset that differs raises the line. Right: how much of each dataset\'s relevance set is also its non-relevance set.');
}

/** The whole page. */
export function renderHtml(r: ReportJson): string {
  const parts = [
    knownAnswersSection(r), modelSection(r), datasetsSection(r), topNeuronsSection(r), fig2Section(r), fig3Section(r), layersSection(r),
    labelOverlapsSection(r), oodSection(r), completenessSection(r), overlapsSection(r), stabilitySection(r), pruningSection(r), headsSection(r),
    r.notes.length ? section('notes', 'Notes', `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`) : '',
  ].filter(Boolean);
  const nav = parts.map((p) => /<section id="([^"]+)"><h2>([^<]*)<\/h2>/.exec(p)!).map((m) => `<a href="#${m[1]}">${m[2].replace(/ — .*/, '')}</a>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title><style>${CSS}</style></head>
<body><h1>${esc(r.title)}</h1>${r.knownAnswers?.headline ? `<p class="headline" id="headline">${esc(r.knownAnswers.headline)}</p>` : ''}${r.generatedAt ? `<p class="muted">generated ${esc(r.generatedAt)}</p>` : ''}<nav>${nav}</nav>
${parts.join('\n')}
</body></html>
`;
}
