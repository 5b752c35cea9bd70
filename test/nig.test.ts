/**
 * The NIG engine against the PyTorch autograd fixtures (float64): NIG of every FFN unit before and after
 * GELU per token, IG on the word embeddings, the gradient at the input and F along the path, for both models,
 * every pair, m = 20 and 50, through the library API and through `ir-neurons attribute`. Then the
 * invariants: same result at any chunk size, completeness deltas shrinking as m grows.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine, type NigResult } from '../src/ig/engine.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { FIXTURE_MODELS, FIXTURES, REPO, TOKENIZER_JSON, fixturePairs, fixtureRef, needsShared, relL2 } from './helpers/shared.ts';

const S = suite('nig');
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };

async function engineFor(name: string): Promise<{ eng: NigEngine; pairs: EncodedPair[]; R: (n: string) => Float64Array; L: number }> {
  const g = await requestGpu();
  const w = loadCheckpoint(resolve(FIXTURES, name));
  const model = await BertGpu.create(g, w);
  const R = fixtureRef(name);
  const pairs = [0, 1, 2, 3, 4, 5].map((i) => {
    const ids = Array.from(R(`p${i}.input_ids`));
    return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
  });
  return { eng: new NigEngine(model, SPECIAL), pairs, R, L: w.config.layers };
}

function checkAgainstFixture(r: NigResult, R: (n: string) => Float64Array, prefix: string): void {
  const errs: Record<string, number> = {
    F_path: relL2(r.F, R(`${prefix}F_path`)),
    nig_pre: relL2(r.nigPreTokens!, R(`${prefix}nig_pre`)),
    nig_post: relL2(r.nigPostTokens!, R(`${prefix}nig_post`)),
    ig_embed: relL2(r.igEmbed, R(`${prefix}ig_embed`)),
    grad_embed_input: relL2(r.gradEmbedInput, R(`${prefix}grad_embed_input`)),
  };
  for (const [k, e] of Object.entries(errs)) assert.ok(e <= 1e-3, `${prefix}${k}: relative L2 error ${e.toExponential(2)} > 1e-3`);
}

for (const name of FIXTURE_MODELS) {
  needsShared(S, `${name}: every pair, m = 20 and 50, matches the float64 reference (≤ 1e-3 relative L2)`, async () => {
    const { eng, pairs, R, L } = await engineFor(name);
    for (const steps of [20, 50]) {
      for (let i = 0; i < 6; i++) {
        const r = await eng.attribute(pairs[i], { steps, rule: 'right', perToken: true });
        checkAgainstFixture(r, R, `p${i}.m${steps}.`);
        // totals and segments are the GPU reductions of the per-token values
        const F = r.nigPre.length / L;
        const T = r.T;
        for (const [tot, seg, tok] of [[r.nigPre, r.nigPreSegments, r.nigPreTokens!], [r.nigPost, r.nigPostSegments, r.nigPostTokens!]] as const) {
          const sumTok = new Float64Array(L * F);
          const segSum = new Float64Array(L * F);
          for (let l = 0; l < L; l++) for (let t = 0; t < T; t++) for (let u = 0; u < F; u++) sumTok[l * F + u] += tok[(l * T + t) * F + u];
          for (let s = 0; s < 5; s++) for (let j = 0; j < L * F; j++) segSum[j] += seg[s * L * F + j];
          assert.ok(relL2(tot, sumTok) < 1e-5, 'token sum');
          assert.ok(relL2(segSum, sumTok) < 1e-5, 'segments add up to the total');
          // the [CLS] segment is token 0 alone
          for (let j = 0; j < 5; j++) assert.ok(Math.abs(seg[j] - tok[j]) <= 1e-6 + 1e-5 * Math.abs(tok[j]), 'CLS segment');
        }
        if (i === 0) {
          // without --per-token the totals are the same
          const r2 = await eng.attribute(pairs[i], { steps, rule: 'right' });
          assert.is(r2.nigPreTokens, undefined);
          assert.ok(relL2(r2.nigPre, r.nigPre) < 1e-6);
        }
      }
    }
  });
}

needsShared(S, 'same result at chunk sizes 1, 7 and all points (≤ 1e-5), for every rule', async () => {
  const { eng, pairs } = await engineFor('tiny-minilm');
  for (const rule of ['right', 'left', 'trapezoid'] as const) {
    const all = await eng.attribute(pairs[2], { steps: 20, rule, perToken: true });
    assert.is(all.chunk, 21, 'all points fit in one batch here');
    for (const chunk of [1, 7]) {
      const r = await eng.attribute(pairs[2], { steps: 20, rule, perToken: true, chunk });
      assert.is(r.chunk, chunk);
      for (const k of ['F', 'nigPreTokens', 'nigPostTokens', 'igEmbed', 'nigPreSegments'] as const) {
        const e = relL2(r[k]!, all[k]!);
        assert.ok(e <= 1e-5, `${rule} chunk ${chunk} ${k}: ${e}`);
      }
    }
  }
});

needsShared(S, 'one host round trip for a pair\'s path, whatever its chunks: F and ∂F/∂x of every chunk are collected on the GPU and read once', async () => {
  const { waitStats } = await import('../src/gpu/wait.ts');
  const { eng, pairs } = await engineFor('tiny-minilm');
  const waits = async (chunk: number) => {
    await eng.attribute(pairs[2], { steps: 20, rule: 'right', chunk }); // (plans built and kernels compiled first)
    const before = waitStats.waits;
    const r = await eng.attribute(pairs[2], { steps: 20, rule: 'right', chunk });
    return { waits: waitStats.waits - before, r };
  };
  const one = await waits(21), seven = await waits(3);
  assert.is(one.r.chunk, 21);
  assert.is(seven.r.chunk, 3);
  assert.is(seven.waits, one.waits, `7 chunks wait as often as 1 (${seven.waits} vs ${one.waits})`);
  assert.ok(one.waits <= 3, `waits per pair: ${one.waits}`);
  assert.ok(relL2(seven.r.F, one.r.F) <= 1e-6 && relL2(seven.r.nigPre, one.r.nigPre) <= 1e-5);
  // with a progress callback, one wait per chunk more, and the progress of every chunk in order
  const seen: number[] = [];
  const before = waitStats.waits;
  await eng.attribute(pairs[2], { steps: 20, rule: 'right', chunk: 3, onProgress: (d) => seen.push(d) });
  assert.equal(seen, [3, 6, 9, 12, 15, 18, 21]);
  assert.is(waitStats.waits - before, seven.waits + 7);
});

needsShared(S, 'several pairs of one padded length share a batch: results equal separate runs and the fixtures', async () => {
  const { eng, pairs, R } = await engineFor('tiny-minilm');
  // pairs 2 (23 tokens) and 4 (22 tokens) both run at 24
  const many = await eng.attributeMany([pairs[2], pairs[4]], { steps: 20, rule: 'right', perToken: true });
  for (const [j, i] of [2, 4].entries()) {
    checkAgainstFixture(many[j], R, `p${i}.m20.`);
    const one = await eng.attribute(pairs[i], { steps: 20, rule: 'right', perToken: true });
    for (const k of ['F', 'nigPreTokens', 'nigPostTokens', 'igEmbed', 'gradEmbedInput', 'nigPreSegments'] as const) assert.equal(Array.from(many[j][k]!), Array.from(one[k]!), `pair ${i} ${k}`);
    assert.equal(many[j].hiddenDeltas, one.hiddenDeltas);
  }
  assert.ok(eng.packable(24, 20, 8) >= 2);
  // pairs of different padded lengths: the engine batches them itself (by length), the results in input order
  assert.is.not(eng.paddedLength(pairs[0].ids.length), 24);
  const mixed = await eng.attributeMany([pairs[2], pairs[0], pairs[4]], { steps: 20, rule: 'right' });
  for (const [j, i] of [2, 0, 4].entries()) {
    const one = await eng.attribute(pairs[i], { steps: 20, rule: 'right' });
    assert.equal(Array.from(mixed[j].nigPre), Array.from(one.nigPre), `pair ${i} nigPre`);
    assert.equal(Array.from(mixed[j].F), Array.from(one.F), `pair ${i} F`);
  }
});

needsShared(S, 'a non-finite NIG never reaches the caller\'s aggregation: the batch is refused with a user error before `after` runs', async () => {
  const g = await requestGpu();
  const w = loadCheckpoint(resolve(FIXTURES, 'tiny-minilm'));
  w.layers[0].iW.data[5] = Number.POSITIVE_INFINITY; // one FFN weight of layer 0 overflows
  const eng = new NigEngine(await BertGpu.create(g, w), SPECIAL);
  const { pairs } = await engineFor('tiny-minilm');
  for (const o of [{ steps: 8 }, { steps: 4, tol: 1e-3 }]) {
    let asked = 0;
    try {
      await eng.attributeMany([pairs[2], pairs[4]], { ...o, light: true }, async () => { asked++; return []; });
      assert.unreachable('a non-finite result');
    } catch (e) {
      assert.match((e as Error).message, /produced a non-finite value .*nothing of this pair was added to any aggregate/);
      assert.is((e as Error).name, 'UserError');
    }
    assert.is(asked, 0, JSON.stringify(o));
  }
});

needsShared(S, 'the last layer runs on [CLS] alone: its per-token NIG is exactly 0 off [CLS], the rest matches the fixture, for a pair alone, packed, chunked and adaptive', async () => {
  const { eng, pairs, R, L } = await engineFor('tiny-minilm');
  const F = eng.model.cfg.intermediate;
  const offCls = (r: NigResult, what: string) => {
    const T = r.T;
    for (const a of [r.nigPreTokens!, r.nigPostTokens!]) {
      const last = a.subarray((L - 1) * T * F, L * T * F);
      assert.ok(last.subarray(F).every((v) => v === 0), `${what}: last layer off [CLS]`);
      assert.ok(last.subarray(0, F).some((v) => v !== 0), `${what}: last layer at [CLS]`);
      assert.ok(a.subarray((L - 2) * T * F + F, (L - 1) * T * F).some((v) => v !== 0), `${what}: the layer below, off [CLS]`);
    }
  };
  const one = await eng.attribute(pairs[2], { steps: 20, rule: 'right', perToken: true });
  checkAgainstFixture(one, R, 'p2.m20.');
  offCls(one, 'alone');
  const [packed] = await eng.attributeMany([pairs[2], pairs[4]], { steps: 20, rule: 'right', perToken: true });
  offCls(packed, 'packed');
  offCls(await eng.attribute(pairs[2], { steps: 20, rule: 'right', perToken: true, chunk: 6 }), 'chunked');
  offCls(await eng.attribute(pairs[2], { steps: 4, tol: 1e-3, perToken: true }), 'adaptive');
});

needsShared(S, 'plain IG with Captum\'s rules and Gauss-Legendre: right Riemann = the fixture, all converge, Gauss-Legendre needs fewest points', async () => {
  const { IgEngine } = await import('../src/ig/ig.ts');
  const { gaussLegendre } = await import('../src/ig/path.ts');
  const { eng, pairs, R } = await engineFor('tiny-monobert');
  const ig = new IgEngine(eng);
  // the nodes and weights: Gauss-Legendre integrates polynomials of degree 2n − 1 exactly
  const gl = gaussLegendre(5);
  assert.ok(Math.abs(gl.weights.reduce((a, b) => a + b, 0) - 1) < 1e-14);
  assert.ok(Math.abs(gl.alphas.reduce((s, a, i) => s + gl.weights[i] * a ** 9, 0) - 0.1) < 1e-14);
  const right = await ig.attribute(pairs[1], { rule: 'riemann-right', steps: 20 });
  assert.ok(relL2(right.igEmbed, R('p1.m20.ig_embed')) <= 1e-3, 'riemann-right IG = the fixture');
  assert.ok(Math.abs(right.Fx - R('p1.m20.F_path')[20]) < 1e-5 && Math.abs(right.Fbase - R('p1.m20.F_path')[0]) < 1e-5);
  const ref = await ig.attribute(pairs[1], { rule: 'riemann-trapezoid', steps: 400, chunk: 97 });
  const err: Record<string, number> = {};
  for (const rule of ['riemann-left', 'riemann-right', 'riemann-middle', 'riemann-trapezoid', 'gauss-legendre'] as const) {
    const r = await ig.attribute(pairs[1], { rule, steps: 4 });
    err[rule] = relL2(r.igEmbed, ref.igEmbed);
    // (Gauss-Legendre at a few nodes is already as close as the reference itself; compare it at 2 nodes)
    const coarse = rule === 'gauss-legendre' ? relL2((await ig.attribute(pairs[1], { rule, steps: 2 })).igEmbed, ref.igEmbed) : err[rule];
    const fine = relL2((await ig.attribute(pairs[1], { rule, steps: rule === 'gauss-legendre' ? 4 : 32 })).igEmbed, ref.igEmbed);
    assert.ok(fine < coarse, `${rule} converges: ${coarse} -> ${fine}`);
  }
  assert.ok(err['gauss-legendre'] < err['riemann-middle'] && err['gauss-legendre'] < err['riemann-trapezoid'], JSON.stringify(err));
  assert.ok(err['riemann-middle'] < err['riemann-right'] && err['riemann-trapezoid'] < err['riemann-left'], JSON.stringify(err));
  assert.ok(Math.abs(ref.delta) < 1e-4, `completeness at 400 steps: ${ref.delta}`);
});

needsShared(S, 'completeness: the embedding-IG and hidden-state deltas shrink as m grows; rules converge to each other', async () => {
  const { eng, pairs } = await engineFor('tiny-monobert');
  const deltas: number[] = [];
  const hidden: number[][] = [];
  for (const steps of [10, 40, 120]) {
    const r = await eng.attribute(pairs[4], { steps });
    deltas.push(Math.abs(r.igDelta));
    hidden.push(r.hiddenDeltas.map(Math.abs));
  }
  assert.ok(deltas[1] < deltas[0] && deltas[2] < deltas[1], `IG deltas ${deltas}`);
  for (let l = 0; l < hidden[0].length; l++) assert.ok(hidden[2][l] < hidden[0][l], `hidden ${l}: ${hidden.map((h) => h[l])}`);
  const left = await eng.attribute(pairs[4], { steps: 120, rule: 'left' });
  const right = await eng.attribute(pairs[4], { steps: 120, rule: 'right' });
  const trap = await eng.attribute(pairs[4], { steps: 120, rule: 'trapezoid' });
  assert.ok(relL2(left.nigPre, right.nigPre) < 0.05, 'left and right agree at m = 120');
  assert.ok(relL2(trap.nigPre, right.nigPre) < relL2(left.nigPre, right.nigPre), 'trapezoid lies between');
});

needsShared(S, 'targets and baselines: non-relevant target is the negative of the relevant one; baselines change x′', async () => {
  const { eng, pairs } = await engineFor('tiny-monobert');
  const rel = await eng.attribute(pairs[0], { steps: 20 });
  const non = await eng.attribute(pairs[0], { steps: 20, target: 'nonrelevant' });
  // p0 + p1 = 1, so NIG for p0 is −NIG for p1
  assert.ok(relL2(non.nigPre, rel.nigPre.map((x) => -x)) < 1e-4);
  const logit = await eng.attribute(pairs[0], { steps: 20, target: 'logit' });
  assert.ok(relL2(logit.nigPre, rel.nigPre) > 0.01, 'logit target differs');
  // (the fixtures' [PAD] row is zero, as transformers initialises it, so 'zero' equals the default here)
  const zero = await eng.attribute(pairs[0], { steps: 20, baseline: 'zero' });
  assert.ok(relL2(zero.nigPre, rel.nigPre) < 1e-6, 'zero = [PAD] baseline for these checkpoints');
  const mask = await eng.attribute(pairs[0], { steps: 20, baseline: 'mask' });
  assert.ok(Math.abs(mask.F[0] - rel.F[0]) > 1e-6, '[MASK] baseline moves F(x′)');
  assert.ok(Math.abs(mask.F[20] - rel.F[20]) < 1e-6, 'same input');
  // 1 label: 'relevant' is the logit (the fixtures' F), 'nonrelevant' its negative
  const { eng: e1, pairs: p1, R } = await engineFor('tiny-minilm');
  const lr = await e1.attribute(p1[0], { steps: 20, rule: 'right', target: 'relevant', perToken: true });
  assert.ok(relL2(lr.nigPreTokens!, R('p0.m20.nig_pre')) <= 1e-3);
  const ln = await e1.attribute(p1[0], { steps: 20, rule: 'right', target: 'nonrelevant' });
  assert.ok(relL2(ln.nigPre, lr.nigPre.map((x) => -x)) < 1e-5);
});

needsShared(S, 'ir-neurons attribute writes the documented safetensors layout and matches the reference', () => {
  const dir = mkdtempSync(join(tmpdir(), 'attr-'));
  try {
    const name = 'tiny-monobert';
    const pairs = fixturePairs(name);
    const jsonl = join(dir, 'pairs.jsonl');
    writeFileSync(jsonl, pairs.map((p, i) => JSON.stringify({ id: `p${i}`, query: p.query, passage: p.passage })).join('\n') + '\n');
    for (const units of ['ffn-pre', 'ffn-post']) {
      const out = join(dir, units);
      const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', resolve(FIXTURES, name), '--tokenizer', TOKENIZER_JSON,
        '--pairs', jsonl, '--steps', '50', '--rule', 'right', '--units', units, '--per-token', '--chunk', '13', '--out', out], { encoding: 'utf8' });
      assert.is(r.status, 0, r.stderr);
      const file = join(out, 'attributions.safetensors');
      const st = parseSafetensors(readFileSync(file), file);
      const R = fixtureRef(name);
      for (let i = 0; i < 6; i++) {
        const T = pairs[i].tokens;
        assert.equal(st.get(`p${i}.nig`)!.shape, [2, T, 256]);
        assert.equal(st.get(`p${i}.nig_segments`)!.shape, [5, 2, 256]);
        assert.equal(st.get(`p${i}.ig_embed`)!.shape, [T, 64]);
        assert.equal(st.get(`p${i}.F`)!.shape, [51]);
        assert.equal(st.get(`p${i}.delta`)!.shape, [1]);
        const e = relL2(toFloat(st.get(`p${i}.nig`)!, Float64Array), R(`p${i}.m50.nig_${units === 'ffn-pre' ? 'pre' : 'post'}`));
        assert.ok(e <= 1e-3, `p${i} ${units}: ${e}`);
        assert.ok(relL2(toFloat(st.get(`p${i}.ig_embed`)!, Float64Array), R(`p${i}.m50.ig_embed`)) <= 1e-3);
      }
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
      assert.match(manifest.model.hash, /^sha256:[0-9a-f]{64}$/);
      assert.is(manifest.options.steps, 50);
      assert.is(manifest.options.units, units);
      assert.is(manifest.pairs.length, 6);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

S.run();
