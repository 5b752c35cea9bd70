/**
 * The page's viewer of dataset runs (the "Dataset run" panel of web/index.html): loads the --out folder of
 * `ir-neurons attribute --dataset` (file picker, folder picker, drag and drop, a folder URL, or `?run=URL` at start),
 * draws one small layers × neurons heatmap per cell (dataset/label) on a shared colour scale, a large one of the
 * selected cell, and its top neurons in the order of the analyses (src/analysis/rankings.ts: mean NIG descending,
 * lower unit first on ties; or by |mean|) with their split over the five segments (seg_sum / count). Picking a neuron
 * (a row, or a click on the heatmap) shows it in every cell. `irNeurons.state.run` holds what the panel shows.
 */
import { topK, rankKeys } from '../analysis/rankings.ts';
import { cellAt, diverging, drawHeatmap, fmt, type HeatmapGeometry } from './heatmap.ts';
import { filesFromDrop } from './load.ts';
import { loadRun, runSourcesFromFiles, runSourcesFromFolderUrl, RUN_SEGMENTS, type LoadedRun, type RunCell, type RunSources } from './run-load.ts';

export interface RankedUnit { unit: number; layer: number; neuron: number; mean: number; sd?: number; segs?: number[] }

export interface RunViewState {
  status: 'empty' | 'loading' | 'loaded' | 'error';
  run?: LoadedRun;
  /** the cell shown large, e.g. 'toy-in/rel' */
  selected?: string;
  rankBy: 'mean' | 'abs';
  top: RankedUnit[];
  picked?: number;
  error?: string;
  /** where the large heatmap put its cells (CSS pixels) */
  heatmap?: HeatmapGeometry;
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page lacks #${id}; web/index.html and run-view.ts are out of step`);
  return e as T;
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function row(cells: (string | number | undefined)[], head = false, leftCols = 0): HTMLTableRowElement {
  const tr = el('tr');
  cells.forEach((c, i) => tr.append(el(head ? 'th' : 'td', c === undefined ? '–' : typeof c === 'number' ? fmt(c) : c, i < leftCols ? 'l' : undefined)));
  return tr;
}

export const unitName = (u: number, dff: number) => `L${Math.floor(u / dff)}.${u % dff}`;

/** The k best units of a cell in the analyses' order (key descending, lower unit index first on ties). */
export function rankCell(c: RunCell, dff: number, k: number, rankBy: 'mean' | 'abs'): RankedUnit[] {
  const opts = { absolute: rankBy === 'abs' };
  const keys = rankKeys(c.mean, opts);
  const units = [...topK(c.mean, Math.min(k, c.mean.length), opts)].sort((a, b) => keys[b] - keys[a] || a - b);
  const n = c.mean.length;
  return units.map((u) => ({
    unit: u, layer: Math.floor(u / dff), neuron: u % dff, mean: c.mean[u], sd: c.sd?.[u],
    segs: c.segMean ? RUN_SEGMENTS.map((_, s) => c.segMean![s * n + u]) : undefined,
  }));
}

export function initRunViewer(): RunViewState {
  const state: RunViewState = { status: 'empty', rankBy: 'mean', top: [] };
  let geometry: HeatmapGeometry | null = null;
  const cell = () => state.run?.cells.find((c) => c.name === state.selected);

  function setStatus(s: RunViewState['status'], message: string, error = false): void {
    state.status = s;
    $('run-panel').dataset.status = s;
    const st = $('run-status');
    st.textContent = message;
    st.classList.toggle('error-text', error);
  }

  async function load(get: () => Promise<RunSources>): Promise<void> {
    setStatus('loading', 'reading…');
    state.error = undefined;
    try {
      const src = await get();
      const run = await loadRun(src);
      state.run = run;
      state.picked = undefined;
      state.selected = run.cells.find((c) => c.count > 0)?.name ?? run.cells[0].name;
      $('run-view').hidden = false;
      $('run-info').textContent = `${run.where}: ${run.cells.length} cells, ${run.layers} layers × ${run.dff} neurons` +
        `${run.options ? ` · ${run.options}` : ''}${run.model ? ` · model: ${run.model}` : ''}${run.environment ? `\nran on: ${run.environment}` : ''}`;
      render();
      setStatus('loaded', `loaded ${run.cells.map((c) => `${c.name} (${c.count})`).join(', ')}`);
    } catch (e) {
      const err = e as Error;
      console.error(err);
      state.error = err.message;
      setStatus('error', err.name === 'UserError' ? err.message : `${err.name}: ${err.message} (details in the browser console)`, true);
    }
  }

  /** One small heatmap per cell, all on the run's largest |mean|, so that cells compare by colour. */
  function renderCells(run: LoadedRun): void {
    let maxAbs = 0;
    for (const c of run.cells) for (const v of c.mean) maxAbs = Math.max(maxAbs, Math.abs(v));
    const box = $('run-cells');
    box.replaceChildren();
    for (const c of run.cells) {
      const fig = el('figure', undefined, `run-cell${c.name === state.selected ? ' sel' : ''}`);
      fig.dataset.cell = c.name;
      fig.tabIndex = 0;
      const canvas = el('canvas');
      fig.append(canvas, el('figcaption', `${c.name} · ${c.count} pair${c.count === 1 ? '' : 's'}${run.groups[c.dataset] ? ` · ${run.groups[c.dataset]}` : ''}`));
      const choose = () => { state.selected = c.name; render(); };
      fig.addEventListener('click', choose);
      fig.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); choose(); } });
      box.append(fig);
      drawHeatmap(canvas, c.mean, run.layers, run.dff, '', { maxAbs, compact: true, mark: markOf(run) });
    }
    $('run-cells-note').textContent = `Colour: mean NIG of each neuron over the cell's pairs, on one scale for all cells (±${fmt(maxAbs)}, red raises the target). Click a cell to read it below.`;
  }

  const markOf = (run: LoadedRun) => (state.picked === undefined ? undefined : { layer: Math.floor(state.picked / run.dff), neuron: state.picked % run.dff });

  function render(): void {
    const run = state.run, c = cell();
    if (!run || !c) return;
    renderCells(run);
    geometry = state.heatmap = drawHeatmap($<HTMLCanvasElement>('run-heatmap'), c.mean, run.layers, run.dff,
      `${c.name}: mean NIG per neuron over ${c.count} pairs (own scale)`, { mark: markOf(run) });
    const k = Math.max(1, Math.min(run.layers * run.dff, Number($<HTMLInputElement>('run-k').value) || 20));
    state.top = rankCell(c, run.dff, k, state.rankBy);
    renderTop(run, c);
    renderPicked(run);
  }

  function renderTop(run: LoadedRun, c: RunCell): void {
    const table = $<HTMLTableElement>('run-top');
    const body = el('tbody');
    state.top.forEach((n, i) => {
      const tr = row([String(i + 1), unitName(n.unit, run.dff), n.mean, n.sd, ...(n.segs ?? RUN_SEGMENTS.map(() => undefined))], false, 2);
      tr.dataset.unit = String(n.unit);
      if (n.unit === state.picked) tr.classList.add('sel');
      const [r, g, b] = diverging(Math.sign(n.mean) * 0.35);
      (tr.children[2] as HTMLElement).style.background = `rgb(${r},${g},${b})`;
      tr.addEventListener('click', () => pick(n.unit));
      body.append(tr);
    });
    const head = el('thead');
    head.append(row(['#', 'neuron', 'mean', 'sd', ...RUN_SEGMENTS.map((s) => `from ${s}`)], true, 2));
    table.replaceChildren(head, body);
    $('run-top-title').textContent = `Top ${state.top.length} neurons of ${c.name} by ${state.rankBy === 'abs' ? '|mean|' : 'mean'} NIG`;
  }

  /** The picked neuron in every cell: its mean, spread and per-segment split. */
  function renderPicked(run: LoadedRun): void {
    const box = $('run-neuron');
    const u = state.picked;
    if (u === undefined) { box.hidden = true; return; }
    box.hidden = false;
    const n = run.layers * run.dff;
    $('run-neuron-title').textContent = `Neuron ${unitName(u, run.dff)} (layer ${Math.floor(u / run.dff)}, neuron ${u % run.dff}) in every cell`;
    const table = $<HTMLTableElement>('run-neuron-table');
    table.replaceChildren(row(['cell', 'pairs', 'mean', 'sd', 'rank', ...RUN_SEGMENTS.map((s) => `from ${s}`)], true, 1));
    for (const c of run.cells) {
      const keys = rankKeys(c.mean, { absolute: state.rankBy === 'abs' });
      let rank = 1;
      for (let v = 0; v < n; v++) if (keys[v] > keys[u] || (keys[v] === keys[u] && v < u)) rank++;
      const tr = row([c.name, String(c.count), c.mean[u], c.sd?.[u], `${rank} of ${n}`, ...RUN_SEGMENTS.map((_, s) => c.segMean?.[s * n + u])], false, 1);
      tr.dataset.cell = c.name;
      table.append(tr);
    }
  }

  function pick(u: number): void {
    state.picked = u;
    render();
    $('run-neuron').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }

  function onHover(ev: MouseEvent, click: boolean): void {
    const run = state.run, c = cell();
    if (!geometry || !run || !c) return;
    const at = cellAt(geometry, ev.offsetX, ev.offsetY);
    if (!at) return;
    let best = at.n0;
    const base = at.layer * run.dff;
    for (let n = at.n0; n < at.n1; n++) if (Math.abs(c.mean[base + n]) > Math.abs(c.mean[base + best])) best = n;
    const u = base + best;
    const segs = c.segMean ? ` = ${RUN_SEGMENTS.map((s, i) => `${s} ${fmt(c.segMean![i * run.layers * run.dff + u])}`).join(', ')}` : '';
    $('run-hover').textContent = `${unitName(u, run.dff)}${at.n1 - at.n0 > 1 ? ` (strongest of ${at.n0}–${at.n1 - 1})` : ''}: mean NIG ${fmt(c.mean[u])}${segs}`;
    if (click) pick(u);
  }

  // ---------------------------------------------------------------- wiring
  const files = (id: string) => $<HTMLInputElement>(id);
  for (const id of ['run-files', 'run-folder']) {
    files(id).addEventListener('change', () => {
      const fs = [...(files(id).files ?? [])];
      if (fs.length) void load(async () => runSourcesFromFiles(fs));
    });
  }
  const drop = $('run-drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) void load(async () => runSourcesFromFiles(await filesFromDrop(e.dataTransfer!)));
  });
  $('run-url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = $<HTMLInputElement>('run-url').value.trim();
    if (url) void load(async () => runSourcesFromFolderUrl(url));
  });
  $<HTMLSelectElement>('run-rank').addEventListener('change', (e) => { state.rankBy = (e.target as HTMLSelectElement).value as 'mean' | 'abs'; render(); });
  $('run-k').addEventListener('change', render);
  $('run-heatmap').addEventListener('mousemove', (e) => onHover(e, false));
  $('run-heatmap').addEventListener('click', (e) => onHover(e, true));
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = window.setTimeout(render, 150); });

  const url = new URLSearchParams(location.search).get('run');
  if (url) {
    $<HTMLInputElement>('run-url').value = url;
    void load(async () => runSourcesFromFolderUrl(url));
  }
  return state;
}
