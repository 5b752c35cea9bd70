/**
 * The CPU-class path sum (shaders/ig/conductance.wgsl's variant 'cpu', chosen in src/kernels/ig.ts `conductance` when
 * g.kernels === 'cpu' and R, outOff are multiples of 4) against the float64 loop and, bit for bit, against the
 * GPU-class kernel (the same arithmetic per element): right / trapezoid, Y_GELU, STRIDE 2, chunks of 1, 3 and all
 * points (carry), a pair at row offset 2 of the batch, an outOff slice whose neighbours stay untouched, R = 4·97
 * (not a multiple of the 256 elements of a workgroup).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { conductance, pathSum, setConductanceChunk, setStash, stash } from '../src/kernels/ig.ts';
import { chunks, ruleWeights } from '../src/ig/path.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { geluForward } from '../src/ref/layers.ts';
import { run, upload } from './helpers/gpu.ts';

const S = suite('conductance-cpu');
const rand = mulberry32(1357);
const randf = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));

let g: Gpu;
S.before(async () => { g = await requestGpu(); });

async function sum(x: Gpu, y: Float32Array, gr: Float32Array, P: number, R: number, size: number, o: { wr: number; wl: number; yGelu: boolean; stride: number; outOff: number }): Promise<{ got: Float32Array; shader: string }> {
  const ROW_OFF = 2;
  const out0 = new Float32Array(o.outOff + R + 8).fill(5);
  out0.fill(0, o.outOff, o.outOff + R);
  const bf = upload(g, 'cond cpu', { y: (ROW_OFF + size) * R, g: (ROW_OFF + size) * R, out: out0, carry: 2 * R });
  bf.write('y', new Float32Array(ROW_OFF * R).fill(1e6));
  bf.write('g', new Float32Array(ROW_OFF * R).fill(1e6));
  const c = await conductance(x, { label: 'cond cpu', y: bf.v('y'), g: bf.v('g'), out: bf.v('out'), carry: bf.v('carry'), R, outOff: o.outOff, rowOff: ROW_OFF, yGelu: o.yGelu, stride: o.stride });
  for (const { k0, count } of chunks(P, size)) {
    bf.write('y', y.subarray(k0 * R, (k0 + count) * R), ROW_OFF * R);
    bf.write('g', gr.subarray(k0 * R, (k0 + count) * R), ROW_OFF * R);
    setConductanceChunk(x, c.params, R, o.outOff, ROW_OFF, k0, count, o.wr, o.wl);
    await run(x, [c.d], 'cond cpu');
  }
  const all = await bf.read('out');
  bf.destroy();
  for (let i = 0; i < all.length; i++) if ((i < o.outOff || i >= o.outOff + R) && all[i] !== 5) assert.unreachable(`conductance wrote outside its slice at ${i}`);
  return { got: all.slice(o.outOff, o.outOff + R), shader: c.d.kernel.pipeline.label };
}

S('CPU class = float64 loop (≤ 1e-6) and = GPU class bit for bit', async () => {
  const m = 8, P = m + 1, R = 4 * 97;
  const y = randf(P * R, 2), gr = randf(P * R);
  const cpu: Gpu = { ...g, kernels: 'cpu' }, gpu: Gpu = { ...g, kernels: 'gpu' };
  for (const [rule, yGelu, stride, outOff] of [['right', false, 1, 8], ['trapezoid', true, 1, 0], ['right', true, 2, 4]] as const) {
    const { wr, wl } = ruleWeights(rule);
    const yv = Float64Array.from(y);
    if (yGelu) geluForward(yv, Float64Array.from(y), P * R);
    const want = new Float64Array(R);
    for (let k = stride; k <= m; k += stride) for (let i = 0; i < R; i++) want[i] += (yv[k * R + i] - yv[(k - stride) * R + i]) * (wr * gr[k * R + i] + wl * gr[(k - stride) * R + i]);
    const ref = await sum(gpu, y, gr, P, R, P, { wr, wl, yGelu, stride, outOff });
    assert.match(ref.shader, /^ig\/conductance\.wgsl\[gpu\]/);
    for (const size of [1, 3, P]) {
      const { got, shader } = await sum(cpu, y, gr, P, R, size, { wr, wl, yGelu, stride, outOff });
      assert.match(shader, /^ig\/conductance\.wgsl\[cpu\]/);
      let n = 0, d = 0;
      for (let i = 0; i < R; i++) { n += (got[i] - want[i]) ** 2; d += want[i] ** 2; }
      const what = `${rule}${yGelu ? ' Y_GELU' : ''} stride ${stride} outOff ${outOff} chunks of ${size}`;
      assert.ok(Math.sqrt(n / d) <= 1e-6, `${what}: relative L2 ${Math.sqrt(n / d).toExponential(2)} > 1e-6`);
      if (size === P) assert.equal(Array.from(got), Array.from(ref.got), `${what}: CPU and GPU class differ`);
    }
  }
  // outOff not a multiple of 4: the GPU class
  const { shader } = await sum(cpu, y, gr, P, R, P, { wr: 1, wl: 0, yGelu: false, stride: 1, outOff: 7 });
  assert.match(shader, /ig\/conductance\.wgsl/);
});

S('stash + path_sum (adaptive m from a point store): rows stashed out of order, summed in α order through the index = float64 loop (right, left, trapezoid, Y_GELU, strides 1, 2, 4); a weight-0 gradient is never read', async () => {
  const m = 8, R = 4 * 97, ROW_OFF = 1;
  const y = randf((m + 1) * R, 2), gr = randf((m + 1) * R);
  // evaluation order: the points of m/2 first (α = 0 last, as the engine runs it), then the rest; so store row
  // j holds point order[j], and the index table maps k to its row
  const order = [2, 4, 6, 8, 0, 1, 3, 5, 7];
  const idx = Uint32Array.from({ length: m + 1 }, (_, k) => order.indexOf(k));
  const bf = upload(g, 'store', { src: (ROW_OFF + m + 1) * R, y: (m + 1) * R, g: (m + 1) * R, idx: m + 1, out: 8 + R + 8 });
  const st = { y: await stash(g, { label: 'stash y', src: bf.v('src'), dst: bf.v('y'), R }), g: await stash(g, { label: 'stash g', src: bf.v('src'), dst: bf.v('g'), R }) };
  // two chunks (5 and 4 points) at row offset 1 of the batch, each to its rows of the store; `poison`: the gradient
  // at α = 0 is NaN (as if it had no backward)
  const fill = async (poison: boolean) => {
    for (const [j0, count] of [[0, 5], [5, 4]]) {
      for (const [what, data] of [['y', y], ['g', gr]] as const) {
        const rows = new Float32Array((ROW_OFF + count) * R).fill(1e6);
        for (let b = 0; b < count; b++) rows.set(data.subarray(order[j0 + b] * R, (order[j0 + b] + 1) * R), (ROW_OFF + b) * R);
        if (poison && what === 'g') for (let b = 0; b < count; b++) if (order[j0 + b] === 0) rows.fill(NaN, (ROW_OFF + b) * R, (ROW_OFF + b + 1) * R);
        bf.write('src', rows);
        setStash(g, st[what].params, { R, count, rowOff: ROW_OFF, base: j0 });
        await run(g, [st[what].d], 'stash');
      }
    }
  };
  bf.write('idx', idx as unknown as Float32Array);
  const sum = async (rule: 'right' | 'left' | 'trapezoid', yGelu: boolean, stride: number) => {
    const { wr, wl } = ruleWeights(rule);
    const d = await pathSum(g, { label: 'path sum', y: bf.v('y'), g: bf.v('g'), idx: bf.v('idx'), out: bf.v('out'), R, outOff: 8, n: m / stride, stride, wr, wl, yGelu });
    await run(g, [d], 'path sum');
    return (await bf.read('out')).slice(8, 8 + R);
  };
  await fill(false);
  for (const [rule, yGelu, stride] of [['right', false, 1], ['right', true, 2], ['trapezoid', true, 1], ['trapezoid', false, 4], ['left', false, 1]] as const) {
    const { wr, wl } = ruleWeights(rule);
    const yv = Float64Array.from(y);
    if (yGelu) geluForward(yv, Float64Array.from(y), (m + 1) * R);
    const want = new Float64Array(R);
    for (let k = stride; k <= m; k += stride) for (let i = 0; i < R; i++) want[i] += (yv[k * R + i] - yv[(k - stride) * R + i]) * (wr * gr[k * R + i] + wl * gr[(k - stride) * R + i]);
    const got = await sum(rule, yGelu, stride);
    let n = 0, dd = 0;
    for (let i = 0; i < R; i++) { n += (got[i] - want[i]) ** 2; dd += want[i] ** 2; }
    assert.ok(Math.sqrt(n / dd) <= 1e-6, `${rule}${yGelu ? ' Y_GELU' : ''} stride ${stride}: relative L2 ${Math.sqrt(n / dd).toExponential(2)} > 1e-6`);
  }
  // g(α = 0) NaN: the right rule weighs it by 0 and never reads it (same bits); the trapezoid does read it
  const clean = await sum('right', true, 1);
  await fill(true);
  assert.equal(Array.from(await sum('right', true, 1)), Array.from(clean));
  assert.ok((await sum('trapezoid', false, 1)).some((v) => Number.isNaN(v)), 'the trapezoid reads g(α = 0)');
  bf.destroy();
});

S.run();
