/**
 * src/bench/kernels.ts: the kernel benchmarks' parts that run both in Node (bench/matmul.ts, bench/gelu.ts) and
 * in the page (src/browser/bench.ts). No Node imports: the page bundles this file; gpu.js itself is passed in
 * (Node: require('gpu.js'); the page: its browser build), never imported here.
 *   problems  seeded random inputs and float64 references: matmul (sampled rows, relative L2 ≤ 1e-5) and
 *             GELU (every element, max abs error ≤ 1e-6)
 *   WGSL      the repo's kernels, validated, then as two runners: 'WGSL kernel' (one dispatch, inputs resident,
 *             wall clock to onSubmittedWorkDone, plus GPU timestamps where the adapter has them) and 'WGSL e2e'
 *             (upload, dispatch, read back: what one gpu.js call does); the matmul as the GPU-class family on
 *             any adapter (wgslMatmul) and as the CPU-class kernel in either form (wgslMatmulCpu: a kernel runner)
 *   gpu.js    the same computations as gpu.js kernels in one mode, validated the same way; the backend reported is
 *             the one the kernel really ran on (kernel.kernel.constructor.mode), never the one asked for
 *   timing    round robin over the validated runners, medians; rate = work / time, work being FLOPs (GFLOP/s) or
 *             bytes moved (GB/s)
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { readView, settle, submit, submitCommands } from '../gpu/queue.ts';
import { quietly } from '../gpu/wait.ts';
import { gelu } from '../kernels/bench.ts';
import { DEFAULT_VARIANT, SCALAR_VARIANT, matmul, variantSupports, type MatmulVariant } from '../kernels/matmul.ts';
import { matmulCpu, type CpuForm } from '../kernels/matmul-cpu.ts';
import { geluForward, matmulForward } from '../ref/layers.ts';

// ---------- data ----------
/** The project's mulberry32 (src/util/rng.ts) under the name the benchmark page imports. */
export { mulberry32 as rng } from '../util/rng.ts';
/** n floats uniform in [-scale, scale). */
export function randf(rand: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * (2 * rand() - 1);
  return out;
}

// ---------- matmul: out = inp · Wᵀ + bias (nn.Linear) ----------
export interface MatmulShape { M: number; N: number; K: number; note?: string }
export const MATMUL_TOL = 1e-5; // relative L2, f32 against f64
export const matmulName = (s: MatmulShape) => `${s.M}x${s.N}x${s.K}`;
/** FLOPs of one product: 2·M·N·K (the M·N bias adds are not counted). */
export const matmulFlops = (s: MatmulShape) => 2 * s.M * s.N * s.K;

export interface MatmulProblem extends MatmulShape {
  inp: Float32Array;  // (M, K)
  w: Float32Array;    // (N, K)
  bias: Float32Array; // (N)
  rows: number[];     // the rows checked
  want: Float64Array; // (rows, N) float64 reference of those rows
}

/** Random inputs and the float64 reference of every row (`allRows`) or of 16 sampled ones (first, last, spread between). */
export function matmulProblem(s: MatmulShape, rand: () => number, allRows = false): MatmulProblem {
  const inp = randf(rand, s.M * s.K), w = randf(rand, s.N * s.K, 1 / Math.sqrt(s.K)), bias = randf(rand, s.N, 0.1);
  const rows = allRows ? Array.from({ length: s.M }, (_, i) => i)
    : [...new Set([0, s.M - 1, ...Array.from({ length: 14 }, (_, i) => Math.floor(((i + 0.5) * s.M) / 14))])].sort((a, b) => a - b);
  const sub = new Float64Array(rows.length * s.K);
  rows.forEach((r, i) => sub.set(inp.subarray(r * s.K, (r + 1) * s.K), i * s.K));
  const want = new Float64Array(rows.length * s.N);
  matmulForward(want, sub, Float64Array.from(w), Float64Array.from(bias), rows.length, s.K, s.N);
  return { ...s, inp, w, bias, rows, want };
}

/** Relative L2 error of the checked rows of `got` (row r of the (M, N) output) against the reference. */
export function matmulError(p: MatmulProblem, got: (r: number) => ArrayLike<number>): number {
  let num = 0, den = 0;
  p.rows.forEach((r, i) => {
    const row = got(r);
    for (let n = 0; n < p.N; n++) { const d = row[n] - p.want[i * p.N + n]; num += d * d; den += p.want[i * p.N + n] ** 2; }
  });
  return Math.sqrt(num / den);
}

// ---------- GELU: out = x · Φ(x), elementwise ----------
export const GELU_TOL = 1e-6;  // max abs error, f32 against f64, over every element
export const GELU_RANGE = 5;   // inputs uniform in [-5, 5): both tails and the curved middle
export { GELU_WG } from '../kernels/bench.ts'; // shaders/bench/gelu.wgsl's WG
/** Bytes moved per GELU: 8 per element (read 4, write 4). */
export const geluBytes = (N: number) => 8 * N;
export const geluName = (N: number) => (N % (1 << 20) === 0 ? `${N >> 20}M` : N % 1024 === 0 ? `${N >> 10}K` : String(N));

export interface GeluProblem { N: number; inp: Float32Array; want: Float64Array } // (N) each

export function geluProblem(N: number, rand: () => number): GeluProblem {
  const inp = randf(rand, N, GELU_RANGE);
  const want = new Float64Array(N);
  geluForward(want, Float64Array.from(inp), N);
  return { N, inp, want };
}

/** Max abs error over every element (NaN if any output is NaN or missing). */
export function geluError(p: GeluProblem, got: ArrayLike<number>): number {
  if (got.length < p.N) return NaN;
  let m = 0;
  for (let i = 0; i < p.N; i++) {
    const d = Math.abs(got[i] - p.want[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > m) m = d;
  }
  return m;
}

// ---------- runners ----------
/** One validated way of computing a result; `once` times one repetition (ms; `tsMs` from GPU timestamps). */
export interface Runner {
  label: string;
  backend: string;
  err: number;
  once(): Promise<{ ms: number; tsMs?: number }>;
  close(): Promise<void> | void;
}
/** A way that could not be timed: it failed, or gave a wrong result. */
export interface Failed { label: string; backend: string; note: string }

/** Host arrays (or zero-filled element counts) packed into one arena, 4 bytes per element. */
function buffers(g: Gpu, label: string, init: Record<string, Float32Array | number>) {
  const arena = new Arena(g, label);
  for (const [name, x] of Object.entries(init)) arena.reserve(name, 4 * (typeof x === 'number' ? x : x.length));
  arena.build();
  const write = (name: string, x: Float32Array) => writeView(g, arena.view(name), x);
  for (const [name, x] of Object.entries(init)) if (typeof x !== 'number') write(name, x);
  return { v: (name: string): View => arena.view(name), write, read: (name: string) => readView(g, arena.view(name)), destroy: () => arena.destroy() };
}

/** Submits one dispatch; throws the validation error, if any, instead of leaving zeros behind. */
async function runChecked(g: Gpu, d: Dispatch): Promise<void> {
  g.device.pushErrorScope('validation');
  await submit(g, [d], `${d.label} validate`);
  const err = await g.device.popErrorScope();
  if (err) throw new Error(`${d.label}: WebGPU validation error: ${err.message}`);
}

/** A validated dispatch as the two WGSL runners; `upload` writes every input, `read` returns the output. */
function wgslRunners(g: Gpu, d: Dispatch, err: number, upload: () => void, read: () => Promise<Float32Array>, destroy: () => void): Runner[] {
  const backend = 'WGSL on this adapter';
  return [
    kernelRunner(g, d, err, 'WGSL kernel', () => {}),
    {
      label: 'WGSL e2e', backend, err,
      async once() {
        const t0 = performance.now();
        upload();
        encodeOne(g, d, null);
        await read();
        return { ms: performance.now() - t0 };
      },
      close: destroy,
    },
  ];
}

/** One dispatch, inputs resident (compiled by the validation's submit): wall clock to the queue's settling, plus GPU timestamps where the adapter has them. */
function kernelRunner(g: Gpu, d: Dispatch, err: number, label: string, destroy: () => void): Runner {
  const ts = g.features.includes('timestamp-query') ? timestamps(g) : null;
  return {
    label, backend: 'WGSL on this adapter', err,
    async once() {
      const t0 = performance.now();
      encodeOne(g, d, ts);
      await settle(g);
      const ms = performance.now() - t0;
      return { ms, tsMs: ts ? await ts.read() : undefined };
    },
    close() { ts?.destroy(); destroy(); },
  };
}

/**
 * shaders/matmul/matmul.wgsl (TRANS_B, bias), validated; throws if wrong. `variant` is forced, so that this is the
 * GPU-class family on every adapter (on a CPU-class one `matmul` would otherwise pick matmul-cpu): the default variant (the scalar one where K % 4 ≠ 0).
 */
export async function wgslMatmul(g: Gpu, p: MatmulProblem, variant: MatmulVariant = variantSupports(g, DEFAULT_VARIANT, { M: p.M, N: p.N, K: p.K, transB: true }) ? SCALAR_VARIANT : DEFAULT_VARIANT): Promise<Runner[]> {
  const { B, d, err } = await validatedMatmul(g, p, variant, `bench matmul ${matmulName(p)}`);
  return wgslRunners(g, d, err, () => { B.write('inp', p.inp); B.write('w', p.w); B.write('bias', p.bias); }, () => B.read('out'), B.destroy);
}

/** One variant of the GPU-class family, validated as wgslMatmul is, as one runner timed as 'WGSL kernel' is, under `label`. */
export async function wgslMatmulVariant(g: Gpu, p: MatmulProblem, variant: MatmulVariant, label: string): Promise<Runner> {
  const { B, d, err } = await validatedMatmul(g, p, variant, `bench ${label} ${matmulName(p)}`);
  return kernelRunner(g, d, err, label, B.destroy);
}

/** The variant's dispatch on uploaded inputs, run once and checked against the float64 reference; throws (buffers freed) if wrong. */
async function validatedMatmul(g: Gpu, p: MatmulProblem, variant: MatmulVariant, label: string) {
  const { M, N, K } = p;
  const B = buffers(g, label, { inp: p.inp, w: p.w, bias: p.bias, out: M * N });
  try {
    const d = await matmul(g, { label, inp: B.v('inp'), weight: B.v('w'), bias: B.v('bias'), out: B.v('out'), M, N, K, transB: true, variant });
    await runChecked(g, d);
    const out = await B.read('out');
    const err = matmulError(p, (r) => out.subarray(r * N, (r + 1) * N));
    if (!(err <= MATMUL_TOL)) throw new Error(`WGSL matmul ${variant.name} ${matmulName(p)} is wrong: relative L2 error ${err.toExponential(2)} against the float64 reference (tolerance ${MATMUL_TOL}); fix the kernel before timing it`);
    return { B, d, err };
  } catch (e) {
    B.destroy();
    throw e;
  }
}

/**
 * The CPU-class matmul (src/kernels/matmul-cpu.ts; TRANS_B, bias) in one form ('sg8', 'sg4' or 'nosg'; the subgroup
 * forms only where `cpuFormRuns` allows). Validated as wgslMatmul is, then one runner timed as 'WGSL kernel' is;
 * throws why when the shape or the device does not suit it (matmulCpu says) or the result is wrong.
 */
export async function wgslMatmulCpu(g: Gpu, p: MatmulProblem, form: CpuForm, label: string): Promise<Runner> {
  const { M, N, K } = p;
  const B = buffers(g, `bench ${label} ${matmulName(p)}`, { inp: p.inp, w: p.w, bias: p.bias, out: M * N });
  try {
    const d = await matmulCpu(g, { label: `bench ${label} ${matmulName(p)}`, inp: B.v('inp'), weight: B.v('w'), bias: B.v('bias'), out: B.v('out'), M, N, K, transB: true }, form);
    await runChecked(g, d);
    const out = await B.read('out');
    const err = matmulError(p, (r) => out.subarray(r * N, (r + 1) * N));
    if (!(err <= MATMUL_TOL)) throw new Error(`wrong: relative L2 error ${err.toExponential(2)} against the float64 reference (tolerance ${MATMUL_TOL}), not timed`);
    return kernelRunner(g, d, err, label, B.destroy);
  } catch (e) {
    B.destroy();
    throw e;
  }
}

/** shaders/bench/gelu.wgsl, validated on every element; throws if wrong. */
export async function wgslGelu(g: Gpu, p: GeluProblem): Promise<Runner[]> {
  const label = `bench gelu ${geluName(p.N)}`;
  const B = buffers(g, label, { inp: p.inp, out: p.N });
  const d = await gelu(g, { label, inp: B.v('inp'), out: B.v('out'), N: p.N });
  await runChecked(g, d);
  const err = geluError(p, await B.read('out'));
  if (!(err <= GELU_TOL)) {
    B.destroy();
    throw new Error(`WGSL GELU over ${p.N} floats is wrong: max abs error ${err.toExponential(2)} against the float64 reference (tolerance ${GELU_TOL}); fix shaders/common/gelu.wgsl or shaders/bench/gelu.wgsl before timing`);
  }
  return wgslRunners(g, d, err, () => B.write('inp', p.inp), () => B.read('out'), B.destroy);
}

interface Timestamps { qs: GPUQuerySet; resolve: GPUBuffer; read(): Promise<number | undefined>; destroy(): void }

/** A 2-entry query set (pass begin, pass end) and its resolve/readback buffers. */
function timestamps(g: Gpu): Timestamps {
  const qs = g.device.createQuerySet({ label: 'bench timestamps', type: 'timestamp', count: 2 });
  const resolve = g.device.createBuffer({ label: 'bench ts resolve', size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const readBuf = g.device.createBuffer({ label: 'bench ts read', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  return {
    qs, resolve,
    async read() {
      const enc = g.device.createCommandEncoder({ label: 'bench ts copy' });
      enc.copyBufferToBuffer(resolve, 0, readBuf, 0, 16);
      submitCommands(g, enc.finish());
      await quietly(readBuf.mapAsync(GPUMapMode.READ), g);
      const [t0, t1] = new BigUint64Array(readBuf.getMappedRange().slice(0));
      readBuf.unmap();
      return t1 > t0 ? Number(t1 - t0) / 1e6 : undefined; // ns → ms; zeros mean the driver gave none
    },
    destroy() { qs.destroy(); resolve.destroy(); readBuf.destroy(); },
  };
}

/** One compute pass with the dispatch (and the pass's begin/end timestamps), submitted. */
function encodeOne(g: Gpu, d: Dispatch, ts: Timestamps | null): void {
  const enc = g.device.createCommandEncoder({ label: d.label });
  const pass = enc.beginComputePass({ label: d.label, ...(ts ? { timestampWrites: { querySet: ts.qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {}) });
  pass.setPipeline(d.kernel.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(...d.workgroups);
  pass.end();
  if (ts) enc.resolveQuerySet(ts.qs, 0, 2, ts.resolve, 0);
  submitCommands(g, enc.finish());
}

// ---------- gpu.js ----------
export type GpujsKernel = ((...a: unknown[]) => unknown) & { kernel?: { constructor: { name: string; mode?: string }; fallbackReason?: string } };
export interface GpujsGpu { createKernel(src: string, settings?: object): GpujsKernel; destroy(): unknown }
export type GpujsCtor = new (s?: object) => GpujsGpu;
/** A gpu.js mode to run (undefined: gpu.js's own auto-selection); `env` wraps every call (see withNavigatorGpu). */
export interface GpujsMode { mode?: string; env?: <T>(f: () => Promise<T>) => Promise<T> }

// The kernels as strings: gpu.js parses its source, and a string is safe from the TypeScript transform.
const GPUJS_MATMUL = `function (a, w, bias) {
  let sum = bias[this.thread.x];
  for (let k = 0; k < this.constants.K; k++) {
    sum += a[this.thread.y * this.constants.K + k] * w[this.thread.x * this.constants.K + k];
  }
  return sum;
}`;
// gpu.js has no erf either: the same Chebyshev fit of erfc as shaders/common/gelu.wgsl
const GPUJS_GELU = `function (x) {
  const v = x[this.thread.x];
  const z = Math.abs(v * 0.70710678118654752);
  const t = 1.0 / (1.0 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  let e = 1.0 - r;
  if (v < 0.0) { e = r - 1.0; }
  return 0.5 * v * (1.0 + e);
}`;

/** The backend a gpu.js kernel really ran on: its constructor's mode and name, and any fallback. */
function gpujsBackend(k: GpujsKernel): string {
  const c = k.kernel?.constructor;
  return `${c?.mode ?? '?'} (${c?.name ?? '?'})${k.kernel?.fallbackReason ? `, fell back: ${k.kernel.fallbackReason}` : ''}`;
}

/** gpu.js in one mode: builds the kernel; the first call runs it and is validated (`check` returns the error). */
async function gpujsRunner(GPU: GpujsCtor, m: GpujsMode, source: string, settings: object, args: unknown[], check: (out: unknown) => number, tol: number, measure: string): Promise<Runner | Failed> {
  const label = `gpu.js ${m.mode ?? 'default'}`;
  const env = m.env ?? (<T>(f: () => Promise<T>) => f());
  let gpu: GpujsGpu | null = null;
  const close = async () => { try { await gpu?.destroy(); } catch { /* a failed backend may not tear down */ } };
  let backend = '—';
  try {
    gpu = await env(async () => new GPU(m.mode ? { mode: m.mode } : {}));
    const kernel = gpu.createKernel(source, { ...settings, precision: 'single', tactic: 'precision' });
    const call = () => env(async () => await kernel(...args));
    const out = await call();
    backend = gpujsBackend(kernel);
    const err = check(out);
    if (!(err <= tol)) { await close(); return { label, backend, note: `wrong (${measure} ${err.toExponential(2)} > ${tol}), not timed` }; }
    return { label, backend, err, close, async once() { const t = performance.now(); await call(); return { ms: performance.now() - t }; } };
  } catch (e) {
    await close();
    return { label, backend, note: `failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

export const gpujsMatmul = (GPU: GpujsCtor, m: GpujsMode, p: MatmulProblem) =>
  // loopMaxIterations: WebGL caps loops whose bound it cannot see at 1000 by default; K may be larger
  gpujsRunner(GPU, m, GPUJS_MATMUL, { output: [p.N, p.M], constants: { K: p.K }, loopMaxIterations: Math.max(1000, p.K) }, [p.inp, p.w, p.bias],
    (out) => matmulError(p, (r) => (out as ArrayLike<number>[])[r]), MATMUL_TOL, 'relative L2');

export const gpujsGelu = (GPU: GpujsCtor, m: GpujsMode, p: GeluProblem) =>
  gpujsRunner(GPU, m, GPUJS_GELU, { output: [p.N] }, [p.inp], (out) => geluError(p, out as ArrayLike<number>), GELU_TOL, 'max abs error');

/**
 * Runs `f` with `gpu` shown as navigator.gpu: how gpu.js's 'webgpu' mode finds Dawn in Node. Only inside these
 * calls, so that gpu.js's auto modes choose exactly as in a plain Node process.
 */
export function withNavigatorGpu(gpu: unknown): <T>(f: () => Promise<T>) => Promise<T> {
  return async (f) => {
    const G = globalThis as { navigator?: { gpu?: unknown } };
    let undo: () => void;
    if (!G.navigator) {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
      undo = () => { delete G.navigator; };
    } else {
      const before = Object.getOwnPropertyDescriptor(G.navigator, 'gpu');
      Object.defineProperty(G.navigator, 'gpu', { value: gpu, configurable: true });
      undo = () => { if (before) Object.defineProperty(G.navigator!, 'gpu', before); else delete G.navigator!.gpu; };
    }
    try { return await f(); } finally { undo(); }
  };
}

// ---------- timing and reporting ----------
export interface Timed { label: string; backend: string; err: number; ms: number; tsMs?: number }
/** One benchmark size: `work` is what the rates divide by (FLOPs or bytes). */
export interface Row { name: string; work: number; reps: number; res: Timed[]; failed: Failed[] }

export const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
/** GFLOP/s when `work` is FLOPs, GB/s when it is bytes. */
export const rate = (work: number, ms: number) => work / (ms * 1e6);
export const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));

/**
 * Times the runners round robin (one repetition of each in turn), so that they share the machine's load: one
 * warm-up each, then as many rounds as fit `budgetMs` (at least `minReps`, at most `maxReps`); medians.
 */
export async function measure(runners: Runner[], budgetMs = 15000, minReps = 3, maxReps = 9): Promise<{ reps: number; res: Timed[] }> {
  let warm = 0;
  for (const r of runners) warm += (await r.once()).ms;
  const reps = Math.max(minReps, Math.min(maxReps, Math.floor(budgetMs / warm)));
  const ms: number[][] = runners.map(() => []), ts: number[][] = runners.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, r] of runners.entries()) {
      const t = await r.once();
      ms[j].push(t.ms);
      if (t.tsMs !== undefined) ts[j].push(t.tsMs);
    }
  }
  return { reps, res: runners.map((r, j) => ({ label: r.label, backend: r.backend, err: r.err, ms: median(ms[j]), tsMs: ts[j].length ? median(ts[j]) : undefined })) };
}

/** gpu.js labels over all rows, in first-seen order, each with the backend it first reported. */
function gpujsColumns(rows: Row[]): Map<string, string> {
  const cols = new Map<string, string>();
  for (const row of rows) for (const r of [...row.res, ...row.failed]) if (r.label.startsWith('gpu.js') && !cols.has(r.label)) cols.set(r.label, r.backend);
  return cols;
}

/** 'default → webasm (WebAssemblyKernel); ...': the backend each gpu.js mode really used. */
export const gpujsBackends = (rows: Row[]) => [...gpujsColumns(rows)].map(([l, b]) => `${l.slice(7)} → ${b}`).join('; ') || 'not run';

/**
 * The Markdown table: rates of WGSL kernel, timestamps and e2e, then per gpu.js mode its rate and WGSL e2e over it
 * (both upload, run and read back); a mode that failed for a size shows the first word of why.
 */
export function markdownTable(rows: Row[], firstCol: string): string[] {
  const cols = [...gpujsColumns(rows).keys()];
  const head = [firstCol, 'WGSL kernel', 'WGSL ts', 'WGSL e2e', ...cols.flatMap((l) => [l, `WGSL/${l.slice(7)}`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const { name, work, res, failed } of rows) {
    const kern = res.find((r) => r.label === 'WGSL kernel'), e2e = res.find((r) => r.label === 'WGSL e2e');
    const cells = [name, fmt(kern && rate(work, kern.ms)), fmt(kern?.tsMs && rate(work, kern.tsMs)), fmt(e2e && rate(work, e2e.ms))];
    for (const l of cols) {
      const r = res.find((x) => x.label === l), f = failed.find((x) => x.label === l);
      if (r) cells.push(fmt(rate(work, r.ms)), e2e ? `${fmt(r.ms / e2e.ms, 1)}×` : '—');
      else cells.push(f ? f.note.split(' ')[0].replace(/:$/, '') : '—', '—');
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
}
