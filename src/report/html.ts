/**
 * One self-contained HTML page from `ReportJson`: inline CSS, inline SVG (svg.ts), no script, no external
 * resource, readable offline. Every piece of text from the data is escaped with `esc`.
 * Sections (ids): model, datasets, completeness, layers, overlaps, label-overlaps, ood, stability, pruning, notes.
 */
import type { ReportJson } from './report.ts';
import { barChart, esc, fmt4, fmtDelta, fmtPct, heatmap, lineChart } from './svg.ts';

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px 24px;color:#222}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f2f2f2}td.l,th.l{text-align:left}.muted{color:#777}
nav a{margin-right:12px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{font-size:10px;background:#fff;border:1px solid #eee}svg .ct{font-size:12px;font-weight:600}
svg .axis{stroke:#444}svg .bar{fill:#4a78b0}svg .band{fill:#bbb;fill-opacity:.45;stroke:none}
svg .rmean{fill:none;stroke:#777;stroke-dasharray:4 3}svg .base{stroke:#000;stroke-dasharray:6 3}
svg.heatmap text.hl{fill:#fff}.scroll{overflow-x:auto}
`;

type Cell = string | number;

/** A table; cells are escaped here. The first column is left-aligned. */
function table(head: readonly Cell[], rows: readonly (readonly Cell[])[], caption?: string): string {
  const tr = (cells: readonly Cell[], tag: 'th' | 'td') => `<tr>${cells.map((c, i) => `<${tag}${i === 0 ? ' class="l"' : ''}>${esc(c)}</${tag}>`).join('')}</tr>`;
  return `<div class="scroll"><table>${caption ? `<caption>${esc(caption)}</caption>` : ''}<thead>${tr(head, 'th')}</thead><tbody>${rows.map((r) => tr(r, 'td')).join('')}</tbody></table></div>`;
}

function section(id: string, title: string, body: string): string {
  return `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
}

function modelSection(r: ReportJson): string {
  const m = r.model;
  const rows: [string, Cell][] = [
    ['checkpoint', m.name], ['layers', m.layers], ['FFN neurons per layer (d_ff)', m.dff], ['units pooled', m.totalUnits],
    ['units attributed', m.units],
  ];
  if (m.hidden !== undefined) rows.push(['hidden size', m.hidden]);
  if (m.numLabels !== undefined) rows.push(['labels', m.numLabels]);
  if (m.target !== undefined) rows.push(['target', m.target]);
  if (m.steps !== undefined) rows.push(['integration steps m', m.steps]);
  if (m.rule !== undefined) rows.push(['rule', m.rule]);
  if (m.baseline !== undefined) rows.push(['baseline', m.baseline]);
  return section('model', 'Model and method', table(['setting', 'value'], rows));
}

function datasetsSection(r: ReportJson): string {
  const rows = r.datasets.map((d) => [d.name, d.domain, d.relevanceLevel, d.queries ?? '–', d.rel, d.nonrel]);
  return section('datasets', 'Datasets', table(['dataset', 'domain', 'relevance level', 'queries', 'relevant pairs', 'non-relevant pairs'], rows));
}

function completenessSection(r: ReportJson): string {
  if (!r.completeness.length) return '';
  const rows = r.completeness.map((c) => [c.cut, c.pairs, fmt4(c.meanAbs), fmt4(c.maxAbs), fmt4(c.meanRelAbs)]);
  return section('completeness', 'Completeness of full cuts', '<p class="muted">Σ attributions − (F(x) − F(x′)) per pair; FFN units are not a cut, so their NIG is not expected to sum to the gap.</p>'
    + table(['cut', 'pairs', 'mean |Δ|', 'max |Δ|', 'mean |Δ| / |gap|'], rows));
}

function layersSection(r: ReportJson): string {
  if (!r.layerDistributions.length) return '';
  const charts = r.layerDistributions.map((l) => barChart(l.counts, `${l.scheme}, top ${l.p}% (${l.total} units)`));
  const head = ['scheme', 'p (%)', ...r.layerDistributions[0].counts.map((_, i) => `L${i}`), 'total'];
  const rows = r.layerDistributions.map((l) => [l.scheme, l.p, ...l.counts, l.total]);
  return section('layers', 'Layer distribution of top units', `<div class="charts">${charts.join('')}</div>${table(head, rows)}`);
}

function overlapsSection(r: ReportJson): string {
  if (!r.overlaps.length) return '';
  const body = r.overlaps.map((m) => {
    const title = `Overlap at top ${m.p}%${m.label ? ` (${m.label})` : ''}`;
    const rows = m.names.map((name, i) => [name, m.sizes[i], ...m.values[i].map(fmtPct)]);
    return `<h3>${esc(title)}</h3>${heatmap(m.names, m.values, title)}${table(['row in column (%)', 'size', ...m.names], rows)}`;
  });
  return section('overlaps', 'Overlaps between schemes', '<p class="muted">Cell (row, column) = |row ∩ column| / |row| in percent.</p>' + body.join(''));
}

function labelOverlapsSection(r: ReportJson): string {
  if (!r.labelOverlaps.length) return '';
  const rows = r.labelOverlaps.map((o) => [o.scheme, o.p, o.rel, o.nonrel, o.shared, fmtPct(o.relInNonrel), fmtPct(o.nonrelInRel)]);
  return section('label-overlaps', 'Relevance vs non-relevance neurons', table(['scheme', 'p (%)', 'relevance', 'non-relevance', 'shared', 'rel in nonrel (%)', 'nonrel in rel (%)'], rows));
}

function oodSection(r: ReportJson): string {
  if (!r.ood.length) return '';
  const charts = r.ood.map((o) => barChart(o.perLayer, `OOD neurons (${o.label}), top ${o.p}%: ${o.count}`));
  const rows = r.ood.map((o) => [o.label, o.p, o.outOfDomainSize, o.inDomainSize, o.count]);
  return section('ood', 'OOD neurons', '<p class="muted">Top in the out-of-domain fusion, not in the in-domain fusion.</p>'
    + `<div class="charts">${charts.join('')}</div>` + table(['label', 'p (%)', 'out-of-domain set', 'in-domain set', 'OOD neurons'], rows));
}

function stabilitySection(r: ReportJson): string {
  if (!r.stability.length) return '';
  const rows = r.stability.map((s) => [s.scheme, s.p, s.resamples, s.units, fmt4(s.mean), fmt4(s.min), s.atLeast90]);
  return section('stability', 'Bootstrap stability', table(['scheme', 'p (%)', 'resamples', 'units', 'mean kept', 'min kept', 'kept ≥ 90%'], rows));
}

function pruningSection(r: ReportJson): string {
  const t = r.pruning;
  if (!t) return '';
  const charts = r.pruningCurves.map((c) => {
    const label = c.measure === 'ndcg10' ? 'nDCG@10' : 'MRR@10';
    return lineChart(c.series, c.random, c.baseline ?? NaN, `${c.dataset}: ${label} after pruning`, label);
  });
  const base = table(['dataset', 'relevance level', 'queries', 'nDCG@10', 'MRR@10'], t.baselines.map((b) => [b.dataset, b.relevanceLevel, b.queries, fmt4(b.ndcg10), fmt4(b.mrr10)]), 'unpruned');
  const pm = (s: { mean: number; std: number; n: number }) => `${fmt4(s.mean)} ± ${fmt4(s.std)} (${s.n})`;
  const rows = t.rows.map((x) => [
    x.dataset, x.scheme, x.p, x.units,
    fmt4(x.ndcg10.value), fmtDelta(x.ndcg10.delta), pm(x.ndcg10.random), `${x.ndcg10.wins}/${x.ndcg10.losses}`,
    fmt4(x.mrr10.value), fmtDelta(x.mrr10.delta), pm(x.mrr10.random),
  ]);
  const head = ['dataset', 'scheme', 'p (%)', 'units', 'nDCG@10', 'Δ', 'random nDCG@10 (seeds)', 'better/worse queries', 'MRR@10', 'Δ', 'random MRR@10 (seeds)'];
  return section('pruning', 'Pruning', `<div class="charts">${charts.join('')}</div>${base}${table(head, rows, 'pruned')}`);
}

/** The whole page. */
export function renderHtml(r: ReportJson): string {
  const parts = [
    modelSection(r), datasetsSection(r), completenessSection(r), layersSection(r), overlapsSection(r), labelOverlapsSection(r),
    oodSection(r), stabilitySection(r), pruningSection(r),
    r.notes.length ? section('notes', 'Notes', `<ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>`) : '',
  ].filter(Boolean);
  const nav = parts.map((p) => /<section id="([^"]+)"><h2>([^<]*)<\/h2>/.exec(p)!).map((m) => `<a href="#${m[1]}">${m[2]}</a>`).join('');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title><style>${CSS}</style></head>
<body><h1>${esc(r.title)}</h1>${r.generatedAt ? `<p class="muted">generated ${esc(r.generatedAt)}</p>` : ''}<nav>${nav}</nav>
${parts.join('\n')}
</body></html>
`;
}
