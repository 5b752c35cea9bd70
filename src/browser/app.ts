/**
 * The demo page (web/index.html): checks for WebGPU, loads a checkpoint (file picker, drag and drop, or the URL of
 * a folder; `?model=URL` loads at start), scores a pair, runs NIG with a progress bar, and shows the layers × neurons
 * heatmap, the completeness deltas and the top neurons with their per-segment contributions; exports
 * attributions.safetensors in the CLI's layout. `window.irNeurons.state` holds what the page computed (tests read it).
 */
import { openBrowserGpu, webgpuSupport } from './gpu.ts';
import { filesFromDrop, loadModel, sourcesFromFiles, sourcesFromFolderUrl, type LoadedModel, type ModelSources } from './load.ts';
import { attributionsSafetensors, type Units } from '../ig/export.ts';
import { cellAt, drawHeatmap, fmt, topNeurons, type HeatmapGeometry, type RankedNeuron } from './heatmap.ts';
import { renderCompleteness, renderTokens, renderTop, SEGMENTS } from './view.ts';
import { fmtBytes } from '../gpu/arena.ts';
import { drainPool } from '../gpu/pool.ts';
import type { Gpu } from '../gpu/device.ts';
import { BertGpu, relevance } from '../model/forward.ts';
import { NigEngine, type NigResult } from '../ig/engine.ts';
import { BASELINES, DEFAULT_BASELINE, type Baseline } from '../ig/baselines.ts';
import { DEFAULT_RULE, RULES, type Rule } from '../ig/path.ts';
import { MAX_T } from '../kernels/attention.ts';
import { defaultTarget, TARGETS, type Target } from '../model/types.ts';
import type { EncodedPair } from '../model/types.ts';
import { initRunViewer, type RunViewState } from './run-view.ts';
import { freshId, PairList, pairsFromFile, type PairEntry } from './pairs.ts';

export type Status = 'starting' | 'ready' | 'loading' | 'loaded' | 'scoring' | 'scored' | 'attributing' | 'done' | 'error';

export interface AppState {
  status: Status;
  webgpu: 'checking' | 'ok' | 'missing';
  adapter?: string;
  gpu?: Gpu;
  loaded?: LoadedModel;
  model?: BertGpu;
  engine?: NigEngine;
  pair?: EncodedPair;
  /** The pair `result` belongs to (the form may have changed since). */
  resultPair?: EncodedPair;
  logits?: number[];
  relevance?: number;
  result?: NigResult;
  error?: string;
  /** Milliseconds of the last load, score and attribution. */
  timings: Record<string, number>;
  /** The dataset-run viewer (needs no model and no WebGPU). */
  run?: RunViewState;
  /** The list of pairs; the form shows list.pairs[list.current], and result / resultPair are that pair's. */
  list: PairList;
}

const state: AppState = {
  status: 'starting', webgpu: 'checking', timings: {},
  list: new PairList({
    readForm: () => ({ id: input('pair-id').value.trim(), query: input('query').value, passage: $<HTMLTextAreaElement>('passage').value }),
    show: showPair,
    elements: () => ({ list: $('pair-list'), pos: $('pair-pos'), prev: $<HTMLButtonElement>('pair-prev'), next: $<HTMLButtonElement>('pair-next') }),
  }),
};
(globalThis as unknown as { irNeurons: { state: AppState } }).irNeurons = { state };

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page lacks #${id}; web/index.html and app.ts are out of step`);
  return e as T;
};
const input = (id: string) => $<HTMLInputElement>(id);
const select = (id: string) => $<HTMLSelectElement>(id);

function setStatus(s: Status): void {
  state.status = s;
  document.body.dataset.status = s;
}

function setBusy(busy: boolean): void {
  const canRun = !busy && !!state.engine;
  for (const id of ['score', 'attribute', 'attribute-all']) $<HTMLButtonElement>(id).disabled = !canRun;
  for (const id of ['load-url', 'files', 'pair-prev', 'pair-next', 'pair-add', 'pairs-file']) input(id).disabled = busy;
  if (!busy && state.list.pairs.length) state.list.render();
}

function fillSelect(id: string, values: readonly string[], dflt: string): void {
  const s = select(id);
  s.replaceChildren(...values.map((v) => new Option(v, v, v === dflt, v === dflt)));
}

/** Runs an action with the buttons disabled; shows a UserError's message as it is, anything else with a pointer to the console. */
async function act(busyStatus: Status, doneStatus: Status, statusEl: HTMLElement, fn: () => Promise<void>): Promise<void> {
  setBusy(true);
  setStatus(busyStatus);
  state.error = undefined;
  try {
    await fn();
    setStatus(doneStatus);
  } catch (e) {
    const err = e as Error;
    console.error(err);
    state.error = err.message;
    statusEl.textContent = err.name === 'UserError' ? err.message : `${err.name}: ${err.message} (details in the browser console)`;
    statusEl.classList.add('error-text');
    setStatus('error');
  } finally {
    setBusy(false);
  }
}

// ---------------------------------------------------------------- WebGPU

async function checkGpu(): Promise<void> {
  const banner = $('gpu-status');
  const s = await webgpuSupport();
  if (!s.ok) {
    state.webgpu = 'missing';
    banner.className = 'banner error';
    banner.replaceChildren(Object.assign(document.createElement('strong'), { textContent: `No WebGPU: ${s.reason}.` }),
      document.createTextNode(`${s.help} You can still load a model and see how a pair is tokenised; scoring and attribution need WebGPU.`));
    return;
  }
  try {
    state.gpu = await openBrowserGpu();
  } catch (e) {
    state.webgpu = 'missing';
    banner.className = 'banner error';
    banner.textContent = `WebGPU adapter found (${s.adapter}) but the device could not be opened: ${(e as Error).message}`;
    return;
  }
  state.webgpu = 'ok';
  state.adapter = s.adapter;
  const l = state.gpu.limits;
  banner.className = 'banner ok';
  banner.textContent = `WebGPU: ${s.adapter} · storage binding ≤ ${fmtBytes(l.maxStorageBufferBindingSize)}, buffer ≤ ${fmtBytes(l.maxBufferSize)}` +
    `${state.gpu.features.includes('timestamp-query') ? ' · timestamps' : ''}`;
  state.gpu.device.lost.then((info) => {
    if (info.reason === 'destroyed') return;
    banner.className = 'banner error';
    banner.textContent = `The GPU device was lost (${info.message}); reload the page. Long runs on a large model can exhaust GPU memory: lower the max length or the steps.`;
  });
}

// ---------------------------------------------------------------- model

async function load(getSources: () => Promise<ModelSources>): Promise<void> {
  const status = $('load-status');
  const bar = $<HTMLProgressElement>('load-progress');
  status.classList.remove('error-text');
  await act('loading', 'loaded', status, async () => {
    const t0 = performance.now();
    status.textContent = 'reading…';
    bar.removeAttribute('value');
    const src = await getSources();
    const loaded = await loadModel(src, (file, done, total) => {
      if (total) bar.value = done / total;
      status.textContent = `${file}: ${fmtBytes(done)}${total ? ` of ${fmtBytes(total)}` : ''}`;
    });
    status.textContent = 'uploading weights…';
    // (the old model's buffers back to the browser: kept ones too, src/gpu/pool.ts)
    if (state.model) { await state.model.dropPlans(); state.model.weights.destroy(); drainPool(state.model.g); }
    state.model = undefined;
    state.engine = undefined;
    state.result = undefined;
    state.list.clearResults();
    $('result-panel').hidden = true;
    state.loaded = loaded;
    idToToken = [];
    if (state.gpu) {
      state.model = await BertGpu.create(state.gpu, loaded.weights);
      state.engine = new NigEngine(state.model, loaded.special);
    }
    const c = loaded.config;
    fillSelect('target', c.numLabels === 1 ? ['logit', 'nonrelevant'] : TARGETS, defaultTarget(c.numLabels));
    const maxLen = Math.min(MAX_T, c.maxPositions);
    input('max-length').max = String(maxLen);
    if (Number(input('max-length').value) > maxLen) input('max-length').value = String(maxLen);
    $('model-info').textContent = `${loaded.files.config} + ${loaded.files.weights} (${fmtBytes(loaded.weightBytes)}) + ${loaded.files.tokenizer}: ` +
      `${c.layers} layers, hidden ${c.hidden}, d_ff ${c.intermediate}, ${c.heads} heads, ${c.maxPositions} positions, ${c.numLabels} label${c.numLabels > 1 ? 's' : ''}, ` +
      `vocabulary ${c.vocabSize}. Tokenizer: ${loaded.tokenizer.describe()}.`;
    bar.value = 1;
    state.timings.load = performance.now() - t0;
    status.textContent = `loaded in ${(state.timings.load / 1000).toFixed(1)} s${state.gpu ? '' : ' (no WebGPU: tokenising only)'}`;
    encode();
  });
}

let idToToken: string[] = [];
function vocabOf(id: number): string {
  if (!idToToken.length && state.loaded) for (const [t, i] of state.loaded.tokenizer.vocab) idToToken[i] = t;
  return idToToken[id] ?? `#${id}`;
}

function showTokens(pair: EncodedPair, values?: ArrayLike<number>): void {
  const sp = state.loaded!.special;
  renderTokens($('tokens'), pair.ids, pair.typeIds, vocabOf, new Set([sp.clsId, sp.sepId, sp.padId]), values);
}

/** Tokenises the pair in the form and shows its word pieces. */
function encode(): EncodedPair | undefined {
  const m = state.loaded;
  if (!m) return undefined;
  const pair = m.tokenizer.encodePair(input('query').value, $<HTMLTextAreaElement>('passage').value, Number(input('max-length').value));
  state.pair = pair;
  showTokens(pair);
  return pair;
}

// ---------------------------------------------------------------- the list of pairs

/** Puts a pair of the list into the form, with its tokens and, once attributed, its results. */
function showPair(e: PairEntry): void {
  input('pair-id').value = e.id;
  input('query').value = e.query;
  $<HTMLTextAreaElement>('passage').value = e.passage;
  try { encode(); } catch { /* shown on Score */ }
  state.result = e.result;
  state.resultPair = e.encoded;
  $('neuron-tokens').hidden = true;
  if (e.result) render(); else $('result-panel').hidden = true;
}

async function loadPairsFile(file: File): Promise<void> {
  const st = $('pairs-status');
  st.classList.remove('error-text');
  try {
    const entries = pairsFromFile(new Uint8Array(await file.arrayBuffer()), file.name);
    state.list.load(entries);
    st.textContent = `${entries.length} pairs from ${file.name}`;
  } catch (e) {
    st.textContent = (e as Error).message;
    st.classList.add('error-text');
  }
}

// ---------------------------------------------------------------- score and attribute

const target = () => select('target').value as Target;

async function score(): Promise<void> {
  const out = $('score-out');
  out.classList.remove('error-text');
  await act('scoring', 'scored', out, async () => {
    const pair = encode()!;
    const t0 = performance.now();
    const logits = await state.model!.score([pair]);
    state.timings.score = performance.now() - t0;
    state.logits = Array.from(logits);
    const NL = state.loaded!.config.numLabels;
    state.relevance = relevance(logits, NL, target())[0];
    out.textContent = `logits [${state.logits.map(fmt).join(', ')}] · F (${target()}) = ${fmt(state.relevance)} · ${pair.ids.length} tokens · ${state.timings.score.toFixed(0)} ms`;
  });
}

/** NIG of the form's pair with the form's options; keeps the result in the current entry. */
async function attributeCurrent(status: HTMLElement, bar: HTMLProgressElement, label = ''): Promise<void> {
  const entry = state.list.sync();
  const pair = encode()!;
  const m = Number(input('steps').value);
  const cfg = state.loaded!.config;
  const T = Math.min(Math.ceil(pair.ids.length / 8) * 8, Math.min(MAX_T, cfg.maxPositions));
  const P = state.engine!.chunkSize(T, m + 1);
  const passes = Math.ceil((m + 1) / P);
  const t0 = performance.now();
  bar.value = 0;
  status.textContent = `${label}preparing kernels and buffers for ${pair.ids.length} tokens…`;
  const tick = setInterval(() => { status.dataset.elapsed = `${((performance.now() - t0) / 1000).toFixed(1)} s`; }, 250);
  const onProgress = (done: number, total: number) => {
    bar.value = (0.97 * done) / total;
    status.textContent = label + (done < total
      ? `path points 0–${done - 1} of 0–${m} done (pass ${Math.ceil(done / P)} of ${passes}) · ${((performance.now() - t0) / 1000).toFixed(1)} s`
      : 'summing per segment and reading back…');
  };
  try {
    state.result = await state.engine!.attribute(pair, {
      steps: m, rule: select('rule').value as Rule, target: target(), baseline: select('baseline').value as Baseline, perToken: input('per-token').checked, onProgress,
    });
  } finally {
    clearInterval(tick);
  }
  state.resultPair = pair;
  entry.result = state.result;
  entry.encoded = pair;
  state.timings.attribute = performance.now() - t0;
  bar.value = 1;
  const r = state.result;
  status.textContent = `${label}NIG of ${cfg.layers * cfg.intermediate} neurons, ${r.T} tokens, m = ${m} (${passes} pass${passes > 1 ? 'es' : ''} of ≤ ${P} points) in ${(state.timings.attribute / 1000).toFixed(2)} s`;
  $('neuron-tokens').hidden = true;
  render();
  state.list.render();
}

async function attribute(): Promise<void> {
  const status = $('nig-status');
  status.classList.remove('error-text');
  await act('attributing', 'done', status, () => attributeCurrent(status, $<HTMLProgressElement>('nig-progress')));
}

/** Every pair of the list in turn, with the same options; ends on the first pair. */
async function attributeAll(): Promise<void> {
  const status = $('nig-status');
  status.classList.remove('error-text');
  await act('attributing', 'done', status, async () => {
    const t0 = performance.now();
    const { list } = state;
    for (let i = 0; i < list.pairs.length; i++) {
      list.select(i);
      await attributeCurrent(status, $<HTMLProgressElement>('nig-progress'), `pair ${i + 1} of ${list.pairs.length} (${list.pairs[i].id}): `);
    }
    list.select(0);
    status.textContent = `NIG of ${list.pairs.length} pairs in ${((performance.now() - t0) / 1000).toFixed(2)} s; step through them with ◀ ▶ or the list`;
  });
}

// ---------------------------------------------------------------- results

let geometry: HeatmapGeometry | null = null;
const units = () => select('units').value as Units;
const totals = (r: NigResult) => (units() === 'ffn-pre' ? r.nigPre : r.nigPost);
const segsOf = (r: NigResult) => (units() === 'ffn-pre' ? r.nigPreSegments : r.nigPostSegments);

function render(): void {
  const r = state.result;
  if (!r || !state.loaded) return;
  const { layers: L, intermediate: F } = state.loaded.config;
  $('result-panel').hidden = false;
  geometry = drawHeatmap($<HTMLCanvasElement>('heatmap'), totals(r), L, F, `NIG per neuron (${units()}, summed over tokens), F = ${r.target}`);
  renderCompleteness($<HTMLTableElement>('completeness'), r);
  renderTop($<HTMLTableElement>('top'), topNeurons(totals(r), L, F, 20), segsOf(r), L, F, showNeuron);
}

/** Colours the tokens by one neuron's per-token NIG (when the run kept per-token values). */
function showNeuron(n: RankedNeuron): void {
  const r = state.result!;
  const F = state.loaded!.config.intermediate;
  const tok = units() === 'ffn-pre' ? r.nigPreTokens : r.nigPostTokens;
  const hover = $('hover');
  if (!tok) {
    hover.textContent = `layer ${n.layer}, neuron ${n.neuron}: NIG ${fmt(n.value)} (tick "per token" and attribute again to see it per token)`;
    return;
  }
  const values = Array.from({ length: r.T }, (_, t) => tok[(n.layer * r.T + t) * F + n.neuron]);
  // the coloured tokens sit just above the table, and come into sight when they are off-screen
  const box = $('neuron-tokens');
  box.hidden = false;
  const sp = state.loaded!.special;
  renderTokens(box, state.resultPair!.ids, state.resultPair!.typeIds, vocabOf, new Set([sp.clsId, sp.sepId, sp.padId]), values);
  box.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  hover.textContent = `tokens coloured by NIG of layer ${n.layer}, neuron ${n.neuron} (total ${fmt(n.value)}; red raises F, blue lowers it)`;
}

function onHover(ev: MouseEvent): void {
  const r = state.result;
  if (!geometry || !r || !state.loaded) return;
  const c = cellAt(geometry, ev.offsetX, ev.offsetY);
  if (!c) return;
  const { layers: L, intermediate: F } = state.loaded.config;
  const v = totals(r);
  let best = c.n0;
  for (let n = c.n0; n < c.n1; n++) if (Math.abs(v[c.layer * F + n]) > Math.abs(v[c.layer * F + best])) best = n;
  const segs = segsOf(r);
  const parts = SEGMENTS.map((s, i) => `${s} ${fmt(segs[i * L * F + c.layer * F + best])}`).join(', ');
  const range = c.n1 - c.n0 > 1 ? ` (strongest of ${c.n0}–${c.n1 - 1})` : '';
  $('hover').textContent = `layer ${c.layer}, neuron ${best}${range}: NIG ${fmt(v[c.layer * F + best])} = ${parts}`;
}

/** Exports every attributed pair of the list (the shown one's shapes are described). */
function exportResult(): void {
  const r = state.result;
  if (!r || !state.loaded) return;
  const { layers: L, intermediate: F, hidden: C } = state.loaded.config;
  const id = state.list.sync().id;
  const done = state.list.pairs.filter((p) => p.result).map((p) => ({ id: p.id, result: p.result! }));
  const bytes = attributionsSafetensors(done, units(), { L, F, C });
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
  const a = Object.assign(document.createElement('a'), { href: url, download: 'attributions.safetensors' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  $('export-status').textContent = `${fmtBytes(bytes.byteLength)}, ${done.length} pair${done.length > 1 ? 's' : ''} (${done.map((p) => p.id).join(', ')}): ${id}.nig ${r.nigPreTokens && units() === 'ffn-pre' || r.nigPostTokens && units() === 'ffn-post' ? `[${L}, ${r.T}, ${F}]` : `[${L}, ${F}]`}, ` +
    `${id}.nig_segments [5, ${L}, ${F}], ${id}.ig_embed [${r.T}, ${C}], ${id}.F [${r.steps + 1}], ${id}.delta, ${id}.delta_hidden`;
}

// ---------------------------------------------------------------- wiring

function wire(): void {
  fillSelect('baseline', BASELINES, DEFAULT_BASELINE);
  fillSelect('rule', RULES, DEFAULT_RULE);
  fillSelect('target', ['relevant', 'nonrelevant', 'logit'], 'relevant');
  input('files').addEventListener('change', () => {
    const files = [...(input('files').files ?? [])];
    if (files.length) void load(async () => sourcesFromFiles(files));
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer) void load(async () => sourcesFromFiles(await filesFromDrop(e.dataTransfer!)));
  });
  $('url-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const url = input('model-url').value.trim();
    if (url) void load(() => sourcesFromFolderUrl(url));
  });
  $('score').addEventListener('click', () => void score());
  $('attribute').addEventListener('click', () => void attribute());
  $('attribute-all').addEventListener('click', () => void attributeAll());
  const { list } = state;
  $('pair-prev').addEventListener('click', () => list.select(list.current - 1));
  $('pair-next').addEventListener('click', () => list.select(list.current + 1));
  $('pair-add').addEventListener('click', () => list.add([{ id: freshId(list.pairs), query: input('query').value, passage: $<HTMLTextAreaElement>('passage').value }]));
  input('pairs-file').addEventListener('change', () => { const f = input('pairs-file').files?.[0]; if (f) void loadPairsFile(f); input('pairs-file').value = ''; });
  input('pair-id').addEventListener('change', () => { list.sync(); list.render(); });
  $('export').addEventListener('click', exportResult);
  select('units').addEventListener('change', render);
  for (const id of ['query', 'passage', 'max-length']) $(id).addEventListener('input', () => { try { encode(); } catch { /* shown on Score */ } });
  $('heatmap').addEventListener('mousemove', onHover);
  let resize = 0;
  window.addEventListener('resize', () => { clearTimeout(resize); resize = window.setTimeout(render, 150); });
}

async function main(): Promise<void> {
  wire();
  state.list.sync();
  state.list.render();
  state.run = initRunViewer();
  await checkGpu();
  setStatus('ready');
  setBusy(false);
  const params = new URLSearchParams(location.search);
  const model = params.get('model');
  if (model) {
    input('model-url').value = model;
    // ?tokenizer=NAME: the tokenizer file in that folder under any name (its content says which kind it is)
    await load(() => sourcesFromFolderUrl(model, params.get('tokenizer') ?? undefined));
  }
}

void main();
