/**
 * The report as Markdown tables (report.md), from the same `ReportJson` as the HTML page. Cells backslash-escape
 * `|`, `\\`, `<` and `>` (CommonMark escapes, so no raw HTML gets through) and flatten line breaks, so that any
 * dataset or scheme name keeps the table intact.
 */
import type { ReportJson } from './report.ts';
import { fmt4, fmtDelta, fmtPct } from './svg.ts';

type Cell = string | number;

function cell(c: Cell): string {
  return String(c).replace(/[\\|<>]/g, (ch) => `\\${ch}`).replace(/\r?\n/g, ' ');
}

/** A GitHub-flavoured Markdown table: header, separator (first column left, the rest right-aligned), rows. */
export function mdTable(head: readonly Cell[], rows: readonly (readonly Cell[])[]): string {
  const line = (cells: readonly Cell[]) => `| ${cells.map(cell).join(' | ')} |`;
  const sep = `| ${head.map((_, i) => (i === 0 ? ':--' : '--:')).join(' | ')} |`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

export function renderMarkdown(r: ReportJson): string {
  const out: string[] = [`# ${cell(r.title)}`];
  if (r.knownAnswers?.headline) out.push(`**${cell(r.knownAnswers.headline)}**`);
  if (r.generatedAt) out.push(`generated ${cell(r.generatedAt)}`);
  if (r.knownAnswers) {
    out.push('## Known answers', mdTable(['role', 'found', 'p (%)', 'check', 'found means', 'planted units'],
      r.knownAnswers.checks.map((c) => [c.role, `${c.found}/${c.total}`, c.p, c.passed ? 'pass' : 'FAIL', c.rule, c.units.join(' ')])));
  }
  const m = r.model;
  out.push('## Model and method', mdTable(['setting', 'value'], [
    ['checkpoint', m.name], ...(m.family !== undefined ? [['family', m.family]] : []), ['layers', m.layers], ['d_ff', m.dff], ['units pooled', m.totalUnits], ['units attributed', m.units],
    ...(m.target !== undefined ? [['target', m.target]] : []), ...(m.steps !== undefined ? [['integration steps m', m.steps]] : []),
    ...(m.rule !== undefined ? [['rule', m.rule]] : []), ...(m.baseline !== undefined ? [['baseline', m.baseline]] : []),
  ]));
  out.push('## Datasets', mdTable(['dataset', 'domain', 'relevance level', 'queries', 'relevant pairs', 'non-relevant pairs'],
    r.datasets.map((d) => [d.name, d.domain, d.relevanceLevel, d.queries ?? '–', d.rel, d.nonrel])));
  if (r.topNeurons) {
    const t = r.topNeurons;
    out.push('## Top neurons', mdTable(['neuron', 'planted role', 'fused score', ...t.cells.map((c) => `mean NIG ${c}`), ...(t.rows[0]?.segments ? t.segments : [])],
      t.rows.map((x) => [x.name, x.role ?? '–', fmt4(x.score), ...x.perCell.map(fmt4), ...(x.segments ?? []).map(fmt4)])));
  }
  if (r.fig2) {
    out.push('## Fig. 2: intersection between pairs of attribution schemes', mdTable(['label', 'pair', ...r.fig2.ps.map((q) => `${q}%`)],
      r.fig2.panels.flatMap((pn) => pn.series.map((x) => [pn.label, x.name, ...x.values.map(fmtPct)]))));
  }
  if (r.fig3) {
    const f = r.fig3;
    out.push('## Fig. 3: intersection among all schemes, and with datasets left out', mdTable(['label', 'datasets', 'kept', ...f.ps.map((q) => `${q}%: size (share %)`)],
      f.panels.flatMap((pn) => pn.rows.map((x) => [pn.label, x.name, x.datasets.join(', '), ...x.sizes.map((n, i) => `${n} (${fmtPct(x.shares[i])})`)]))));
    if (f.relVsNonrel.length) out.push(mdTable(['dataset: rel in nonrel (%)', ...f.ps.map((q) => `${q}%`)], f.relVsNonrel.map((x) => [x.dataset, ...x.values.map(fmtPct)])));
  }
  if (r.completeness.length) {
    out.push('## Completeness of full cuts', mdTable(['cut', 'pairs', 'mean abs delta', 'max abs delta', 'mean abs gap F(x) - F(x\')', 'mean abs delta / abs gap'],
      r.completeness.map((c) => [c.cut, c.pairs, fmt4(c.meanAbs), fmt4(c.maxAbs), fmt4(c.meanAbsGap), fmt4(c.meanRelAbs)])));
  }
  if (r.layerDistributions.length) {
    out.push('## Layer distribution of top units', mdTable(['scheme', 'p (%)', ...r.layerDistributions[0].counts.map((_, i) => `L${i}`), 'total'],
      r.layerDistributions.map((l) => [l.scheme, l.p, ...l.counts, l.total])));
  }
  if (r.overlaps.length) {
    out.push('## Overlaps between schemes', 'Cell (row, column) = |row ∩ column| / |row| in percent.');
    for (const o of r.overlaps) {
      out.push(`### Top ${o.p}%${o.label ? ` (${o.label})` : ''}`, mdTable(['row in column (%)', 'size', ...o.names], o.names.map((n, i) => [n, o.sizes[i], ...o.values[i].map(fmtPct)])));
    }
  }
  if (r.labelOverlaps.length) {
    out.push('## Relevance vs non-relevance neurons', mdTable(['scheme', 'p (%)', 'relevance', 'non-relevance', 'shared', 'rel in nonrel (%)', 'nonrel in rel (%)'],
      r.labelOverlaps.map((o) => [o.scheme, o.p, o.rel, o.nonrel, o.shared, fmtPct(o.relInNonrel), fmtPct(o.nonrelInRel)])));
  }
  if (r.ood.length) {
    out.push('## OOD neurons', mdTable(['label', 'p (%)', 'out-of-domain set', 'in-domain set', 'OOD neurons', 'per layer'],
      r.ood.map((o) => [o.label, o.p, o.outOfDomainSize, o.inDomainSize, o.count, o.perLayer.join(' ')])));
  }
  if (r.stability.length) {
    out.push('## Bootstrap stability', mdTable(['scheme', 'p (%)', 'resamples', 'units', 'mean kept', 'min kept', 'kept >= 90%'],
      r.stability.map((s) => [s.scheme, s.p, s.resamples, s.units, fmt4(s.mean), fmt4(s.min), s.atLeast90])));
  }
  if (r.pruning) {
    const t = r.pruning;
    const pm = (s: { mean: number; std: number; n: number }) => `${fmt4(s.mean)} ± ${fmt4(s.std)} (${s.n})`;
    out.push('## Pruning', mdTable(['dataset', 'relevance level', 'queries', 'unpruned nDCG@10', 'unpruned MRR@10'],
      t.baselines.map((b) => [b.dataset, b.relevanceLevel, b.queries, fmt4(b.ndcg10), fmt4(b.mrr10)])));
    out.push(mdTable(['dataset', 'scheme', 'p (%)', 'units', 'nDCG@10', 'delta', 'random nDCG@10 (seeds)', 'MRR@10', 'delta', 'random MRR@10 (seeds)'],
      t.rows.map((x) => [x.dataset, x.scheme, x.p, x.units, fmt4(x.ndcg10.value), fmtDelta(x.ndcg10.delta), pm(x.ndcg10.random),
        fmt4(x.mrr10.value), fmtDelta(x.mrr10.delta), pm(x.mrr10.random)])));
  }
  if (r.heads) {
    const h = r.heads;
    out.push('## Heads');
    if (h.note) out.push(cell(h.note));
    for (const m of h.maps) out.push(`### ${cell(m.name)}`, mdTable(['layer', ...Array.from({ length: h.heads }, (_, j) => `H${j}`)], m.values.map((row, l) => [`L${l}`, ...row.map(fmt4)])));
    if (h.methods.length) out.push('### Rank agreement between the methods', mdTable(['method', 'method', 'Spearman rho over heads'], h.methods.map((a) => [a.a, a.b, fmt4(a.spearman)])));
    if (h.agreement.length) out.push('### Rank agreement', mdTable(['map', 'map', 'Spearman rho over heads'], h.agreement.map((a) => [a.a, a.b, fmt4(a.spearman)])));
    out.push(`### Top heads of ${cell(h.maps[0].name)}`, mdTable(['rank', 'head', 'score'], h.top.map((x, i) => [i + 1, x.name, fmt4(x.score)])));
    if (h.pruning) {
      const pm = (s: { mean: number; std: number; n: number }) => `${fmt4(s.mean)} ± ${fmt4(s.std)} (${s.n})`;
      out.push('### Head pruning', mdTable(['dataset', 'relevance level', 'queries', 'unpruned nDCG@10', 'unpruned MRR@10'],
        h.pruning.baselines.map((b) => [b.dataset, b.relevanceLevel, b.queries, fmt4(b.ndcg10), fmt4(b.mrr10)])));
      out.push(mdTable(['dataset', 'scheme', 'p (%)', 'heads', 'nDCG@10', 'delta', 'random nDCG@10 (seeds)', 'MRR@10', 'delta', 'random MRR@10 (seeds)'],
        h.pruning.rows.map((x) => [x.dataset, x.scheme, x.p, x.units, fmt4(x.ndcg10.value), fmtDelta(x.ndcg10.delta), pm(x.ndcg10.random),
          fmt4(x.mrr10.value), fmtDelta(x.mrr10.delta), pm(x.mrr10.random)])));
    }
  }
  if (r.notes.length) out.push('## Notes', r.notes.map((n) => `- ${cell(n)}`).join('\n'));
  return `${out.join('\n\n')}\n`;
}
