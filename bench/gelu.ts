/**
 * bench/gelu.ts (`npm run bench:gelu`): the exact-erf GELU, out = x · Φ(x), elementwise over N floats — the
 * memory-bound counterpart of bench/matmul.ts. The WGSL kernel (shaders/bench/gelu.wgsl: common/gelu.wgsl's gelu,
 * one thread per element) is validated on every element against the float64 CPU GELU (src/ref/layers.ts
 * geluForward; max abs error ≤ 1e-6, inputs uniform in [-5, 5)), then timed; then the same function through
 * gpu.js in the same process, validated the same way, and the ratio.
 *
 * Byte count: 8·N per pass (read 4, write 4). GB/s = 8·N / median time, for every runner alike, so the e2e and
 * gpu.js figures are effective rates (their transfers take time but are not counted as bytes).
 * WGSL times: kernel (one dispatch, inputs resident, submit to onSubmittedWorkDone), ts (GPU timestamp queries
 * where the adapter has 'timestamp-query'), e2e (upload, dispatch, read back: what one gpu.js call does).
 * gpu.js runs in its default auto-selection, 'async', and 'webgpu' (this process's Dawn instance shown to it as
 * navigator.gpu); the backend printed is the one the kernel really ran on. The ratio WGSL/gpu.js uses e2e.
 *
 * Usage: npm run bench:gelu [-- --sizes 1M,4M,16M --no-gpujs]   (sizes: element counts, an M suffix = 2^20)
 */
import { benchPreamble, gpujsPeer, loadAverage } from './preamble.ts';
import {
  GELU_RANGE, GELU_TOL, fmt, geluBytes, geluName, geluProblem, gpujsBackends, gpujsGelu, markdownTable, measure, rate,
  wgslGelu, type Failed, type Row, type Runner,
} from '../src/bench/kernels.ts';
import { mulberry32 } from '../src/util/rng.ts';

const argv = process.argv.slice(2);
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const parseN = (s: string) => (/^\d+M$/i.test(s) ? Number(s.slice(0, -1)) * 2 ** 20 : Number(s));
const sizes = arg('--sizes')?.split(',').map(parseN) ?? [1, 4, 16].map((m) => m * 2 ** 20);
const withGpujs = !argv.includes('--no-gpujs');
for (const N of sizes) {
  if (!Number.isInteger(N) || N <= 0) {
    console.error(`bench:gelu: --sizes has an entry that is not a positive element count; write e.g. --sizes 1M,4M,1000003`);
    process.exit(2);
  }
}

async function main(): Promise<void> {
  const { g } = await benchPreamble();
  console.log(`bytes per GELU: 8·N (read + write); inputs uniform in [-${GELU_RANGE}, ${GELU_RANGE}); WGSL kernel: bench/gelu.wgsl (common/gelu.wgsl, 256 threads per workgroup)\n`);
  const rand = mulberry32(11);

  // an odd size first (not a multiple of the workgroup), every element against float64
  {
    const N = 1000003;
    const rs = await wgslGelu(g, geluProblem(N, rand));
    for (const r of rs) await r.close();
    console.log(`validate WGSL N = ${N}: max abs error ${rs[0].err.toExponential(2)} ≤ ${GELU_TOL.toExponential(0)}`);
  }

  const { GPU, modes } = gpujsPeer(g, withGpujs);

  const rows: Row[] = [];
  for (const N of sizes) {
    const p = geluProblem(N, rand);
    const runners: Runner[] = await wgslGelu(g, p);
    const failed: Failed[] = [];
    console.log(`N = ${geluName(N)} (${N}): WGSL validated (max abs error ${runners[0].err.toExponential(2)})`);
    if (GPU) {
      for (const m of modes) {
        const r = await gpujsGelu(GPU, m, p);
        if ('once' in r) { runners.push(r); console.log(`  ${r.label}: backend ${r.backend}; validated (max abs error ${r.err.toExponential(2)})`); }
        else { failed.push(r); console.log(`  ${r.label}: backend ${r.backend}; ${r.note}`); }
      }
    }
    const { reps, res } = await measure(runners);
    for (const r of runners) await r.close();
    const gbs = (ms: number) => fmt(rate(geluBytes(N), ms));
    for (const r of res) console.log(`  ${r.label.padEnd(14)} ${fmt(r.ms).padStart(9)} ms = ${gbs(r.ms)} GB/s${r.tsMs ? ` (GPU timestamps ${fmt(r.tsMs)} ms = ${gbs(r.tsMs)} GB/s)` : ''}`);
    console.log(`  (median of ${reps}, round robin; load average ${loadAverage()})`);
    rows.push({ name: geluName(N), work: geluBytes(N), reps, res, failed });
  }

  console.log(`\nGB/s = 8·N / median time; WGSL/<mode> = WGSL e2e speed over gpu.js speed (both upload, run, read back). gpu.js backends used: ${gpujsBackends(rows)}`);
  for (const line of markdownTable(rows, 'N')) console.log(line);
}

main().then(
  // gpu.js's worker pool and Dawn may hold the event loop open; the bench is done
  () => process.exit(0),
  (e) => { console.error(`bench:gelu: ${(e as Error).message}`); process.exit(1); },
);
