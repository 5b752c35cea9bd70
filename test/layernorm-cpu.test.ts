/**
 * The CPU-class LayerNorm kernels (shaders/layernorm/layernorm_*_cpu*.wgsl, chosen in src/kernels/layernorm.ts when
 * g.kernels === 'cpu') against the float64 reference (src/ref/layers.ts), in every form this device can run — 8
 * lanes (sg8) and 4 (sg4, SwiftShader's subgroups; a 4-invocation workgroup lies inside one of lavapipe's 8-lane
 * subgroups, so it runs there too): forward with and without the residual (out, saved s, mean / rstd) and backward,
 * on widths whose vec4 count is not a multiple of the lanes (C = 12, 388) and 384, rows 1, 5 and 67: relative L2
 * ≤ 1e-6 (gpu-kernels' tolerances are 1e-5 forward, 1e-4 backward). The form follows the device's subgroups (sg4
 * for 4..7 lanes, the GPU class without subgroups); widths that are not multiples of 4 run the GPU class. Each
 * kernel is one template with the lanes as its parameter (the variants checked).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { cpuLayernorm, LAYERNORM_BACKWARD_CPU, LAYERNORM_FORWARD_CPU, layernormBackward, layernormForward } from '../src/kernels/layernorm.ts';
import { kernelWgsl } from '../src/gpu/pipelines.ts';
import { cpuFormRuns, type CpuSubgroupForm } from '../src/kernels/matmul-cpu.ts';
import * as ref from '../src/ref/layers.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { run, upload } from './helpers/gpu.ts';

const S = suite('layernorm-cpu');
const rand = mulberry32(8642);
const randf = (n: number, scale = 1, offset = 0) => Float32Array.from({ length: n }, () => offset + scale * (2 * rand() - 1));
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  assert.ok(d > 0, 'the reference is all zeros');
  return Math.sqrt(n / d);
}
const EPS = 1e-12;
/** The worst relative L2 per form and quantity over the shapes, printed after each check. */
const worst = new Map<string, number>();
const note = (key: string, e: number) => worst.set(key, Math.max(e, worst.get(key) ?? 0));
const printWorst = (what: string) => {
  console.log(`  layernorm-cpu ${what}: worst relative L2 vs float64: ${[...worst].map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  worst.clear();
};
const SHAPES = [{ rows: 5, C: 12 }, { rows: 67, C: 388 }, { rows: 1, C: 384 }];
/** The variants dispatched and checked against float64 (by kernel name). */
const validated = new Set<string>();

let g: Gpu;
let cpu: Gpu;
/** The forms this device runs (a form's workgroup must lie inside one subgroup). */
let forms: CpuSubgroupForm[];
S.before(async () => {
  g = await requestGpu();
  cpu = { ...g, kernels: 'cpu' };
  forms = (['sg8', 'sg4'] as const).filter((f) => !cpuFormRuns(g, f));
  console.log(`  layernorm-cpu: forms run here: ${forms.join(', ') || 'none (no subgroups)'}`);
});

S('one template per kernel, one variant per form: the 4-lane WGSL is the 8-lane one with 4 lanes', () => {
  for (const t of [LAYERNORM_FORWARD_CPU, LAYERNORM_BACKWARD_CPU]) {
    assert.equal(Object.keys(t), ['sg8', 'sg4']);
    const sg8 = kernelWgsl(t.sg8), sg4 = kernelWgsl(t.sg4);
    assert.match(sg8, /@workgroup_size\(8\)[\s\S]*c \+= 8u/);
    const want = sg8.replace(/\b8( lanes|th vec4)/g, '4$1').replace('@workgroup_size(8)', '@workgroup_size(4)').replaceAll('c += 8u', 'c += 4u');
    assert.fixture(sg4, want);
  }
});

S('the CPU class is chosen for C % 4 == 0 on a CPU-class device only, in the device\'s form', async () => {
  const own = cpuLayernorm(cpu, 384, []);
  assert.is(own, forms[0] ?? null);
  assert.not.ok(cpuLayernorm(cpu, 97, []));
  assert.not.ok(cpuLayernorm({ ...g, kernels: 'gpu' }, 384, []));
  const sw: Gpu = { ...cpu, adapterInfo: { ...g.adapterInfo, subgroupMinSize: 4, subgroupMaxSize: 4 } }; // SwiftShader's subgroups
  const nosg: Gpu = { ...cpu, features: g.features.filter((f) => f !== 'subgroups') };
  assert.is(cpuLayernorm(sw, 384, []), 'sg4');
  assert.is(cpuLayernorm(nosg, 384, []), null);
  const bf = upload(g, 'route', { a: 8 * 12, gamma: 12, beta: 12, out: 8 * 12, stats: 16, ds: 8 * 12 });
  const fw = (x: Gpu, form?: CpuSubgroupForm) => layernormForward(x, { label: 'route', a: bf.v('a'), weight: bf.v('gamma'), bias: bf.v('beta'), out: bf.v('out'), stats: bf.v('stats'), rows: 8, C: 12, eps: EPS }, form);
  const bw = (x: Gpu) => layernormBackward(x, { label: 'route', dout: bf.v('a'), s: bf.v('a'), weight: bf.v('gamma'), stats: bf.v('stats'), ds: bf.v('ds'), rows: 8, C: 12 });
  if (own) assert.match((await fw(cpu)).kernel.pipeline.label, own === 'sg8' ? /layernorm_forward_cpu\.wgsl\[sg8\]/ : /layernorm_forward_cpu\.wgsl\[sg4\]/);
  assert.match((await fw(sw)).kernel.pipeline.label, /^layernorm\/layernorm_forward_cpu\.wgsl\[sg4\]/);
  assert.match((await bw(sw)).kernel.pipeline.label, /^layernorm\/layernorm_backward_cpu\.wgsl\[sg4\]/);
  assert.match((await fw(nosg)).kernel.pipeline.label, /^layernorm\/layernorm_forward\.wgsl/);
  assert.match((await bw(nosg)).kernel.pipeline.label, /^layernorm\/layernorm_backward\.wgsl/);
  let refused = '';
  try { await fw(sw, 'sg8'); } catch (e) { refused = (e as Error).message; }
  assert.match(refused, /^route: the CPU-class LayerNorm's sg8 form needs subgroups of ≥ 8 lanes; this adapter has subgroups of 4 lanes \(its form is sg4\); leave the form to cpuForm$/);
  refused = '';
  try { await fw({ ...g, kernels: 'gpu' }, 'sg4'); } catch (e) { refused = (e as Error).message; }
  assert.match(refused, /sg4 form was asked for, but this device and shape run the GPU class/);
  bf.destroy();
});

S('forward, every form, with and without residual: out, s, mean / rstd against float64', async () => {
  assert.ok(forms.length > 0, 'this device has no subgroups: no CPU-class LayerNorm form runs');
  for (const form of forms) for (const { rows, C } of SHAPES) {
    for (const res of [true, false]) {
      const a = randf(rows * C, 2, 0.5), b = randf(rows * C), gamma = randf(C, 0.2, 1), beta = randf(C, 0.1);
      const bf = upload(g, 'ln cpu', { a, b, gamma, beta, out: rows * C, s: rows * C, stats: 2 * rows });
      const d = await layernormForward(cpu, { label: 'ln cpu', a: bf.v('a'), b: res ? bf.v('b') : undefined, weight: bf.v('gamma'), bias: bf.v('beta'), out: bf.v('out'), s: res ? bf.v('s') : undefined, stats: bf.v('stats'), rows, C, eps: EPS }, form);
      await run(g, [d]);
      validated.add(d.kernel.def.name);
      const s = res ? Float32Array.from(a, (x, i) => x + b[i]) : a;
      const out = new Float64Array(rows * C), mean = new Float64Array(rows), rstd = new Float64Array(rows);
      ref.layernormForward(out, mean, rstd, f64(s), f64(gamma), f64(beta), rows, C, EPS);
      const stats = await bf.read('stats');
      const name = `layernorm_forward_cpu ${form} rows=${rows} C=${C} res=${res}`;
      const errs = [relL2(await bf.read('out'), out), relL2(stats.filter((_, i) => i % 2 === 0), mean), relL2(stats.filter((_, i) => i % 2 === 1), rstd)];
      ['out', 'mean', 'rstd'].forEach((q, i) => note(`${form} ${q}`, errs[i]));
      assert.ok(errs.every((e) => e <= 1e-6), `${name}: out, mean, rstd relative L2 ${errs.map((e) => e.toExponential(2)).join(', ')} > 1e-6`);
      if (res) assert.equal(Array.from(await bf.read('s')), Array.from(s), `${name}: saved s`);
      bf.destroy();
    }
  }
  printWorst('forward');
});

S('backward, every form, against float64', async () => {
  for (const form of forms) for (const { rows, C } of SHAPES) {
    const s = randf(rows * C, 2, 0.3), dout = randf(rows * C), gamma = randf(C, 0.2, 1);
    const mean64 = new Float64Array(rows), rstd64 = new Float64Array(rows);
    ref.layernormForward(new Float64Array(rows * C), mean64, rstd64, f64(s), f64(gamma), new Float64Array(C), rows, C, EPS);
    const stats = new Float32Array(2 * rows);
    for (let r = 0; r < rows; r++) { stats[2 * r] = mean64[r]; stats[2 * r + 1] = rstd64[r]; }
    const bf = upload(g, 'ln cpu back', { dout, s, gamma, stats, ds: rows * C });
    const d = await layernormBackward(cpu, { label: 'ln cpu back', dout: bf.v('dout'), s: bf.v('s'), weight: bf.v('gamma'), stats: bf.v('stats'), ds: bf.v('ds'), rows, C }, form);
    await run(g, [d]);
    validated.add(d.kernel.def.name);
    const want = new Float64Array(rows * C);
    ref.layernormBackward(want, f64(dout), f64(s), f64(gamma), f64(stats.filter((_, i) => i % 2 === 0)), f64(stats.filter((_, i) => i % 2 === 1)), rows, C);
    const e = relL2(await bf.read('ds'), want);
    note(`${form} ds`, e);
    assert.ok(e <= 1e-6, `layernorm_backward_cpu ${form} rows=${rows} C=${C}: relative L2 ${e.toExponential(2)} > 1e-6`);
    bf.destroy();
  }
  printWorst('backward');
  const want = [LAYERNORM_FORWARD_CPU, LAYERNORM_BACKWARD_CPU].flatMap((t) => forms.map((f) => t[f].name)).sort();
  assert.equal([...validated].sort(), want, 'every variant of the forms run here, against float64');
});

S.run();
