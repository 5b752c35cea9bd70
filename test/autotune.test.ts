/**
 * The autotuner's defaults, budget and cache (src/gpu/autotune.ts), on lavapipe with forced adapter identities:
 *  - off by default on a software adapter (lavapipe, llvmpipe, SwiftShader, WARP, a fallback adapter), on for a
 *    hardware one, and on when IR_NEURONS_TUNE=1 forces it on a software one;
 *  - the budget: a spent deadline tries the default alone (counted), which is not kept; a deadline that passes after
 *    the second candidate keeps the better of the two as `partial`; a spent first-use budget tunes nothing more;
 *  - the cache: written atomically under the adapter + driver + package version key and reused (the second lookup
 *    in a fresh state tries nothing); a different driver string misses it.
 * Candidates: three variants of the GPU-class family on a 64×48×32 product, compiled once up front.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  adapterKey, autotune, defaultTunePath, fileStore, FIRST_USE_BUDGET_S, firstUseBudgetMs, packageVersion, resetTuning, setTuneStore, softwareAdapter, tuneBudget, tunedVariant, tuneMode,
  type TuneCandidate, type TuneFile,
} from '../src/gpu/autotune.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { ensureCompiled } from '../src/gpu/compile.ts';
import { DEFAULT_VARIANT, MATMUL_FAMILY, matmul, shapeClass, variantByName, variantValues, type MatmulShape } from '../src/kernels/matmul.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { upload, type Bufs } from './helpers/gpu.ts';

const S = suite('autotune');

const NVIDIA: Gpu['adapterInfo'] = { vendor: 'nvidia', architecture: 'hopper', device: '0x2335', description: 'NVIDIA: 550.54.15 550.54.15.0' };
const SOFTWARE: Gpu['adapterInfo'][] = [
  { vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' },
  { vendor: 'google', architecture: 'swiftshader', device: 'SwiftShader Device (Subzero)', description: 'SwiftShader driver' },
  { vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver' },
  { vendor: 'nvidia', architecture: 'hopper', device: '', description: 'looks real', isFallbackAdapter: true },
];

let g: Gpu;
let infoBefore: Gpu['adapterInfo'];
let kernelsBefore: Gpu['kernels'];
let dir: string;
let path: string;
let B: Bufs;
let candidates: TuneCandidate[];
const SHAPE: MatmulShape = { M: 64, N: 48, K: 32, transB: true };
const KEY = shapeClass(SHAPE);
const envBefore = { tune: process.env.IR_NEURONS_TUNE, budget: process.env.IR_NEURONS_TUNE_BUDGET };
const setEnv = (k: string, v: string | undefined) => { if (v === undefined) delete process.env[k]; else process.env[k] = v; };

S.before(async () => {
  g = await requestGpu();
  infoBefore = g.adapterInfo;
  kernelsBefore = g.kernels;
  g.kernels = 'gpu';
  dir = mkdtempSync(join(tmpdir(), 'ir-neurons-autotune-'));
  path = join(dir, 'ir-neurons', 'matmul-tune.json');
  setTuneStore(fileStore(path));
  const rand = mulberry32(99);
  const randf = (n: number) => Float32Array.from({ length: n }, () => 2 * rand() - 1);
  const { M, N, K } = SHAPE;
  B = upload(g, 'autotune test', { inp: randf(M * K), w: randf(N * K), bias: randf(N), out: M * N });
  candidates = [];
  for (const v of [DEFAULT_VARIANT, variantByName('v4_32x32x8_4x4'), variantByName('v4_64x64x8_8x8')]) {
    const d = await matmul(g, { label: `autotune test ${v.name}`, inp: B.v('inp'), weight: B.v('w'), bias: B.v('bias'), out: B.v('out'), M, N, K, transB: true, variant: v });
    candidates.push({ name: v.name, constants: { ...variantValues(v) }, dispatch: d });
  }
  await ensureCompiled(g, candidates.map((c) => c.dispatch.kernel));
});

S.after(() => {
  g.adapterInfo = infoBefore;
  g.kernels = kernelsBefore;
  setTuneStore(null);
  resetTuning(g);
  B.destroy();
  setEnv('IR_NEURONS_TUNE', envBefore.tune);
  setEnv('IR_NEURONS_TUNE_BUDGET', envBefore.budget);
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh process, as the tuner sees one: this identity, no in-memory choices, no budget spent. */
function as(info: Gpu['adapterInfo']): void {
  g.adapterInfo = info;
  resetTuning(g);
}

/** The builder's first-use tuning, counted: each call runs `autotune` on the test's candidates (with `read`, optional). */
function tuner(read: () => Promise<Float32Array[]> = async () => [await B.read('out')]) {
  const calls: { tried: number; partial: boolean }[] = [];
  const tuneMissing = async () => {
    const c = await autotune(g, { family: MATMUL_FAMILY, key: KEY, shape: SHAPE, candidates, tol: 1e-5, read }, { budgetMs: 100 });
    calls.push({ tried: Object.keys(c.timed).length, partial: !!c.partial });
  };
  return { calls, lookup: () => tunedVariant(g, MATMUL_FAMILY, KEY, tuneMissing) };
}

const cacheFile = (): TuneFile => JSON.parse(readFileSync(path, 'utf8')) as TuneFile;

S('defaults: off on software adapters, on on hardware ones, on when IR_NEURONS_TUNE=1 forces it', async () => {
  delete process.env.IR_NEURONS_TUNE;
  for (const info of SOFTWARE) {
    assert.ok(softwareAdapter({ adapterInfo: info }), `${info.description} is software`);
    assert.is(tuneMode({ adapterInfo: info }), 'off', info.description);
  }
  assert.is(softwareAdapter({ adapterInfo: infoBefore }), true, 'this box\'s lavapipe is software');
  assert.is(tuneMode({ adapterInfo: NVIDIA }), 'tune');
  assert.is(tuneMode(), 'off', 'no device: off');
  as(infoBefore);
  const t = tuner();
  assert.is(await t.lookup(), undefined, 'lavapipe, IR_NEURONS_TUNE unset: the default, untuned');
  assert.is(t.calls.length, 0, 'nothing tuned on a software adapter');
  process.env.IR_NEURONS_TUNE = '1';
  assert.is(tuneMode(g), 'tune', 'forced on a software adapter');
  process.env.IR_NEURONS_TUNE = '0';
  assert.is(tuneMode({ adapterInfo: NVIDIA }), 'off', 'forced off on a hardware adapter');
  process.env.IR_NEURONS_TUNE = 'sometimes';
  assert.throws(() => tuneMode(g), /IR_NEURONS_TUNE is 'sometimes'/);
  delete process.env.IR_NEURONS_TUNE;
  process.env.IR_NEURONS_TUNE_BUDGET = '-1';
  assert.throws(() => firstUseBudgetMs(), /IR_NEURONS_TUNE_BUDGET is '-1'/);
  process.env.IR_NEURONS_TUNE_BUDGET = '2.5';
  assert.is(firstUseBudgetMs(), 2500);
  delete process.env.IR_NEURONS_TUNE_BUDGET;
  assert.is(firstUseBudgetMs(), FIRST_USE_BUDGET_S * 1000);
  assert.ok(FIRST_USE_BUDGET_S <= 20, 'the first-use budget is at most 20 s');
  const cacheBefore = process.env.IR_NEURONS_TUNE_CACHE;
  process.env.IR_NEURONS_TUNE_CACHE = join(dir, 'elsewhere.json');
  assert.is(defaultTunePath(), join(dir, 'elsewhere.json'), 'IR_NEURONS_TUNE_CACHE names the file');
  setEnv('IR_NEURONS_TUNE_CACHE', cacheBefore);
});

S('a hardware adapter tunes on first use, writes the cache atomically under adapter + driver + version, and reuses it', async () => {
  delete process.env.IR_NEURONS_TUNE;
  delete process.env.IR_NEURONS_TUNE_BUDGET;
  as(NVIDIA);
  const first = tuner();
  const v = await first.lookup();
  assert.equal(first.calls, [{ tried: 3, partial: false }], 'tuned once, every candidate tried');
  assert.ok(v && candidates.some((c) => c.name === v), `the pick ${v} is a candidate`);
  const key = adapterKey(g);
  assert.is(key, `nvidia / hopper / 0x2335 / NVIDIA: 550.54.15 550.54.15.0 / ir-neurons ${JSON.parse(readFileSync('package.json', 'utf8')).version}`);
  assert.is(packageVersion(), JSON.parse(readFileSync('package.json', 'utf8')).version);
  const entry = cacheFile().adapters[key][KEY];
  assert.is(entry.variant, v);
  assert.is(entry.partial, undefined);
  assert.equal(readdirSync(join(dir, 'ir-neurons')), ['matmul-tune.json'], 'no temporary file left behind');
  assert.ok((tuneBudget(g).leftMs ?? 0) < FIRST_USE_BUDGET_S * 1000, 'the tuning was charged to the budget');

  as(NVIDIA); // a second process on the same adapter and driver
  const second = tuner();
  assert.is(await second.lookup(), v, 'the cached pick');
  assert.is(second.calls.length, 0, 'the second process tries nothing');

  as({ ...NVIDIA, description: 'NVIDIA: 560.28.03 560.28.3.0' }); // a driver update
  const third = tuner();
  await third.lookup();
  assert.is(third.calls.length, 1, 'a different driver string misses the cache and tunes');
  assert.is(Object.keys(cacheFile().adapters).length, 2, 'both drivers keep their picks');
});

S('the budget: a spent deadline tries the default alone and keeps nothing; a deadline that passes mid-way keeps the best so far, partial', async () => {
  as(NVIDIA);
  const fresh = { ...NVIDIA, device: '0xbudget' };
  // an explicit deadline already passed: only the default (the reference) runs
  as(fresh);
  const c0 = await autotune(g, { family: MATMUL_FAMILY, key: KEY, shape: SHAPE, candidates, tol: 1e-5, read: async () => [await B.read('out')] }, { deadline: performance.now() });
  assert.equal(Object.keys(c0.timed), [DEFAULT_VARIANT.name], 'one candidate tried');
  assert.is(c0.partial, true);
  assert.match(c0.rejected[candidates[1].name], /not tried: the tuning budget ran out/);
  assert.match(c0.rejected[candidates[2].name], /not tried/);
  assert.is(cacheFile().adapters[adapterKey(g)]?.[KEY], undefined, 'the default alone is not kept');

  // the deadline passes while the second candidate is checked: two tried, the better kept as partial
  as(fresh);
  let reads = 0;
  let deadline = 0;
  const slowSecond = async () => {
    const out = [await B.read('out')];
    if (++reads === 2) while (performance.now() <= deadline) await new Promise((r) => setTimeout(r, 5));
    return out;
  };
  deadline = performance.now() + 1000;
  const c1 = await autotune(g, { family: MATMUL_FAMILY, key: KEY, shape: SHAPE, candidates, tol: 1e-5, read: slowSecond }, { deadline });
  assert.equal(Object.keys(c1.timed).sort(), [candidates[0].name, candidates[1].name].sort(), 'two candidates tried');
  assert.is(c1.partial, true);
  assert.ok(c1.ms <= Math.min(...Object.values(c1.timed)), 'the best of those timed');
  assert.equal(cacheFile().adapters[adapterKey(g)][KEY].partial, true, 'kept, marked partial');

  // the first-use budget: tiny, so the first tuning stops after the default; once spent, nothing more is tuned
  process.env.IR_NEURONS_TUNE_BUDGET = '0.001';
  as({ ...NVIDIA, device: '0xtiny' });
  const t = tuner();
  assert.is(await t.lookup(), undefined, 'the default (nothing learned)');
  assert.equal(t.calls, [{ tried: 1, partial: true }], 'one candidate tried under the tiny budget');
  assert.is(tuneBudget(g).leftMs, 0, 'the budget is spent');
  const errs: string[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => { errs.push(a.join(' ')); };
  try {
    await t.lookup();
    await t.lookup();
  } finally {
    console.error = error;
  }
  assert.is(t.calls.length, 1, 'a spent budget tunes nothing more');
  assert.is(tuneBudget(g).skipped, 2);
  assert.is(errs.length, 1, 'said once');
  assert.match(errs[0], /budget .* is spent; .*doctor --tune/);
  process.env.IR_NEURONS_TUNE_BUDGET = '0';
  as({ ...NVIDIA, device: '0xzero' });
  const z = tuner();
  await z.lookup();
  assert.is(z.calls.length, 0, 'IR_NEURONS_TUNE_BUDGET=0: no first-use tuning');
  delete process.env.IR_NEURONS_TUNE_BUDGET;
});

S.run();
