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

/** Blue (negative) – white (0) – red (positive), scaled by `max` (the largest |value| of the map); grey when missing. */
function diverging(v: number | null, max: number): string {
  if (v === null || !Number.isFinite(v)) return '#dddddd';
  const t = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
  const c = (a: number, b: number) => Math.round(a + (b - a) * t);
  return v >= 0 ? `rgb(${c(255, 178)},${c(255, 24)},${c(255, 43)})` : `rgb(${c(255, 33)},${c(255, 102)},${c(255, 172)})`;
}

/**
 * Heatmap of a signed matrix (rows × columns, e.g. layers × heads), colour scaled by its largest |value| (diverging
 * around 0), each cell with its value in the tooltip; `cellName(i, j)` names a cell (e.g. L1.H0).
 */
export function gridHeatmap(rows: readonly string[], cols: readonly string[], values: readonly (readonly (number | null)[])[], title: string, cellName: (i: number, j: number) => string): string {
  const cell = Math.max(16, Math.min(34, Math.floor(360 / Math.max(rows.length, cols.length))));
  const left = 8 + 6.2 * Math.max(3, ...rows.map((s) => s.length)), top = 36;
  const W = Math.max(left + cell * cols.length + 8, 8 + 6.2 * title.length), H = top + cell * rows.length + 8;
  const max = Math.max(0, ...values.flat().filter((v): v is number => v !== null && Number.isFinite(v)).map(Math.abs));
  const parts: string[] = [`<text x="8" y="14" class="ct">${esc(title)}</text>`];
  cols.forEach((c, j) => parts.push(`<text x="${n(left + (j + 0.5) * cell)}" y="${top - 4}" text-anchor="middle">${esc(c)}</text>`));
  rows.forEach((r, i) => {
    parts.push(`<text x="${n(left - 4)}" y="${n(top + (i + 0.5) * cell + 4)}" text-anchor="end">${esc(r)}</text>`);
    values[i].forEach((v, j) => {
      parts.push(`<rect class="cell" x="${n(left + j * cell)}" y="${n(top + i * cell)}" width="${cell}" height="${cell}" fill="${diverging(v, max)}"><title>${esc(cellName(i, j))}: ${fmt4(v)}</title></rect>`);
    });
  });
  return `<svg class="chart heatmap grid" viewBox="0 0 ${n(W)} ${n(H)}" width="${n(W)}" height="${n(H)}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>${parts.join('')}</svg>`;
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

/** Round tick values covering [lo, hi]: steps of 1, 2, 2.5 or 5 × 10^k, about `n` of them. */
export function niceTicks(lo: number, hi: number, n = 4): number[] {
  // a span below float precision (values equal up to rounding: a pruning that changed nothing) is one value; its
  // k = lo / step would pass 2^53, where k++ no longer moves
  if (!(hi > lo) || hi - lo <= 1e-9 * Math.max(Math.abs(lo), Math.abs(hi))) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k <= Math.floor(hi / step + 1e-9); k++) out.push(Number((k * step).toPrecision(12)));
  return out;
}

/** Tick label: as many decimals as the step needs. */
function tickLabel(v: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const dec = Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9) + (String(step).includes('25') ? 1 : 0)));
  return v.toFixed(dec);
}

const SHAPES = ['circle', 'square', 'triangle', 'diamond', 'cross'] as const;

/** A data point marker; shapes differ by series so that coinciding series stay distinguishable. */
function marker(i: number, x: number, y: number, col: string, title: string): string {
  const t = `<title>${esc(title)}</title>`;
  switch (SHAPES[i % SHAPES.length]) {
    case 'circle': return `<circle cx="${n(x)}" cy="${n(y)}" r="3.5" fill="${col}">${t}</circle>`;
    case 'square': return `<rect x="${n(x - 3.5)}" y="${n(y - 3.5)}" width="7" height="7" fill="none" stroke="${col}" stroke-width="1.5">${t}</rect>`;
    case 'triangle': return `<path d="M${n(x)},${n(y - 4.5)}L${n(x + 4.5)},${n(y + 3.5)}L${n(x - 4.5)},${n(y + 3.5)}Z" fill="none" stroke="${col}" stroke-width="1.5">${t}</path>`;
    case 'diamond': return `<path d="M${n(x)},${n(y - 5)}L${n(x + 5)},${n(y)}L${n(x)},${n(y + 5)}L${n(x - 5)},${n(y)}Z" fill="none" stroke="${col}" stroke-width="1.5">${t}</path>`;
    default: return `<path d="M${n(x - 4)},${n(y - 4)}L${n(x + 4)},${n(y + 4)}M${n(x - 4)},${n(y + 4)}L${n(x + 4)},${n(y - 4)}" stroke="${col}" stroke-width="1.5">${t}</path>`;
  }
}

const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];

/** Series whose points are all equal, merged into one entry named `A = B = C` (coinciding lines are drawn once). */
export function mergeCoincident(series: readonly CurveSeries[]): CurveSeries[] {
  const out: { names: string[]; points: CurveSeries['points'] }[] = [];
  const same = (a: CurveSeries['points'], b: CurveSeries['points']) => a.length === b.length && a.every((q, i) => q.p === b[i].p && (q.value === b[i].value || (Number.isNaN(q.value) && Number.isNaN(b[i].value))));
  for (const s of series) {
    const hit = out.find((o) => same(o.points, s.points));
    if (hit) hit.names.push(s.name); else out.push({ names: [s.name], points: s.points });
  }
  return out.map((o) => ({ name: o.names.join(' = '), points: o.points }));
}

interface Frame { W: number; H: number; L: number; R: number; T: number; B: number }

/** Axes, log-scale x ticks at the given p, round y ticks with light grid lines; returns the scales. */
function frame(f: Frame, ps: readonly number[], y0: number, y1: number, yLabel: string, xLabel: string, parts: string[], nTicks = 4): { x: (p: number) => number; y: (v: number) => number } {
  const { W, H, L, R, T, B } = f;
  const lx0 = Math.log10(ps[0] ?? 1), lx1 = Math.log10(ps[ps.length - 1] ?? 10);
  const x = (p: number) => (lx1 > lx0 ? L + 8 + ((Math.log10(p) - lx0) / (lx1 - lx0)) * (W - L - R - 16) : (L + W - R) / 2);
  const y = (v: number) => T + (H - T - B) * (1 - (v - y0) / (y1 - y0));
  const ticks = niceTicks(y0, y1, nTicks);
  for (const v of ticks) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${n(y(v))}" y2="${n(y(v))}" class="grid"/><text x="${L - 4}" y="${n(y(v) + 4)}" text-anchor="end">${tickLabel(v, ticks)}</text>`);
  }
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" class="axis"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" class="axis"/>`);
  for (const p of ps) parts.push(`<text x="${n(x(p))}" y="${H - B + 14}" text-anchor="middle">${p}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(12,${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  return { x, y };
}

/** Lines with distinct markers and dashes per (merged) series, and their legend entries from row `row0`. */
function drawSeries(series: readonly CurveSeries[], sx: (p: number) => number, sy: (v: number) => number, f: Frame, row0: number, parts: string[], legend: string[]): void {
  series.forEach((s, i) => {
    const col = PALETTE[i % PALETTE.length];
    const pts = [...s.points].filter((q) => Number.isFinite(q.value)).sort((a, b) => a.p - b.p);
    const dash = DASHES[i % DASHES.length];
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map((q) => `${n(sx(q.p))},${n(sy(q.value))}`).join(' ')}"/>`);
    for (const q of pts) parts.push(marker(i, sx(q.p), sy(q.value), col, `${s.name} at ${q.p}%: ${fmt4(q.value)}`));
    const ly = f.T + (row0 + i) * 16;
    const name = s.name.length > 34 ? `${s.name.slice(0, 33)}…` : s.name;
    legend.push(`${marker(i, f.W - f.R + 15, ly + 5, col, s.name)}<text x="${f.W - f.R + 26}" y="${ly + 9}">${esc(name)}</text>`);
  });
}

/**
 * Line chart of a measure against p (log x axis): one line per scheme (series with equal values merged into one
 * line named `A = B`, each with its own marker shape and dash), the random mean ± std as a shaded band (at least
 * 4 px tall, so a zero spread stays visible) with its mean dashed, and the unpruned value as a horizontal line.
 */
export function lineChart(series: readonly CurveSeries[], band: readonly CurveBand[], baseline: number, title: string, yLabel: string): string {
  const f: Frame = { W: 640, H: 290, L: 52, R: 230, T: 24, B: 36 };
  const merged = mergeCoincident(series);
  const ps = [...new Set([...series.flatMap((s) => s.points.map((q) => q.p)), ...band.map((b) => b.p)])].filter((p) => p > 0).sort((a, b) => a - b);
  const ys = [baseline, ...series.flatMap((s) => s.points.map((q) => q.value)), ...band.flatMap((b) => [b.mean - b.std, b.mean + b.std])].filter(Number.isFinite);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!(y1 > y0)) { y0 -= 0.05; y1 += 0.05; }
  const pad = (y1 - y0) * 0.08;
  y0 -= pad; y1 += pad;
  const parts: string[] = [];
  const { x, y } = frame(f, ps, y0, y1, yLabel, 'pruned units, top p% (log scale)', parts);
  const sorted = [...band].filter((b) => Number.isFinite(b.mean)).sort((a, b) => a.p - b.p);
  if (sorted.length) {
    const half = (b: CurveBand) => Math.max(2, Math.abs(y(b.mean + b.std) - y(b.mean)));
    const up = sorted.map((b) => `${n(x(b.p))},${n(y(b.mean) - half(b))}`);
    const down = sorted.map((b) => `${n(x(b.p))},${n(y(b.mean) + half(b))}`).reverse();
    parts.push(`<polygon class="band" points="${[...up, ...down].join(' ')}"><title>random sets: mean ± std</title></polygon>`);
    parts.push(`<polyline class="rmean" points="${sorted.map((b) => `${n(x(b.p))},${n(y(b.mean))}`).join(' ')}"/>`);
  }
  if (Number.isFinite(baseline)) parts.push(`<line class="base" x1="${f.L}" x2="${f.W - f.R}" y1="${n(y(baseline))}" y2="${n(y(baseline))}"><title>unpruned: ${fmt4(baseline)}</title></line>`);
  const legend: string[] = [];
  drawSeries(merged, x, y, f, 0, parts, legend);
  const k = merged.length;
  const lx = f.W - f.R + 10;
  legend.push(`<rect x="${lx}" y="${f.T + k * 16}" width="10" height="10" class="band"/><text x="${lx + 16}" y="${f.T + k * 16 + 9}">random sets, mean ± std</text>`);
  legend.push(`<line x1="${lx}" x2="${lx + 10}" y1="${f.T + (k + 1) * 16 + 5}" y2="${f.T + (k + 1) * 16 + 5}" class="base"/><text x="${lx + 16}" y="${f.T + (k + 1) * 16 + 9}">unpruned</text>`);
  return `<svg class="chart curve" viewBox="0 0 ${f.W} ${f.H}" width="${f.W}" height="${f.H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`
    + `<text x="${f.L}" y="14" class="ct">${esc(title)}</text>${parts.join('')}${legend.join('')}</svg>`;
}

/**
 * Percentages against p (log x axis, y 0–100 %): one line per series (equal series merged, distinct markers),
 * for Fig. 2 (overlap of scheme pairs) and Fig. 3 (intersection shares).
 */
export function percentChart(series: readonly CurveSeries[], title: string, yLabel: string): string {
  const f: Frame = { W: 560, H: 250, L: 44, R: 200, T: 24, B: 36 };
  const merged = mergeCoincident(series);
  const ps = [...new Set(series.flatMap((s) => s.points.map((q) => q.p)))].filter((p) => p > 0).sort((a, b) => a - b);
  const parts: string[] = [];
  const { x, y } = frame(f, ps, -4, 104, yLabel, 'top p% of units (log scale)', parts, 5);
  const legend: string[] = [];
  drawSeries(merged, x, y, f, 0, parts, legend);
  return `<svg class="chart curve" viewBox="0 0 ${f.W} ${f.H}" width="${f.W}" height="${f.H}" role="img" aria-label="${esc(title)}"><title>${esc(title)}</title>`
    + `<text x="${f.L}" y="14" class="ct">${esc(title)}</text>${parts.join('')}${legend.join('')}</svg>`;
}
