/**
 * Tests that guard what they claim (issue 11, items 12–14); each was checked by making the described change to
 * the code and seeing it fail:
 * - baselines (src/ig/baselines.ts): `pad`, `unk`, `pad-query`, `pad-passage` (and the others) position by
 *   position, and through the engine against the float64 reference — fails if pad-query pads the passage;
 * - the 96-bit accumulation kernel (shaders/ig/aggregate.wgsl) against BigInt on the host, with values that
 *   carry between all three words and negative values; the host's addWords and wordsToF64 likewise — fails if
 *   any carry is dropped;
 * - the engine's default rule (trapezoid) against the float64 reference at small m, tight enough that
 *   trapezoid weights 0.6/0.4 fail.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve } from 'node:path';
import { requestGpu } from '../src/gpu/node.ts';
import { readView } from '../src/gpu/queue.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { BASELINES, baselineIds, type Baseline } from '../src/ig/baselines.ts';
import { addWords, wordsToF64 } from '../src/ig/cells.ts';
import { aggregate } from '../src/kernels/ig.ts';
import { nigReference } from '../src/ref/nig.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { FIXTURES, fixtureRef, needsShared, relL2 } from './helpers/shared.ts';
import { done, run, upload } from './helpers/gpu.ts';

const S = suite('guards');
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };

// ---------------------------------------------------------------- 12: baselines

S('baselineIds: every baseline, position by position ([CLS] q q [SEP] d d d [SEP])', () => {
  const ids = [101, 2054, 2003, 102, 7592, 2088, 999, 102];
  const types = [0, 0, 0, 0, 1, 1, 1, 1];
  const want: Record<Baseline, number[]> = {
    'pad-keep-special': [101, 0, 0, 102, 0, 0, 0, 102],
    pad: [0, 0, 0, 0, 0, 0, 0, 0],
    zero: [101, -1, -1, 102, -1, -1, -1, 102],
    mask: [101, 103, 103, 102, 103, 103, 103, 102],
    unk: [101, 100, 100, 102, 100, 100, 100, 102],
    'pad-query': [101, 0, 0, 102, 7592, 2088, 999, 102],
    'pad-passage': [101, 2054, 2003, 102, 0, 0, 0, 102],
  };
  assert.equal([...BASELINES].sort(), Object.keys(want).sort());
  for (const b of BASELINES) assert.equal([...baselineIds(ids, types, b, SPECIAL)], want[b], b);
  // Special tokens are recognised by id, not by position; a [SEP] inside the passage stays.
  assert.equal([...baselineIds([101, 5, 102, 6, 102, 7, 102], [0, 0, 0, 1, 1, 1, 1], 'pad-passage', SPECIAL)], [101, 5, 102, 0, 102, 0, 102]);
});

async function engineFor(name: string) {
  const g = await requestGpu();
  const w = loadCheckpoint(resolve(FIXTURES, name));
  const model = await BertGpu.create(g, w);
  const R = fixtureRef(name);
  const pairs = [0, 1, 2, 3, 4, 5].map((i) => {
    const ids = Array.from(R(`p${i}.input_ids`));
    return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
  });
  return { eng: new NigEngine(model, SPECIAL), pairs, w };
}

needsShared(S, 'the engine\'s pad, unk, pad-query and pad-passage baselines match the float64 reference (≤ 1e-4), and differ from each other', async () => {
  const { eng, pairs, w } = await engineFor('tiny-monobert');
  const p = pairs[1];
  const got: Record<string, Float32Array> = {};
  for (const baseline of ['pad', 'unk', 'pad-query', 'pad-passage'] as const) {
    const r = await eng.attribute(p, { steps: 8, rule: 'right', baseline, perToken: true });
    const ref = nigReference(w, p.ids, p.typeIds, 8, { rule: 'right', baseline });
    const e = relL2(r.nigPreTokens!, ref.nigPre);
    assert.ok(e <= 1e-4, `${baseline}: NIG relative L2 ${e.toExponential(2)}`);
    assert.ok(Math.abs(r.F[0] - ref.F[0]) <= 1e-5, `${baseline}: F(x') ${r.F[0]} vs ${ref.F[0]}`);
    got[baseline] = r.nigPreTokens!;
  }
  assert.ok(relL2(got['pad-query'], got['pad-passage']) > 0.1, 'pad-query and pad-passage differ');
});

// ---------------------------------------------------------------- 13: 96-bit accumulation

const M96 = (1n << 96n) - 1n;
/** Signed 96-bit value of words (w0, w1, w2) at `at`. */
const fromWords = (w: Uint32Array, at: number): bigint => BigInt.asIntN(96, BigInt(w[at]) | (BigInt(w[at + 1]) << 32n) | (BigInt(w[at + 2]) << 64n));
const toWords = (v: bigint): number[] => { const u = v & M96; return [Number(u & 0xffffffffn), Number((u >> 32n) & 0xffffffffn), Number(u >> 64n)]; };

/** round(|x| · 2^40) with ties to even, signed, exactly (x a float64 holding an f32 value). */
function fixed(x: number): bigint {
  const a = Math.abs(x) * 2 ** 40; // exact: a power-of-two scaling of an f32 value
  let r = Math.floor(a);
  const frac = a - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r += 1;
  const v = BigInt(r);
  return x < 0 ? -v : v;
}

/** f32 values that make every carry path run: low word 0 (negation carries), exact powers of two across words, big and tiny. */
function hardValues(rand: () => number, n: number): Float32Array {
  const special = [2 ** -8, -(2 ** -8), 2 ** 24, -(2 ** 24), 2 ** 14 + 2 ** -20, -(2 ** 14) - 2 ** -18, 1, -1, 2 ** -40, -(2 ** -40), 0, 3 * 2 ** -41, -(3 * 2 ** -41), 0.1, -0.1, 12345.678];
  return Float32Array.from({ length: n }, (_, i) => {
    if (i < special.length) return special[i];
    const mag = 2 ** (Math.floor(rand() * 60) - 38) * (1 + rand());
    return rand() < 0.5 ? -mag : mag;
  });
}

S('aggregate kernel: exact against BigInt, with carries through all three words and negative values', async () => {
  const g = await requestGpu();
  const R = 300; // not a multiple of the workgroup size
  const rand = mulberry32(11);
  // Starting words next to every boundary: 2^32 − k, 2^64 − k, −1, −2^64, 2^94, random.
  const starts: bigint[] = Array.from({ length: 2 * R }, (_, i) => {
    switch (i % 6) {
      case 0: return (1n << 32n) - BigInt(1 + (i % 5));
      case 1: return (1n << 64n) - BigInt(1 + (i % 7));
      case 2: return -1n;
      case 3: return -(1n << 64n);
      case 4: return (1n << 94n) + BigInt(i);
      default: return BigInt.asIntN(96, BigInt(Math.floor(rand() * 2 ** 32)) << 50n) + BigInt(i);
    }
  });
  const init = new Uint32Array(R * 6);
  starts.forEach((v, j) => init.set(toWords(v), j * 3)); // j = 2r (sum), 2r + 1 (sum of squares)
  const b = upload(g, 'aggregate test', { vals: R, acc: init });
  const want = [...starts];
  const d = await aggregate(g, { label: 'aggregate test', vals: b.v('vals'), acc: b.v('acc'), R });
  for (let round = 0; round < 6; round++) {
    const vals = hardValues(rand, R);
    if (round % 2) vals.reverse();
    b.write('vals', vals);
    await run(g, [d], 'aggregate');
    for (let r = 0; r < R; r++) {
      const v = vals[r];
      want[2 * r] = BigInt.asIntN(96, want[2 * r] + fixed(v));
      want[2 * r + 1] = BigInt.asIntN(96, want[2 * r + 1] + fixed(Math.fround(v * v)));
    }
  }
  await done(g);
  const got = new Uint32Array((await b.read('acc')).buffer.slice(0));
  let carries = 0;
  for (let j = 0; j < 2 * R; j++) {
    const gv = fromWords(got, j * 3);
    assert.ok(gv === want[j], `${j % 2 ? 'sum of squares' : 'sum'} of unit ${j >> 1}: kernel ${gv} vs BigInt ${want[j]}`);
    if (toWords(want[j])[2] !== toWords(starts[j])[2]) carries++;
  }
  assert.ok(carries > R / 4, `only ${carries} accumulators changed their top word`);
  b.destroy();
});

S('addWords and wordsToF64: exact against BigInt, carries and negatives included', () => {
  const rand = mulberry32(5);
  const n = 2000;
  const rnd96 = (): bigint => {
    const k = Math.floor(rand() * 8);
    const edge = [0n, -1n, (1n << 32n) - 1n, (1n << 64n) - 1n, -(1n << 32n), -(1n << 64n), 1n << 90n, -(1n << 90n)][k];
    const r = (BigInt(Math.floor(rand() * 2 ** 32)) << BigInt(Math.floor(rand() * 62))) * (rand() < 0.5 ? -1n : 1n);
    return rand() < 0.5 ? edge + BigInt(Math.floor(rand() * 5) - 2) : r;
  };
  const a = new Uint32Array(n * 3), b = new Uint32Array(n * 3), va: bigint[] = [], vb: bigint[] = [];
  for (let i = 0; i < n; i++) {
    va.push(rnd96()); vb.push(rnd96());
    a.set(toWords(va[i]), i * 3); b.set(toWords(vb[i]), i * 3);
  }
  const s = addWords(a, b);
  for (let i = 0; i < n; i++) assert.ok(fromWords(s, i * 3) === BigInt.asIntN(96, va[i] + vb[i]), `addWords ${i}: ${va[i]} + ${vb[i]} gave ${fromWords(s, i * 3)}`);
  // wordsToF64: exact for |v| < 2^53, correctly scaled by 2^-40; `which` picks the sum (0) or the sum of squares (1).
  const vals = [0n, 1n, -1n, (1n << 40n) * 3n, -((1n << 40n) * 3n) - 1n, (1n << 52n) + 12345n, -(1n << 52n), (1n << 32n) - 1n, -(1n << 32n) + 1n, (1n << 33n) + 1n];
  const words = new Uint32Array(vals.length * 6);
  vals.forEach((v, i) => { words.set(toWords(v), i * 6); words.set(toWords(-v * 2n), i * 6 + 3); });
  const sums = wordsToF64(words, 0), sq = wordsToF64(words, 1);
  vals.forEach((v, i) => {
    assert.is(sums[i], Number(v) * 2 ** -40, `wordsToF64 sum ${v}`);
    assert.is(sq[i], Number(-v * 2n) * 2 ** -40, `wordsToF64 sumsq ${-v * 2n}`);
  });
  // Beyond 2^53: within one rounding of the exact value.
  const big = [(1n << 80n) + (1n << 30n) + 7n, -(1n << 85n) - 12345n];
  const bw = new Uint32Array(12);
  big.forEach((v, i) => bw.set(toWords(v), i * 6));
  const bd = wordsToF64(bw, 0);
  big.forEach((v, i) => assert.ok(Math.abs(bd[i] - Number(v) * 2 ** -40) <= 2 ** -51 * Math.abs(bd[i]), `wordsToF64 ${v}: ${bd[i]}`));
});

// ---------------------------------------------------------------- 14: the default rule against float64

needsShared(S, 'the engine\'s default rule (trapezoid) matches the float64 trapezoid reference at m = 2, 4, 8 (tight enough to catch weights 0.6/0.4)', async () => {
  const { eng, pairs, w } = await engineFor('tiny-monobert');
  for (const [i, m] of [[1, 2], [3, 4], [4, 8]]) {
    const p = pairs[i];
    const r = await eng.attribute(p, { steps: m, perToken: true }); // no rule: the default
    assert.is(r.rule, 'trapezoid');
    const ref = nigReference(w, p.ids, p.typeIds, m, { rule: 'trapezoid' });
    const right = nigReference(w, p.ids, p.typeIds, m, { rule: 'right' });
    const errs = { pre: relL2(r.nigPreTokens!, ref.nigPre), post: relL2(r.nigPostTokens!, ref.nigPost), embed: relL2(r.igEmbed, ref.igEmbed) };
    console.log(`  m=${m} pair ${i}: trapezoid vs ref ${JSON.stringify(errs)}; right vs trapezoid (ref) ${relL2(right.nigPre, ref.nigPre).toExponential(2)}`);
    for (const [k, e] of Object.entries(errs)) assert.ok(e <= 2e-5, `m = ${m}, pair ${i}, ${k}: relative L2 ${e.toExponential(2)} against the float64 trapezoid rule`);
  }
});

S.run();
