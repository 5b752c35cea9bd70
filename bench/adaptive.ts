/**
 * bench/adaptive.ts (`npm run bench:rules -- --adaptive`): adaptive NIG (`--tol`, src/ig/engine.ts) on the fixture
 * pairs, against the paper's fixed m = 50.
 *
 *   npm run bench:rules -- --adaptive [--models tiny-monobert,tiny-minilm] [--pairs 0,…,5] [--ref-steps 1000]
 *                          [--tol 0.01,0.001,0.0001] [--json raw.json]
 *
 * Per pair: the reference (the engine's trapezoid rule at m = --ref-steps, as bench/rules.ts); then
 * 1. the estimate against the true error at fixed m ∈ {4, 8, 16, 32}, trapezoid (with the estimate) and richardson:
 *    est / true, where the true error is above 10× the float32 run-to-run floor (5e-7; below it, "floor");
 * 2. the fixed m = 50 runs (right: the paper's and the fixtures' rule; trapezoid: the default): true error;
 * 3. for each --tol and rule ∈ {trapezoid, richardson}: the adaptive run from m = 4 — the m it stopped at, the
 *    points of that final pass (m + 1), the points of all its passes, its estimate, the true error.
 * Error: relative L2 of the pre-GELU NIG token sums `(L, d_ff)` against the reference, as everywhere in
 * docs/rules.md. The tables: per tol and rule, median / max over pairs of points and true error; how many pairs
 * end within tol; est / true over all fixed-m checks.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { NigEngine } from '../src/ig/engine.ts';
import type { NigRule } from '../src/ig/path.ts';
import { benchPreamble, loadAverage } from './preamble.ts';

const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const FLOOR = 5e-6; // 10× the engine's float32 run-to-run noise (~5e-7, docs/rules.md)
const FIXED_M = [4, 8, 16, 32];
const RULES: ('trapezoid' | 'richardson')[] = ['trapezoid', 'richardson'];

export interface AdaptiveBenchOptions { fixtures: string; models: string[]; pairs: number[]; refSteps: number; tols: number[]; jsonOut?: string }

interface Fixed { m: number; rule: string; est: number; err: number }
interface Adaptive { tol: number; rule: string; m: number; points: number; total: number; est: number; err: number; capped: boolean }
interface PairRun { model: string; pair: number; T: number; fixed: Fixed[]; m50: { right: number; trapezoid: number }; adaptive: Adaptive[] }

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
}
const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
const e2 = (x: number) => x.toExponential(2);

function loadPairs(dir: string, idx: number[]): EncodedPair[] {
  const file = resolve(dir, 'reference.safetensors');
  const st = parseSafetensors(readFileSync(file), file);
  const get = (n: string) => Array.from(toFloat(st.get(n)!, Float64Array));
  return idx.map((i) => { const ids = get(`p${i}.input_ids`); return { ids, typeIds: get(`p${i}.token_type_ids`), sep1: ids.indexOf(SPECIAL.sepId) }; });
}

export async function adaptiveBench(o: AdaptiveBenchOptions): Promise<void> {
  const { g, rev } = await benchPreamble('adapter');
  console.log(`adaptive NIG: reference trapezoid at m = ${o.refSteps}; tol ${o.tols.join(', ')}; pairs ${o.pairs.join(',')} of ${o.models.join(', ')}\n`);
  const t0 = performance.now();
  const runs: PairRun[] = [];
  for (const model of o.models) {
    const dir = resolve(o.fixtures, model);
    const eng = new NigEngine(await BertGpu.create(g, loadCheckpoint(dir)), SPECIAL);
    for (const [j, p] of loadPairs(dir, o.pairs).entries()) {
      const tp = performance.now();
      const ref = (await eng.attribute(p, { steps: o.refSteps })).nigPre;
      const run: PairRun = { model, pair: o.pairs[j], T: p.ids.length, fixed: [], m50: { right: NaN, trapezoid: NaN }, adaptive: [] };
      for (const m of FIXED_M) {
        for (const rule of RULES) {
          const r = await eng.attribute(p, { steps: m, rule, estimate: true });
          run.fixed.push({ m, rule, est: r.errorEstimate!, err: relL2(r.nigPre, ref) });
        }
      }
      for (const rule of ['right', 'trapezoid'] as const) run.m50[rule] = relL2((await eng.attribute(p, { steps: 50, rule })).nigPre, ref);
      for (const tol of o.tols) {
        for (const rule of RULES) {
          const r = await eng.attribute(p, { steps: 4, rule: rule as NigRule, tol });
          run.adaptive.push({ tol, rule, m: r.steps, points: r.steps + 1, total: r.adaptive!.points, est: r.errorEstimate!, err: relL2(r.nigPre, ref), capped: r.adaptive!.capped });
        }
      }
      runs.push(run);
      console.log(`  ${model} pair ${run.pair} (${run.T} tokens): ${((performance.now() - tp) / 1000).toFixed(0)} s, load average ${loadAverage()}; ` +
        run.adaptive.map((a) => `${a.rule} ${a.tol}: m ${a.m} (${a.total} points in all), err ${e2(a.err)}`).join('; '));
    }
    eng.model.dropPlans();
  }
  console.log(`\ntotal ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  if (o.jsonOut) writeFileSync(o.jsonOut, JSON.stringify({ commit: rev, refSteps: o.refSteps, runs }, null, 1));
  report(runs, o);
}

export function report(runs: PairRun[], o: { refSteps: number; tols: number[] }): void {
  const n = runs.length;
  console.log(`\nestimate / true error at fixed m, every pair (${n}); true error against trapezoid m = ${o.refSteps}; "floor": true error < ${FLOOR} (not judged)`);
  console.log(`| rule | m | ${runs.map((r) => `${r.model.replace('tiny-', '')} ${r.pair}`).join(' | ')} | within 3× |`);
  console.log(`|---|---|${runs.map(() => '---|').join('')}---|`);
  for (const rule of RULES) {
    for (const m of FIXED_M) {
      const cells = runs.map((r) => r.fixed.find((f) => f.m === m && f.rule === rule)!);
      const judged = cells.filter((c) => c.err >= FLOOR);
      const ok = judged.filter((c) => c.est / c.err >= 1 / 3 && c.est / c.err <= 3).length;
      console.log(`| ${rule} | ${m} | ${cells.map((c) => (c.err < FLOOR ? 'floor' : (c.est / c.err).toFixed(2))).join(' | ')} | ${judged.length ? `${ok}/${judged.length}` : '—'} |`);
    }
  }
  const m50 = (k: 'right' | 'trapezoid') => runs.map((r) => r.m50[k]);
  console.log(`\nfixed m = 50 (51 points per pair): right (the paper's) error median ${e2(median(m50('right')))} / max ${e2(Math.max(...m50('right')))}; trapezoid ${e2(median(m50('trapezoid')))} / ${e2(Math.max(...m50('trapezoid')))}`);
  console.log(`\nadaptive from m = 4 (m doubled, skipping doublings the order rules out): points of the final pass (m + 1) and of all passes, median / max over the ${n} pairs; true error median / max; pairs ending with true error ≤ tol; capped`);
  console.log('| tol | rule | m used (per pair) | points, final pass | points, all passes | true error | ≤ tol | est / true | capped |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const tol of o.tols) {
    for (const rule of RULES) {
      const a = runs.map((r) => r.adaptive.find((x) => x.tol === tol && x.rule === rule)!);
      const ratio = a.filter((x) => x.err >= FLOOR).map((x) => x.est / x.err);
      console.log(`| ${tol} | ${rule} | ${a.map((x) => x.m).join(',')} | ${median(a.map((x) => x.points))} / ${Math.max(...a.map((x) => x.points))} | ${median(a.map((x) => x.total))} / ${Math.max(...a.map((x) => x.total))} | ` +
        `${e2(median(a.map((x) => x.err)))} / ${e2(Math.max(...a.map((x) => x.err)))} | ${a.filter((x) => x.err <= tol).length}/${n} | ${ratio.length ? `${Math.min(...ratio).toFixed(2)}…${Math.max(...ratio).toFixed(2)}` : 'floor'} | ${a.filter((x) => x.capped).length} |`);
    }
  }
}
