/**
 * Every WGSL kernel against the float64 CPU reference (src/ref) on random shapes, including sizes that are not
 * multiples of the workgroup or the matmul tile (M=67, N=45, K=33; rows=5; C=12, 97; T=5, 13, 67; NH=3; B=2).
 * Inputs are drawn in f32 so the device and the reference see the same numbers; the error is the relative L2
 * ‖gpu − ref‖ / ‖ref‖: ≤ 1e-5 for forward kernels (f32 against f64), ≤ 1e-4 for backward kernels.
 * Each kernel variant (override constants) compiles once; the shapes reuse those pipelines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { attentionBackward, attentionForward } from '../src/kernels/attention.ts';
import { flashAttentionBackward, flashAttentionForward, flashTiles } from '../src/kernels/attention-flash.ts';
import { embeddingsForward } from '../src/kernels/embeddings.ts';
import { clsRows, headBackward, headForward, type HeadActivation } from '../src/kernels/head.ts';
import { headOutput } from '../src/model/backward.ts';
import type { Target } from '../src/model/types.ts';
import { conductance, segments, setConductanceChunk, setSegments } from '../src/kernels/ig.ts';
import { layernormBackward, layernormForward } from '../src/kernels/layernorm.ts';
import { matmul, type MatmulArgs } from '../src/kernels/matmul.ts';
import { ruleWeights, chunks, RULES } from '../src/ig/path.ts';
import { relevanceBackward, relevanceForward } from '../src/ref/bert.ts';
import * as ref from '../src/ref/layers.ts';
import { conductance as refConductance } from '../src/ref/nig.ts';
import { run, upload } from './helpers/gpu.ts';
import { mulberry32 } from '../src/util/rng.ts';

const S = suite('gpu-kernels');
const FWD = 1e-5;
const BWD = 1e-4;

// ---------- helpers ----------
const rand = mulberry32(20240611); // deterministic
/** n values uniform in [offset − scale, offset + scale), rounded to f32. */
const randf = (n: number, scale = 1, offset = 0): Float32Array => Float32Array.from({ length: n }, () => offset + scale * (2 * rand() - 1));
const randInt = (n: number) => Math.floor(rand() * n);
const f64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a);

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`relL2: lengths differ, ${a.length} vs ${b.length}`);
  let n = 0, d = 0;
  for (let i = 0; i < a.length; i++) { n += (a[i] - b[i]) ** 2; d += b[i] ** 2; }
  return d === 0 ? Math.sqrt(n) : Math.sqrt(n / d);
}

/** Every measured error, printed as one table when the suite ends. */
const measured: { what: string; err: number; tol: number }[] = [];
function close(what: string, got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) assert.unreachable(`${what}: element ${i} is ${got[i]}`);
  let norm = 0;
  for (let i = 0; i < want.length; i++) norm += want[i] * want[i];
  assert.ok(norm > 0, `${what}: the reference is all zeros, so the comparison would prove nothing`);
  const err = relL2(got, want);
  measured.push({ what, err, tol });
  assert.ok(err <= tol, `${what}: relative L2 error ${err.toExponential(2)} exceeds ${tol.toExponential(0)}`);
}
function allZero(what: string, a: ArrayLike<number>, idx: Iterable<number>): void {
  for (const i of idx) if (a[i] !== 0) assert.unreachable(`${what}: element ${i} is ${a[i]}, expected exactly 0`);
}

let g: Gpu;
S.before(async () => { g = await requestGpu(); });
S.after(() => {
  const w = Math.max(...measured.map((m) => m.what.length));
  console.log(`\n  gpu-kernels: relative L2 errors (${measured.length} comparisons)`);
  for (const m of measured) console.log(`    ${m.what.padEnd(w)}  ${m.err.toExponential(2)}  (≤ ${m.tol.toExponential(0)})`);
});

// ---------- matmul ----------
type Epi = NonNullable<MatmulArgs['epilogue']>;
interface MatmulCase { inp: Float32Array; w: Float32Array; bias?: Float32Array; mask?: Float32Array; aux?: Float32Array; M: number; N: number; K: number; transB: boolean; epilogue?: Epi }

async function gpuMatmul(c: MatmulCase): Promise<{ out: Float32Array; out2: Float32Array }> {
  const { M, N, K } = c;
  const two = c.epilogue === 'ffn-up' || c.epilogue === 'ffn-down-back';
  const B = upload(g, 'matmul test', {
    inp: c.inp, w: c.w, bias: c.bias ?? 1, mask: c.mask ?? 1, aux: c.aux ?? 1,
    out: new Float32Array(M * N).fill(NaN), out2: new Float32Array(M * N).fill(NaN),
  });
  const d = await matmul(g, {
    label: 'matmul test', inp: B.v('inp'), weight: B.v('w'), bias: c.bias && B.v('bias'), out: B.v('out'),
    out2: two ? B.v('out2') : undefined, mask: c.mask && B.v('mask'), aux: c.aux && B.v('aux'),
    M, N, K, transB: c.transB, epilogue: c.epilogue,
  });
  await run(g, [d], 'matmul test');
  const out = await B.read('out', M * N), out2 = await B.read('out2', M * N);
  B.destroy();
  return { out, out2 };
}

/** out(M, N) = inp(M, K) · W + bias in f64, W stored (N, K) when transB, else (K, N). */
function refMatmul(inp: Float32Array, w: Float32Array, bias: Float32Array | undefined, M: number, N: number, K: number, transB: boolean): Float64Array {
  const out = new Float64Array(M * N);
  if (transB) ref.matmulForward(out, f64(inp), f64(w), bias ? f64(bias) : null, M, K, N);
  else {
    ref.matmulBackward(out, f64(inp), f64(w), M, N, K); // dinp(M, N) = dout(M, K) · weight(K, N)
    if (bias) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) out[m * N + n] += bias[n];
  }
  return out;
}

const MM_SHAPES = [{ M: 67, N: 45, K: 33 }, { M: 5, N: 130, K: 70 }];
const shapeName = (s: { M: number; N: number; K: number }) => `${s.M}x${s.N}x${s.K}`;
/** A pruning mask over N columns with zeros (column 0, every third, and the last). */
const pruneMask = (N: number) => Float32Array.from({ length: N }, (_, n) => (n === 0 || n % 3 === 1 || n === N - 1 ? 0 : 1));
const zeroCols = (M: number, N: number, mask: Float32Array) => {
  const idx: number[] = [];
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) if (mask[n] === 0) idx.push(m * N + n);
  return idx;
};

S('matmul: transB true/false, with and without bias, off-tile shapes', async () => {
  for (const s of MM_SHAPES) {
    for (const transB of [true, false]) {
      for (const hasBias of [true, false]) {
        const inp = randf(s.M * s.K), w = randf(s.N * s.K), bias = hasBias ? randf(s.N) : undefined;
        const { out } = await gpuMatmul({ inp, w, bias, ...s, transB });
        close(`matmul ${shapeName(s)} transB=${transB} bias=${hasBias}`, out, refMatmul(inp, w, bias, s.M, s.N, s.K, transB), FWD);
      }
    }
  }
});

S("matmul epilogue 'ffn-up': pre = (x·Wᵀ + b)·mask, post = gelu(pre), mask with zeros", async () => {
  for (const s of MM_SHAPES) {
    const { M, N, K } = s;
    const inp = randf(M * K), w = randf(N * K, 0.5), bias = randf(N), mask = pruneMask(N);
    const { out, out2 } = await gpuMatmul({ inp, w, bias, mask, ...s, transB: true, epilogue: 'ffn-up' });
    const pre = refMatmul(inp, w, bias, M, N, K, true), post = new Float64Array(M * N);
    ref.maskForward(pre, pre, f64(mask), M, N);
    ref.geluForward(post, pre, M * N);
    close(`matmul ffn-up ${shapeName(s)} pre`, out, pre, FWD);
    close(`matmul ffn-up ${shapeName(s)} gelu`, out2, post, FWD);
    allZero('ffn-up pre at pruned columns', out, zeroCols(M, N, mask));
    allZero('ffn-up gelu at pruned columns', out2, zeroCols(M, N, mask));
  }
});

S("matmul epilogue 'ffn-down-back': dpost = dout·W, dpre = dpost·gelu'(pre)·mask", async () => {
  for (const s of MM_SHAPES) {
    const { M, N, K } = s;
    const dout = randf(M * K), w = randf(K * N, 0.5), pre = randf(M * N, 3), mask = pruneMask(N);
    const { out, out2 } = await gpuMatmul({ inp: dout, w, mask, aux: pre, ...s, transB: false, epilogue: 'ffn-down-back' });
    const dpost = refMatmul(dout, w, undefined, M, N, K, false), dgelu = new Float64Array(M * N), dpre = new Float64Array(M * N);
    ref.geluBackward(dgelu, f64(pre), dpost, M * N);
    ref.maskBackward(dpre, dgelu, f64(mask), M, N);
    close(`matmul ffn-down-back ${shapeName(s)} dpre`, out, dpre, BWD);
    close(`matmul ffn-down-back ${shapeName(s)} dpost`, out2, dpost, BWD);
    allZero('ffn-down-back dpre at pruned columns', out, zeroCols(M, N, mask));
  }
});

S("matmul epilogue 'add': out = dout·W + aux (the residual stream's +=)", async () => {
  for (const s of MM_SHAPES) {
    const { M, N, K } = s;
    const dout = randf(M * K), w = randf(K * N), aux = randf(M * N, 2);
    const { out } = await gpuMatmul({ inp: dout, w, aux, ...s, transB: false, epilogue: 'add' });
    const want = refMatmul(dout, w, undefined, M, N, K, false);
    ref.residualBackward(want, f64(aux), M * N);
    close(`matmul add ${shapeName(s)}`, out, want, BWD);
  }
});

// ---------- layernorm ----------
const LN_SHAPES = [{ rows: 5, C: 12 }, { rows: 5, C: 97 }, { rows: 3, C: 200 }];
const EPS = 1e-12;

S('layernorm_forward with and without residual: out, saved s, mean/rstd', async () => {
  for (const { rows, C } of LN_SHAPES) {
    for (const res of [true, false]) {
      const a = randf(rows * C, 1, 2.5), b = randf(rows * C, 0.5), gamma = randf(C, 0.2, 1), beta = randf(C, 0.1);
      const B = upload(g, 'ln test', { a, b, gamma, beta, out: rows * C, s: rows * C, stats: 2 * rows });
      await run(g, [await layernormForward(g, {
        label: 'ln test', a: B.v('a'), b: res ? B.v('b') : undefined, weight: B.v('gamma'), bias: B.v('beta'),
        out: B.v('out'), s: res ? B.v('s') : undefined, stats: B.v('stats'), rows, C, eps: EPS,
      })]);
      const s = new Float64Array(rows * C);
      for (let i = 0; i < s.length; i++) s[i] = a[i] + (res ? b[i] : 0);
      const out = new Float64Array(rows * C), mean = new Float64Array(rows), rstd = new Float64Array(rows);
      ref.layernormForward(out, mean, rstd, s, f64(gamma), f64(beta), rows, C, EPS);
      const stats = await B.read('stats');
      const name = `layernorm_forward rows=${rows} C=${C} res=${res}`;
      close(`${name} out`, await B.read('out'), out, FWD);
      close(`${name} mean`, stats.filter((_, i) => i % 2 === 0), mean, FWD);
      close(`${name} rstd`, stats.filter((_, i) => i % 2 === 1), rstd, FWD);
      if (res) close(`${name} s`, await B.read('s'), s, FWD);
      B.destroy();
    }
  }
});

S('layernorm_backward vs ref layernormBackward', async () => {
  for (const { rows, C } of LN_SHAPES) {
    const s = randf(rows * C, 1, -1.5), dout = randf(rows * C), gamma = randf(C, 0.2, 1);
    const mean64 = new Float64Array(rows), rstd64 = new Float64Array(rows);
    ref.layernormForward(new Float64Array(rows * C), mean64, rstd64, f64(s), f64(gamma), new Float64Array(C), rows, C, EPS);
    const stats = new Float32Array(2 * rows); // the f32 stats the forward kernel would have saved; the ref gets the same
    for (let r = 0; r < rows; r++) { stats[2 * r] = mean64[r]; stats[2 * r + 1] = rstd64[r]; }
    const B = upload(g, 'ln back test', { dout, s, gamma, stats, ds: rows * C });
    await run(g, [await layernormBackward(g, { label: 'ln back test', dout: B.v('dout'), s: B.v('s'), weight: B.v('gamma'), stats: B.v('stats'), ds: B.v('ds'), rows, C })]);
    const want = new Float64Array(rows * C);
    ref.layernormBackward(want, f64(dout), f64(s), f64(gamma), f64(stats.filter((_, i) => i % 2 === 0)), f64(stats.filter((_, i) => i % 2 === 1)), rows, C);
    close(`layernorm_backward rows=${rows} C=${C}`, await B.read('ds'), want, BWD);
    B.destroy();
  }
});

// ---------- embeddings ----------
S('embeddings_forward: alpha interpolation, zero baseline (0xffffffff), positions and types', async () => {
  const V = 50, P = 16, TV = 2, NONE = 0xffffffff;
  for (const { B: nB, T, C } of [{ B: 3, T: 13, C: 97 }, { B: 2, T: 5, C: 12 }]) {
    const rows = nB * T;
    const wordEmb = randf(V * C), posEmb = randf(P * C, 0.3), typeEmb = randf(TV * C, 0.3);
    const alpha = Float32Array.from({ length: nB }, (_, b) => [0, 0.3125, 1][b % 3] + (b >= 3 ? 0.01 : 0));
    const tok = new Uint32Array(rows * 4), typeIds = new Int32Array(rows), posIds = new Int32Array(rows);
    for (let r = 0; r < rows; r++) {
      const id = randInt(V);
      const kind = r % 3; // baseline: the zero vector, another token, or the token itself
      // position ids from the host: t (BERT) on even rows, any row of the table (RoBERTa's offset ids) on odd ones
      tok.set([id, kind === 0 ? NONE : kind === 1 ? randInt(V) : id, (typeIds[r] = randInt(TV)), (posIds[r] = r % 2 ? randInt(P) : r % T)], r * 4);
    }
    const Bf = upload(g, 'emb test', { tok, alpha, wordEmb, posEmb, typeEmb, s: rows * C });
    await run(g, [await embeddingsForward(g, { label: 'emb test', tok: Bf.v('tok'), alpha: Bf.v('alpha'), wordEmb: Bf.v('wordEmb'), posEmb: Bf.v('posEmb'), typeEmb: Bf.v('typeEmb'), s: Bf.v('s'), rows, T, C })]);
    const vecs = new Float64Array(rows * C);
    for (let r = 0; r < rows; r++) {
      const [id, base] = [tok[r * 4], tok[r * 4 + 1]], a = alpha[Math.floor(r / T)];
      for (let c = 0; c < C; c++) {
        const xb = base === NONE ? 0 : wordEmb[base * C + c];
        vecs[r * C + c] = xb + a * (wordEmb[id * C + c] - xb);
      }
    }
    const want = new Float64Array(rows * C);
    ref.embeddingsForward(want, vecs, f64(posEmb), f64(typeEmb), typeIds, nB, T, C, posIds);
    const got = await Bf.read('s');
    close(`embeddings_forward B=${nB} T=${T} C=${C}`, got, want, FWD);
    // alpha = 0 with the zero baseline leaves exactly position + type
    for (let t = 0; t < T; t += 3) {
      for (let c = 0; c < C; c++) assert.is(got[t * C + c], Math.fround(posEmb[posIds[t] * C + c] + typeEmb[typeIds[t] * C + c]), `row ${t} channel ${c}`);
    }
    Bf.destroy();
  }
});

// ---------- attention ----------
const ATT_SHAPES = [
  { B: 2, T: 13, C: 12, NH: 3, pad: 4 },
  { B: 2, T: 5, C: 96, NH: 3, pad: 2 },
  { B: 2, T: 67, C: 12, NH: 3, pad: 9 }, // T > the kernel's 64 lanes
];
/** (B·T) attention mask: sequence 1 ends with `pad` padded tokens. */
function attMask(B: number, T: number, pad: number): Float32Array {
  return Float32Array.from({ length: B * T }, (_, i) => (Math.floor(i / T) === 1 && i % T >= T - pad ? 0 : 1));
}

S('attention_forward with padded keys: out and probs', async () => {
  for (const { B: nB, T, C, NH, pad } of ATT_SHAPES) {
    const qkv = randf(nB * T * 3 * C, 1.5), mask = attMask(nB, T, pad);
    const Bf = upload(g, 'att test', { qkv, mask, out: nB * T * C, probs: nB * NH * T * T });
    await run(g, [await attentionForward(g, { label: 'att test', qkv: Bf.v('qkv'), mask: Bf.v('mask'), out: Bf.v('out'), probs: Bf.v('probs'), B: nB, T, C, NH })]);
    const out = new Float64Array(nB * T * C), probs = new Float64Array(nB * NH * T * T);
    ref.attentionForward(out, probs, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), nB, T, C, NH);
    const name = `attention_forward B=${nB} T=${T} C=${C} NH=${NH}`;
    const gotP = await Bf.read('probs');
    close(`${name} out`, await Bf.read('out'), out, FWD);
    close(`${name} probs`, gotP, probs, FWD);
    const padded: number[] = [];
    for (let h = 0; h < NH; h++) for (let i = 0; i < T; i++) for (let j = T - pad; j < T; j++) padded.push(((1 * NH + h) * T + i) * T + j);
    allZero('probs at padded keys', gotP, padded);
    Bf.destroy();
  }
});

S('attention_backward (q then kv dispatches) vs ref attentionBackward: dqkv', async () => {
  for (const { B: nB, T, C, NH, pad } of ATT_SHAPES) {
    const qkv = randf(nB * T * 3 * C, 1.5), mask = attMask(nB, T, pad), dout = randf(nB * T * C);
    const probs64 = new Float64Array(nB * NH * T * T);
    ref.attentionForward(new Float64Array(nB * T * C), probs64, f64(qkv), Float64Array.from(mask, (m) => (m ? 0 : -Infinity)), nB, T, C, NH);
    const probs = Float32Array.from(probs64); // what the forward saves, in f32; the ref gets the same
    const Bf = upload(g, 'att back test', { dout, probs, qkv, dS: nB * NH * T * T, dqkv: nB * T * 3 * C });
    await run(g, await attentionBackward(g, { label: 'att back test', dout: Bf.v('dout'), probs: Bf.v('probs'), qkv: Bf.v('qkv'), dS: Bf.v('dS'), dqkv: Bf.v('dqkv'), B: nB, T, C, NH }));
    const want = new Float64Array(nB * T * 3 * C);
    ref.attentionBackward(want, f64(dout), f64(probs), f64(qkv), nB, T, C, NH);
    const got = await Bf.read('dqkv');
    close(`attention_backward B=${nB} T=${T} C=${C} NH=${NH} dqkv`, got, want, BWD);
    const kvPadded: number[] = []; // padded keys get no k or v gradient
    for (let t = T - pad; t < T; t++) for (let c = C; c < 3 * C; c++) kvPadded.push((1 * T + t) * 3 * C + c);
    allZero('dk, dv at padded keys', got, kvPadded);
    Bf.destroy();
  }
});

// ---------- fused attention (GPU class) ----------
// Head sizes 64, 32 and 24 (HS4 = 6: 42 rows per workgroup, not a power of two) and 5 (a partial vec4); T not a
// multiple of any tile (37 > the forward's key tile at 64 and 32; 70 > two key tiles); padding in sequence 1; B = 3;
// the [CLS]-rows-only case (TQ = 1) on each.
const FLASH_SHAPES = [
  { B: 3, T: 37, C: 128, NH: 2, pad: 6 },  // HS 64
  { B: 3, T: 70, C: 96, NH: 3, pad: 11 },  // HS 32
  { B: 2, T: 29, C: 66, NH: 3, pad: 5 },   // HS 22: not a multiple of 4 (the vec4 rows padded with zeros)
];
// (a head of 1–7 dimensions gets 128 query rows a workgroup: its three pipelines take lavapipe ~15 s to compile, so
// the odd small head is 22, which shares the tiles of 24; flashTiles is checked down to 5 above)

S('flash attention: tiles fit the workgroup memory, one output vec4 per invocation', () => {
  for (const HS of [5, 24, 32, 64, 128]) {
    for (const lim of [16384, 32768, 49152]) {
      const t = flashTiles(HS, lim);
      for (const k of [t.forward, t.q, t.kv]) assert.ok(k.bytes <= lim, `HS ${HS}: ${k.bytes} > ${lim}`);
      assert.ok(t.forward.BR * t.forward.HS4 <= 256 && t.kv.BC * t.kv.HS4 <= 256);
    }
  }
  assert.equal(flashTiles(64, 32768).forward, { HS4: 16, BR: 16, BC: 32, bytes: 16 * 16 * (16 + 64) + 4 * 16 * 32 + 12 * 16 });
  assert.throws(() => flashTiles(129, 32768), /head sizes 1\.\.128/);
});

for (const TQ of ['T', 1] as const) {
  S(`flash attention (${TQ === 1 ? '[CLS] queries alone' : 'every query'}): out, lse, then dqkv vs float64; padded keys exactly 0; reruns bit for bit`, async () => {
    for (const { B: nB, T, C, NH, pad } of FLASH_SHAPES) {
      const tq = TQ === 'T' ? T : 1;
      const qkv = randf(nB * T * 3 * C, 1.5), mask = attMask(nB, T, pad), dout = randf(nB * tq * C);
      const maskAdd = Float64Array.from(mask, (m) => (m ? 0 : -Infinity));
      const Bf = upload(g, 'flash test', { qkv, mask, dout, out: nB * tq * C, lse: nB * NH * tq, D: nB * NH * tq, dqkv: new Float32Array(nB * T * 3 * C).fill(NaN) });
      const fw = await flashAttentionForward(g, { label: 'flash test', qkv: Bf.v('qkv'), mask: Bf.v('mask'), out: Bf.v('out'), lse: Bf.v('lse'), B: nB, T, C, NH, TQ: tq });
      const bw = await flashAttentionBackward(g, { label: 'flash back test', dout: Bf.v('dout'), out: Bf.v('out'), lse: Bf.v('lse'), qkv: Bf.v('qkv'), mask: Bf.v('mask'), D: Bf.v('D'), dqkv: Bf.v('dqkv'), B: nB, T, C, NH, TQ: tq });
      await run(g, [fw, ...bw]);
      const out = new Float64Array(nB * tq * C), lse = new Float64Array(nB * NH * tq), want = new Float64Array(nB * T * 3 * C);
      ref.attentionRowsForward(out, lse, f64(qkv), maskAdd, nB, T, C, NH, tq);
      ref.attentionRowsBackward(want, f64(dout), f64(qkv), maskAdd, nB, T, C, NH, tq);
      const name = `flash B=${nB} T=${T} C=${C} NH=${NH} TQ=${tq}`;
      const [gotO, gotL, got] = [await Bf.read('out'), await Bf.read('lse'), await Bf.read('dqkv')];
      close(`${name} out`, gotO, out, FWD);
      close(`${name} lse`, gotL, lse, FWD);
      close(`${name} dqkv`, got, want, BWD);
      const zero: number[] = []; // padded keys: no k or v gradient; [CLS]-only: no q gradient off [CLS]
      for (let t = T - pad; t < T; t++) for (let c = C; c < 3 * C; c++) zero.push((1 * T + t) * 3 * C + c);
      if (tq === 1) for (let b = 0; b < nB; b++) for (let t = 1; t < T; t++) for (let c = 0; c < C; c++) zero.push((b * T + t) * 3 * C + c);
      allZero('flash dk, dv at padded keys (and dq off [CLS])', got, zero);
      await run(g, [fw, ...bw]); // the same inputs again: the same bits (no atomics, fixed orders)
      assert.equal(await Bf.read('dqkv'), got, `${name}: a rerun differs`);
      assert.equal(await Bf.read('out'), gotO, `${name}: a rerun's out differs`);
      Bf.destroy();
    }
  });
}

S('flash attention agrees with the per-row kernels (out; dqkv from the same dout) within f32 rounding', async () => {
  const { B: nB, T, C, NH, pad } = { B: 2, T: 45, C: 64, NH: 2, pad: 7 };
  const qkv = randf(nB * T * 3 * C, 1.5), mask = attMask(nB, T, pad), dout = randf(nB * T * C);
  const Bf = upload(g, 'flash vs rows', { qkv, mask, dout, out: nB * T * C, lse: nB * NH * T, D: nB * NH * T, dqkv: nB * T * 3 * C, out2: nB * T * C, probs: nB * NH * T * T, dS: nB * NH * T * T, dqkv2: nB * T * 3 * C });
  await run(g, [
    await flashAttentionForward(g, { label: 'flash', qkv: Bf.v('qkv'), mask: Bf.v('mask'), out: Bf.v('out'), lse: Bf.v('lse'), B: nB, T, C, NH }),
    ...await flashAttentionBackward(g, { label: 'flash back', dout: Bf.v('dout'), out: Bf.v('out'), lse: Bf.v('lse'), qkv: Bf.v('qkv'), mask: Bf.v('mask'), D: Bf.v('D'), dqkv: Bf.v('dqkv'), B: nB, T, C, NH }),
    await attentionForward({ ...g, kernels: 'gpu' }, { label: 'rows', qkv: Bf.v('qkv'), mask: Bf.v('mask'), out: Bf.v('out2'), probs: Bf.v('probs'), B: nB, T, C, NH }),
    ...await attentionBackward({ ...g, kernels: 'gpu' }, { label: 'rows back', dout: Bf.v('dout'), probs: Bf.v('probs'), qkv: Bf.v('qkv'), dS: Bf.v('dS'), dqkv: Bf.v('dqkv2'), B: nB, T, C, NH }),
  ]);
  close('flash vs per-row kernels: out', await Bf.read('out'), await Bf.read('out2'), 1e-6);
  close('flash vs per-row kernels: dqkv', await Bf.read('dqkv'), await Bf.read('dqkv2'), 1e-5);
  Bf.destroy();
});

// ---------- head ----------
const HEAD = { B: 2, T: 5, C: 97 };
const HEAD_ACTS: HeadActivation[] = ['tanh', 'gelu', 'relu'];
function headRef(h: Float32Array, poolW: Float32Array, poolB: Float32Array, clsW: Float32Array, clsB: Float32Array, NL: number, act: HeadActivation) {
  const { B, T, C } = HEAD;
  const cls = new Float64Array(B * C), pre = new Float64Array(B * C), pooled = new Float64Array(B * C), logits = new Float64Array(B * NL);
  ref.firstTokenForward(cls, f64(h), B, T, C);
  ref.matmulForward(pre, cls, f64(poolW), f64(poolB), B, C, C);
  (act === 'gelu' ? ref.geluForward : act === 'relu' ? ref.reluForward : ref.tanhForward)(pooled, pre, B * C);
  ref.matmulForward(logits, pooled, f64(clsW), f64(clsB), B, C, NL);
  return { pre, pooled, logits };
}

S('head_forward (dense, tanh / GELU / ReLU, classifier) for NL=2 and NL=1: saves the activation\'s input', async () => {
  const { B: nB, T, C } = HEAD;
  for (const act of HEAD_ACTS) for (const NL of [2, 1]) {
    const h = randf(nB * T * C), poolW = randf(C * C, 3 / Math.sqrt(C)), poolB = randf(C, 0.2), clsW = randf(NL * C, 1), clsB = randf(NL, 0.5);
    const Bf = upload(g, 'head test', { h, poolW, poolB, clsW, clsB, pooled: nB * C, logits: nB * NL });
    await run(g, [await headForward(g, { label: 'head test', h: Bf.v('h'), poolW: Bf.v('poolW'), poolB: Bf.v('poolB'), clsW: Bf.v('clsW'), clsB: Bf.v('clsB'), pooled: Bf.v('pooled'), logits: Bf.v('logits'), B: nB, T, C, NL, act })]);
    const want = headRef(h, poolW, poolB, clsW, clsB, NL, act);
    close(`head_forward ${act} NL=${NL} dense output`, await Bf.read('pooled'), want.pre, FWD);
    close(`head_forward ${act} NL=${NL} logits`, await Bf.read('logits'), want.logits, FWD);
    Bf.destroy();
  }
});

S('cls_rows: gather the [CLS] rows (B·T, C) → (B, C), scatter them back with exact zeros elsewhere (odd shapes)', async () => {
  for (const [nB, T, C] of [[3, 5, 7], [1, 8, 96], [7, 3, 130]]) {
    const full = randf(nB * T * C), compact = randf(nB * C);
    const Bf = upload(g, 'cls rows', { full, compact, gathered: new Float32Array(nB * C).fill(9), scattered: new Float32Array(nB * T * C).fill(9) });
    await run(g, [
      await clsRows(g, { label: 'gather', mode: 'gather', inp: Bf.v('full'), out: Bf.v('gathered'), B: nB, T, C }),
      await clsRows(g, { label: 'scatter', mode: 'scatter', inp: Bf.v('compact'), out: Bf.v('scattered'), B: nB, T, C }),
    ]);
    const want = new Float32Array(nB * C), back = new Float32Array(nB * T * C);
    for (let b = 0; b < nB; b++) { want.set(full.subarray(b * T * C, b * T * C + C), b * C); back.set(compact.subarray(b * C, (b + 1) * C), b * T * C); }
    assert.equal(Array.from(await Bf.read('gathered')), Array.from(want), `gather ${nB}x${T}x${C}`);
    assert.equal(Array.from(await Bf.read('scattered')), Array.from(back), `scatter ${nB}x${T}x${C} (every row written: 0 off [CLS])`);
    Bf.destroy();
  }
});

// NL=1: 'relevant' and 'logit' are the logit, 'nonrelevant' its negative, in the kernel as in the ref.
const HEAD_TARGETS: [number, Target][] = [[2, 'relevant'], [2, 'nonrelevant'], [2, 'logit'], [1, 'relevant'], [1, 'nonrelevant'], [1, 'logit']];

S('head_backward: ∂F/∂h and F for relevant/nonrelevant/logit (NL=2 and NL=1), tanh / GELU / ReLU', async () => {
  const { B: nB, T, C } = HEAD;
  for (const act of HEAD_ACTS) for (const [NL, target] of HEAD_TARGETS) {
    if (act !== 'tanh' && target !== 'relevant') continue; // the targets are the activation's business only through dlogits
    const h = randf(nB * T * C), poolW = randf(C * C, 3 / Math.sqrt(C)), poolB = randf(C, 0.2), clsW = randf(NL * C, 1), clsB = randf(NL, 0.5);
    const fwd = headRef(h, poolW, poolB, clsW, clsB, NL, act);
    const logits = Float32Array.from(fwd.logits), pooled = Float32Array.from(fwd.pre); // saved by the forward (the dense output), f32
    const Bf = upload(g, 'head back test', { logits, pooled, poolW, clsW, dh: new Float32Array(nB * T * C).fill(7), F: nB });
    await run(g, [await headBackward(g, { label: 'head back test', logits: Bf.v('logits'), pooled: Bf.v('pooled'), poolW: Bf.v('poolW'), clsW: Bf.v('clsW'), dh: Bf.v('dh'), F: Bf.v('F'), B: nB, T, C, NL, output: headOutput(target, NL), act })]);
    const F = new Float64Array(nB), dlogits = new Float64Array(nB * NL);
    relevanceForward(F, f64(logits), nB, NL, target);
    relevanceBackward(dlogits, f64(logits), nB, NL, target);
    const dpooled = new Float64Array(nB * C), dpre = new Float64Array(nB * C), dcls = new Float64Array(nB * C), dh = new Float64Array(nB * T * C);
    ref.matmulBackward(dpooled, dlogits, f64(clsW), nB, C, NL);
    if (act === 'gelu') ref.geluBackward(dpre, f64(pooled), dpooled, nB * C);
    else if (act === 'relu') ref.reluBackward(dpre, f64(pooled), dpooled, nB * C);
    else ref.tanhBackward(dpre, fwd.pooled, dpooled, nB * C);
    ref.matmulBackward(dcls, dpre, f64(poolW), nB, C, C);
    ref.firstTokenBackward(dh, dcls, nB, T, C);
    const got = await Bf.read('dh');
    close(`head_backward ${act} NL=${NL} ${target} dh`, got, dh, BWD);
    close(`head_backward NL=${NL} ${target} F`, await Bf.read('F'), F, FWD);
    const rest: number[] = [];
    for (let b = 0; b < nB; b++) for (let i = C; i < T * C; i++) rest.push(b * T * C + i);
    allZero('dh at tokens t > 0', got, rest);
    Bf.destroy();
  }
});

// ---------- ig/conductance ----------
/** Runs conductance.wgsl over the m + 1 points in chunks of `size`, carrying the last point between chunks. */
async function gpuConductance(y: Float32Array, gr: Float32Array, P: number, R: number, size: number, wr: number, wl: number, yGelu: boolean, outOff: number): Promise<Float32Array> {
  const out0 = new Float32Array(outOff + R);
  out0.fill(5, 0, outOff); // a sentinel before this slice: must stay untouched
  // this pair's rows start at ROW_OFF (another pair of the batch sits before it, filled with a sentinel)
  const ROW_OFF = 2;
  const other = new Float32Array(ROW_OFF * R).fill(1e6);
  const Bf = upload(g, 'cond test', { y: (ROW_OFF + size) * R, g: (ROW_OFF + size) * R, out: out0, carry: 2 * R });
  Bf.write('y', other);
  Bf.write('g', other);
  const c = await conductance(g, { label: 'cond test', y: Bf.v('y'), g: Bf.v('g'), out: Bf.v('out'), carry: Bf.v('carry'), R, outOff, rowOff: ROW_OFF, yGelu });
  for (const { k0, count } of chunks(P, size)) {
    Bf.write('y', y.subarray(k0 * R, (k0 + count) * R), ROW_OFF * R);
    Bf.write('g', gr.subarray(k0 * R, (k0 + count) * R), ROW_OFF * R);
    setConductanceChunk(g, c.params, R, outOff, ROW_OFF, k0, count, wr, wl);
    await run(g, [c.d], 'cond test');
  }
  const all = await Bf.read('out');
  Bf.destroy();
  for (let i = 0; i < outOff; i++) assert.is(all[i], 5, `conductance wrote outside its slice at ${i}`);
  return all.subarray(outOff);
}

S('ig/conductance: right/left/trapezoid, same sum at chunks of 1, 3 and all (carry); Y_GELU', async () => {
  const m = 7, P = m + 1, R = 300, outOff = 7;
  const y = randf(P * R, 2), gr = randf(P * R);
  for (const rule of RULES) {
    const { wr, wl } = ruleWeights(rule);
    const want = new Float64Array(R);
    refConductance(want, f64(y), f64(gr), m, R, rule);
    const byChunk: Float32Array[] = [];
    for (const size of [1, 3, P]) {
      const got = await gpuConductance(y, gr, P, R, size, wr, wl, false, outOff);
      close(`conductance ${rule} chunk=${size}`, got, want, FWD);
      byChunk.push(got);
    }
    close(`conductance ${rule} chunk=1 vs chunk=all`, byChunk[0], byChunk[2], 1e-6);
    close(`conductance ${rule} chunk=3 vs chunk=all`, byChunk[1], byChunk[2], 1e-6);
  }
  // y = gelu(saved pre-activation), as for the FFN units after GELU
  const yAct = new Float64Array(P * R), want = new Float64Array(R);
  ref.geluForward(yAct, f64(y), P * R);
  refConductance(want, yAct, f64(gr), m, R, 'right');
  for (const size of [3, P]) close(`conductance Y_GELU right chunk=${size}`, await gpuConductance(y, gr, P, R, size, 1, 0, true, outOff), want, FWD);
});

// ---------- ig/segments ----------
S('ig/segments: totals and [CLS] / query / [SEP] / passage / last [SEP] sums vs a plain loop', async () => {
  const L = 2, T = 13, U = 150;
  const inp = randf(L * T * U);
  const Bf = upload(g, 'seg test', { inp, total: L * U, seg: 5 * L * U });
  const s = await segments(g, { label: 'seg test', inp: Bf.v('inp'), total: Bf.v('total'), seg: Bf.v('seg'), L, T, U });
  for (const [sep1, len] of [[4, 11], [6, 13], [1, 3]]) {
    setSegments(g, s.params, L, T, U, sep1, len);
    await run(g, [s.d], 'seg test');
    const total = new Float64Array(L * U), seg = new Float64Array(5 * L * U);
    for (let l = 0; l < L; l++) {
      for (let u = 0; u < U; u++) {
        for (let t = 0; t < len; t++) {
          const k = t === 0 ? 0 : t < sep1 ? 1 : t === sep1 ? 2 : t === len - 1 ? 4 : 3;
          const v = inp[(l * T + t) * U + u];
          seg[k * L * U + l * U + u] += v;
          total[l * U + u] += v;
        }
      }
    }
    close(`segments sep1=${sep1} len=${len} total`, await Bf.read('total'), total, FWD);
    const gotSeg = await Bf.read('seg');
    for (let k = 0; k < 5; k++) {
      const part = seg.subarray(k * L * U, (k + 1) * L * U);
      if (part.every((x) => x === 0)) { allZero(`segment ${k} (empty)`, gotSeg.subarray(k * L * U, (k + 1) * L * U), part.keys()); continue; }
      close(`segments sep1=${sep1} len=${len} seg ${k}`, gotSeg.subarray(k * L * U, (k + 1) * L * U), part, FWD);
    }
  }
  Bf.destroy();
});

S.run();
