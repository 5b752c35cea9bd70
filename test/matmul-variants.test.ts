/**
 * The GPU-class matmul family (src/kernels/matmul.ts: one template, shaders/matmul/matmul.wgsl, and its table
 * `MATMUL`) and its autotuner (src/gpu/autotune.ts).
 *  - every variant of the table that this device can run, in every epilogue and B layout the model runs (forward:
 *    plain and ffn-up with bias, transB; backward: plain, ffn-down-back and add, B stored (K, N)), against the
 *    float64 reference of src/ref/layers.ts (relative L2 ≤ 1e-5) on odd shapes: M, N, K multiples of no tile,
 *    M = 1, 2, 3, K = 1 (scalar loads; the vec4 and subgroup variants need K % 4 = N % 4 = 0: their odd shapes keep
 *    that) and a larger one (130×200×96); every variant gives the bits of the scalar one (one fma per k in K order),
 *    and the same bits when run again;
 *  - the limits check (WebGPU defaults and this device's) and forced variants that cannot run;
 *  - the tuner: validation rejects a candidate whose output differs; tuneMatmuls writes its choice to the cache
 *    file (a temporary directory, through the injectable store), the builder then uses it (the pipeline key
 *    carries the chosen variant), a fresh state reads it back (IR_NEURONS_TUNE=cached), IR_NEURONS_TUNE=1
 *    tunes a missing class on first use.
 * Variants a device cannot run (the subgroup form with TM = 8 on SwiftShader's 4-lane subgroups) are named and skipped.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { adapterKey, autotune, defaultTunePath, fileStore, memoryStore, resetTuning, setTuneStore, tuneStore, type TuneFile } from '../src/gpu/autotune.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import {
  DEFAULT_VARIANT, MATMUL_FAMILY, MATMUL_VARIANTS, SCALAR_VARIANT, matmul, shapeClass, subgroupsRun, tuneMatmuls, variantByName, variantCost, variantFits, variantSupports, variantValues,
  type Epilogue, type MatmulArgs, type MatmulVariant,
} from '../src/kernels/matmul.ts';
import * as ref from '../src/ref/layers.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { run, upload, type Bufs } from './helpers/gpu.ts';
import { ensureCompiled } from '../src/gpu/compile.ts';

const S = suite('matmul-variants');
const TOL = 1e-5;

const rand = mulberry32(1234567);
const randf = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
}

let g: Gpu;
// The tuner and the variants are the GPU-class family's: on a CPU-class device (lavapipe) `matmul` would route
// supported products to src/kernels/matmul-cpu.ts (test/matmul-cpu.test.ts), so this suite runs GPU-class.
let kernelsBefore: Gpu['kernels'];
S.before(async () => { g = await requestGpu(); kernelsBefore = g.kernels; g.kernels = 'gpu'; });

// ---------- every variant against the float64 reference ----------
interface Combo { epilogue: Epilogue; transB: boolean }
/** What the model runs: forward products carry a bias and store W as (N, K); backward ones neither. */
const COMBOS: Combo[] = [
  { epilogue: 'none', transB: true }, { epilogue: 'ffn-up', transB: true },
  { epilogue: 'none', transB: false }, { epilogue: 'ffn-down-back', transB: false }, { epilogue: 'add', transB: false },
];
const pruneMask = (N: number) => Float32Array.from({ length: N }, (_, n) => (n === 0 || n % 3 === 1 || n === N - 1 ? 0 : 1));

interface Problem { B: Bufs; args: Omit<MatmulArgs, 'label'>; want: Float64Array[]; two: boolean }

/** Random inputs for one shape and combo, uploaded, with the float64 reference of out (and out2). */
function problem(M: number, N: number, K: number, c: Combo): Problem {
  const inp = randf(M * K), w = randf(N * K, 0.5), bias = randf(N), mask = pruneMask(N), aux = randf(M * N, 2);
  const two = c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back';
  const acc = new Float64Array(M * N);
  if (c.transB) ref.matmulForward(acc, f64(inp), f64(w), f64(bias), M, K, N);
  else ref.matmulBackward(acc, f64(inp), f64(w), M, N, K); // (M, N) = (M, K) · W(K, N)
  let want: Float64Array[] = [acc];
  if (c.epilogue === 'ffn-up') {
    const post = new Float64Array(M * N);
    ref.maskForward(acc, acc, f64(mask), M, N);
    ref.geluForward(post, acc, M * N);
    want = [acc, post];
  } else if (c.epilogue === 'ffn-down-back') {
    const dgelu = new Float64Array(M * N), dpre = new Float64Array(M * N);
    ref.geluBackward(dgelu, f64(aux), acc, M * N);
    ref.maskBackward(dpre, dgelu, f64(mask), M, N);
    want = [dpre, acc];
  } else if (c.epilogue === 'add') {
    ref.residualBackward(acc, f64(aux), M * N);
  }
  const B = upload(g, 'variants test', { inp, w, bias, mask, aux, out: M * N, out2: M * N });
  const args = {
    inp: B.v('inp'), weight: B.v('w'), bias: c.transB ? B.v('bias') : undefined, out: B.v('out'), out2: two ? B.v('out2') : undefined,
    mask: two ? B.v('mask') : undefined, aux: c.epilogue === 'ffn-down-back' || c.epilogue === 'add' ? B.v('aux') : undefined,
    M, N, K, transB: c.transB, epilogue: c.epilogue,
  };
  return { B, args, want, two };
}

async function runVariant(p: Problem, v: MatmulVariant): Promise<Float32Array[]> {
  p.B.write('out', new Float32Array(p.args.M * p.args.N).fill(NaN));
  await run(g, [await matmul(g, { ...p.args, label: `variants ${v.name}`, variant: v })]);
  return p.two ? [await p.B.read('out'), await p.B.read('out2')] : [await p.B.read('out')];
}

const errors: string[] = [];
S.after(() => { g.kernels = kernelsBefore; });
S.after(() => console.log(`\n  matmul-variants: worst relative L2 per variant (≤ ${TOL})\n${errors.join('\n')}`));

/** Odd shapes [M, N, K]: any for scalar loads; K % 4 = N % 4 = 0 for vec4 loads. Each variant also runs LARGE. */
const SCALAR_SHAPES = [[67, 45, 33], [3, 45, 1], [1, 7, 5], [2, 30, 19]];
const VEC4_SHAPES = [[67, 44, 36], [2, 44, 4], [1, 12, 20], [3, 28, 8]];
const LARGE = [130, 200, 96];

S('every variant × every epilogue and B layout vs float64 on odd shapes (M = 1..3, K = 1); all give the scalar variant\'s bits, and the same bits again', async () => {
  const skipped = MATMUL_VARIANTS.map((v) => [v, variantFits(v, g.limits) ?? subgroupsRun(g, v)] as const).filter(([, why]) => why);
  for (const [v, why] of skipped) console.log(`  (${v.name} cannot run on this device: ${why})`);
  const runnable = MATMUL_VARIANTS.filter((v) => !skipped.some(([s]) => s === v));
  assert.ok(runnable.includes(DEFAULT_VARIANT) && runnable.includes(SCALAR_VARIANT), 'the default and the scalar variant run everywhere');
  assert.ok(runnable.length >= MATMUL_VARIANTS.length - 1, `only ${runnable.length} of ${MATMUL_VARIANTS.length} variants run here`);
  const worst = new Map<string, number>();
  const checked = new Map<string, number>(); // variant -> (combo, shape) pairs checked
  for (const c of COMBOS) {
    // this combo's pipelines of every variant compiled in one round (over the compile helpers)
    const all = problem(LARGE[0], LARGE[1], LARGE[2], c);
    await ensureCompiled(g, await Promise.all(runnable.map(async (v) => (await matmul(g, { ...all.args, label: `compile ${v.name}`, variant: v })).kernel)));
    all.B.destroy();
    for (const [M, N, K] of [...SCALAR_SHAPES, ...VEC4_SHAPES, LARGE]) {
      const p = problem(M, N, K, c);
      const base = await runVariant(p, SCALAR_VARIANT);
      for (const v of runnable) {
        if (variantSupports(g, v, p.args)) { assert.ok(v.VEC4 && SCALAR_SHAPES.some((s) => s[0] === M && s[1] === N), `${v.name} refused ${M}x${N}x${K}`); continue; }
        const what = `${v.name} ${M}x${N}x${K} ${c.epilogue} transB=${c.transB}`;
        const got = v === SCALAR_VARIANT ? base : await runVariant(p, v);
        checked.set(v.name, (checked.get(v.name) ?? 0) + 1);
        got.forEach((o, i) => {
          for (let j = 0; j < o.length; j++) if (!Number.isFinite(o[j])) assert.unreachable(`${what}: output ${i} element ${j} is ${o[j]}`);
          const err = relL2(o, p.want[i]);
          worst.set(v.name, Math.max(worst.get(v.name) ?? 0, err));
          assert.ok(err <= TOL, `${what}: output ${i} relative L2 ${err.toExponential(2)} > ${TOL}`);
          for (let j = 0; j < o.length; j++) if (!Object.is(o[j], base[i][j])) assert.unreachable(`${what}: output ${i} element ${j} is ${o[j]}, the scalar variant gives ${base[i][j]} (every variant has one fma order)`);
        });
        if (M === LARGE[0]) { // deterministic: the same bits on a second run
          const again = await runVariant(p, v);
          again.forEach((o, i) => { for (let j = 0; j < o.length; j++) if (!Object.is(o[j], got[i][j])) assert.unreachable(`${what}: rerun gives ${o[j]} at output ${i} element ${j}, first run ${got[i][j]}`); });
        }
        if (c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back') {
          const mask = pruneMask(N);
          for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) if (!mask[n] && got[0][m * N + n] !== 0) assert.unreachable(`${what}: pruned column ${n} row ${m} is ${got[0][m * N + n]}`);
        }
      }
      p.B.destroy();
    }
  }
  for (const [name, err] of worst) errors.push(`    ${name.padEnd(26)} ${err.toExponential(2)} (${checked.get(name)} products)`);
  for (const v of runnable) {
    const shapes = (v.VEC4 ? VEC4_SHAPES.length : SCALAR_SHAPES.length + VEC4_SHAPES.length) + 1;
    assert.is(checked.get(v.name), COMBOS.length * shapes, `${v.name}: (combo, shape) pairs checked`);
  }
});

// ---------- limits and forced variants ----------
const WEBGPU_DEFAULT_LIMITS = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupSizeY: 256, maxComputeWorkgroupStorageSize: 16384 };

S('limits: every listed variant fits WebGPU defaults; oversized ones are rejected; forced variants are checked', async () => {
  for (const v of MATMUL_VARIANTS) assert.is(variantFits(v, WEBGPU_DEFAULT_LIMITS), null, `${v.name} fits the WebGPU default limits`);
  assert.equal(variantCost(variantByName('v4_128x128x8_8x8_nopad')), { invocations: 256, bytes: 16384 }, 'two 8×128 tiles of A and of B');
  assert.equal(variantCost(variantByName('v4_64x64x8_4x4')), { invocations: 256, bytes: 2 * 8 * (68 + 68) * 4 }, 'rows padded by 4 floats');
  assert.equal(variantCost(variantByName('sg_128x128x8_8x8')), { invocations: 256, bytes: 2 * 8 * 132 * 4 + 4 }, 'B only, and the slot counter');
  const big: MatmulVariant = { name: 'v4_256x256x32_8x8', BM: 256, BN: 256, BK: 32, TM: 8, TN: 8, VEC4: true, DB: 2, PAD: 4, SUBGROUPS: false };
  assert.match(variantFits(big, WEBGPU_DEFAULT_LIMITS) ?? '', /1024 invocations/);
  assert.match(variantFits({ ...big, BM: 64, BN: 64, TM: 4, TN: 4, BK: 32, PAD: 0 }, WEBGPU_DEFAULT_LIMITS) ?? '', /32768 bytes of workgroup memory exceed the limit 16384/);
  assert.is(variantFits({ ...big, BM: 64, BN: 64, TM: 4, TN: 4, BK: 32, PAD: 0, DB: 1 }, WEBGPU_DEFAULT_LIMITS), null, 'one buffer: 16 KiB');
  assert.match(variantFits({ ...big, TM: 16 }, WEBGPU_DEFAULT_LIMITS) ?? '', /register tiles are 4 or 8 outputs a side/);
  assert.match(variantFits({ ...big, BM: 64, BN: 64, BK: 6 }, WEBGPU_DEFAULT_LIMITS) ?? '', /BK must be a multiple of 4/);
  assert.match(variantFits({ ...big, BM: 64, BN: 32, TN: 8, SUBGROUPS: true }, WEBGPU_DEFAULT_LIMITS) ?? '', /BN\/TN a multiple of TM/);
  // the subgroup form: one subgroup size, a multiple of TM lanes dividing the workgroup
  const sg8 = variantByName('sg_128x128x8_8x8');
  const dev = (lo: number | undefined, hi: number | undefined, feats = ['subgroups']) => ({ features: feats, adapterInfo: { ...g.adapterInfo, subgroupMinSize: lo, subgroupMaxSize: hi } }) as unknown as Gpu;
  assert.is(subgroupsRun(dev(32, 32), sg8), null);
  assert.is(subgroupsRun(dev(8, 8), sg8), null);
  assert.match(subgroupsRun(dev(4, 4), sg8) ?? '', /needs subgroups of a multiple of 8 lanes dividing 256; this adapter's have 4/);
  assert.match(subgroupsRun(dev(8, 32), sg8) ?? '', /needs one subgroup size; this adapter has 8\.\.32/);
  assert.match(subgroupsRun(dev(32, 32, []), sg8) ?? '', /lacks the 'subgroups' feature/);
  assert.is(subgroupsRun(dev(4, 4), variantByName('sg_64x64x8_4x4')), null);
  const p = problem(67, 45, 33, COMBOS[0]);
  try {
    const tooBig = { ...big, BM: 128, BN: 128, BK: 64, TM: 8, TN: 8, PAD: 0, DB: 1 as const }; // 64 KiB of workgroup memory: over any adapter's
    let msg = '';
    try { await matmul(g, { ...p.args, label: 'too big', variant: tooBig }); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, /cannot run here: 65536 bytes of workgroup memory/);
    msg = '';
    try { await matmul(g, { ...p.args, label: 'vec4 K=33', variant: 'v4_64x64x8_4x4' }); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, /vec4 loads need K divisible by 4/);
    const label = (await matmul(g, { ...p.args, label: 'unforced K=33' })).kernel.pipeline.label;
    assert.ok(label.startsWith(`matmul/matmul.wgsl[${SCALAR_VARIANT.name}]#main`), `K = 33, untuned: the scalar variant, not the default's vec4 loads (${label})`);
    assert.is(variantSupports(g, variantByName('v4_64x64x8_4x4'), { M: 8, N: 6, K: 8, transB: false }), 'vec4 loads need K and N divisible by 4 (K=8, N=6)');
  } finally {
    p.B.destroy();
  }
});

// ---------- the tuner ----------
/** True when the pipeline's cache key (its label) names `v` of the template. */
const usesVariant = (label: string, v: MatmulVariant) => label.split('?')[0] === `matmul/matmul.wgsl[${v.name}]#main`;
const builtWith = async (p: Problem, M = p.args.M) => (await matmul(g, { ...p.args, M, label: 'tuned use' })).kernel.pipeline.label;

S('autotune validation rejects a candidate whose output differs from the default', async () => {
  setTuneStore(memoryStore());
  resetTuning(g);
  const p = problem(67, 44, 36, COMBOS[1]); // ffn-up: pipelines the first test compiled
  try {
    const cand = async (name: string, v: MatmulVariant, bias = p.args.bias) => ({ name, constants: { ...variantValues(v) }, dispatch: await matmul(g, { ...p.args, bias, label: name, variant: v }) });
    const choice = await autotune(g, {
      family: MATMUL_FAMILY, key: shapeClass(p.args), shape: p.args, tol: TOL, read: async () => [await p.B.read('out')],
      candidates: [await cand(DEFAULT_VARIANT.name, DEFAULT_VARIANT), await cand('v4_32x32x8_4x4', variantByName('v4_32x32x8_4x4')), await cand('wrong bias', DEFAULT_VARIANT, p.B.v('aux'))],
    }, { budgetMs: 200 });
    assert.match(choice.rejected['wrong bias'] ?? '', /differs from the default variant's/);
    assert.not.ok('wrong bias' in choice.timed);
    assert.ok([DEFAULT_VARIANT.name, 'v4_32x32x8_4x4'].includes(choice.variant), choice.variant);
    const kept = await tuneStore().load();
    assert.is(kept?.adapters[adapterKey(g)][shapeClass(p.args)].variant, choice.variant, 'the injected store holds the choice');
  } finally {
    p.B.destroy();
    setTuneStore(null);
    resetTuning(g);
  }
});

S('tuneMatmuls: picks a valid variant, writes the cache file, the builder uses it; the file is read back; IR_NEURONS_TUNE', async () => {
  const before = process.env.IR_NEURONS_TUNE;
  const dir = mkdtempSync(join(tmpdir(), 'ir-neurons-tune-'));
  const path = join(dir, 'ir-neurons', 'matmul-tune.json');
  const xdg = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = dir; // the default location; only read back as a path here (Mesa read its own at startup)
  assert.is(defaultTunePath(), path);
  delete process.env.XDG_CACHE_HOME;
  assert.is(defaultTunePath(), join(homedir(), '.cache', 'ir-neurons', 'matmul-tune.json'));
  if (xdg !== undefined) process.env.XDG_CACHE_HOME = xdg;
  setTuneStore(fileStore(path));
  delete process.env.IR_NEURONS_TUNE;
  resetTuning(g);
  const p = problem(130, 200, 96, COMBOS[1]);
  const q = problem(67, 44, 36, COMBOS[1]);
  try {
    assert.ok(usesVariant(await builtWith(p), DEFAULT_VARIANT), 'untuned: the default variant');
    const cands = ['v4_32x32x8_4x4', 'v4_128x128x8_8x8_db1', 'f32_64x64x8_4x4', 'sg_64x64x8_4x4'].map(variantByName);
    const [c] = await tuneMatmuls(g, [p.args], { variants: cands, budgetMs: 600 });
    assert.ok(c.variant in c.timed, `the choice ${c.variant} was timed`);
    assert.ok([DEFAULT_VARIANT, ...cands].some((v) => v.name === c.variant));
    assert.ok(Object.keys(c.timed).length >= 3, `timed ${Object.keys(c.timed)}`);
    for (const [name, ms] of Object.entries(c.timed)) assert.ok(ms >= c.ms, `${name} ${ms} ms is not faster than the choice's ${c.ms} ms`);
    const file = JSON.parse(readFileSync(path, 'utf8')) as TuneFile;
    const entry = file.adapters[adapterKey(g)][shapeClass(p.args)];
    assert.is(file.format, 1);
    assert.equal({ variant: entry.variant, family: entry.family, M: entry.M }, { variant: c.variant, family: MATMUL_FAMILY, M: 130 });
    const chosen = variantByName(c.variant);
    assert.ok(usesVariant(await builtWith(p), chosen), `tuned: ${await builtWith(p)} carries ${c.variant}'s constants`);
    assert.ok(usesVariant(await builtWith(p, 250), chosen), 'M = 250 is in the same class (M ≤ 256)');
    assert.ok(usesVariant(await builtWith(q), DEFAULT_VARIANT), 'another class stays on the default');

    // read back, as a new process would: a hand-edited entry for q's class, a stale family for another
    entry.timed = {};
    file.adapters[adapterKey(g)][shapeClass(q.args)] = { ...entry, variant: 'v4_32x32x8_4x4', M: 67 };
    file.adapters[adapterKey(g)][shapeClass({ ...q.args, M: 20 })] = { ...entry, family: 'matmul/0', variant: 'v4_32x32x8_4x4' };
    writeFileSync(path, JSON.stringify(file));
    resetTuning(g);
    assert.ok(usesVariant(await builtWith(q), DEFAULT_VARIANT), 'IR_NEURONS_TUNE unset and no tuneMatmuls: the cache is not consulted');
    process.env.IR_NEURONS_TUNE = 'cached';
    resetTuning(g);
    assert.ok(usesVariant(await builtWith(q), variantByName('v4_32x32x8_4x4')), 'cached: the file\'s choice');
    assert.ok(usesVariant(await builtWith(p), chosen), 'cached: the tuned choice');
    assert.ok(usesVariant(await builtWith(q, 20), DEFAULT_VARIANT), 'a choice from another family version is ignored');

    // IR_NEURONS_TUNE=1: a class missing from the cache is tuned on first use, then saved
    process.env.IR_NEURONS_TUNE = '1';
    const r = problem(40, 45, 33, COMBOS[1]); // a new class (M ≤ 64) of pipelines the first test compiled
    try {
      const label = await builtWith(r);
      const saved = (JSON.parse(readFileSync(path, 'utf8')) as TuneFile).adapters[adapterKey(g)][shapeClass(r.args)];
      assert.ok(saved, 'the new class was tuned and saved');
      assert.is(saved.variant, SCALAR_VARIANT.name, 'K = 33: only the scalar variant can run it (and is its reference)');
      assert.ok(usesVariant(label, variantByName(saved.variant)), `${label} carries ${saved.variant}`);
      assert.match(saved.rejected['v4_64x64x8_4x4'] ?? '', /K divisible by 4/);
      assert.ok(usesVariant(await builtWith(q), variantByName('v4_32x32x8_4x4')), 'the hand-edited entry survived the merge');
    } finally {
      r.B.destroy();
    }
    process.env.IR_NEURONS_TUNE = 'yes';
    let msg = '';
    try { await builtWith(q); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, /IR_NEURONS_TUNE is 'yes', expected 0/);
  } finally {
    p.B.destroy();
    q.B.destroy();
    if (before === undefined) delete process.env.IR_NEURONS_TUNE; else process.env.IR_NEURONS_TUNE = before;
    setTuneStore(null);
    resetTuning(g);
    rmSync(dir, { recursive: true, force: true });
  }
});

S.run();
