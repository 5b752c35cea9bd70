/**
 * The layers × neurons heatmap of NIG totals on a canvas, and the ranking of neurons it is read with.
 * Rows are layers (0 at the top), columns neurons; when d_ff is wider than the plot, each pixel column is a bin of
 * neurons showing the value of largest magnitude in it (so a single strong neuron stays visible). Colour is
 * diverging (blue < 0 < red) in sign·√(|x| / max|x|), so weak units are not all white next to a few strong ones.
 */

export interface HeatmapGeometry {
  left: number; top: number; width: number; height: number; // plot area, CSS pixels
  rowH: number;
  bins: number;
  L: number;
  F: number;
  maxAbs: number;
}

const NEG = [33, 102, 172];
const POS = [178, 24, 43];

/** RGB of v in [-1, 1] on the diverging scale (white at 0). */
export function diverging(v: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, v));
  const end = t < 0 ? NEG : POS;
  const a = Math.abs(t);
  return [0, 1, 2].map((i) => Math.round(255 + (end[i] - 255) * a)) as [number, number, number];
}

/** Neurons [n0, n1) of bin j when F neurons share `bins` columns. */
export function binRange(j: number, bins: number, F: number): [number, number] {
  return [Math.floor((j * F) / bins), Math.max(Math.floor((j * F) / bins) + 1, Math.floor(((j + 1) * F) / bins))];
}

export interface HeatmapOptions {
  /** the value drawn at full colour (default: max |value| of this map), so that several maps share one scale */
  maxAbs?: number;
  /** a small multiple: short rows, no legend and no neuron axis */
  compact?: boolean;
  /** a unit to ring (layer, neuron) */
  mark?: { layer: number; neuron: number };
}

/** Draws values (L, F) on the canvas at its CSS width; returns the plot geometry (for hit testing). */
export function drawHeatmap(canvas: HTMLCanvasElement, values: ArrayLike<number>, L: number, F: number, title: string, opts: HeatmapOptions = {}): HeatmapGeometry {
  const cssW = canvas.clientWidth || canvas.width || 800;
  const compact = !!opts.compact;
  const rowH = compact ? Math.max(4, Math.min(16, Math.floor(96 / L))) : Math.max(12, Math.min(40, Math.floor(320 / L)));
  const left = compact ? 30 : 44, right = compact ? 6 : 100, top = compact ? (title ? 20 : 4) : 26, bottom = compact ? 6 : 34;
  const width = Math.max(50, cssW - left - right);
  const height = rowH * L;
  const cssH = top + height + bottom;
  const dpr = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  canvas.style.height = `${cssH}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser gave no 2D canvas context for the heatmap');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, cssW, cssH);

  let maxAbs = 0;
  for (let i = 0; i < L * F; i++) maxAbs = Math.max(maxAbs, Math.abs(values[i]));
  if (opts.maxAbs !== undefined) maxAbs = opts.maxAbs;
  const scale = maxAbs > 0 ? maxAbs : 1;
  const bins = Math.min(F, Math.floor(width));
  const colW = width / bins;
  for (let l = 0; l < L; l++) {
    for (let j = 0; j < bins; j++) {
      const [n0, n1] = binRange(j, bins, F);
      let v = 0;
      for (let n = n0; n < n1; n++) { const x = values[l * F + n]; if (Math.abs(x) > Math.abs(v)) v = x; }
      const [r, g, b] = diverging(Math.sign(v) * Math.sqrt(Math.abs(v) / scale));
      ctx.fillStyle = `rgb(${r},${g},${b})`;
      // overlap by a fraction of a pixel so that bins leave no hairline gaps
      ctx.fillRect(left + j * colW, top + l * rowH, colW + 0.5, rowH);
    }
  }
  ctx.strokeStyle = '#888';
  ctx.lineWidth = 1;
  ctx.strokeRect(left - 0.5, top - 0.5, width + 1, height + 1);

  if (opts.mark) {
    const j = Math.min(bins - 1, Math.floor((opts.mark.neuron * bins) / F));
    ctx.strokeStyle = '#000';
    ctx.lineWidth = 2;
    ctx.strokeRect(left + j * colW - 2, top + opts.mark.layer * rowH - 2, colW + 4, rowH + 4);
    ctx.lineWidth = 1;
    ctx.strokeStyle = '#888';
  }

  ctx.fillStyle = '#222';
  ctx.font = compact ? '11px system-ui, sans-serif' : '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.textAlign = 'left';
  ctx.fillText(title, compact ? 2 : left, top / 2);
  ctx.textAlign = 'right';
  const every = Math.ceil(L / Math.max(1, Math.floor(height / 14)));
  for (let l = 0; l < L; l += every) ctx.fillText(`L${l}`, left - 6, top + (l + 0.5) * rowH);
  if (compact) return { left, top, width, height, rowH, bins, L, F, maxAbs };
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (const n of [0, Math.round(F / 4), Math.round(F / 2), Math.round((3 * F) / 4), F - 1]) {
    const x = left + ((n + 0.5) / F) * width;
    ctx.fillRect(x - 0.5, top + height, 1, 4);
    ctx.fillText(String(n), x, top + height + 6);
  }
  ctx.fillText(`neuron (d_ff = ${F}${bins < F ? `, ${(F / bins).toFixed(1)} per column, strongest shown` : ''})`, left + width / 2, top + height + 20);

  // legend: a vertical bar from +max (top) to −max (bottom)
  const lx = left + width + 18, lw = 12;
  for (let y = 0; y < height; y++) {
    const [r, g, b] = diverging(1 - (2 * y) / Math.max(1, height - 1));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(lx, top + y, lw, 1);
  }
  ctx.strokeRect(lx - 0.5, top - 0.5, lw + 1, height + 1);
  ctx.fillStyle = '#222';
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.fillText(`+${fmt(maxAbs)}`, lx + lw + 4, top + 4);
  ctx.fillText('0', lx + lw + 4, top + height / 2);
  ctx.fillText(`−${fmt(maxAbs)}`, lx + lw + 4, top + height - 4);
  return { left, top, width, height, rowH, bins, L, F, maxAbs };
}

/** The layer and neuron range under CSS point (x, y), or null outside the plot. */
export function cellAt(g: HeatmapGeometry, x: number, y: number): { layer: number; n0: number; n1: number } | null {
  if (x < g.left || y < g.top || x >= g.left + g.width || y >= g.top + g.height) return null;
  const layer = Math.floor((y - g.top) / g.rowH);
  const j = Math.min(g.bins - 1, Math.floor(((x - g.left) / g.width) * g.bins));
  const [n0, n1] = binRange(j, g.bins, g.F);
  return { layer, n0, n1 };
}

export interface RankedNeuron { layer: number; neuron: number; value: number }

/** The k neurons of largest |value| in values (L, F), strongest first. */
export function topNeurons(values: ArrayLike<number>, L: number, F: number, k: number): RankedNeuron[] {
  const idx = Array.from({ length: L * F }, (_, i) => i);
  idx.sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
  return idx.slice(0, k).map((i) => ({ layer: Math.floor(i / F), neuron: i % F, value: values[i] }));
}

export function fmt(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-3 && a < 1e4 ? x.toPrecision(4) : x.toExponential(2);
}
