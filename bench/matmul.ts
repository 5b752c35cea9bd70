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
 * Then the matmul family (src/kernels/matmul.ts): every variant that fits this device on 1024³ and the
 * BERT-base FFN-up shape (same product, TRANS_B with bias), each validated against float64 (sampled rows)
 * before it is timed, round robin; and the autotuner's choice for the same shapes (tuneMatmuls, which times on
 * its own; its cache goes to memory here unless --save-tune, which writes the user's tune cache file).
 *
 * The variants table also has the CPU-class kernel (src/kernels/matmul-cpu.ts, each form the device can run) and
 * numpy's float32 sgemm on the same product in a fresh /usr/bin/python3 (bench/cpu-peer.ts; run before and after our
 * round robin, the faster kept), with the ratio cpu-class (the device's form) / sgemm. Every row is validated and timed by
 * the library's runners (src/bench/kernels.ts); timed waits go through src/gpu/wait.ts (the quiet wait on a software
 * adapter; IR_NEURONS_WAIT=spin for plain awaits, i.e. the host busy-polling as Dawn's Node binding does).
 *
 * Usage: npm run bench:matmul [-- --sizes 256x256x256,512x512x512 --no-gpujs --variant-sizes 1024x1024x1024
 *                               --no-baseline (skip the gpu.js comparison) --no-variants --save-tune --no-sgemm
 *                               --no-tune --variants vec4-128x64x16-8x4,... (only these besides the default)]
 */
import { memoryStore, setTuneStore, tuneStore } from '../src/gpu/autotune.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { DEFAULT_VARIANT, MATMUL_VARIANTS, SCALAR_VARIANT, tuneMatmuls, variantValues, variantFits, variantSupports } from '../src/kernels/matmul.ts';
import {
  MATMUL_TOL as TOL, fmt, gpujsBackends, gpujsMatmul, markdownTable, matmulFlops, matmulName as name, matmulProblem, measure, rate,
  wgslMatmul, wgslMatmulCpu, wgslMatmulVariant, type Failed, type MatmulShape as Shape, type Row, type Runner,
} from '../src/bench/kernels.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { benchPreamble, gpujsPeer, loadAverage } from './preamble.ts';
import { CPU_FORMS, cpuForm, cpuFormRuns, cpuMatmulSupports, type CpuForm } from '../src/kernels/matmul-cpu.ts';
import { cpuPeerMissing, runSgemmPeer } from './cpu-peer.ts';

const DEFAULT_SIZES: Shape[] = [
  { M: 256, N: 256, K: 256 }, { M: 512, N: 512, K: 512 }, { M: 1024, N: 1024, K: 1024 },
  { M: 512, N: 3072, K: 768, note: 'BERT-base FFN up (M = 4096 tokens on a GPU; 512 here)' },
];

const argv = process.argv.slice(2);
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const parseSizes = (v: string | undefined) => v?.split(',').map((s) => { const [M, N, K] = s.split('x').map(Number); return { M, N, K }; });
const sizes: Shape[] = argv.includes('--no-baseline') ? [] : parseSizes(arg('--sizes')) ?? DEFAULT_SIZES;
const variantSizes: Shape[] = argv.includes('--no-variants') ? [] : parseSizes(arg('--variant-sizes')) ?? [DEFAULT_SIZES[2], DEFAULT_SIZES[3]];
const withGpujs = !argv.includes('--no-gpujs');
const withSgemm = !argv.includes('--no-sgemm');
const withTune = !argv.includes('--no-tune');
/** --variants a,b: only these MATMUL_VARIANTS (the default always) beside the CPU-class rows. */
const onlyVariants = arg('--variants')?.split(',');
const VARIANTS = onlyVariants ? MATMUL_VARIANTS.filter((v) => v === DEFAULT_VARIANT || onlyVariants.includes(v.name)) : MATMUL_VARIANTS;
/** Rows of the variants table besides MATMUL_VARIANTS: the CPU-class kernel's forms (by `CpuForm`) and numpy's sgemm. */
const CPU_ROWS: Record<CpuForm, string> = { sg8: 'cpu-class (subgroups)', sg4: 'cpu-class (4-lane subgroups)', nosg: 'cpu-class (no subgroups)' };
const SGEMM_ROW = 'numpy sgemm (CPU, OpenBLAS)';
for (const s of [...sizes, ...variantSizes]) {
  if (![s.M, s.N, s.K].every((x) => Number.isInteger(x) && x > 0)) {
    console.error(`bench:matmul: --sizes entry '${s.M}x${s.N}x${s.K}' is not M×N×K in positive integers; write e.g. --sizes 256x256x256,512x3072x768`);
    process.exit(2);
  }
}

const gflops = (s: Shape, ms: number) => rate(matmulFlops(s), ms);

async function main(): Promise<void> {
  const { g } = await benchPreamble();
  console.log(`FLOPs per product: 2·M·N·K; WGSL kernel: matmul.wgsl's default variant (${DEFAULT_VARIANT.name}: 64×64×8 tile, 4×4 per invocation, vec4 loads; ${SCALAR_VARIANT.name} where K % 4 ≠ 0), TRANS_B with bias\n`);
  const rand = mulberry32(7);

  // the off-tile shape first, in full: every element against float64
  {
    const s = { M: 67, N: 45, K: 33 };
    const rs = await wgslMatmul(g, matmulProblem(s, rand, true));
    for (const r of rs) await r.close();
    console.log(`validate WGSL ${name(s)} (all elements): relative L2 ${rs[0].err.toExponential(2)} ≤ ${TOL.toExponential(0)}`);
  }

  const { GPU, modes } = gpujsPeer(g, withGpujs);

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
    console.log(`  (median of ${reps}, round robin; load average ${loadAverage()})`);
    rows.push({ name: name(s), work: matmulFlops(s), reps, res, failed });
  }

  // the table: GFLOP/s, and WGSL e2e over each gpu.js mode
  console.log(`\nGFLOP/s = 2·M·N·K / median time; WGSL/<mode> = WGSL e2e speed over gpu.js speed (both upload, run, read back). gpu.js backends used: ${gpujsBackends(rows)}`);
  for (const line of markdownTable(rows, 'M×N×K')) console.log(line);

  if (variantSizes.length) await variantTable(g);
}

// ---------- the matmul family ----------
interface Cell { ms?: number; note?: string }

/** Every variant on `s` (TRANS_B with bias), validated against float64 (sampled rows) by the library's runners
 * (src/bench/kernels.ts: wgslMatmulCpu, wgslMatmulVariant), then timed round robin. */
async function variantRow(g: Gpu, s: Shape, rand: () => number): Promise<Map<string, Cell>> {
  const p = matmulProblem(s, rand), { M, N, K } = s;
  const cells = new Map<string, Cell>();
  const runners: Runner[] = [];
  const add = async (label: string, make: () => Promise<Runner>) => {
    try {
      const r = await make();
      console.log(`  ${label}: validated (relative L2 ${r.err.toExponential(2)})`);
      cells.set(label, {});
      runners.push(r);
    } catch (e) {
      cells.set(label, { note: (e as Error).message.replace(/^WGSL matmul \S+ \S+ is /, '').split(';')[0] });
    }
  };
  // the CPU-class kernel (src/kernels/matmul-cpu.ts) in each form the device can run: 8- and 4-lane subgroup broadcasts, none
  for (const [form, label] of Object.entries(CPU_ROWS) as [CpuForm, string][]) {
    const why = cpuFormRuns(g, form) ?? cpuMatmulSupports({ M, N, K });
    if (why) { cells.set(label, { note: `n/a (${why})` }); continue; }
    await add(label, () => wgslMatmulCpu(g, p, form, label));
  }
  for (const v of VARIANTS) {
    const why = variantFits(v, g.limits) ?? variantSupports(g, v, { M, N, K, transB: true });
    if (why) { cells.set(v.name, { note: `n/a (${why})` }); continue; }
    await add(v.name, () => wgslMatmulVariant(g, p, v, v.name));
  }
  // numpy's sgemm (OpenBLAS) on the same product, before and after our round robin (a fresh process each)
  const peers: number[] = [];
  const sgemm = () => {
    if (!withSgemm) return;
    try {
      const r = runSgemmPeer(M, N, K);
      peers.push(r.ms);
      console.log(`  ${r.line}; load average ${loadAverage()}`);
    } catch (e) {
      console.log(`  numpy sgemm: ${(e as Error).message}`);
    }
  };
  sgemm();
  const { reps, res } = await measure(runners, 60000, 3, 5);
  sgemm();
  for (const r of res) cells.get(r.label)!.ms = r.ms;
  if (peers.length) cells.set(SGEMM_ROW, { ms: [...peers].sort((a, b) => a - b)[0] });
  console.log(`  (median of ${reps}, round robin; waits: src/gpu/wait.ts, IR_NEURONS_WAIT=${process.env.IR_NEURONS_WAIT ?? 'quiet'}; load average ${loadAverage()})`);
  for (const r of runners) await r.close();
  return cells;
}

/** The variants table (GFLOP/s per variant and shape) and the autotuner's choice for each shape. */
async function variantTable(g: Gpu): Promise<void> {
  if (!argv.includes('--save-tune')) setTuneStore(memoryStore());
  const rand = mulberry32(11);
  const cols: { s: Shape; cells: Map<string, Cell>; tuned: string; tunedMs: number }[] = [];
  for (const s of variantSizes) {
    console.log(`\nvariants on ${name(s)}${s.note ? ` (${s.note})` : ''}, TRANS_B with bias; load average ${loadAverage()}`);
    const cells = await variantRow(g, s, rand);
    for (const [v, c] of cells) console.log(`  ${v.padEnd(26)} ${c.ms ? `${fmt(c.ms).padStart(9)} ms = ${fmt(gflops(s, c.ms))} GFLOP/s` : c.note}`);
    if (!withTune) { cols.push({ s, cells, tuned: '', tunedMs: NaN }); continue; }
    const [t] = await tuneMatmuls(g, [{ M: s.M, N: s.N, K: s.K, transB: true }], { budgetMs: 30000, log: (l) => console.log(`  ${l}`) });
    console.log(`  tuner (its own timing, cache: ${tuneStore().where}): ${t.variant}, ${fmt(t.gflops)} GFLOP/s; default ${fmt(gflops(s, t.defaultMs))} GFLOP/s; rejected: ${Object.entries(t.rejected).map(([k, v]) => `${k} (${v})`).join('; ') || 'none'}`);
    cols.push({ s, cells, tuned: t.variant, tunedMs: t.ms });
  }
  const head = ['variant', 'constants', ...cols.map((c) => name(c.s))];
  console.log(`\nGFLOP/s = 2·M·N·K / median wall time of one dispatch (load average ${loadAverage()}); * = the tuner's choice`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  const rowsOf: [string, string][] = [
    ...(Object.entries(CPU_ROWS) as [CpuForm, string][]).map(([f, r]) => [r, `${CPU_FORMS[f].rows}×4 per lane, wg ${CPU_FORMS[f].lanes}${f === cpuForm(g) ? ' (this device\'s form)' : ''}`] as [string, string]),
    ...VARIANTS.map((v) => [v.name, Object.entries(variantValues(v)).map(([k, x]) => `${k}=${Number(x)}`).join(' ')] as [string, string]),
  ];
  for (const [rowName, consts] of rowsOf) {
    const cells = cols.map(({ s, cells, tuned }) => { const c = cells.get(rowName); return !c ? 'n/a' : c.ms ? `${fmt(gflops(s, c.ms))}${tuned === rowName ? ' *' : ''}` : c.note!.split(' (')[0]; });
    console.log(`| ${rowName}${rowName === DEFAULT_VARIANT.name ? ' (default)' : ''} | ${consts} | ${cells.join(' | ')} |`);
  }
  if (withSgemm) {
    console.log(`| ${SGEMM_ROW} | fastest of 2 runs | ${cols.map(({ s, cells }) => { const c = cells.get(SGEMM_ROW); return c?.ms ? fmt(gflops(s, c.ms)) : 'n/a'; }).join(' | ')} |`);
    console.log(`| cpu-class / numpy sgemm | | ${cols.map(({ cells }) => { const a = cells.get(CPU_ROWS[cpuForm(g)])?.ms, b = cells.get(SGEMM_ROW)?.ms; return a && b ? `${fmt(b / a, 2)}×` : 'n/a'; }).join(' | ')} |`);
  }
  const best = (c: (typeof cols)[number]) => Math.min(...[...c.cells].filter(([k]) => k !== SGEMM_ROW).map(([, x]) => x.ms ?? Infinity));
  if (withTune) console.log(`| tuned choice (tuner's timing) | | ${cols.map((c) => `${c.tuned}: ${fmt(gflops(c.s, c.tunedMs))}`).join(' | ')} |`);
  console.log(`| fastest / default (this table) | | ${cols.map((c) => `${fmt(c.cells.get(DEFAULT_VARIANT.name)!.ms! / best(c), 2)}×`).join(' | ')} |`);
}

main().then(
  // gpu.js's worker pool and Dawn may hold the event loop open; the bench is done
  () => process.exit(0),
  (e) => { console.error(`bench:matmul: ${(e as Error).message}`); process.exit(1); },
);
