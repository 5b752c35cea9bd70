/**
 * Inline SVG charts for the HTML report, written by hand (no library, no external resource, no xmlns needed
 * inside HTML): bar chart (units per layer), heatmap (overlap matrix), line chart (pruning curve with the
 * random band). Every text goes through `esc`; every chart has a <title> for screen readers and tooltips.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A number for an SVG attribute: 2 decimals at most, no exponent. */
function n(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** 4 decimals, or an en dash for a missing value. */
export function fmt4(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(4);
}

/** A percentage with one decimal, or an en dash. */
export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1);
}

/** A signed 4-decimal delta (+0.0123 / -0.0123). */
export function fmtDelta(x: number | null | undefined): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

/** Bar chart of counts per layer (x: layer 0..L−1, y: count). */
export function barChart(counts: readonly number[], title: string): string {
  const W = 420, H = 180, L = 36, R = 8, T = 22, B = 28;
  const max = Math.max(1, ...counts);
  const bw = (W - L - R) / Math.max(1, counts.length);
  const y = (v: number) => T + (H - T - B) * (1 - v / max);
  const bars = counts.map((c, i) => {
    const x = L + i * bw;
    return `<rect class="bar" x="${n(x + bw * 0.1)}" y="${n(y(c))}" width="${n(bw * 0.8)}" height="${n(H - B - y(c))}"><title>layer ${i}: ${c}</title></rect>`;
  });
  const step = Math.max(1, Math.ceil(counts.length / 12));
  const xt = counts.map((_, i) => (i % step === 0 ? `<text x="${n(L + (i + 0.5) * bw)}" y="${H - B + 14}" text-anchor="middle">${i}</text>` : '')).join('');
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`
    + `<text x="${L}" y="14" class="ct">${esc(title)}</text>`
    + `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`
    + `<text x="${L - 4}" y="${T + 4}" text-anchor="end">${max}</text><text x="${L - 4}" y="${H - B}" text-anchor="end">0</text>`
    + `${bars.join('')}${xt}<text x="${(W + L) / 2}" y="${H - 2}" text-anchor="middle">layer</text></svg>`;
}

/** White → blue for 0..100 %; grey for a missing value. */
function heat(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '#dddddd';
  const t = Math.min(1, Math.max(0, v / 100));
  const c = (a: number, b: number) => Math.round(a + (b - a) * t);
  return `rgb(${c(247, 8)},${c(251, 48)},${c(255, 107)})`;
}

/** Heatmap of an overlap matrix: row i, column j = share of row i's units also in column j (percent). */
export function heatmap(names: readonly string[], values: readonly (readonly (number | null)[])[], title: string): string {
  const cell = names.length > 16 ? 20 : 30;
  const left = 8 + 6.2 * Math.max(4, ...names.map((s) => s.length));
  const top = left;
  const W = left + cell * names.length + 8, H = top + cell * names.length + 8;
  const parts: string[] = [];
  names.forEach((name, i) => {
    parts.push(`<text x="${n(left - 4)}" y="${n(top + (i + 0.5) * cell + 4)}" text-anchor="end">${esc(name)}</text>`);
    const cx = left + (i + 0.5) * cell;
    parts.push(`<text transform="translate(${n(cx + 4)},${n(top - 4)}) rotate(-90)">${esc(name)}</text>`);
    values[i].forEach((v, j) => {
      const x = left + j * cell, y = top + i * cell;
      const label = v === null || !Number.isFinite(v) ? '–' : Math.round(v).toString();
      parts.push(`<rect x="${n(x)}" y="${n(y)}" width="${cell}" height="${cell}" fill="${heat(v)}"><title>${esc(name)} in ${esc(names[j])}: ${fmtPct(v)}%</title></rect>`);
      parts.push(`<text x="${n(x + cell / 2)}" y="${n(y + cell / 2 + 4)}" text-anchor="middle" class="${v !== null && v > 55 ? 'hl' : ''}">${label}</text>`);
    });
  });
  return `<svg class="chart heatmap" viewBox="0 0 ${n(W)} ${n(H)}" width="${n(W)}" height="${n(H)}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${parts.join('')}</svg>`;
}

export interface CurveSeries {
  name: string;
  points: readonly { p: number; value: number }[];
}

export interface CurveBand {
  p: number;
  mean: number;
  std: number;
}

/**
 * Line chart of a measure against p (log x axis): one line per scheme, the random mean ± std as a shaded band
 * with its mean dashed, and the unpruned value as a horizontal line.
 */
export function lineChart(series: readonly CurveSeries[], band: readonly CurveBand[], baseline: number, title: string, yLabel: string): string {
  const W = 600, H = 280, L = 62, R = 200, T = 24, B = 36;
  const ps = [...new Set([...series.flatMap((s) => s.points.map((q) => q.p)), ...band.map((b) => b.p)])].filter((p) => p > 0).sort((a, b) => a - b);
  const ys = [baseline, ...series.flatMap((s) => s.points.map((q) => q.value)), ...band.flatMap((b) => [b.mean - b.std, b.mean + b.std])].filter(Number.isFinite);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!(y1 > y0)) { y0 -= 0.05; y1 += 0.05; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const lx0 = Math.log10(ps[0] ?? 1), lx1 = Math.log10(ps[ps.length - 1] ?? 10);
  const x = (p: number) => (lx1 > lx0 ? L + ((Math.log10(p) - lx0) / (lx1 - lx0)) * (W - L - R) : (L + W - R) / 2);
  const y = (v: number) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  const parts: string[] = [];
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`);
  for (const p of ps) parts.push(`<text x="${n(x(p))}" y="${H - B + 14}" text-anchor="middle">${p}</text>`);
  for (const v of [y0 + pad, (y0 + y1) / 2, y1 - pad]) parts.push(`<text x="${L - 4}" y="${n(y(v) + 4)}" text-anchor="end">${v.toFixed(3)}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">pruned units, top p% (log scale)</text>`);
  parts.push(`<text transform="translate(12,${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  const sorted = [...band].filter((b) => Number.isFinite(b.mean)).sort((a, b) => a.p - b.p);
  if (sorted.length) {
    const up = sorted.map((b) => `${n(x(b.p))},${n(y(b.mean + b.std))}`);
    const down = sorted.map((b) => `${n(x(b.p))},${n(y(b.mean - b.std))}`).reverse();
    parts.push(`<polygon class="band" points="${[...up, ...down].join(' ')}"><title>random sets: mean ± std</title></polygon>`);
    parts.push(`<polyline class="rmean" points="${sorted.map((b) => `${n(x(b.p))},${n(y(b.mean))}`).join(' ')}"/>`);
  }
  if (Number.isFinite(baseline)) parts.push(`<line class="base" x1="${L}" x2="${W - R}" y1="${n(y(baseline))}" y2="${n(y(baseline))}"><title>unpruned: ${fmt4(baseline)}</title></line>`);
  const legend: string[] = [];
  series.forEach((s, i) => {
    const col = PALETTE[i % PALETTE.length];
    const pts = [...s.points].filter((q) => Number.isFinite(q.value)).sort((a, b) => a.p - b.p);
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.map((q) => `${n(x(q.p))},${n(y(q.value))}`).join(' ')}"/>`);
    for (const q of pts) parts.push(`<circle cx="${n(x(q.p))}" cy="${n(y(q.value))}" r="3" fill="${col}"><title>${esc(s.name)} at ${q.p}%: ${fmt4(q.value)}</title></circle>`);
    legend.push(`<rect x="${W - R + 10}" y="${T + i * 16}" width="10" height="10" fill="${col}"/><text x="${W - R + 24}" y="${T + i * 16 + 9}">${esc(s.name)}</text>`);
  });
  const k = series.length;
  legend.push(`<rect x="${W - R + 10}" y="${T + k * 16}" width="10" height="10" class="band"/><text x="${W - R + 24}" y="${T + k * 16 + 9}">random mean ± std</text>`);
  legend.push(`<line x1="${W - R + 10}" x2="${W - R + 20}" y1="${T + (k + 1) * 16 + 5}" y2="${T + (k + 1) * 16 + 5}" class="base"/><text x="${W - R + 24}" y="${T + (k + 1) * 16 + 9}">unpruned</text>`);
  return `<svg class="chart curve" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`
    + `<text x="${L}" y="14" class="ct">${esc(title)}</text>${parts.join('')}${legend.join('')}</svg>`;
}
