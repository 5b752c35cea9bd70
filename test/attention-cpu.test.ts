/**
 * The CPU-class attention kernels (src/kernels/attention-cpu.ts) against the float64 reference (src/ref/layers.ts):
 *  - the committed shaders/attention/*_cpu*.wgsl are what the generator writes today;
 *  - forward (out, probs) and backward (dqkv) on shapes off the 16-row / 32-key blocks (T = 8, 40, 72, 100), head
 *    sizes 4, 32 (one column group), 48 and 64 (two), B = 2 with padded keys in the second sequence: relative L2
 *    ≤ 1e-6 forward, ≤ 1e-5 backward (gpu-kernels' tolerances are 1e-5 / 1e-4), probs exactly 0 at padded keys,
 *    dk and dv exactly 0 there;
 *  - `attentionForward` / `attentionBackward` route to them on a CPU-class device only, and only for shapes they
 *    support (T % 4, head size % 4 and ≤ 64).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { attentionBackward, attentionForward } from '../src/kernels/attention.ts';
import { attentionBackwardCpu, attentionCpuShaderFiles, attentionForwardCpu, cpuAttentionSupports } from '../src/kernels/attention-cpu.ts';
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
S.before(async () => { g = await requestGpu(); });

S('the committed WGSL is the generator output (node --import tsx tools/gen-attention-cpu-wgsl.ts rewrites it)', () => {
  for (const [path, text] of Object.entries(attentionCpuShaderFiles())) {
    const disk = readFileSync(fileURLToPath(new URL(`../shaders/${path}`, import.meta.url)), 'utf8');
    assert.ok(disk === text, `shaders/${path} is stale: run node --import tsx tools/gen-attention-cpu-wgsl.ts`);
  }
});

// (B, T, C, NH, pad): T off the 32 blocks; head sizes 32, 64 (2 column groups), 4, 48
const SHAPES = [
  { B: 2, T: 40, C: 64, NH: 2, pad: 7 },
  { B: 2, T: 72, C: 128, NH: 2, pad: 13 },
  { B: 2, T: 8, C: 12, NH: 3, pad: 3 },
  { B: 2, T: 100, C: 96, NH: 2, pad: 30 },
];

S('forward: out and probs against float64, padded keys exactly 0', async () => {
  for (const { B, T, C, NH, pad } of SHAPES) {
    assert.is(cpuAttentionSupports(g, { T, C, NH, views: [] }), null);
    const qkv = randf(B * T * 3 * C, 1.5), mask = attMask(B, T, pad);
    const bf = upload(g, 'att cpu', { qkv, mask, out: B * T * C, probs: B * NH * T * T });
    await run(g, [await attentionForwardCpu(g, { label: 'att cpu', qkv: bf.v('qkv'), mask: bf.v('mask'), out: bf.v('out'), probs: bf.v('probs'), B, T, C, NH })]);
    const out = new Float64Array(B * T * C), probs = new Float64Array(B * NH * T * T);
    ref.attentionForward(out, probs, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), B, T, C, NH);
    const gotP = await bf.read('probs'), gotO = await bf.read('out');
    const eo = relL2(gotO, out), ep = relL2(gotP, probs);
    assert.ok(eo <= 1e-6 && ep <= 1e-6, `forward B=${B} T=${T} C=${C} NH=${NH}: out ${eo.toExponential(2)}, probs ${ep.toExponential(2)} > 1e-6`);
    for (let h = 0; h < NH; h++) for (let i = 0; i < T; i++) for (let j = T - pad; j < T; j++) {
      const v = gotP[((NH + h) * T + i) * T + j];
      if (v !== 0) assert.unreachable(`probs of padded key ${j} (head ${h}, query ${i}) is ${v}, not 0`);
    }
    bf.destroy();
  }
});

S('backward: dqkv against float64, dk and dv exactly 0 at padded keys', async () => {
  for (const { B, T, C, NH, pad } of SHAPES) {
    const qkv = randf(B * T * 3 * C, 1.5), mask = attMask(B, T, pad), dout = randf(B * T * C);
    const probs64 = new Float64Array(B * NH * T * T);
    ref.attentionForward(new Float64Array(B * T * C), probs64, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), B, T, C, NH);
    const probs = Float32Array.from(probs64);
    const bf = upload(g, 'att cpu back', { dout, probs, qkv, dS: B * NH * T * T, dqkv: randf(B * T * 3 * C) }); // dqkv: garbage, every element is written
    await run(g, await attentionBackwardCpu(g, { label: 'att cpu back', dout: bf.v('dout'), probs: bf.v('probs'), qkv: bf.v('qkv'), dS: bf.v('dS'), dqkv: bf.v('dqkv'), B, T, C, NH }));
    const want = new Float64Array(B * T * 3 * C);
    ref.attentionBackward(want, f64(dout), f64(probs), f64(qkv), B, T, C, NH);
    const got = await bf.read('dqkv');
    const e = relL2(got, want);
    for (const [part, lo] of [['dq', 0], ['dk', C], ['dv', 2 * C]] as const) {
      const sel = (a: ArrayLike<number>) => Float64Array.from({ length: B * T * C }, (_, i) => a[Math.floor(i / C) * 3 * C + lo + (i % C)]);
      const ep = relL2(sel(got), sel(want));
      assert.ok(ep <= 1e-5, `backward B=${B} T=${T} C=${C} NH=${NH}: ${part} relative L2 ${ep.toExponential(2)} > 1e-5 (all: ${e.toExponential(2)})`);
    }
    for (let t = T - pad; t < T; t++) for (let c = C; c < 3 * C; c++) {
      const v = got[(T + t) * 3 * C + c];
      if (v !== 0) assert.unreachable(`dk/dv of padded key ${t}, column ${c} is ${v}, not 0`);
    }
    bf.destroy();
  }
});

S('attentionForward / attentionBackward choose the CPU class on a CPU-class device, for supported shapes only', async () => {
  const cpu: Gpu = { ...g, kernels: 'cpu' }, gpu: Gpu = { ...g, kernels: 'gpu' };
  const bf = upload(g, 'route', { qkv: 2 * 40 * 192, mask: 80, out: 2 * 40 * 64, probs: 2 * 2 * 40 * 40, dout: 2 * 40 * 64, dS: 2 * 2 * 40 * 40, dqkv: 2 * 40 * 192 });
  const fw = (x: Gpu, T: number) => attentionForward(x, { label: 'route', qkv: bf.v('qkv'), mask: bf.v('mask'), out: bf.v('out'), probs: bf.v('probs'), B: 1, T, C: 64, NH: 2 });
  const bw = (x: Gpu, T: number) => attentionBackward(x, { label: 'route', dout: bf.v('dout'), probs: bf.v('probs'), qkv: bf.v('qkv'), dS: bf.v('dS'), dqkv: bf.v('dqkv'), B: 1, T, C: 64, NH: 2 });
  const key = (d: { pipeline: GPUComputePipeline }) => d.pipeline.label;
  assert.match(key(await fw(cpu, 40)), /attention_forward_cpu\.wgsl/);
  assert.match(key(await fw(gpu, 40)), /attention\/attention_forward\.wgsl/);
  assert.match(key(await fw(cpu, 38)), /attention\/attention_forward\.wgsl/); // T % 4 ≠ 0: GPU class
  assert.equal((await bw(cpu, 40)).map(key).map((k) => /_cpu\.wgsl/.test(k)), [true, true]);
  assert.equal((await bw(gpu, 40)).map(key).map((k) => /_cpu/.test(k)), [false, false]);
  assert.match(cpuAttentionSupports(g, { T: 40, C: 160, NH: 2, views: [] }) ?? '', /head size 80/);
  bf.destroy();
});

S.run();
