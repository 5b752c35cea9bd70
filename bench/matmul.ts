/**
 * bench/matmul.ts (`npm run bench:matmul`): the WGSL matmul (shaders/matmul/matmul.wgsl, the forward's
 * nn.Linear variant: out = inp · Wᵀ + bias, TRANS_B) validated against a float64 CPU reference, then timed;
 * then the same product through gpu.js in the same process, validated the same way, and the ratio.
 *
 * FLOP count: 2·M·N·K per product (the M·N bias adds are not counted). GFLOP/s = 2·M·N·K / median time.
 * WGSL times:
 *   kernel — one dispatch, wall clock from submit to queue.onSubmittedWorkDone (inputs already on the device);
 *   ts     — the same dispatch from GPU timestamp queries (when the adapter has 'timestamp-query');
 *   e2e    — upload inp, W and bias, dispatch, read the output back: what one gpu.js kernel call does.
 * gpu.js times are whole kernel calls (upload, run, readback), so the ratio WGSL/gpu.js uses e2e.
 * gpu.js runs in each mode that works here: its default auto-selection (headless-gl when the native `gl`
 * module built, else WebAssembly, else plain JS), 'async' (WebAssembly with worker threads when no GL), and
 * 'webgpu' through this process's Dawn instance (the same lavapipe adapter). The backend printed is the one
 * the kernel really ran on (kernel.kernel.constructor.mode), not the one asked for.
 *
 * Usage: npm run bench:matmul [-- --sizes 256x256x256,512x512x512 --no-gpujs]
 */
import os from 'node:os';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { describeGpu, type Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import type { Dispatch } from '../src/gpu/pipelines.ts';
import { matmul } from '../src/model/kernels/matmul.ts';
import { matmulForward } from '../src/ref/layers.ts';
import { run, upload, type Bufs } from '../test/helpers/gpu.ts';

interface Shape { M: number; N: number; K: number; note?: string }
const DEFAULT_SIZES: Shape[] = [
  { M: 256, N: 256, K: 256 }, { M: 512, N: 512, K: 512 }, { M: 1024, N: 1024, K: 1024 },
  { M: 512, N: 3072, K: 768, note: 'BERT-base FFN up (M = 4096 tokens on a GPU; 512 here)' },
];
const TOL = 1e-5; // relative L2, f32 against f64

const argv = process.argv.slice(2);
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const sizes: Shape[] = arg('--sizes')?.split(',').map((s) => { const [M, N, K] = s.split('x').map(Number); return { M, N, K }; }) ?? DEFAULT_SIZES;
const withGpujs = !argv.includes('--no-gpujs');
for (const s of sizes) {
  if (![s.M, s.N, s.K].every((x) => Number.isInteger(x) && x > 0)) {
    console.error(`bench:matmul: --sizes entry '${s.M}x${s.N}x${s.K}' is not M×N×K in positive integers; write e.g. --sizes 256x256x256,512x3072x768`);
    process.exit(2);
  }
}

// ---------- data and reference ----------
let seed = 7;
function rand(): number { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randf = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));

interface Problem extends Shape { inp: Float32Array; w: Float32Array; bias: Float32Array; rows: number[]; want: Float64Array }

/** Random inputs and the float64 reference of a sample of rows (first, last, and spread between). */
function problem(s: Shape): Problem {
  const inp = randf(s.M * s.K), w = randf(s.N * s.K, 1 / Math.sqrt(s.K)), bias = randf(s.N, 0.1);
  const rows = [...new Set([0, s.M - 1, ...Array.from({ length: 14 }, (_, i) => Math.floor(((i + 0.5) * s.M) / 14))])].sort((a, b) => a - b);
  const sub = new Float64Array(rows.length * s.K);
  rows.forEach((r, i) => sub.set(inp.subarray(r * s.K, (r + 1) * s.K), i * s.K));
  const want = new Float64Array(rows.length * s.N);
  matmulForward(want, sub, Float64Array.from(w), Float64Array.from(bias), rows.length, s.K, s.N);
  return { ...s, inp, w, bias, rows, want };
}

/** Relative L2 error of the sampled rows of `got` (M, N) against the reference. */
function sampledError(p: Problem, got: (r: number) => ArrayLike<number>): number {
  let num = 0, den = 0;
  p.rows.forEach((r, i) => {
    const row = got(r);
    for (let n = 0; n < p.N; n++) { const d = row[n] - p.want[i * p.N + n]; num += d * d; den += p.want[i * p.N + n] ** 2; }
  });
  return Math.sqrt(num / den);
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
const gflops = (s: Shape, ms: number) => (2 * s.M * s.N * s.K) / (ms * 1e6);
const fmt = (x: number | undefined, d = 2) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(d));
const name = (s: Shape) => `${s.M}x${s.N}x${s.K}`;


// ---------- runners ----------
/** One validated way of computing the product; `once` times one repetition (ms; `tsMs` from GPU timestamps). */
interface Runner {
  label: string;
  backend: string;
  err: number;
  once(): Promise<{ ms: number; tsMs?: number }>;
  close(): Promise<void> | void;
}
interface Failed { label: string; backend: string; note: string }

/** The WGSL matmul twice over: kernel only (with timestamps where available) and end to end. */
async function wgslRunners(g: Gpu, p: Problem): Promise<Runner[]> {
  const { M, N, K } = p;
  const B: Bufs = upload(g, `bench ${name(p)}`, { inp: p.inp, w: p.w, bias: p.bias, out: M * N });
  const d = await matmul(g, { label: `bench ${name(p)}`, inp: B.v('inp'), weight: B.v('w'), bias: B.v('bias'), out: B.v('out'), M, N, K, transB: true });
  await run(g, [d], 'bench validate');
  const out = await B.read('out');
  const err = sampledError(p, (r) => out.subarray(r * N, (r + 1) * N));
  if (!(err <= TOL)) {
    B.destroy();
    throw new Error(`WGSL matmul ${name(p)} is wrong: relative L2 error ${err.toExponential(2)} against the float64 reference (tolerance ${TOL}); fix the kernel before timing it`);
  }
  const ts = g.features.includes('timestamp-query') ? timestamps(g) : null;
  const backend = 'WGSL on this adapter';
  return [
    {
      label: 'WGSL kernel', backend, err,
      async once() {
        const t0 = performance.now();
        encodeOne(g, d, ts);
        await g.device.queue.onSubmittedWorkDone();
        const ms = performance.now() - t0;
        return { ms, tsMs: ts ? await ts.read() : undefined };
      },
      close() { ts?.destroy(); },
    },
    {
      label: 'WGSL e2e', backend, err,
      async once() {
        const t0 = performance.now();
        B.write('inp', p.inp); B.write('w', p.w); B.write('bias', p.bias);
        encodeOne(g, d, null);
        await B.read('out');
        return { ms: performance.now() - t0 };
      },
      close() { B.destroy(); },
    },
  ];
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
      g.device.queue.submit([enc.finish()]);
      await readBuf.mapAsync(GPUMapMode.READ);
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
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(...d.workgroups);
  pass.end();
  if (ts) enc.resolveQuerySet(ts.qs, 0, 2, ts.resolve, 0);
  g.device.queue.submit([enc.finish()]);
}

// ---------- gpu.js ----------
type GpujsKernel = ((...a: unknown[]) => unknown) & { kernel?: { constructor: { name: string; mode?: string }; fallbackReason?: string } };
interface GpujsGpu { createKernel(src: string, settings?: object): GpujsKernel; destroy(): unknown }
type GpujsCtor = new (s?: object) => GpujsGpu;
// The kernel as a string: gpu.js parses its source, and a string is safe from the TypeScript transform.
const GPUJS_SRC = `function (a, w, bias) {
  let sum = bias[this.thread.x];
  for (let k = 0; k < this.constants.K; k++) {
    sum += a[this.thread.y * this.constants.K + k] * w[this.thread.x * this.constants.K + k];
  }
  return sum;
}`;

/**
 * gpu.js in one mode; the first call builds, runs and is validated. `withEnv` wraps every call (the 'webgpu'
 * mode sees navigator.gpu only inside it).
 */
async function gpujsRunner(GPU: GpujsCtor, mode: string | undefined, p: Problem, withEnv: <T>(f: () => Promise<T>) => Promise<T>): Promise<Runner | Failed> {
  const label = `gpu.js ${mode ?? 'default'}`;
  let gpu: GpujsGpu | null = null;
  const close = async () => { try { await gpu?.destroy(); } catch { /* a failed backend may not tear down */ } };
  try {
    gpu = await withEnv(async () => new GPU(mode ? { mode } : {}));
    const kernel = gpu.createKernel(GPUJS_SRC, { output: [p.N, p.M], constants: { K: p.K }, precision: 'single', tactic: 'precision' });
    const call = () => withEnv(async () => (await kernel(p.inp, p.w, p.bias)) as ArrayLike<number>[]);
    const out = await call();
    const k = kernel.kernel!;
    const backend = `${k.constructor.mode ?? '?'} (${k.constructor.name})${k.fallbackReason ? `, fell back: ${k.fallbackReason}` : ''}`;
    const err = sampledError(p, (r) => out[r]);
    if (!(err <= TOL)) { await close(); return { label, backend, note: `wrong (relative L2 ${err.toExponential(2)} > ${TOL}), not timed` }; }
    return {
      label, backend, err, close,
      async once() { const t = performance.now(); await call(); return { ms: performance.now() - t }; },
    };
  } catch (e) {
    await close();
    return { label, backend: '—', note: `failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

// ---------- main ----------
interface Row { s: Shape; reps: number; res: { label: string; backend: string; err: number; ms: number; tsMs?: number }[]; failed: Failed[] }

/** Times the runners round robin (one repetition of each in turn), so that they share the machine's load. */
async function measure(s: Shape, runners: Runner[]): Promise<Row> {
  const warm: number[] = [];
  for (const r of runners) warm.push((await r.once()).ms); // warm-up
  const reps = Math.max(3, Math.min(9, Math.floor(15000 / warm.reduce((a, b) => a + b, 0))));
  const ms: number[][] = runners.map(() => []), ts: number[][] = runners.map(() => []);
  for (let i = 0; i < reps; i++) {
    for (const [j, r] of runners.entries()) {
      const t = await r.once();
      ms[j].push(t.ms);
      if (t.tsMs !== undefined) ts[j].push(t.tsMs);
    }
  }
  return { s, reps, failed: [], res: runners.map((r, j) => ({ label: r.label, backend: r.backend, err: r.err, ms: median(ms[j]), tsMs: ts[j].length ? median(ts[j]) : undefined })) };
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  let rev = '?';
  try { rev = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`machine: ${cpus[0]?.model ?? '?'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, node ${process.version}, commit ${rev}, load average ${load()}`);
  const g = await requestGpu();
  console.log(describeGpu(g));
  console.log('FLOPs per product: 2·M·N·K; WGSL kernel: matmul.wgsl TRANS_B with bias (64×64 tile, 4×4 per thread)\n');

  // the off-tile shape first, in full: every element against float64
  {
    const s = { M: 67, N: 45, K: 33 };
    const p = problem(s);
    p.rows = Array.from({ length: s.M }, (_, i) => i);
    p.want = new Float64Array(s.M * s.N);
    matmulForward(p.want, Float64Array.from(p.inp), Float64Array.from(p.w), Float64Array.from(p.bias), s.M, s.K, s.N);
    const rs = await wgslRunners(g, p);
    for (const r of rs) await r.close();
    console.log(`validate WGSL ${name(s)} (all elements): relative L2 ${rs[0].err.toExponential(2)} ≤ ${TOL.toExponential(0)}`);
  }

  let GPU: GpujsCtor | null = null;
  if (withGpujs) {
    try {
      GPU = (createRequire(import.meta.url)('gpu.js') as { GPU: GpujsCtor }).GPU;
    } catch (e) {
      console.log(`gpu.js: not loadable (${(e as Error).message.split('\n')[0]}); run \`npm install\``);
    }
  }
  const plain = <T>(f: () => Promise<T>) => f();
  // gpu.js finds WebGPU through navigator.gpu; it sees this process's Dawn instance only inside 'webgpu' calls,
  // so that the auto modes choose exactly as they would in a plain Node process
  const viaDawn = async <T>(f: () => Promise<T>) => { const undo = setNavigatorGpu(g); try { return await f(); } finally { undo(); } };
  const modes: [string | undefined, typeof plain][] = [[undefined, plain], ['async', plain], ['webgpu', viaDawn]];

  const rows: Row[] = [];
  for (const s of sizes) {
    const p = problem(s);
    const runners: Runner[] = await wgslRunners(g, p);
    const failed: Failed[] = [];
    console.log(`${name(s)}${s.note ? ` (${s.note})` : ''}: WGSL validated (sampled rows, relative L2 ${runners[0].err.toExponential(2)})`);
    if (GPU) {
      for (const [mode, env] of modes) {
        const r = await gpujsRunner(GPU, mode, p, env);
        if ('once' in r) { runners.push(r); console.log(`  ${r.label}: backend ${r.backend}; validated (relative L2 ${r.err.toExponential(2)})`); }
        else { failed.push(r); console.log(`  ${r.label}: backend ${r.backend}; ${r.note}`); }
      }
    }
    const row = await measure(s, runners);
    row.failed = failed;
    for (const r of runners) await r.close();
    for (const r of row.res) console.log(`  ${r.label.padEnd(14)} ${fmt(r.ms).padStart(9)} ms = ${fmt(gflops(s, r.ms))} GFLOP/s${r.tsMs ? ` (GPU timestamps ${fmt(r.tsMs)} ms = ${fmt(gflops(s, r.tsMs))} GFLOP/s)` : ''}`);
    console.log(`  (median of ${row.reps}, round robin; load average ${load()})`);
    rows.push(row);
  }

  // the table: GFLOP/s, and WGSL e2e over each gpu.js mode
  const js = rows[0]?.res.filter((r) => r.label.startsWith('gpu.js')) ?? [];
  const failedJs = rows[0]?.failed ?? [];
  const head = ['M×N×K', 'WGSL kernel', 'WGSL ts', 'WGSL e2e', ...js.flatMap((r) => [r.label, `WGSL/${r.label.slice(7)}`]), ...failedJs.map((f) => f.label)];
  console.log(`\nGFLOP/s = 2·M·N·K / median time; WGSL/<mode> = WGSL e2e speed over gpu.js speed (both upload, run, read back). gpu.js backends used: ${[...js, ...failedJs].map((r) => `${r.label.slice(7)} → ${r.backend}`).join('; ') || 'not run'}`);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const { s, res, failed } of rows) {
    const kern = res.find((r) => r.label === 'WGSL kernel')!, e2e = res.find((r) => r.label === 'WGSL e2e')!;
    const cells = [name(s), fmt(gflops(s, kern.ms)), fmt(kern.tsMs && gflops(s, kern.tsMs)), fmt(gflops(s, e2e.ms))];
    for (const r of res.filter((x) => x.label.startsWith('gpu.js'))) cells.push(fmt(gflops(s, r.ms)), `${fmt(r.ms > 0 ? r.ms / e2e.ms : NaN, 1)}×`);
    for (const f of failed) cells.push(f.note.split(' ')[0]);
    console.log(`| ${cells.join(' | ')} |`);
  }
}

/** Shows gpu.js this process's Dawn instance as navigator.gpu; returns the undo. */
function setNavigatorGpu(g: Gpu): () => void {
  const G = globalThis as { navigator?: { gpu?: unknown } };
  const gpu = g.keepAlive[0];
  if (!G.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    return () => { delete G.navigator; };
  }
  const before = Object.getOwnPropertyDescriptor(G.navigator, 'gpu');
  Object.defineProperty(G.navigator, 'gpu', { value: gpu, configurable: true });
  return () => { if (before) Object.defineProperty(G.navigator!, 'gpu', before); else delete G.navigator!.gpu; };
}

main().then(
  // gpu.js's worker pool and Dawn may hold the event loop open; the bench is done
  () => process.exit(0),
  (e) => { console.error(`bench:matmul: ${(e as Error).message}`); process.exit(1); },
);
