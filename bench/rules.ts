/**
 * bench/rules.ts (`npm run bench:rules`): how fast each path rule of the NIG engine converges, measured on the
 * fixture models (tiny-monobert, tiny-minilm) and their 6 query-passage pairs each.
 *
 *   npm run bench:rules -- [--models tiny-monobert,tiny-minilm] [--pairs 0,1,2,3,4,5] [--steps 2,4,...,256]
 *                          [--ref-steps 1000] [--tol 0.01,0.001,0.0001] [--f64-check 0|1] [--json raw.json]
 *   npm run bench:rules -- --from-json raw.json     (the tables again from a run's saved errors; no GPU)
 *   npm run bench:rules -- --adaptive 1 [...]       (adaptive m with --tol against fixed m = 50: bench/adaptive.ts)
 *
 * Quantity: the NIG of every FFN unit of every layer before GELU (the default unit), summed over tokens:
 * the (L, d_ff) vector `nigPre` of NigEngine.attribute. Error: relative L2 ‖v_m − v_ref‖ / ‖v_ref‖.
 *
 * 1. Validate. For the first selected pair of each model (pair 0 by default): the GPU engine at m = 20, right
 *    rule, against the float64 reference (src/ref/nig.ts nigReference): NIG per token and its totals, F along
 *    the path, IG on the embeddings, all ≤ 1e-3 relative L2, or the bench aborts.
 * 2. Reference. Per pair, the engine at m = --ref-steps (1000: 1001 points) with the trapezoid rule, the
 *    highest order of the three (O(1/m²) against O(1/m) for right and left), so its own error is the smallest:
 *    about (m/1000)² of the trapezoid error at m, under 7% of it at m = 256. Cross-check: right and left at
 *    the same m agree with it to < 0.1% (their O(1/m) errors at m = 1000; right − trapezoid = trapezoid − left
 *    exactly, so the two give one number); a pair that does not is flagged, the sweep goes on, and the bench
 *    exits 1 at the end. With --f64-check 1 (default) the first pair of the first model's reference is also
 *    recomputed by nigReference in float64 at the same m: the engine's f32 offset (~2.5e-6 on the fixtures).
 * 3. Sweep. For each rule ∈ {right, left, trapezoid} and m ∈ --steps: the error per pair, its median and max
 *    over pairs; the completeness delta of IG on the word embeddings, |Σ IG − ΔF| / |ΔF| (a full cut);
 *    the slope of log(median error) against log m over m ≥ 4 and errors ≥ 5e-6 (10× the run-to-run f32 noise,
 *    see FIT_FLOOR): the convergence order, negated; and for each --tol the
 *    points (m + 1) needed for ≤ tol error: on the grid (the smallest grid m from which every larger grid
 *    m is within tol) and interpolated (log-log between the bracketing grid points), median and worst pair.
 *    One extra row, 'richardson', is not an engine rule: (4·T_m − T_{m/2}) / 3 from the trapezoid results at m
 *    and m/2 (both measured on the grid). The m/2 points are every other point of the m + 1, so an engine that
 *    kept both trapezoid sums would get it from the same m + 1 points; it shows what a higher order would buy.
 *
 * Work per pair: 3·(ref m + 1) + 3·Σ(m + 1) path points, one forward and one backward each (the engine's
 * cost unit; see bench/nig.ts for its FLOP formula); the time per point is printed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gpu } from '../src/gpu/device.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import type { BertWeights, EncodedPair } from '../src/model/types.ts';
import { NigEngine, type NigResult } from '../src/ig/engine.ts';
import { RULES, type Rule } from '../src/ig/path.ts';
import { nigReference } from '../src/ref/nig.ts';
import { benchPreamble, loadAverage } from './preamble.ts';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = resolve(REPO, '../shared/fixtures');
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const VAL_STEPS = 20, VAL_TOL = 1e-3, CROSS_TOL = 1e-3;
/**
 * Order fits use m ≥ FIT_MIN_M (past the first, pre-asymptotic steps) and errors ≥ FIT_FLOOR: 10× the f32 noise
 * between two engine runs (~5e-7, where the Richardson row levels off; the engine's systematic f32 offset from
 * float64, ~2.5e-6, is shared by the reference and cancels).
 */
const FIT_MIN_M = 4, FIT_FLOOR = 5e-6;
/** The same for the IG completeness delta, relative to |ΔF| (small for some pairs): its noise plateau is ~7e-6. */
const IG_FIT_FLOOR = 3e-5;

// ---------- arguments ----------
const argv = process.argv.slice(2);
const KNOWN = ['--models', '--pairs', '--steps', '--ref-steps', '--tol', '--f64-check', '--json', '--from-json', '--adaptive'];
for (let i = 0; i < argv.length; i += 2) {
  if (!KNOWN.includes(argv[i]) || argv[i + 1] === undefined) fail(`bench:rules: '${argv[i]}' is not an option with a value; options: ${KNOWN.join(' ')} (each takes a value)`, 2);
}
const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const ints = (name: string, dflt: string) => {
  const xs = (arg(name) ?? dflt).split(',').map(Number);
  if (!xs.every((x) => Number.isInteger(x) && x >= 0)) fail(`bench:rules: ${name} takes non-negative integers separated by commas, got '${arg(name)}'`, 2);
  return xs;
};
const models = (arg('--models') ?? 'tiny-monobert,tiny-minilm').split(',');
const pairIdx = ints('--pairs', '0,1,2,3,4,5');
let grid = ints('--steps', '2,4,8,16,32,64,128,256').sort((a, b) => a - b);
const refSteps = ints('--ref-steps', '1000')[0];
const tols = (arg('--tol') ?? '0.01,0.001,0.0001').split(',').map(Number);
const f64Check = (arg('--f64-check') ?? '1') !== '0';
const jsonOut = arg('--json'), jsonIn = arg('--from-json');
const adaptive = (arg('--adaptive') ?? '0') !== '0'; // --adaptive 1: bench/adaptive.ts (--tol per pair against fixed m = 50)
if (!tols.every((t) => t > 0 && t < 1)) fail(`bench:rules: --tol takes errors in (0, 1) separated by commas, got '${arg('--tol')}'`, 2);
if (!adaptive && (grid[0] < 1 || refSteps <= grid[grid.length - 1])) fail(`bench:rules: --steps must be ≥ 1 and below --ref-steps (${refSteps}); got ${grid.join(',')}`, 2);

function fail(msg: string, code = 1): never {
  console.error(msg);
  process.exit(code);
}

// ---------- helpers ----------
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relL2: lengths ${a.length} and ${b.length} differ`);
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / Math.max(d, 1e-300));
}
/** Median and max of the finite values (NaN: not measured); NaN when there are none. */
const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
};
/** The upper median: an actual value (a grid point stays a grid point). */
const upperMedian = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const max = (xs: number[]) => { const s = xs.filter((x) => !Number.isNaN(x)); return s.length ? Math.max(...s) : NaN; };
const e2 = (x: number) => (Number.isNaN(x) ? '—' : x.toExponential(2));
/** Relative completeness delta of IG on the word embeddings. */
const embDelta = (r: NigResult) => Math.abs(r.igDelta) / Math.abs(r.F[r.steps] - r.F[0]);

/** (L, T, d_ff) per token → (L, d_ff) summed over tokens. */
function tokenSum(a: Float64Array, L: number, T: number, F: number): Float64Array {
  const out = new Float64Array(L * F);
  for (let l = 0; l < L; l++) for (let t = 0; t < T; t++) for (let u = 0; u < F; u++) out[l * F + u] += a[(l * T + t) * F + u];
  return out;
}

/** Least-squares slope of log y against log x. */
function logSlope(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log), ly = ys.map(Math.log);
  const mx = lx.reduce((s, v) => s + v, 0) / lx.length, my = ly.reduce((s, v) => s + v, 0) / ly.length;
  let num = 0, den = 0;
  for (let i = 0; i < lx.length; i++) { num += (lx[i] - mx) * (ly[i] - my); den += (lx[i] - mx) ** 2; }
  return num / den;
}

/**
 * Steps needed for error ≤ tol from errors on the grid: `grid` is the smallest grid m from which every larger
 * grid m is within tol (Infinity if the last is not); `interp` solves err = tol on the log-log line between
 * the bracketing grid points (err ∝ m^−p locally), rounded up; the first grid point when it already passes.
 */
function stepsFor(errs: number[], tol: number, even = false): { grid: number; interp: number } {
  let i = errs.length;
  while (i > 0 && errs[i - 1] <= tol) i--; // NaN (not measured) stops the walk like a failure
  if (i === errs.length) return { grid: Infinity, interp: Infinity };
  if (i === 0) return { grid: grid[0], interp: grid[0] };
  const [m0, m1, e0, e1] = [grid[i - 1], grid[i], errs[i - 1], errs[i]];
  if (Number.isNaN(e0)) return { grid: m1, interp: m1 };
  const p = Math.log(e0 / e1) / Math.log(m1 / m0);
  const m = Math.ceil(m0 * (e0 / tol) ** (1 / p));
  return { grid: m1, interp: Math.min(m1, even ? 2 * Math.ceil(m / 2) : m) };
}
const pts = (m: number) => (Number.isFinite(m) ? String(Math.ceil(m) + 1) : `> ${grid[grid.length - 1] + 1}`);
const pct = (t: number) => `${+(t * 100).toPrecision(3)}%`;

// ---------- fixtures ----------
interface Model { name: string; w: BertWeights; eng: NigEngine; pairs: EncodedPair[] }

async function loadModel(g: Gpu, name: string): Promise<Model> {
  const dir = resolve(FIXTURES, name);
  const w = loadCheckpoint(dir);
  const file = resolve(dir, 'reference.safetensors');
  const st = parseSafetensors(readFileSync(file), file);
  const get = (n: string) => {
    const t = st.get(n);
    if (!t) fail(`bench:rules: ${file} has no tensor '${n}'; regenerate the fixtures with shared/fixtures/make_reference.py`);
    return Array.from(toFloat(t, Float64Array));
  };
  const pairs = pairIdx.map((i) => {
    const ids = get(`p${i}.input_ids`);
    return { ids, typeIds: get(`p${i}.token_type_ids`), sep1: ids.indexOf(SPECIAL.sepId) };
  });
  return { name, w, eng: new NigEngine(await BertGpu.create(g, w), SPECIAL), pairs };
}

/** The GPU engine against the float64 reference, m = 20, right rule, pair 0: aborts on > 1e-3. */
async function validate(M: Model): Promise<string> {
  const p = M.pairs[0];
  const r = await M.eng.attribute(p, { steps: VAL_STEPS, rule: 'right', perToken: true });
  const ref = nigReference(M.w, p.ids, p.typeIds, VAL_STEPS, { rule: 'right', target: r.target });
  const { layers: L, intermediate: F } = M.w.config;
  const errs: [string, number][] = [
    ['nig_pre per token', relL2(r.nigPreTokens!, ref.nigPre)], ['nig_pre totals', relL2(r.nigPre, tokenSum(ref.nigPre, L, p.ids.length, F))],
    ['F_path', relL2(r.F, ref.F)], ['ig_embed', relL2(r.igEmbed, ref.igEmbed)],
  ];
  const bad = errs.filter(([, e]) => !(e <= VAL_TOL));
  if (bad.length) fail(`bench:rules: validation failed: ${M.name} pair ${pairIdx[0]}, m = ${VAL_STEPS}, right rule: GPU engine against the float64 reference: ${bad.map(([k, e]) => `${k} ${e2(e)}`).join(', ')} > ${VAL_TOL}; fix the engine before measuring its rules`);
  return `validate ${M.name} pair ${pairIdx[0]}, m = ${VAL_STEPS}, right: GPU vs float64 reference relative L2 ${errs.map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')} ≤ ${VAL_TOL}`;
}

// ---------- main ----------
/** The engine's rules, and Richardson extrapolation of the trapezoid rule (m and m/2: the m/2 points are every other point of m). */
type Row = Rule | 'richardson';
const ROWS: Row[] = [...RULES, 'richardson'];
interface PairRun { pair: number; T: number; cross: string[]; dF: number; err: Record<Row, number[]>; delta: Record<Row, number[]> }

interface Saved { commit: string; refSteps: number; grid: number[]; raw: Record<string, PairRun[]> }

/** Validates, computes the references and sweeps the grid on the GPU engine; exits 1 at the end if a cross-check failed. */
async function measure(): Promise<Saved & { crossFailed: string[] }> {
  const { g, rev } = await benchPreamble('adapter');
  console.log(`quantity: NIG before GELU summed over tokens, (L, d_ff); reference: trapezoid at m = ${refSteps}; steps ${grid.join(', ')}\n`);
  const t0 = performance.now();
  let points = 0, engineMs = 0;
  const run = async (M: Model, p: EncodedPair, steps: number, rule: Rule) => {
    const ts = performance.now();
    const r = await M.eng.attribute(p, { steps, rule });
    engineMs += performance.now() - ts;
    points += steps + 1;
    return r;
  };

  const all: Record<string, PairRun[]> = {};
  const crossFailed: string[] = [];
  for (const name of models) {
    const M = await loadModel(g, name);
    console.log(await validate(M));
    const runs: PairRun[] = [];
    for (const [j, p] of M.pairs.entries()) {
      const tp = performance.now();
      const ref = await run(M, p, refSteps, 'trapezoid');
      const cross = [];
      for (const rule of ['right', 'left'] as const) {
        const e = relL2((await run(M, p, refSteps, rule)).nigPre, ref.nigPre);
        if (!(e < CROSS_TOL)) {
          crossFailed.push(`${name} pair ${pairIdx[j]} ${rule} ${e2(e)}`);
          console.error(`bench:rules: cross-check failed: ${name} pair ${pairIdx[j]}: ${rule} at m = ${refSteps} differs from trapezoid by ${e2(e)} ≥ ${CROSS_TOL}; this pair's reference may not have converged (raise --ref-steps)`);
        }
        cross.push(`${rule} ${e2(e)}`);
      }
      if (f64Check && name === models[0] && j === 0) {
        const tf = performance.now();
        const r64 = nigReference(M.w, p.ids, p.typeIds, refSteps, { rule: 'trapezoid', target: ref.target });
        const e = relL2(ref.nigPre, tokenSum(r64.nigPre, M.w.config.layers, p.ids.length, M.w.config.intermediate));
        console.log(`  f32 floor: GPU reference against float64 nigReference at m = ${refSteps} (trapezoid): relative L2 ${e2(e)} (${((performance.now() - tf) / 1000).toFixed(0)} s on the CPU)`);
      }
      const run1: PairRun = { pair: pairIdx[j], T: p.ids.length, cross, dF: ref.F[refSteps] - ref.F[0], err: { right: [], left: [], trapezoid: [], richardson: [] }, delta: { right: [], left: [], trapezoid: [], richardson: [] } };
      let prev: NigResult | null = null; // trapezoid at the previous grid m
      for (const m of grid) {
        for (const rule of RULES) {
          const r = await run(M, p, m, rule);
          run1.err[rule].push(relL2(r.nigPre, ref.nigPre));
          run1.delta[rule].push(embDelta(r));
          if (rule !== 'trapezoid') continue;
          if (prev && 2 * prev.steps === m) {
            // (4 T_m − T_{m/2}) / 3 cancels the m^−2 term of the trapezoid's even-power error expansion
            const rich = r.nigPre.map((x, i) => (4 * x - prev!.nigPre[i]) / 3);
            run1.err.richardson.push(relL2(rich, ref.nigPre));
            run1.delta.richardson.push(Math.abs((4 * r.igDelta - prev.igDelta) / 3) / Math.abs(r.F[m] - r.F[0]));
          } else {
            run1.err.richardson.push(NaN);
            run1.delta.richardson.push(NaN);
          }
          prev = r;
        }
      }
      runs.push(run1);
      console.log(`  ${name} pair ${pairIdx[j]} (${p.ids.length} tokens, ΔF = ${run1.dF.toFixed(4)}): cross-check at m = ${refSteps} against trapezoid: ${cross.join(', ')} ${crossFailed.some((c) => c.startsWith(`${name} pair ${pairIdx[j]} `)) ? `FAILED (≥ ${CROSS_TOL})` : `< ${CROSS_TOL}`}; ` +
        `${((performance.now() - tp) / 1000).toFixed(0)} s, ${(engineMs / points).toFixed(1)} ms/point so far, load average ${loadAverage()}`);
    }
    all[name] = runs;
    M.eng.model.dropPlans();
  }
  const secs = (performance.now() - t0) / 1000;
  console.log(`\n${points} path points through the engine in ${(engineMs / 1000).toFixed(0)} s (${(engineMs / points).toFixed(1)} ms/point, forward + backward + conductance); total ${secs.toFixed(0)} s\n`);
  if (jsonOut) {
    writeFileSync(jsonOut, JSON.stringify({ commit: rev, refSteps, grid, raw: all }, null, 1)); // NaN (not measured) is written as null
    console.log(`raw errors written to ${jsonOut}\n`);
  }
  return { commit: rev, refSteps, grid, raw: all, crossFailed };
}

/** The tables: errors per rule and m, convergence orders, points for each tolerance. */
function report({ refSteps, raw }: Saved): void {
  const all: Record<string, PairRun[]> = { ...raw, 'all pairs': Object.values(raw).flat() };

  // the error table: rule × m → median / max over pairs, per model and pooled
  const groups = Object.keys(all);
  console.log(`relative L2 error of NIG (pre-GELU, token sums) against trapezoid m = ${refSteps}: median / max over pairs; |Σ IG − ΔF|/|ΔF| of the embedding IG: median / max over all pairs`);
  console.log(`| rule | m | points | ${groups.map((k) => `${k} (${all[k].length})`).join(' | ')} | IG completeness |`);
  console.log(`|---|---|---|${groups.map(() => '---|').join('')}---|`);
  for (const rule of ROWS) {
    grid.forEach((m, i) => {
      const cells = groups.map((k) => { const e = all[k].map((r) => r.err[rule][i]); return `${e2(median(e))} / ${e2(max(e))}`; });
      const d = all['all pairs'].map((r) => r.delta[rule][i]);
      console.log(`| ${rule} | ${m} | ${m + 1} | ${cells.join(' | ')} | ${e2(median(d))} / ${e2(max(d))} |`);
    });
  }

  // convergence order and points for each tolerance
  const fit = (errs: number[], floor = FIT_FLOOR) => {
    const idx = grid.map((_, i) => i).filter((i) => grid[i] >= FIT_MIN_M && errs[i] >= floor);
    return idx.length >= 2 ? { p: -logSlope(idx.map((i) => grid[i]), idx.map((i) => errs[i])), ms: idx.map((i) => grid[i]) } : { p: NaN, ms: [] };
  };
  console.log(`\nconvergence order p (error ∝ m^−p): −slope of log error against log m over m ≥ ${FIT_MIN_M} with error ≥ ${FIT_FLOOR} (10× the f32 run-to-run noise): ` +
    `of the median error over pairs [the m used], then the median and range of per-pair fits; IG completeness order likewise, on its median, with error ≥ ${IG_FIT_FLOOR}`);
  console.log('| rule | pairs | NIG order (median error) | per-pair orders | IG completeness order |');
  console.log('|---|---|---|---|---|');
  for (const rule of ROWS) {
    for (const k of Object.keys(all)) {
      const runs = all[k];
      const f = fit(grid.map((_, i) => median(runs.map((r) => r.err[rule][i]))));
      const per = runs.map((r) => fit(r.err[rule]).p).filter(Number.isFinite);
      const d = fit(grid.map((_, i) => median(runs.map((r) => r.delta[rule][i]))), IG_FIT_FLOOR);
      const perTxt = per.length ? `${median(per).toFixed(2)} (${Math.min(...per).toFixed(2)}…${Math.max(...per).toFixed(2)})` : '—';
      console.log(`| ${rule} | ${k} | ${f.p.toFixed(2)} [${f.ms.join(',')}] | ${perTxt} | ${d.p.toFixed(2)} [${d.ms.join(',')}] |`);
    }
  }
  console.log(`\npoints (m + 1) for the NIG error ≤ tol, all ${all['all pairs'].length} pairs: interpolated (log-log between grid points; richardson: even m) median / worst pair, then [grid: the smallest grid m from which every larger grid m passes, median / worst]; median = the upper median (the ${(all['all pairs'].length >> 1) + 1}th pair)`);
  console.log(`| rule | ${tols.map((t) => `≤ ${pct(t)}`).join(' | ')} |`);
  console.log(`|---|${tols.map(() => '---|').join('')}`);
  for (const rule of ROWS) {
    const cells = tols.map((t) => {
      const need = all['all pairs'].map((r) => stepsFor(r.err[rule], t, rule === 'richardson'));
      const gm = need.map((n) => n.grid), im = need.map((n) => n.interp);
      return `${pts(upperMedian(im))} / ${pts(Math.max(...im))} [${pts(upperMedian(gm))} / ${pts(Math.max(...gm))}]`;
    });
    console.log(`| ${rule} | ${cells.join(' | ')} |`);
  }
}

async function main(): Promise<void> {
  if (adaptive) {
    const { adaptiveBench, report: adaptiveReport } = await import('./adaptive.ts');
    if (jsonIn) return adaptiveReport(JSON.parse(readFileSync(jsonIn, 'utf8')).runs, { refSteps, tols });
    return adaptiveBench({ fixtures: FIXTURES, models, pairs: pairIdx, refSteps, tols, jsonOut });
  }
  if (jsonIn) {
    const saved = JSON.parse(readFileSync(jsonIn, 'utf8'), (_, v) => (v === null ? NaN : v)) as Saved;
    grid = saved.grid;
    console.log(`tables from ${jsonIn} (commit ${saved.commit}; reference m = ${saved.refSteps}; steps ${grid.join(', ')})\n`);
    report(saved);
    return;
  }
  const m = await measure();
  report(m);
  if (m.crossFailed.length) fail(`bench:rules: the m = ${m.refSteps} cross-check failed for ${m.crossFailed.join('; ')} (≥ ${CROSS_TOL}); those pairs' errors are measured against a reference that may not have converged`);
}

main().then(() => process.exit(0), (e) => { console.error(`bench:rules: ${(e as Error).stack ?? e}`); process.exit(1); });
