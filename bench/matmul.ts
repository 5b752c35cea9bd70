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
import { describeGpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import {
  MATMUL_TOL as TOL, fmt, gpujsBackends, gpujsMatmul, markdownTable, matmulFlops, matmulName as name, matmulProblem, measure, rate, rng,
  withNavigatorGpu, wgslMatmul, type Failed, type GpujsCtor, type GpujsMode, type MatmulShape as Shape, type Row, type Runner,
} from './kernels-shared.ts';

const DEFAULT_SIZES: Shape[] = [
  { M: 256, N: 256, K: 256 }, { M: 512, N: 512, K: 512 }, { M: 1024, N: 1024, K: 1024 },
  { M: 512, N: 3072, K: 768, note: 'BERT-base FFN up (M = 4096 tokens on a GPU; 512 here)' },
];

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

const gflops = (s: Shape, ms: number) => rate(matmulFlops(s), ms);

async function main(): Promise<void> {
  const cpus = os.cpus();
  let rev = '?';
  try { rev = execSync('git rev-parse --short HEAD', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* not a checkout */ }
  const load = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`machine: ${cpus[0]?.model ?? '?'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.platform()} ${os.release()}, node ${process.version}, commit ${rev}, load average ${load()}`);
  const g = await requestGpu();
  console.log(describeGpu(g));
  console.log('FLOPs per product: 2·M·N·K; WGSL kernel: matmul.wgsl TRANS_B with bias (64×64 tile, 4×4 per thread)\n');
  const rand = rng(7);

  // the off-tile shape first, in full: every element against float64
  {
    const s = { M: 67, N: 45, K: 33 };
    const rs = await wgslMatmul(g, matmulProblem(s, rand, true));
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
  // gpu.js finds WebGPU through navigator.gpu; it sees this process's Dawn instance only inside 'webgpu' calls
  const modes: GpujsMode[] = [{}, { mode: 'async' }, { mode: 'webgpu', env: withNavigatorGpu(g.keepAlive[0]) }];

  const rows: Row[] = [];
  for (const s of sizes) {
    const p = matmulProblem(s, rand);
    const runners: Runner[] = await wgslMatmul(g, p);
    const failed: Failed[] = [];
    console.log(`${name(s)}${s.note ? ` (${s.note})` : ''}: WGSL validated (sampled rows, relative L2 ${runners[0].err.toExponential(2)})`);
    if (GPU) {
      for (const m of modes) {
        const r = await gpujsMatmul(GPU, m, p);
        if ('once' in r) { runners.push(r); console.log(`  ${r.label}: backend ${r.backend}; validated (relative L2 ${r.err.toExponential(2)})`); }
        else { failed.push(r); console.log(`  ${r.label}: backend ${r.backend}; ${r.note}`); }
      }
    }
    const { reps, res } = await measure(runners);
    for (const r of runners) await r.close();
    for (const r of res) console.log(`  ${r.label.padEnd(14)} ${fmt(r.ms).padStart(9)} ms = ${fmt(gflops(s, r.ms))} GFLOP/s${r.tsMs ? ` (GPU timestamps ${fmt(r.tsMs)} ms = ${fmt(gflops(s, r.tsMs))} GFLOP/s)` : ''}`);
    console.log(`  (median of ${reps}, round robin; load average ${load()})`);
    rows.push({ name: name(s), work: matmulFlops(s), reps, res, failed });
  }

  // the table: GFLOP/s, and WGSL e2e over each gpu.js mode
  console.log(`\nGFLOP/s = 2·M·N·K / median time; WGSL/<mode> = WGSL e2e speed over gpu.js speed (both upload, run, read back). gpu.js backends used: ${gpujsBackends(rows)}`);
  for (const line of markdownTable(rows, 'M×N×K')) console.log(line);
}

main().then(
  // gpu.js's worker pool and Dawn may hold the event loop open; the bench is done
  () => process.exit(0),
  (e) => { console.error(`bench:matmul: ${(e as Error).message}`); process.exit(1); },
);
