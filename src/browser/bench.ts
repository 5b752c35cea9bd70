/**
 * The page's kernel benchmarks (web/index.html, "Kernel benchmarks"), so that users can compare devices: matmul
 * 256³, 512³, 1024³ (nn.Linear; GFLOP/s = 2·M·N·K / time) in both kernel classes (src/gpu/device.ts `kernelClass`):
 * the GPU-class family (shaders/matmul/matmul.wgsl, the default tile, whatever the adapter) and the CPU-class kernel
 * (src/kernels/matmul-cpu.ts) in each form the adapter can run: 'sg8' (subgroups of ≥ 8 lanes), 'sg4' (≥ 4 lanes:
 * SwiftShader) and 'nosg' (always), with the form this adapter's runs use (`cpuForm`), the ratio CPU class (that
 * form) / GPU class, and the class this adapter gets; and the exact-erf GELU over
 * 1M and 4M floats (shaders/bench/gelu.wgsl; GB/s = 8·N / time), or a quick set of smaller sizes, through the page's WebGPU device (the one app.ts
 * opened: window.irNeurons.state.gpu) and through gpu.js's browser build in its default mode (WebGL2 where the
 * browser has it, else WebGL, WebAssembly, or plain JS: the table says which). Every runner is validated against
 * the float64 CPU reference before it is timed (src/bench/kernels.ts, the code the Node benches run), and one
 * that is wrong is not timed. window.irNeuronsBench holds the state and the rows (tests read it).
 * Built as its own script (web-dist/bench.js) by scripts/build-web.mjs, which also copies gpu-browser.min.js.
 */
import {
  GELU_TOL, MATMUL_TOL, fmt, geluBytes, geluName, geluProblem, gpujsGelu, gpujsMatmul, matmulFlops, matmulName, matmulProblem, measure, rate, rng,
  wgslGelu, wgslMatmul, wgslMatmulCpu, type Failed, type GpujsCtor, type MatmulShape, type Runner, type Timed,
} from '../bench/kernels.ts';
import type { Gpu, KernelClass } from '../gpu/device.ts';
import { cpuForm, cpuFormRuns, type CpuForm } from '../kernels/matmul-cpu.ts';

const cube = (n: number): MatmulShape => ({ M: n, N: n, K: n });
/**
 * The sizes (#bench-sizes): 'standard' is the comparison set; 'quick' is for software renderers (SwiftShader,
 * lavapipe) and phones, where 1024³ alone takes minutes and a single long dispatch can trip the GPU watchdog;
 * 'bert' has the BERT-base FFN product (512 tokens × 3072 × 768) beside 256³ and 512³. A preset that
 * web/index.html does not list is added to the menu with its `label`.
 */
export const PRESETS: Record<string, { matmul: MatmulShape[]; gelu: number[]; label?: string }> = {
  standard: { matmul: [cube(256), cube(512), cube(1024)], gelu: [1 << 20, 1 << 22] },
  quick: { matmul: [cube(128), cube(256)], gelu: [1 << 18, 1 << 20] },
  bert: { matmul: [cube(256), cube(512), { M: 512, N: 3072, K: 768 }], gelu: [1 << 20], label: 'matmul 256³, 512³, BERT-base FFN 512×3072×768; GELU 1M' },
};
/** The CPU-class matmul's forms (src/kernels/matmul-cpu.ts `CpuForm`), as runner labels and table columns. */
export const CPU_FORMS: readonly { form: CpuForm; label: string; col: string; title: string }[] = [
  { form: 'sg8', label: 'CPU-class sg8', col: 'cpu-sg8', title: 'subgroup broadcasts in a workgroup of 8 lanes (needs subgroups of ≥ 8 lanes)' },
  { form: 'sg4', label: 'CPU-class sg4', col: 'cpu-sg4', title: 'subgroup broadcasts in a workgroup of 4 lanes (needs subgroups of ≥ 4 lanes)' },
  { form: 'nosg', label: 'CPU-class nosg', col: 'cpu-nosg', title: 'no subgroups: every lane loads its own rows of A' },
];
/** Timing per size: as many round-robin repetitions as fit this budget, 2 to 7 (the Node benches: 15 s, 3 to 9). */
const BUDGET_MS = 2500, MIN_REPS = 2, MAX_REPS = 7;

export interface BenchRow {
  kernel: 'matmul' | 'gelu';
  size: string;
  unit: 'GFLOP/s' | 'GB/s';
  /** FLOPs or bytes per run: what the rates divide by. */
  work: number;
  reps: number;
  res: Timed[];
  failed: Failed[];
}
export interface BenchState {
  status: 'idle' | 'running' | 'done' | 'error';
  /** The PRESETS entry run. */
  preset?: string;
  rows: BenchRow[];
  adapter?: string;
  /** The kernel class the page's device got (what its NIG runs use), and the subgroup sizes the adapter reports. */
  kernelClass?: KernelClass;
  subgroups?: string;
  /** The CPU-class matmul form this device's CPU-class runs use (`cpuForm`). */
  cpuForm?: CpuForm;
  /** The backend gpu.js really ran on, e.g. 'webgl2 (WebGL2Kernel)', and the WebGL renderer behind it. */
  gpujsBackend?: string;
  webglRenderer?: string;
  error?: string;
  ms?: number;
}
interface AppState { status: string; webgpu: 'checking' | 'ok' | 'missing'; adapter?: string; gpu?: Gpu }

const state: BenchState = { status: 'idle', rows: [] };
(globalThis as unknown as { irNeuronsBench: BenchState }).irNeuronsBench = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page lacks #${id}; web/index.html and bench.ts are out of step`);
  return e as T;
};
const app = () => (globalThis as unknown as { irNeurons?: { state: AppState } }).irNeurons?.state;
const pause = () => new Promise((r) => setTimeout(r, 0)); // lets the page repaint between steps

let gpujs: Promise<GpujsCtor> | null = null;
/**
 * gpu.js's browser build (web-dist/gpu-browser.min.js) as a classic script, once. It claims window.GPU, which in
 * a WebGPU browser is the native GPU interface: the class is taken and the native binding put back.
 */
function loadGpujs(src = 'gpu-browser.min.js'): Promise<GpujsCtor> {
  gpujs ??= new Promise<GpujsCtor>((resolve, reject) => {
    const before = Object.getOwnPropertyDescriptor(globalThis, 'GPU');
    const s = Object.assign(document.createElement('script'), { src, async: true });
    s.onload = () => {
      const G = (globalThis as unknown as { GPU?: GpujsCtor & { GPU?: GpujsCtor } }).GPU;
      const ctor = G?.prototype && 'createKernel' in G.prototype ? G : G?.GPU;
      if (before) Object.defineProperty(globalThis, 'GPU', before); else delete (globalThis as { GPU?: unknown }).GPU;
      if (ctor) resolve(ctor);
      else reject(new Error(`${src} loaded but defined no gpu.js GPU class`));
    };
    s.onerror = () => reject(new Error(`could not load ${src}; rebuild the page with npm run build:web (it copies gpu.js's browser build)`));
    document.head.append(s);
  });
  return gpujs;
}

/** The renderer a WebGL2 context gets here (what gpu.js's webgl2 backend runs on), if the browser names it. */
function webglRenderer(): string | undefined {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return undefined;
  const ext = gl.getExtension('WEBGL_debug_renderer_info');
  const r = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return r;
}

/** Waits (≤ 15 s) for app.ts to finish its WebGPU check; the page's device, or why there is none. */
async function pageGpu(): Promise<{ g?: Gpu; why?: string }> {
  for (let i = 0; i < 300 && (!app() || app()!.webgpu === 'checking'); i++) await new Promise((r) => setTimeout(r, 50));
  const a = app();
  if (a?.gpu && a.webgpu === 'ok') return { g: a.gpu };
  return { why: a ? 'no WebGPU device in this page (see the banner at the top)' : 'the page script (app.js) did not start' };
}

/**
 * One size: the validated WGSL runners, the CPU-class ones (`cpu`: label → runner, for the matmul) and gpu.js,
 * timed round robin; a runner that fails becomes a `failed` entry.
 */
async function benchOne(row: Omit<BenchRow, 'reps' | 'res' | 'failed'>, wgsl: () => Promise<Runner[]>, js: () => Promise<Runner | Failed>,
  cpu: [string, () => Promise<Runner>][] = []): Promise<BenchRow> {
  const runners: Runner[] = [], failed: Failed[] = [];
  try {
    runners.push(...await wgsl());
  } catch (e) {
    failed.push({ label: 'WGSL', backend: 'WebGPU', note: (e as Error).message });
  }
  for (const [label, make] of cpu) {
    await pause();
    try {
      runners.push(await make());
    } catch (e) {
      failed.push({ label, backend: 'WebGPU', note: (e as Error).message });
    }
  }
  await pause();
  const r = await js();
  if ('once' in r) runners.push(r); else failed.push(r);
  state.gpujsBackend ??= r.backend !== '—' ? r.backend : undefined;
  await pause();
  const { reps, res } = runners.length ? await measure(runners, BUDGET_MS, MIN_REPS, MAX_REPS) : { reps: 0, res: [] };
  for (const x of runners) await x.close();
  return { ...row, reps, res, failed };
}

async function runAll(status: HTMLElement, preset: string): Promise<void> {
  const t0 = performance.now();
  const sizes = PRESETS[preset];
  if (!sizes) throw new Error(`no benchmark sizes named '${preset}'; the choices are ${Object.keys(PRESETS).join(', ')}`);
  state.rows = [];
  state.preset = preset;
  render();
  const { g, why } = await pageGpu();
  state.adapter = g ? [g.adapterInfo.vendor, g.adapterInfo.architecture, g.adapterInfo.device, g.adapterInfo.description].filter(Boolean).join(' / ') : undefined;
  state.kernelClass = g?.kernels;
  state.subgroups = g ? subgroupSizes(g) : undefined;
  state.cpuForm = g ? cpuForm(g) : undefined;
  state.webglRenderer = webglRenderer();
  status.textContent = 'loading gpu.js…';
  let GPU: GpujsCtor | null = null, gpujsWhy = '';
  try { GPU = await loadGpujs(); } catch (e) { gpujsWhy = (e as Error).message; }
  showDevice(g, why);
  const noWgsl = async (): Promise<Runner[]> => { throw new Error(`not run: ${why}`); };
  const noJs = async (): Promise<Failed> => ({ label: 'gpu.js default', backend: '—', note: `not run: ${gpujsWhy}` });
  const rand = rng(7);
  for (const s of sizes.matmul) {
    status.textContent = `matmul ${matmulName(s)}: reference, validation and timing…`;
    await pause();
    const p = matmulProblem(s, rand);
    // the CPU-class forms this adapter can run (a subgroup form's workgroup must be one subgroup); the others are n/a
    const cpu = g ? CPU_FORMS.map(({ label, form }): [string, () => Promise<Runner>] => {
      const why = cpuFormRuns(g, form);
      return [label, why ? async () => { throw new Error(`n/a: ${why}`); } : () => wgslMatmulCpu(g, p, form, label)];
    }) : [];
    state.rows.push(await benchOne({ kernel: 'matmul', size: matmulName(s), unit: 'GFLOP/s', work: matmulFlops(s) },
      g ? () => wgslMatmul(g, p) : noWgsl, GPU ? () => gpujsMatmul(GPU, {}, p) : noJs, cpu));
    render();
  }
  for (const N of sizes.gelu) {
    status.textContent = `GELU ${geluName(N)}: reference, validation and timing…`;
    await pause();
    const p = geluProblem(N, rand);
    state.rows.push(await benchOne({ kernel: 'gelu', size: geluName(N), unit: 'GB/s', work: geluBytes(N) },
      g ? () => wgslGelu(g, p) : noWgsl, GPU ? () => gpujsGelu(GPU, {}, p) : noJs));
    render();
  }
  state.ms = performance.now() - t0;
  status.textContent = `done in ${(state.ms / 1000).toFixed(1)} s`;
}

/** 'subgroups of 4 lanes', 'subgroups of 4..32 lanes', or why there are none. */
function subgroupSizes(g: Gpu): string {
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = g.adapterInfo;
  if (!g.features.includes('subgroups')) return 'no subgroups feature';
  if (lo === undefined) return 'subgroups of unreported size';
  return `subgroups of ${lo === hi || hi === undefined ? lo : `${lo}..${hi}`} lanes`;
}

function showDevice(g: Gpu | undefined, why?: string): void {
  const nav = navigator as Navigator & { deviceMemory?: number };
  $('bench-device').textContent = [
    `WebGPU: ${g ? `${state.adapter}${g.features.includes('timestamp-query') ? ' (timestamps)' : ''}` : why}`,
    ...(g ? [`kernel class: ${g.kernels} (${g.kernels === 'cpu' ? 'a software adapter' : 'a hardware adapter'}: the page's attribution runs use it; ${state.subgroups}; CPU-class matmul form ${state.cpuForm})`] : []),
    `WebGL2: ${state.webglRenderer ?? 'none'}`,
    `${nav.hardwareConcurrency ?? '?'} logical cores${nav.deviceMemory ? `, ≥ ${nav.deviceMemory} GiB` : ''}`,
    navigator.userAgent,
  ].join(' · ');
}

function td(text: string, col: string, cls = ''): HTMLTableCellElement {
  const c = Object.assign(document.createElement('td'), { textContent: text, className: cls });
  c.dataset.col = col;
  return c;
}
const th = (text: string, title = '') => Object.assign(document.createElement('th'), { textContent: text, title });

/**
 * The table: rates of the GPU-class WGSL (kernel, timestamps, e2e) and of the CPU-class forms (kernel; the header of
 * the form this device runs, `state.cpuForm`, is marked), the ratio CPU class / GPU class (that form's kernel over the
 * GPU-class kernel), gpu.js and the ratio WGSL e2e / gpu.js, gpu.js's backend, validation errors (CPU class: that
 * form), and why anything was not timed. Rows carry data-wgsl, data-gpujs and, for the matmul, data-cpu-sg8 /
 * data-cpu-sg4 / data-cpu-nosg ('validated', 'n/a' where the adapter cannot run the form, else 'failed').
 */
function render(): void {
  const table = $<HTMLTableElement>('bench-table');
  table.hidden = !state.rows.length;
  const head = document.createElement('tr');
  head.append(th('kernel'), th('size'), th('unit'), th('GPU-class kernel', 'WGSL, the GPU-class family: one dispatch, inputs on the GPU; wall clock'), th('GPU-class ts', 'the same dispatch by GPU timestamps'),
    th('GPU-class e2e', 'upload, dispatch, read back: what one gpu.js call does'),
    ...CPU_FORMS.map((f) => th(f.form === state.cpuForm ? `${f.label} (runs here)` : f.label, `the CPU-class matmul, ${f.title}: one dispatch, inputs on the GPU; wall clock`)),
    th('CPU-class ts', 'the form that runs here, by GPU timestamps'), th('CPU / GPU class', 'the kernel speed of the CPU-class form that runs here over the GPU-class kernel speed (wall clock)'),
    th('gpu.js', 'one kernel call: upload, run, read back'), th('WGSL / gpu.js', 'GPU-class WGSL e2e speed over gpu.js speed'),
    th('gpu.js backend', 'the backend gpu.js really ran on'), th('error GPU / CPU class / gpu.js', `matmul: relative L2 ≤ ${MATMUL_TOL}; GELU: max abs ≤ ${GELU_TOL}`), th('reps'), th('note'));
  head.firstElementChild!.className = 'l';
  const body = state.rows.map((row) => {
    const get = (l: string) => row.res.find((r) => r.label === l);
    const kern = get('WGSL kernel'), e2e = get('WGSL e2e'), js = row.res.find((r) => r.label.startsWith('gpu.js'));
    const jsFail = row.failed.find((f) => f.label.startsWith('gpu.js'));
    const cpus = CPU_FORMS.map((f) => get(f.label));
    const cpu = cpus[CPU_FORMS.findIndex((f) => f.form === state.cpuForm)];
    const r = (t?: number) => fmt(t === undefined ? undefined : rate(row.work, t));
    const tr = document.createElement('tr');
    tr.dataset.kernel = row.kernel;
    tr.dataset.size = row.size;
    tr.dataset.wgsl = kern && e2e ? 'validated' : 'failed';
    tr.dataset.gpujs = js ? 'validated' : 'failed';
    if (row.kernel === 'matmul') {
      for (const [i, f] of CPU_FORMS.entries()) {
        tr.setAttribute(`data-${f.col}`, cpus[i] ? 'validated' : row.failed.find((x) => x.label === f.label)?.note.startsWith('n/a') ? 'n/a' : 'failed');
      }
    }
    tr.append(td(row.kernel, 'kernel', 'l'), td(row.size, 'size'), td(row.unit, 'unit'), td(r(kern?.ms), 'wgsl-kernel'), td(r(kern?.tsMs), 'wgsl-ts'), td(r(e2e?.ms), 'wgsl-e2e'),
      ...CPU_FORMS.map((f, i) => td(r(cpus[i]?.ms), f.col)), td(r(cpu?.tsMs), 'cpu-ts'), td(cpu && kern ? `${fmt(kern.ms / cpu.ms, 1)}×` : '—', 'cpu-ratio'),
      td(r(js?.ms), 'gpujs'), td(js && e2e ? `${fmt(js.ms / e2e.ms, 1)}×` : '—', 'ratio'), td(js?.backend ?? jsFail?.backend ?? '—', 'gpujs-backend', 'l'),
      td([kern, cpu, js].map((x) => (x ? x.err.toExponential(1) : '—')).join(' / '), 'error'), td(String(row.reps), 'reps'),
      td(row.failed.map((f) => `${f.label}: ${f.note}`).join('; '), 'note', 'l note'));
    return tr;
  });
  const thead = document.createElement('thead'), tbody = document.createElement('tbody');
  thead.append(head);
  tbody.append(...body);
  table.replaceChildren(thead, tbody);
}

function init(): void {
  const button = $<HTMLButtonElement>('bench-run');
  const status = $('bench-status');
  const sizes = $<HTMLSelectElement>('bench-sizes');
  for (const [name, p] of Object.entries(PRESETS)) {
    if (![...sizes.options].some((o) => o.value === name)) sizes.append(Object.assign(document.createElement('option'), { value: name, textContent: p.label ?? name }));
  }
  button.addEventListener('click', async () => {
    const busy = app()?.status;
    if (busy === 'loading' || busy === 'scoring' || busy === 'attributing') {
      status.textContent = `the page is ${busy}; run the benchmarks when it has finished (they share its WebGPU device)`;
      return;
    }
    button.disabled = true;
    $<HTMLSelectElement>('bench-sizes').disabled = true;
    state.status = 'running';
    state.error = undefined;
    status.classList.remove('error-text');
    document.body.dataset.bench = 'running';
    try {
      await runAll(status, $<HTMLSelectElement>('bench-sizes').value);
      state.status = 'done';
    } catch (e) {
      console.error(e);
      state.status = 'error';
      state.error = (e as Error).message;
      status.textContent = `benchmarks stopped: ${state.error} (details in the browser console)`;
      status.classList.add('error-text');
    } finally {
      document.body.dataset.bench = state.status;
      button.disabled = false;
      $<HTMLSelectElement>('bench-sizes').disabled = false;
    }
  });
}

init();
