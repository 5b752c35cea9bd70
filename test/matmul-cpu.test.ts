/**
 * The CPU-class matmul (src/kernels/matmul-cpu.ts) and the kernel-class selection (src/gpu/device.ts kernelClass):
 *  - the template shaders/matmul/matmul_cpu.wgsl expands to the three forms' WGSL (lanes, rows, subgroups or not);
 *  - kernelClass: software adapters (llvmpipe, SwiftShader) → 'cpu', others → 'gpu', IR_NEURONS_KERNELS overrides,
 *    anything else there is refused;
 *  - cpuForm / cpuFormRuns: 'sg8' where subgroups have ≥ 8 lanes, 'sg4' where ≥ 4 (SwiftShader's 4), else 'nosg';
 *    a form forced where its workgroup would span subgroups is refused; the dispatch grid follows the form's lanes;
 *  - every form this device can run (on lavapipe's 8-lane subgroups all three: a 4-invocation workgroup lies inside
 *    one subgroup) — sg8 and sg4 × every epilogue / B layout the model runs; nosg × ffn-up and ffn-down-back, one per
 *    B layout — against the float64 reference (relative L2 ≤ 1e-6, and each element within 1e-5 of the largest) on
 *    shapes off the tiles (32×32; sg4: 16×16) (67×44×36, 130×200×96, 5×4×4), with pruned columns exactly 0; and no worse
 *    than the GPU-class default;
 *  - `matmul` routes to it on a CPU-class device (and not for unsupported shapes or forced variants).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { kernelClass, type Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { DEFAULT_VARIANT, matmul, type Epilogue } from '../src/kernels/matmul.ts';
import { CPU_FORMS, cpuForm, cpuFormRuns, cpuMatmulSupports, MATMUL_CPU, matmulCpu, type CpuForm } from '../src/kernels/matmul-cpu.ts';
import { kernelWgsl } from '../src/gpu/pipelines.ts';
import * as ref from '../src/ref/layers.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { ensureCompiled } from '../src/gpu/compile.ts';
import { run, upload, type Bufs } from './helpers/gpu.ts';

const S = suite('matmul-cpu');
const rand = mulberry32(424242);
const randf = (n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * (2 * rand() - 1));
const f64 = (a: ArrayLike<number>) => Float64Array.from(a);
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0, d = 0;
  for (let i = 0; i < b.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return Math.sqrt(n / d);
}

S('the template expands to each form: its lanes, rows and subgroup broadcasts (or none)', () => {
  assert.equal(Object.keys(MATMUL_CPU), ['sg8', 'sg4', 'nosg']);
  const [sg8, sg4, nosg] = (['sg8', 'sg4', 'nosg'] as const).map((f) => kernelWgsl(CPU_FORMS[f].def));
  assert.match(sg8, /@workgroup_size\(8\)[\s\S]*acc31 \+= b \* subgroupBroadcast\(a3, 7u\);/);
  assert.match(sg4, /@workgroup_size\(4\)[\s\S]*acc15 \+= b \* subgroupBroadcast\(a3, 3u\);/);
  assert.match(sg4, /let ra3 = min\(r0 \+ lane \+ 12u, last\) \* k4n;/);
  assert.match(sg4, /let r0 = wg\.y \* 16u;/);
  assert.not.match(sg4, /subgroupBroadcast\(a\d, [4-7]u\)|\bra4\b|\bacc16\b/);
  assert.match(nosg, /@workgroup_size\(8\)[\s\S]*acc31 \+= b \* inp\[ra31 \+ k\];/);
  assert.not.match(nosg, /enable subgroups|subgroupBroadcast|subgroup_invocation_id/);
  for (const f of [sg8, sg4]) assert.not.match(f, /var<workgroup>|workgroupBarrier/);
});

S('kernelClass: software adapters are CPU-class, IR_NEURONS_KERNELS overrides, bad values refused', () => {
  const info = (description: string, device = '') => ({ vendor: 'x', architecture: '', device, description });
  assert.is(kernelClass(info('llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)')), 'cpu');
  assert.is(kernelClass(info('', 'llvmpipe-llvm-15-0-6-256-bits-')), 'cpu');
  assert.is(kernelClass(info('Google SwiftShader')), 'cpu');
  assert.is(kernelClass(info('NVIDIA GeForce RTX 4090')), 'gpu');
  assert.is(kernelClass(info('AMD Radeon (RADV NAVI21)')), 'gpu');
  assert.is(kernelClass(info('llvmpipe'), 'gpu'), 'gpu');
  assert.is(kernelClass(info('NVIDIA'), 'cpu'), 'cpu');
  assert.is(kernelClass(info('llvmpipe'), ''), 'cpu');
  assert.throws(() => kernelClass(info('llvmpipe'), 'fast'), /IR_NEURONS_KERNELS is 'fast'; it must be 'cpu'.*or 'gpu'/);
});

S('cpuMatmulSupports: vec4 shapes and 16-byte aligned views only', () => {
  assert.is(cpuMatmulSupports({ M: 3, N: 8, K: 4 }), null);
  assert.match(cpuMatmulSupports({ M: 3, N: 8, K: 33 }) ?? '', /K and N must be multiples of 4 \(K=33, N=8\)/);
  assert.match(cpuMatmulSupports({ M: 3, N: 6, K: 8 }) ?? '', /multiples of 4/);
  const v = { name: 'x', buffer: {} as GPUBuffer, offset: 8, size: 64 };
  assert.match(cpuMatmulSupports({ M: 3, N: 8, K: 8, aux: v }) ?? '', /view aux \('x'\) starts at byte 8/);
});

S('cpuForm: sg8 with subgroups of ≥ 8 lanes, sg4 with ≥ 4 (SwiftShader), else nosg; cpuFormRuns says why a form cannot run', () => {
  const dev = (min?: number, max = min, features = ['subgroups']) => ({ features, adapterInfo: { vendor: '', architecture: '', device: '', description: '', subgroupMinSize: min, subgroupMaxSize: max } });
  assert.is(cpuForm(dev(8)), 'sg8'); // lavapipe
  assert.is(cpuForm(dev(8, 64)), 'sg8');
  assert.is(cpuForm(dev(4)), 'sg4'); // SwiftShader in Chromium: min = max = 4
  assert.is(cpuForm(dev(4, 32)), 'sg4');
  assert.is(cpuForm(dev(2)), 'nosg');
  assert.is(cpuForm(dev(undefined)), 'nosg');
  assert.is(cpuForm(dev(8, 8, [])), 'nosg');
  for (const f of ['sg8', 'sg4', 'nosg'] as const) assert.is(cpuFormRuns(dev(8), f), null);
  assert.is(cpuFormRuns(dev(4), 'sg4'), null);
  assert.is(cpuFormRuns(dev(4), 'nosg'), null);
  assert.is(cpuFormRuns(dev(4), 'sg8'), "the CPU-class matmul's sg8 form needs subgroups of ≥ 8 lanes; this adapter has subgroups of 4 lanes (its form is sg4)");
  assert.match(cpuFormRuns(dev(2, 16), 'sg4') ?? '', /sg4 form needs subgroups of ≥ 4 lanes; this adapter has subgroups of 2\.\.16 lanes \(its form is nosg\)/);
  assert.match(cpuFormRuns(dev(8, 8, []), 'sg4') ?? '', /this adapter has no subgroups feature/);
  assert.equal(Object.values(CPU_FORMS).map((f) => [f.lanes, f.rows]), [[8, 32], [4, 16], [8, 32]]);
});

// ---------- numerics ----------
interface Combo { epilogue: Epilogue; transB: boolean }
const COMBOS: Combo[] = [
  { epilogue: 'none', transB: true }, { epilogue: 'ffn-up', transB: true },
  { epilogue: 'none', transB: false }, { epilogue: 'ffn-down-back', transB: false }, { epilogue: 'add', transB: false },
];
const pruneMask = (N: number) => Float32Array.from({ length: N }, (_, n) => (n === 0 || n % 3 === 1 || n === N - 1 ? 0 : 1));

function problem(g: Gpu, M: number, N: number, K: number, c: Combo) {
  const inp = randf(M * K), w = randf(N * K, 0.5), bias = randf(N), mask = pruneMask(N), aux = randf(M * N, 2);
  const two = c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back';
  const acc = new Float64Array(M * N);
  if (c.transB) ref.matmulForward(acc, f64(inp), f64(w), f64(bias), M, K, N);
  else ref.matmulBackward(acc, f64(inp), f64(w), M, N, K);
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
  const B: Bufs = upload(g, 'cpu matmul test', { inp, w, bias, mask, aux, out: M * N, out2: M * N });
  const args = {
    label: 'cpu matmul test', inp: B.v('inp'), weight: B.v('w'), bias: c.transB ? B.v('bias') : undefined, out: B.v('out'),
    out2: two ? B.v('out2') : undefined, mask: two ? B.v('mask') : undefined,
    aux: c.epilogue === 'ffn-down-back' || c.epilogue === 'add' ? B.v('aux') : undefined,
    M, N, K, transB: c.transB, epilogue: c.epilogue,
  };
  const read = async () => (two ? [await B.read('out'), await B.read('out2')] : [await B.read('out')]);
  return { B, args, want, read, mask };
}

let g: Gpu;
S.before(async () => { g = await requestGpu(); });

S('every form this device can run × every epilogue and B layout vs float64, off-tile shapes; no worse than the GPU-class default', async () => {
  const forms = (['sg8', 'sg4', 'nosg'] as CpuForm[]).filter((f) => !cpuFormRuns(g, f));
  if (forms.length < 3) console.log(`  (${forms.join(', ')} checked here; ${(['sg8', 'sg4'] as CpuForm[]).filter((f) => !forms.includes(f)).map((f) => cpuFormRuns(g, f)).join('; ')})`);
  const worst = new Map<string, number>();
  const validated = new Set<string>(); // the variants (MATMUL_CPU) checked against float64
  for (const c of COMBOS) {
    { // this combo's pipelines of every form compiled in one round (over the compile helpers)
      const p = problem(g, 8, 32, 4, c);
      const fs = forms.filter((f) => f !== 'nosg' || c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back');
      await ensureCompiled(g, [...await Promise.all(fs.map(async (f) => (await matmulCpu(g, p.args, f)).kernel)), (await matmul(g, { ...p.args, variant: DEFAULT_VARIANT })).kernel]);
      p.B.destroy();
    }
    for (const [M, N, K] of [[67, 44, 36], [130, 200, 96], [5, 4, 4]]) {
      const p = problem(g, M, N, K, c);
      try {
        await run(g, [await matmul(g, { ...p.args, variant: DEFAULT_VARIANT })]);
        const base = await p.read();
        // the form without subgroups only on one combo per B layout (same epilogue code; cold, lavapipe takes ~30 s to compile it)
        for (const form of forms.filter((f) => f !== 'nosg' || c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back')) {
          const what = `${form} ${M}x${N}x${K} ${c.epilogue} transB=${c.transB}`;
          p.B.write('out', new Float32Array(M * N).fill(NaN));
          p.B.write('out2', new Float32Array(M * N).fill(NaN));
          const d = await matmulCpu(g, p.args, form);
          assert.equal(d.workgroups, [Math.ceil(N / (4 * CPU_FORMS[form].lanes)), Math.ceil(M / CPU_FORMS[form].rows), 1], `${what}: dispatch grid`);
          await run(g, [d]);
          validated.add(d.kernel.def.name);
          const got = await p.read();
          got.forEach((o, i) => {
            const want = p.want[i];
            let big = 0;
            for (const x of want) big = Math.max(big, Math.abs(x));
            for (let j = 0; j < o.length; j++) {
              if (!Number.isFinite(o[j])) assert.unreachable(`${what}: output ${i} element ${j} is ${o[j]}`);
              if (Math.abs(o[j] - want[j]) > 1e-5 * big) assert.unreachable(`${what}: output ${i} element ${j} is ${o[j]}, float64 gives ${want[j]}`);
            }
            const err = relL2(o, want), errBase = relL2(base[i], want);
            worst.set(form, Math.max(worst.get(form) ?? 0, err));
            assert.ok(err <= 1e-6, `${what}: output ${i} relative L2 ${err.toExponential(2)} > 1e-6`);
            assert.ok(err <= 2 * errBase + 1e-7, `${what}: output ${i} relative L2 ${err.toExponential(2)}, the GPU-class default's ${errBase.toExponential(2)}`);
          });
          if (p.args.mask) {
            for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) if (!p.mask[n] && got[0][m * N + n] !== 0) assert.unreachable(`${what}: pruned column ${n} row ${m} is ${got[0][m * N + n]}`);
          }
        }
      } finally {
        p.B.destroy();
      }
    }
  }
  console.log(`  matmul-cpu: worst relative L2 vs float64: ${[...worst].map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}`);
  assert.is(worst.size, forms.length);
  assert.equal([...validated].sort(), forms.map((f) => MATMUL_CPU[f].name).sort(), 'every variant this device runs, against float64');
});

S('matmul routes to the CPU-class kernel on a CPU-class device, not for unsupported shapes or forced variants', async () => {
  const cpu: Gpu = { ...g, kernels: 'cpu' };
  const gpu: Gpu = { ...g, kernels: 'gpu' };
  const p = problem(g, 33, 8, 12, COMBOS[0]);
  const q = problem(g, 33, 6, 12, COMBOS[0]);
  try {
    assert.ok((await matmul(cpu, p.args)).kernel.pipeline.label.startsWith(`matmul/matmul_cpu.wgsl[${cpuForm(g)}]#main`), `the ${cpuForm(g)} form`);
    // the same device as if its subgroups had 4 lanes (SwiftShader's): the 4-lane form, on a grid of 16×16 tiles;
    // the 8-lane form is refused there (the CPU-class attention and LayerNorm take their 4-lane forms too: cpuForm)
    if (!cpuFormRuns(g, 'sg4')) {
      const sw: Gpu = { ...cpu, adapterInfo: { ...g.adapterInfo, subgroupMinSize: 4, subgroupMaxSize: 4 } };
      const d = await matmul(sw, p.args);
      assert.ok(d.kernel.pipeline.label.startsWith('matmul/matmul_cpu.wgsl[sg4]#main'), d.kernel.pipeline.label);
      assert.equal(d.workgroups, [1, 3, 1]); // N = 8, M = 33
      assert.is.not(cpuForm(sw), 'sg8');
      let refused = '';
      try { await matmulCpu(sw, p.args, 'sg8'); } catch (e) { refused = (e as Error).message; }
      assert.match(refused, /sg8 form needs subgroups of ≥ 8 lanes; this adapter has subgroups of 4 lanes \(its form is sg4\)/);
    }
    assert.match((await matmul(gpu, p.args)).kernel.pipeline.label, /^matmul\/matmul\.wgsl\[\w+\]#main/);
    assert.match((await matmul(cpu, { ...p.args, variant: DEFAULT_VARIANT })).kernel.pipeline.label, /^matmul\/matmul\.wgsl\[\w+\]#main/);
    assert.match((await matmul(cpu, q.args)).kernel.pipeline.label, /^matmul\/matmul\.wgsl\[\w+\]#main/, 'N = 6 is not a multiple of 4: the GPU-class family');
    let msg = '';
    try { await matmulCpu(g, q.args); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, /K and N must be multiples of 4 \(K=12, N=6\)/);
  } finally {
    p.B.destroy();
    q.B.destroy();
  }
});

S.run();
