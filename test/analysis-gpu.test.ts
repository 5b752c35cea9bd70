/**
 * The GPU analysis (src/analysis-gpu, shaders/analysis) against its plain-array references in src/analysis:
 * - selection: the mask of selectTopMask has exactly k zeros, at the units of rankings.ts `topK`, and the
 *   threshold equals `thresholdValue` — both references run on the same f32 values the device holds — on random
 *   vectors of N = 1000, 4097 and 98304 (BERT-large layers x d_ff; none a multiple of the workgroup tiles), with
 *   many duplicates, negative zeros, ties exactly at the threshold, denormals and infinities, signed and absolute,
 *   for k = 0, 1, a few, ~0.1%, 10% and N;
 * - masks from a host unit list (randomMask) equal pruning.ts `maskFromUnits`;
 * - masks land in BertGpu's `mask.<l>` views (writeLayerMasks) and score the same as host-set masks;
 * - cell means decode the 96-bit accumulators correctly rounded (checked against an exact BigInt quotient) and
 *   equal cells.ts wordsToF64(...) / count within f32 rounding; fusion equals schemes.ts `fuseMeans`.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Gpu } from '../src/gpu/device.ts';
import { writeView } from '../src/gpu/arena.ts';
import { readView } from '../src/gpu/queue.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { thresholdValue, topK } from '../src/analysis/rankings.ts';
import { maskFromUnits, randomUnits } from '../src/analysis/pruning.ts';
import { fuseMeans } from '../src/analysis/schemes.ts';
import { CellAccumulators, wordsToF64 } from '../src/ig/cells.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { makeTinyBert } from '../src/toy/tiny-bert.ts';
import { fuseScores, meanScores, ownView } from '../src/analysis-gpu/scores.ts';
import { randomMask, selectTopMask, writeLayerMasks } from '../src/analysis-gpu/select.ts';
import { done, run, upload } from './helpers/gpu.ts';
import { UserError } from '../src/util/errors.ts';
import { mulberry32 } from '../src/util/rng.ts';

const S = suite('analysis-gpu');

const rand = mulberry32(99173); // deterministic
const randInt = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[randInt(xs.length)];

/** The cut-offs every vector is tested at: 1, a few, ~0.1%, 10%, N. */
const ks = (N: number) => [...new Set([1, 3, Math.ceil(N / 1000), Math.ceil(N / 10), N])];

/** Selects on the device and compares set, count of zeros and threshold with the plain-array reference. */
async function checkSelect(g: Gpu, what: string, x: Float32Array, kList: number[], absolute = false): Promise<void> {
  const b = upload(g, what, { x });
  try {
    for (const k of kList) {
      const tag = `${what}, k = ${k}${absolute ? ', absolute' : ''}`;
      const sel = await selectTopMask(g, b.v('x'), x.length, k, { absolute });
      const mask = await readView(g, sel.mask, x.length);
      let zeros = 0;
      for (let u = 0; u < mask.length; u++) {
        if (mask[u] === 0) zeros++;
        else if (mask[u] !== 1) assert.unreachable(`${tag}: mask[${u}] = ${mask[u]}, not 0 or 1`);
      }
      assert.is(zeros, k, `${tag}: zeros in the mask`);
      const want = topK(x, k, { absolute });
      const got = await sel.units();
      const diff = want.findIndex((u, i) => got[i] !== u);
      assert.ok(diff < 0, `${tag}: selected set differs at position ${diff}: gpu ${got[diff]}, reference ${want[diff]}`);
      if (k > 0) {
        const t = await sel.threshold();
        const tr = thresholdValue(x, k, { absolute });
        assert.ok(Object.is(t, tr), `${tag}: threshold ${t} vs reference ${tr}`);
      }
      sel.destroy();
    }
  } finally {
    b.destroy();
  }
}

S('selection: random vectors of 1000, 4097 and 98304 units, signed and absolute, equal topK and thresholdValue', async () => {
  const g = await requestGpu();
  for (const N of [1000, 4097, 98304]) {
    const x = Float32Array.from({ length: N }, () => (2 * rand() - 1) * 2 ** (8 * rand() - 4));
    await checkSelect(g, `uniform ${N}`, x, ks(N));
    await checkSelect(g, `uniform ${N}`, x, [1, Math.ceil(N / 1000), Math.ceil(N / 10)], true);
  }
});

S('selection: duplicates, ±0, denormals, infinities and ties exactly at the threshold', async () => {
  const g = await requestGpu();
  const tiny = 2 ** -149; // the smallest f32 denormal
  const pool = [-0, 0, 0, -0, 1, -1, 0.5, -0.5, 2, tiny, -tiny, 3 * tiny, Infinity, -Infinity, 1 + 2 ** -23, 1 - 2 ** -24, -2];
  for (const N of [1000, 4097]) {
    const x = Float32Array.from({ length: N }, () => pick(pool));
    await checkSelect(g, `pool ${N}`, x, [0, ...ks(N), 17, N - 1]);
    await checkSelect(g, `pool ${N}`, x, [1, 5, Math.ceil(N / 10), N - 3], true);
  }
  // Keys differing only in the lowest byte (every pass of the radix select matters), in long tie runs.
  const N = 98304;
  const low = Float32Array.from({ length: N }, () => 1 + randInt(300) * 2 ** -23);
  await checkSelect(g, 'low bits 98304', low, ks(N));
  // Threshold exactly at zero: 10 positives, many ±0 before and after, the rest negative; ties to the lowest index.
  const z = Float32Array.from({ length: 4097 }, (_, u) => (u % 400 === 7 ? 1 + u : u % 3 === 0 ? -(1 + rand()) : u % 2 ? -0 : 0));
  const pos = z.filter((v) => v > 0).length;
  await checkSelect(g, 'zero threshold', z, [pos + 1, pos + 50, pos + 777]);
  // Absolute: every magnitude twice, with both signs.
  const sym = new Float32Array(4097);
  for (let u = 0; u < sym.length; u += 2) { const v = Math.fround(randInt(50) / 8); sym[u] = v; if (u + 1 < sym.length) sym[u + 1] = -v; }
  await checkSelect(g, 'symmetric', sym, [1, 2, 3, 41, 410, 4097], true);
  await checkSelect(g, 'symmetric', sym, [1, 41, 2049]);
});

S('selection: a NaN score is refused, k outside [0, N] too', async () => {
  const g = await requestGpu();
  const x = Float32Array.from({ length: 300 }, (_, u) => (u === 123 ? NaN : u));
  const b = upload(g, 'nan', { x });
  const sel = await selectTopMask(g, b.v('x'), 300, 5);
  try {
    await sel.threshold();
    assert.unreachable('a NaN score should be refused');
  } catch (e) {
    assert.instance(e, UserError);
    assert.match((e as Error).message, /1 of 300 scores are NaN/);
  }
  for (const k of [-1, 301, 2.5]) {
    try { await selectTopMask(g, b.v('x'), 300, k); assert.unreachable(`k = ${k} should be refused`); } catch (e) { assert.instance(e, UserError); }
  }
  sel.destroy();
  b.destroy();
});

S('randomMask: a host unit list gives maskFromUnits', async () => {
  const g = await requestGpu();
  const [L, F] = [24, 4096];
  for (const n of [0, 1, 98, 9830]) {
    const units = randomUnits(n, L * F, 5 + n);
    const mask = await randomMask(g, units, L * F);
    const got = await readView(g, mask, L * F);
    const want = maskFromUnits(units, L, F);
    for (let l = 0; l < L; l++) {
      const i = want[l].findIndex((v, j) => got[l * F + j] !== v);
      assert.ok(i < 0, `n = ${n}: layer ${l} neuron ${i}: ${got[l * F + i]} vs ${want[l][i]}`);
    }
    mask.buffer.destroy();
  }
  try { await randomMask(g, [3, 2], 10); assert.unreachable('an unsorted list should be refused'); } catch (e) { assert.instance(e, UserError); }
  try { await randomMask(g, [3, 10], 10); assert.unreachable('a unit ≥ N should be refused'); } catch (e) { assert.instance(e, UserError); }
});

S('writeLayerMasks: the selection lands in BertGpu mask.<l> and scores like host-set masks', async () => {
  const g = await requestGpu();
  const dir = mkdtempSync(join(tmpdir(), 'ir-neurons-agpu-'));
  try {
    makeTinyBert({ out: dir, seed: 11, hidden: 16, layers: 3, heads: 2, intermediate: 48, labels: 2, maxPositions: 32 });
    const model = await BertGpu.create(g, loadCheckpoint(dir));
    const { layers: L, intermediate: F, vocabSize: V } = model.cfg;
    const pairs = [9, 14, 20].map((len) => ({
      ids: Array.from({ length: len }, () => randInt(V)),
      typeIds: Array.from({ length: len }, (_, t) => (t < len / 2 ? 0 : 1)),
      sep1: Math.floor(len / 2) - 1,
    }));
    const unpruned = await model.score(pairs);
    const x = Float32Array.from({ length: L * F }, () => pick([-1, 0, 0.25, 1, 2]) * (1 + randInt(4)));
    const readMasks = async () => Promise.all(Array.from({ length: L }, (_, l) => readView(g, model.weights.view(`mask.${l}`))));
    for (const [k, absolute] of [[14, false], [40, true]] as const) {
      const b = upload(g, 'model scores', { x });
      const sel = await selectTopMask(g, b.v('x'), L * F, k, { absolute });
      writeLayerMasks(g, model, sel.mask);
      const want = maskFromUnits(topK(x, k, { absolute }), L, F);
      const got = await readMasks();
      for (let l = 0; l < L; l++) assert.equal(Array.from(got[l]), Array.from(want[l]), `k = ${k}: mask.${l}`);
      const gpuScored = await model.score(pairs);
      model.resetMasks();
      want.forEach((m, l) => model.setMask(l, m));
      const hostScored = await model.score(pairs);
      assert.equal(Array.from(gpuScored), Array.from(hostScored), `k = ${k}: logits with GPU-written vs host-set masks`);
      assert.ok(gpuScored.some((v, i) => v !== unpruned[i]), `k = ${k}: pruning ${k} units should change some logit`);
      sel.destroy();
      b.destroy();
    }
    const units = randomUnits(20, L * F, 3);
    writeLayerMasks(g, model, await randomMask(g, units, L * F));
    const got = await readMasks();
    maskFromUnits(units, L, F).forEach((m, l) => assert.equal(Array.from(got[l]), Array.from(m), `random: mask.${l}`));
    model.resetMasks();
    assert.equal(Array.from(await model.score(pairs)), Array.from(unpruned), 'reset masks score as unpruned');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- cell means and fusion

const M96 = (1n << 96n) - 1n;
function toWords(v: bigint): [number, number, number] {
  const t = v & M96; // two's complement over 96 bits
  return [Number(t & 0xffffffffn), Number((t >> 32n) & 0xffffffffn), Number(t >> 64n)];
}
const bitLen = (n: bigint) => n.toString(2).length;

/** f32 nearest (ties to even) of V · 2^-40 / c, computed exactly with integers. */
function exactMean(V: bigint, c: number): number {
  if (V === 0n) return 0;
  const n = V < 0n ? -V : V;
  const d = BigInt(c) << 40n;
  let s = 23 - (bitLen(n) - bitLen(d));
  for (;;) {
    const num = s >= 0 ? n << BigInt(s) : n;
    const den = s >= 0 ? d : d << BigInt(-s);
    const q = num / den;
    if (q >= 1n << 24n) { s--; continue; }
    if (q < 1n << 23n) { s++; continue; }
    const r = num % den;
    const m = 2n * r > den || (2n * r === den && (q & 1n) === 1n) ? q + 1n : q;
    return (V < 0n ? -1 : 1) * Number(m) * 2 ** -s;
  }
}

/** Random accumulator values: every magnitude up to 2^94, both signs, 0, ±1 and exact rounding ties. */
function randomSums(n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => {
    if (i < 6) return [0n, 1n, -1n, (1n << 94n) - 1n, -(1n << 94n), ((1n << 24n) + 1n) << 40n][i];
    const bits = 1 + randInt(94);
    let v = 0n;
    for (let b = 0; b < bits; b += 30) v = (v << 30n) | BigInt(randInt(2 ** 30));
    v &= (1n << BigInt(bits)) - 1n;
    if (i % 7 === 0) v = ((v >> 30n) << 30n) | (1n << 29n); // many halfway cases for count 1
    return rand() < 0.5 ? -v : v;
  });
}

S('meanScores: 96-bit sums decode correctly rounded and equal wordsToF64 / count within f32 rounding', async () => {
  const g = await requestGpu();
  const R = 4097;
  const cells = new CellAccumulators(g, R, ['a.rel', 'b.rel']);
  const sums = randomSums(R), sq = randomSums(R).map((v) => (v < 0n ? -v : v));
  const seg = randomSums(5 * R);
  const total = new Uint32Array(R * 6), segWords = new Uint32Array(5 * R * 6);
  for (let u = 0; u < R; u++) { total.set(toWords(sums[u]), u * 6); total.set(toWords(sq[u]), u * 6 + 3); }
  for (let r = 0; r < 5 * R; r++) segWords.set(toWords(seg[r]), r * 6);
  cells.write('a.rel', { total, seg: segWords });
  const cases: { what: string; vals: bigint[]; words: Uint32Array; which: 0 | 1; opts: Parameters<typeof meanScores>[4] }[] = [
    { what: 'sum', vals: sums, words: total, which: 0, opts: {} },
    { what: 'sum of squares', vals: sq, words: total, which: 1, opts: { which: 'sumSq' } },
    { what: 'passage segment', vals: seg.slice(3 * R, 4 * R), words: segWords.slice(3 * R * 6, 4 * R * 6), which: 0, opts: { segment: 'passage' } },
  ];
  for (const count of [1, 3, 1000, 123456789, 2 ** 31 - 1]) {
    for (const c of cases) {
      const v = await meanScores(g, cells, 'a.rel', count, c.opts);
      const got = await readView(g, v, R);
      const ref = wordsToF64(c.words, c.which);
      for (let u = 0; u < R; u++) {
        const exact = exactMean(c.vals[u], count);
        assert.ok(Object.is(got[u], exact), `${c.what}, count ${count}, unit ${u}: ${got[u]} vs correctly rounded ${exact}`);
        const r = ref[u] / count;
        assert.ok(Math.abs(got[u] - r) <= 2 ** -24 * Math.abs(r) * (1 + 2 ** -20), `${c.what}, count ${count}, unit ${u}: ${got[u]} vs wordsToF64 / count ${r}`);
      }
      v.buffer.destroy();
    }
  }
  // Near-ties that only the division remainder decides: V = c · (2^24 + 1) · 2^j + δ lies a hair off the midpoint
  // between two f32 values when δ ≠ 0, with every later quotient bit zero (δ · 2^lz < c).
  const edge = new CellAccumulators(g, 64, ['edge.rel']);
  for (const c of [3, 1000003, 2 ** 30 + 3]) {
    const vals = Array.from({ length: 64 }, (_, u) => {
      const v = BigInt(c) * ((1n << 24n) + 1n) * (1n << BigInt(20 + (u >> 2))) + BigInt((u & 3) - 1);
      return u % 8 < 4 ? v : -v;
    });
    const words = new Uint32Array(64 * 6);
    vals.forEach((v, u) => words.set(toWords(v), u * 6));
    edge.write('edge.rel', { total: words, seg: new Uint32Array(5 * 64 * 6) });
    const got = await readView(g, await meanScores(g, edge, 'edge.rel', c), 64);
    vals.forEach((v, u) => assert.ok(Object.is(got[u], exactMean(v, c)), `near-tie, count ${c}, unit ${u}: ${got[u]} vs ${exactMean(v, c)}`));
  }
  edge.arena.destroy();
  // Words written by the aggregation kernel itself: a few random pair vectors added into cell b.rel.
  const b = upload(g, 'pairs', { total: R, seg: 5 * R });
  for (let p = 0; p < 5; p++) {
    b.write('total', Float32Array.from({ length: R }, () => (2 * rand() - 1) * 10 ** (4 * rand() - 3)));
    await run(g, await cells.dispatches('b.rel', b.v('total'), b.v('seg')), 'aggregate');
  }
  await done(g);
  const words = (await cells.read('b.rel')).total;
  const got = await readView(g, await meanScores(g, cells, 'b.rel', 5), R);
  const ref = wordsToF64(words, 0);
  for (let u = 0; u < R; u++) assert.ok(Math.abs(got[u] - ref[u] / 5) <= 2 ** -24 * Math.abs(ref[u] / 5) * (1 + 2 ** -20), `aggregated unit ${u}: ${got[u]} vs ${ref[u] / 5}`);
  b.destroy();
  cells.arena.destroy();
});

S('fuseScores: equals fuseMeans of the same f32 means (1e-6 relative), over 3 cells and 8 chained vectors', async () => {
  const g = await requestGpu();
  const R = 4097;
  const names = ['msmarco.rel', 'trec.rel', 'scifact.rel'];
  const cells = new CellAccumulators(g, R, names);
  const counts = [7, 1, 250];
  for (const c of names) {
    const total = new Uint32Array(R * 6);
    randomSums(R).forEach((v, u) => total.set(toWords(v >> 40n), u * 6)); // means up to ~2^54 / count
    cells.write(c, { total, seg: new Uint32Array(5 * R * 6) });
  }
  const views = await Promise.all(names.map((c, i) => meanScores(g, cells, c, counts[i])));
  const check = async (what: string, vs: typeof views, sameSign: boolean) => {
    const fused = await readView(g, await fuseScores(g, vs), R);
    const means = await Promise.all(vs.map((v) => readView(g, v, R)));
    const ref = fuseMeans(means);
    for (let u = 0; u < R; u++) {
      // f32 sums: the error scales with the terms, so a cancelled result is compared against the terms' size.
      const scale = sameSign ? Math.abs(ref[u]) : Math.max(Math.abs(ref[u]), means.reduce((s, m) => s + Math.abs(m[u]), 0) / vs.length);
      assert.ok(Math.abs(fused[u] - ref[u]) <= 1e-6 * scale, `${what}, unit ${u}: ${fused[u]} vs ${ref[u]}`);
    }
  };
  await check('3 cells', views, false);
  const pos = upload(g, 'positive means', Object.fromEntries(Array.from({ length: 8 }, (_, d) => [`m${d}`, Float32Array.from({ length: R }, () => rand() * 2 ** (10 * rand()))])));
  await check('8 positive vectors', Array.from({ length: 8 }, (_, d) => pos.v(`m${d}`)), true);
  const out = ownView(g, 'fusion out', R);
  writeView(g, out, new Float32Array(R).fill(123)); // an `out` with stale content is overwritten, not added to
  const again = await readView(g, await fuseScores(g, [views[0]], { out }), R);
  const m0 = await readView(g, views[0], R);
  assert.equal(Array.from(again), Array.from(m0), 'fusion of one vector is that vector');
  pos.destroy();
  cells.arena.destroy();
});

S.run();
