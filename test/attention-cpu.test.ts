/**
 * The CPU-class attention kernels (src/kernels/attention-cpu.ts) against the float64 reference (src/ref/layers.ts):
 *  - the templates shaders/attention/*_cpu.wgsl expand to every variant of the tables (both forms);
 *  - forward (out, probs) and backward (dqkv), in every form this device can run — the 8-lane form (sg8) and the
 *    4-lane one (sg4, SwiftShader's; a 4-invocation workgroup lies inside one of lavapipe's 8-lane subgroups, so it
 *    runs there too) — on shapes off the row / key blocks (T = 8, 40, 72, 100), head sizes 4, 16, 32, 48 and 64
 *    (sg8: one or two column groups; sg4: one, two or four), B = 2 with padded keys in the second sequence:
 *    relative L2 ≤ 1e-6 forward, ≤ 1e-5 backward (gpu-kernels' tolerances are 1e-5 / 1e-4), probs exactly 0 at
 *    padded keys, dk and dv exactly 0 there;
 *  - `attentionForward` / `attentionBackward` route to them on a CPU-class device only, in the device's form (sg4
 *    where subgroups have 4..7 lanes, the GPU class without subgroups), and only for shapes they support (T % 4,
 *    head size % 4 and ≤ 64); a form whose workgroup would span subgroups is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { attentionBackward, attentionForward } from '../src/kernels/attention.ts';
import {
  ATTENTION_BACKWARD_KV_CPU, ATTENTION_BACKWARD_Q_CPU, ATTENTION_FORWARD_CPU, attentionBackwardCpu, attentionForwardCpu, cpuAttentionSupports,
} from '../src/kernels/attention-cpu.ts';
import { ensureCompiled } from '../src/gpu/compile.ts';
import { kernelWgsl, type KernelDef } from '../src/gpu/pipelines.ts';
import { cpuFormRuns, cpuSubgroupForm, type CpuSubgroupForm } from '../src/kernels/matmul-cpu.ts';
import * as ref from '../src/ref/layers.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { run, upload } from './helpers/gpu.ts';

const S = suite('attention-cpu');
const rand = mulberry32(97531);
const randf = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  assert.ok(d > 0, 'the reference is all zeros');
  return Math.sqrt(n / d);
}
const attMask = (B: number, T: number, pad: number) => Float32Array.from({ length: B * T }, (_, i) => (Math.floor(i / T) === 1 && i % T >= T - pad ? 0 : 1));

let g: Gpu;
/** The forms this device runs (a form's workgroup must lie inside one subgroup). */
let forms: CpuSubgroupForm[];
S.before(async () => {
  g = await requestGpu();
  forms = (['sg8', 'sg4'] as const).filter((f) => !cpuFormRuns(g, f));
  console.log(`  attention-cpu: forms run here: ${forms.join(', ') || 'none (no subgroups)'}`);
  // every kernel of those forms compiled in one round (over the compile helpers: a cold cache takes half as long)
  const defs = [ATTENTION_FORWARD_CPU, ATTENTION_BACKWARD_Q_CPU, ATTENTION_BACKWARD_KV_CPU].flatMap((t) => Object.entries(t))
    .filter(([v]) => forms.includes(v.startsWith('sg4') ? 'sg4' : 'sg8'));
  await ensureCompiled(g, await Promise.all(defs.map(([, d]) => g.pipelines.get(d as KernelDef))));
});

S('the templates expand to every variant: lanes, column groups and query rows as the tables say', () => {
  const names = (t: object) => Object.keys(t).join(' ');
  assert.is(names(ATTENTION_FORWARD_CPU), 'sg8 sg8_g2 sg4 sg4_g2 sg4_g4', 'sg8: 1 and 2 column groups; sg4: 1, 2 and 4');
  assert.is(names(ATTENTION_BACKWARD_Q_CPU), names(ATTENTION_FORWARD_CPU));
  assert.is(names(ATTENTION_BACKWARD_KV_CPU), 'sg8 sg4');
  const fwd = kernelWgsl(ATTENTION_FORWARD_CPU.sg4_g2), q = kernelWgsl(ATTENTION_BACKWARD_Q_CPU.sg8), kv = kernelWgsl(ATTENTION_BACKWARD_KV_CPU.sg4);
  // sg4_g2: 4 lanes, 8 rows (two loaded per lane), 2 column groups of 16
  assert.match(fwd, /@workgroup_size\(4\)[\s\S]*let ar1 = \(tok0 \+ min\(i0 \+ lane \+ 4u, T - 1u\)\) \* C34 \+ hoff;/);
  assert.match(fwd, /acc7 \+= km \* subgroupBroadcast\(a1, 3u\);[\s\S]*o7_1 \+= xm1 \* w7;/);
  assert.not.match(fwd, /\bar2\b|\bacc8\b|\bo8_|_2\b/);
  // sg8: 8 lanes, 16 rows, one column group; dq scaled
  assert.match(q, /@workgroup_size\(8\)[\s\S]*acc15 \+= km \* subgroupBroadcast\(a1, 7u\);[\s\S]*dqkv\[\(tok0 \+ i0 \+ 15u\) \* C34 \+ hoff \+ c0\] = o15_0 \* p\.scale;/);
  // kv, sg4: 16 keys per workgroup, key 4l + k broadcast from lane l
  assert.match(kv, /dv15 \+= om \* subgroupBroadcast\(pp\[3\], 3u\);[\s\S]*let dks = array<vec4f, 16>\(/);
  assert.not.match(kv, /\bdk16\b/);
  for (const w of [fwd, q, kv]) assert.not.match(w, /\{\{|\/\/#|var<workgroup>|workgroupBarrier/);
});

// (B, T, C, NH, pad): T off the 16- and 32-key blocks; head sizes 32, 64, 4, 48, 16
const SHAPES = [
  { B: 2, T: 40, C: 64, NH: 2, pad: 7 },
  { B: 2, T: 72, C: 128, NH: 2, pad: 13 },
  { B: 2, T: 8, C: 12, NH: 3, pad: 3 },
  { B: 2, T: 100, C: 96, NH: 2, pad: 30 },
  { B: 2, T: 40, C: 48, NH: 3, pad: 11 },
];
const shapeForms = () => forms.flatMap((form) => SHAPES.map((sh) => ({ form, ...sh })));
/** The variants dispatched and checked against float64 (by kernel name): every one of the forms run here, in the end. */
const validated = new Set<string>();
const variantsRunHere = () => [ATTENTION_FORWARD_CPU, ATTENTION_BACKWARD_Q_CPU, ATTENTION_BACKWARD_KV_CPU]
  .flatMap((t) => Object.entries(t)).filter(([v]) => forms.includes(v.startsWith('sg4') ? 'sg4' : 'sg8')).map(([, d]) => d.name).sort();
/** The worst relative L2 per form and quantity, printed after each check. */
function worstOf(): { note(form: string, what: string, e: number): void; print(what: string): void } {
  const w = new Map<string, number>();
  return {
    note: (form, what, e) => w.set(`${form} ${what}`, Math.max(e, w.get(`${form} ${what}`) ?? 0)),
    print: (what) => console.log(`  attention-cpu ${what}: worst relative L2 vs float64: ${[...w].map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`),
  };
}

S('forward, every form: out and probs against float64, padded keys exactly 0', async () => {
  assert.ok(forms.length > 0, 'this device has no subgroups: no CPU-class attention form runs');
  const worst = worstOf();
  for (const { form, B, T, C, NH, pad } of shapeForms()) {
    assert.is(cpuAttentionSupports(g, { T, C, NH, views: [] }), null);
    const qkv = randf(B * T * 3 * C, 1.5), mask = attMask(B, T, pad);
    const bf = upload(g, 'att cpu', { qkv, mask, out: B * T * C, probs: B * NH * T * T });
    const d = await attentionForwardCpu(g, { label: 'att cpu', qkv: bf.v('qkv'), mask: bf.v('mask'), out: bf.v('out'), probs: bf.v('probs'), B, T, C, NH }, form);
    await run(g, [d]);
    validated.add(d.kernel.def.name);
    const out = new Float64Array(B * T * C), probs = new Float64Array(B * NH * T * T);
    ref.attentionForward(out, probs, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), B, T, C, NH);
    const gotP = await bf.read('probs'), gotO = await bf.read('out');
    const eo = relL2(gotO, out), ep = relL2(gotP, probs);
    worst.note(form, 'out', eo);
    worst.note(form, 'probs', ep);
    assert.ok(eo <= 1e-6 && ep <= 1e-6, `forward ${form} B=${B} T=${T} C=${C} NH=${NH}: out ${eo.toExponential(2)}, probs ${ep.toExponential(2)} > 1e-6`);
    for (let h = 0; h < NH; h++) for (let i = 0; i < T; i++) for (let j = T - pad; j < T; j++) {
      const v = gotP[((NH + h) * T + i) * T + j];
      if (v !== 0) assert.unreachable(`${form}: probs of padded key ${j} (head ${h}, query ${i}) is ${v}, not 0`);
    }
    bf.destroy();
  }
  worst.print('forward');
});

S('backward, every form: dqkv against float64, dk and dv exactly 0 at padded keys', async () => {
  const worst = worstOf();
  for (const { form, B, T, C, NH, pad } of shapeForms()) {
    const qkv = randf(B * T * 3 * C, 1.5), mask = attMask(B, T, pad), dout = randf(B * T * C);
    const probs64 = new Float64Array(B * NH * T * T);
    ref.attentionForward(new Float64Array(B * T * C), probs64, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), B, T, C, NH);
    const probs = Float32Array.from(probs64);
    const bf = upload(g, 'att cpu back', { dout, probs, qkv, dS: B * NH * T * T, dqkv: randf(B * T * 3 * C) }); // dqkv: garbage, every element is written
    const ds = await attentionBackwardCpu(g, { label: 'att cpu back', dout: bf.v('dout'), probs: bf.v('probs'), qkv: bf.v('qkv'), dS: bf.v('dS'), dqkv: bf.v('dqkv'), B, T, C, NH }, form);
    await run(g, ds);
    for (const d of ds) validated.add(d.kernel.def.name);
    const want = new Float64Array(B * T * 3 * C);
    ref.attentionBackward(want, f64(dout), f64(probs), f64(qkv), B, T, C, NH);
    const got = await bf.read('dqkv');
    const e = relL2(got, want);
    for (const [part, lo] of [['dq', 0], ['dk', C], ['dv', 2 * C]] as const) {
      const sel = (a: ArrayLike<number>) => Float64Array.from({ length: B * T * C }, (_, i) => a[Math.floor(i / C) * 3 * C + lo + (i % C)]);
      const ep = relL2(sel(got), sel(want));
      worst.note(form, part, ep);
      assert.ok(ep <= 1e-5, `backward ${form} B=${B} T=${T} C=${C} NH=${NH}: ${part} relative L2 ${ep.toExponential(2)} > 1e-5 (all: ${e.toExponential(2)})`);
    }
    for (let t = T - pad; t < T; t++) for (let c = C; c < 3 * C; c++) {
      const v = got[(T + t) * 3 * C + c];
      if (v !== 0) assert.unreachable(`${form}: dk/dv of padded key ${t}, column ${c} is ${v}, not 0`);
    }
    bf.destroy();
  }
  worst.print('backward');
  assert.equal([...validated].sort(), variantsRunHere(), 'every variant of the forms run here (forward, q and kv halves), against float64');
});

S('attentionForward / attentionBackward choose the CPU class on a CPU-class device, in its form, for supported shapes only', async () => {
  const cpu: Gpu = { ...g, kernels: 'cpu' }, gpu: Gpu = { ...g, kernels: 'gpu' };
  const bf = upload(g, 'route', { qkv: 2 * 40 * 192, mask: 80, out: 2 * 40 * 64, probs: 2 * 2 * 40 * 40, dout: 2 * 40 * 64, dS: 2 * 2 * 40 * 40, dqkv: 2 * 40 * 192 });
  const fw = (x: Gpu, T: number) => attentionForward(x, { label: 'route', qkv: bf.v('qkv'), mask: bf.v('mask'), out: bf.v('out'), probs: bf.v('probs'), B: 1, T, C: 64, NH: 2 });
  const bw = (x: Gpu, T: number) => attentionBackward(x, { label: 'route', dout: bf.v('dout'), probs: bf.v('probs'), qkv: bf.v('qkv'), dS: bf.v('dS'), dqkv: bf.v('dqkv'), B: 1, T, C: 64, NH: 2 });
  const key = (d: { kernel: { pipeline: GPUComputePipeline } }) => d.kernel.pipeline.label;
  const sg = cpuSubgroupForm(g); // lavapipe: sg8; SwiftShader: sg4
  assert.match(key(await fw(cpu, 40)), new RegExp(`attention_forward_cpu\\.wgsl\\[${sg}(_g2)?\\]`));
  assert.match(key(await fw(gpu, 40)), /attention\/attention_forward\.wgsl/);
  assert.match(key(await fw(cpu, 38)), /attention\/attention_forward\.wgsl/); // T % 4 ≠ 0: GPU class
  assert.equal((await bw(cpu, 40)).map(key).map((k) => new RegExp(`_cpu\\.wgsl\\[${sg}(_g\\d)?\\]`).test(k)), [true, true]);
  assert.equal((await bw(gpu, 40)).map(key).map((k) => /_cpu/.test(k)), [false, false]);
  assert.match(cpuAttentionSupports(g, { T: 40, C: 160, NH: 2, views: [] }) ?? '', /head size 80/);
  // the same device as if its subgroups had 4 lanes (SwiftShader's): the 4-lane form, its variant by head size (32:
  // two column groups of 16), grids of 8 rows and of 16 keys × 16 columns; the 8-lane form refused there
  const sw: Gpu = { ...cpu, adapterInfo: { ...g.adapterInfo, subgroupMinSize: 4, subgroupMaxSize: 4 } };
  assert.is(cpuSubgroupForm(sw), 'sg4');
  const f4 = await fw(sw, 40), b4 = await bw(sw, 40);
  assert.match(key(f4), /^attention\/attention_forward_cpu\.wgsl\[sg4_g2\]/);
  assert.equal(f4.workgroups, [5, 2, 1]);
  assert.equal(b4.map(key).map((k) => k.split('#')[0]), ['attention/attention_backward_q_cpu.wgsl[sg4_g2]', 'attention/attention_backward_kv_cpu.wgsl[sg4]']);
  assert.equal(b4.map((d) => d.workgroups), [[5, 2, 1], [3 * 2, 2, 1]]);
  let refused = '';
  try { await attentionForwardCpu(sw, { label: 'route', qkv: bf.v('qkv'), mask: bf.v('mask'), out: bf.v('out'), probs: bf.v('probs'), B: 1, T: 40, C: 64, NH: 2 }, 'sg8'); } catch (e) { refused = (e as Error).message; }
  assert.match(refused, /^route: the CPU-class attention's sg8 form needs subgroups of ≥ 8 lanes; this adapter has subgroups of 4 lanes \(its form is sg4\); leave the form to cpuForm$/);
  // without subgroups: the GPU class
  const nosg: Gpu = { ...cpu, features: g.features.filter((f) => f !== 'subgroups') };
  assert.is(cpuSubgroupForm(nosg), null);
  assert.match(key(await fw(nosg, 40)), /attention\/attention_forward\.wgsl/);
  assert.equal((await bw(nosg, 40)).map(key).map((k) => /_cpu/.test(k)), [false, false]);
  bf.destroy();
});

S.run();
