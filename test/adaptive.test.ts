/**
 * Adaptive NIG with an error estimate (src/ig/path.ts, NigEngine with `estimate`, `tol`, rule 'richardson'):
 * the strided conductance sums and the Richardson combination against plain loops; the estimate against the true
 * error on the fixture models and on the planted model (within a factor of 3, measured against a reference whose
 * own error is ≥ 10× smaller); Richardson beating the trapezoid at the same points; the adaptive loop (m chosen,
 * cap reported, `after` once per pair); `attribute --tol` outputs; a dataset run recording m and the estimate.
 *
 * Fast by default (one pair of each fixture, 2 planted pairs, reference Richardson at m = 32). With
 * ADAPTIVE_FULL=1, every fixture pair against the trapezoid at m = 1024 (the reference; minutes).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requestGpu } from '../src/gpu/node.ts';
import type { Gpu } from '../src/gpu/device.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { PointStore } from '../src/ig/store.ts';
import { combine, conductance, setConductanceChunk } from '../src/kernels/ig.ts';
import { checkLevelSteps, chunks, estimateError, nextSteps, ruleWeights } from '../src/ig/path.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { readDocsTsv } from '../src/data/tsv.ts';
import { readRun, readTopicsTsv } from '../src/data/trec.ts';
import { runDatasets } from '../src/run/datasets.ts';
import { mulberry32 } from '../src/util/rng.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { run, upload } from './helpers/gpu.ts';
import { FIXTURE_MODELS, FIXTURES, REPO, SHARED, TOKENIZER_JSON, fixturePairs, fixtureRef, needsShared, relL2, throwsUserError } from './helpers/shared.ts';

const S = suite('adaptive');
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const FULL = process.env.ADAPTIVE_FULL === '1';
const FACTOR = 3;
const tmp = mkdtempSync(join(tmpdir(), 'adaptive-'));
let gpu: Gpu;
const device = async () => (gpu ??= await requestGpu());

// ---------- the pieces ----------
S('path: estimateError is exact for errors of the assumed order and errs high where the order does not show yet; nextSteps; m checked', () => {
  // X_m = v + c·m^−p exactly: the estimate is the true relative error
  const v = [1, -2, 0.5], c = [0.3, 0.1, -0.2];
  const X = (m: number, p: number) => v.map((x, i) => x + c[i] * m ** -p);
  const norm = (a: number[]) => Math.hypot(...a);
  const trueErr = (x: number[]) => norm(x.map((y, i) => y - v[i])) / norm(x); // relative to the result, as the estimate
  for (const [rule, p] of [['right', 1], ['trapezoid', 2]] as const) {
    const est = estimateError(rule, X(8, p), X(4, p), X(2, p));
    assert.ok(Math.abs(est / trueErr(X(8, p)) - 1) < 1e-12, `${rule}: ${est} against ${trueErr(X(8, p))}`);
  }
  // richardson: T_m = v + a·h² + b·h⁴, so R_m = v − 4b·h⁴ /... exactly order 4, and R_m − R_{m/2} = 15 × its error
  const a = [0.4, -0.3, 0.2], b = [0.5, 0.2, -0.1];
  const T = (m: number) => v.map((x, i) => x + a[i] / m ** 2 + b[i] / m ** 4);
  const R = (m: number) => T(m).map((x, i) => (4 * x - T(m / 2)[i]) / 3);
  const est = estimateError('richardson', R(16), T(8), T(4));
  assert.ok(Math.abs(est / trueErr(R(16)) - 1) < 1e-9, `richardson: ${est} against ${trueErr(R(16))}`);
  assert.is(estimateError('trapezoid', [0, 0], [0, 0], [1, 1]), 0);
  // pre-asymptotic: errors 1e-2, 3e-2, 5e-2 at m = 16, 8, 4 (ρ = 1, not 4): the estimate is ‖d‖/1, twice the error,
  // not ‖d‖/3; and richardson falls back to the trapezoid's estimate (its extrapolation is not trusted there)
  const Y = (e: number) => v.map((x, i) => x + c[i] * e);
  const estT = estimateError('trapezoid', Y(1e-2), Y(3e-2), Y(5e-2));
  assert.ok(Math.abs(estT / trueErr(Y(1e-2)) - 2) < 1e-9, `pre-asymptotic trapezoid: ${estT / trueErr(Y(1e-2))}`);
  const RY = Y(1e-2).map((x, i) => (4 * x - Y(3e-2)[i]) / 3);
  const estR = estimateError('richardson', RY, Y(3e-2), Y(5e-2));
  assert.ok(Math.abs(estR * norm(RY) / (estT * norm(Y(1e-2))) - 1) < 1e-9, 'richardson falls back to the trapezoid estimate');
  // 3.2e-3 at m = 4, tol 1e-4, order 2: 8 → 8e-4, 16 → 2e-4, 32 → 5e-5 passes
  assert.is(nextSteps('trapezoid', 4, 3.2e-3, 1e-4, 256), 32);
  assert.is(nextSteps('richardson', 4, 1.6e-4, 1e-4, 256), 8);
  assert.is(nextSteps('trapezoid', 4, 0.5, 1e-6, 64), 64, 'capped');
  throwsUserError(() => checkLevelSteps(6, 2), /multiple of 4; use 8/);
  throwsUserError(() => checkLevelSteps(10, 2, '--max-steps'), /--max-steps 10: .*multiple of 4; use 12/);
  checkLevelSteps(12, 2);
});

S('ig/conductance STRIDE 2 and 4 = the rule over every 2nd / 4th point, at any chunk size; ig/combine', async () => {
  const g = await device();
  const m = 12, P = m + 1, R = 200, rand = mulberry32(5);
  const y = Float32Array.from({ length: P * R }, () => 2 * rand() - 1), gr = Float32Array.from({ length: P * R }, () => 2 * rand() - 1);
  const { wr, wl } = ruleWeights('trapezoid');
  for (const stride of [1, 2, 4]) {
    const want = new Float64Array(R);
    for (let k = stride; k <= m; k += stride) for (let i = 0; i < R; i++) want[i] += (y[k * R + i] - y[(k - stride) * R + i]) * (wr * gr[k * R + i] + wl * gr[(k - stride) * R + i]);
    for (const size of [1, 3, 5, P]) {
      const B = upload(g, 'stride test', { y: size * R, g: size * R, out: R, carry: 2 * R });
      const c = await conductance(g, { label: 'stride test', y: B.v('y'), g: B.v('g'), out: B.v('out'), carry: B.v('carry'), R, stride });
      for (const { k0, count } of chunks(P, size)) {
        B.write('y', y.subarray(k0 * R, (k0 + count) * R));
        B.write('g', gr.subarray(k0 * R, (k0 + count) * R));
        setConductanceChunk(g, c.params, R, 0, 0, k0, count, wr, wl);
        await run(g, [c.d], 'stride test');
      }
      const got = await B.read('out');
      B.destroy();
      const e = relL2(got, want);
      assert.ok(e < 1e-6, `stride ${stride}, chunks of ${size}: relative error ${e}`);
    }
  }
  const a = Float32Array.from({ length: 300 }, () => rand()), b = Float32Array.from({ length: 300 }, () => rand());
  const B = upload(g, 'combine test', { a, b });
  await run(g, [await combine(g, { label: 'combine test', a: B.v('a'), b: B.v('b'), R: 300, ca: 4 / 3, cb: -1 / 3 })]);
  assert.ok(relL2(await B.read('a'), Array.from(a, (x, i) => (4 * x - b[i]) / 3)) < 1e-7);
  B.destroy();
});

// ---------- the estimate against the true error ----------
interface Check { what: string; est: number; err: number }
const ratios: Check[] = [];

/**
 * Runs a pair at each m of `ms` (trapezoid with the estimate, and richardson) and checks every estimate against
 * `ref` (within FACTOR, richardson within `factorR`), and that richardson beats the trapezoid at the last m (by
 * 10× with `by10`).
 */
async function bracket(eng: NigEngine, p: EncodedPair, ref: Float32Array, what: string, own: number, o: { ms: number[]; factorR?: number; by10?: boolean; floorOk?: boolean }): Promise<void> {
  for (const m of o.ms) {
    const t = await eng.attribute(p, { steps: m, estimate: true });
    const r = await eng.attribute(p, { steps: m, rule: 'richardson' });
    for (const [rule, x] of [['trapezoid', t], ['richardson', r]] as const) {
      const err = relL2(x.nigPre, ref);
      // the reference must be ≥ 10× more accurate than the error it judges; below that (richardson at the float32
      // floor on the planted model, with `floorOk`) there is no error left to estimate
      if (!(err > 10 * own)) {
        assert.ok(o.floorOk && rule === 'richardson', `${what} ${rule} m = ${m}: the reference (error ≈ ${own.toExponential(1)}) is too coarse for an error of ${err.toExponential(1)}`);
        ratios.push({ what: `${what} ${rule} m = ${m} (at the float32 floor: not checked)`, est: x.errorEstimate!, err });
        continue;
      }
      ratios.push({ what: `${what} ${rule} m = ${m}`, est: x.errorEstimate!, err });
      const q = x.errorEstimate! / err, f = rule === 'richardson' ? o.factorR ?? FACTOR : FACTOR;
      assert.ok(q >= 1 / FACTOR && q <= f, `${what} ${rule} m = ${m}: estimate ${x.errorEstimate!.toExponential(2)}, true error ${err.toExponential(2)} (ratio ${q.toFixed(2)}, allowed 1/${FACTOR}..${f})`);
    }
    const [er, et] = [relL2(r.nigPre, ref), relL2(t.nigPre, ref)];
    if (m === o.ms[o.ms.length - 1]) assert.ok(er < (o.by10 ? 0.1 : 1) * et, `${what} m = ${m}: richardson ${er.toExponential(2)} beats trapezoid ${et.toExponential(2)}${o.by10 ? ' by 10×' : ''} at the same points`);
  }
}

/**
 * The reference of a pair and its own error: ≥ 10× below every error it judges (checked by the caller). The
 * engine's run-to-run float32 noise is ~5e-7 (docs/rules.md), so no reference is taken as better than 3e-7.
 */
async function reference(eng: NigEngine, p: EncodedPair): Promise<{ ref: Float32Array; own: number }> {
  if (FULL) {
    const t = await eng.attribute(p, { steps: 1024 });
    return { ref: t.nigPre, own: Math.max(0.1 / 1024 ** 2, 3e-7) }; // trapezoid constants measured 0.047 … 0.088
  }
  const r = await eng.attribute(p, { steps: 32, rule: 'richardson' });
  return { ref: r.nigPre, own: Math.max(r.errorEstimate!, 3e-7) };
}

for (const name of FIXTURE_MODELS) {
  needsShared(S, `${name}: the estimate is within ${FACTOR}× of the true error (trapezoid and richardson, m = 4, 8)${FULL ? ', every pair, m = 1024 reference' : ''}; richardson beats the trapezoid`, async () => {
    const g = await device();
    const w = loadCheckpoint(resolve(FIXTURES, name));
    const eng = new NigEngine(await BertGpu.create(g, w), SPECIAL);
    const R = fixtureRef(name);
    for (const i of FULL ? [0, 1, 2, 3, 4, 5] : name === 'tiny-minilm' ? [1] : [0]) { // (minilm pair 1: the trapezoid's worst)
      const ids = Array.from(R(`p${i}.input_ids`));
      const p = { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
      const { ref, own } = await reference(eng, p);
      await bracket(eng, p, ref, `${name} pair ${i}`, own, { ms: [4, 8], by10: true });
      if (i === 0) {
        // the estimate costs no point and changes no number: the trapezoid sums are those of a plain run
        const plain = await eng.attribute(p, { steps: 8, perToken: true });
        const est = await eng.attribute(p, { steps: 8, estimate: true, perToken: true });
        assert.equal(Array.from(est.nigPreTokens!), Array.from(plain.nigPreTokens!), 'bit-identical trapezoid with the estimate');
        assert.equal(Array.from(est.igEmbed), Array.from(plain.igEmbed));
        assert.is(plain.errorEstimate, undefined);
        // right rule: order 1, its estimate works too
        const rr = await eng.attribute(p, { steps: 16, rule: 'right', estimate: true });
        const q = rr.errorEstimate! / relL2(rr.nigPre, ref);
        assert.ok(q > 1 / FACTOR && q < FACTOR, `right rule estimate ratio ${q}`);
      }
    }
  });
}

S('planted model: the trapezoid estimate within 3× of the true error at m = 64 and 128, richardson never below a third of it; richardson beats the trapezoid at 128', async () => {
  const g = await device();
  const planted = makePlantedBert({ out: join(tmp, 'planted'), seed: 1 });
  const coll = makeToyCollection({ out: join(tmp, 'toy'), seed: 1 });
  const tok = loadTokenizer(planted.dir);
  const eng = new NigEngine(await BertGpu.create(g, loadCheckpoint(planted.dir)), { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId });
  const queries = readTopicsTsv(coll.files.queries), corpus = readDocsTsv(coll.files.corpus);
  const cands = [...readRun(coll.files.run)].flatMap(([qid, docs]) => docs.map((d) => [queries.get(qid)!, corpus.get(d.docid)!] as const));
  // (pair 3: the one whose error is not yet monotone in m at m ≤ 64)
  const picks = FULL ? [0, 1, 2, 3, 4, 5, 6, 7] : [0, 3];
  const pairs = await tok.encodePairs(picks.map((i) => cands[i * 7 % cands.length]), 128);
  for (const [j, p] of pairs.entries()) {
    // The planted circuit is sharp: at m ≤ 32 its errors are not yet in the asymptotic regime (the trapezoid's error
    // of one pair goes 98%, 137%, 33%, 1.2% at m = 4, 8, 16, 32), so the estimate is checked where the regime
    // begins, against richardson at m = 512 (own error ≲ 1e-6, the float32 floor)
    const r = await eng.attribute(p, { steps: 512, rule: 'richardson' });
    const own = Math.max(r.errorEstimate!, 3e-7);
    // richardson: only never far below (an over-estimate only costs points): its estimate R_m − R_{m/2} reads
    // R_{m/2}, which on this model is still pre-asymptotic at m/2 = 64 (pair 3: R_64 error 4e-3, R_128 1.5e-5)
    await bracket(eng, p, r.nigPre, `planted pair ${picks[j]}`, own, { ms: [64, 128], factorR: Infinity, floorOk: true });
  }
});

// ---------- the adaptive loop ----------
needsShared(S, 'adaptive: m doubles until the estimate passes, the result is within tol, the cap is reported, after() once per pair', async () => {
  const g = await device();
  const eng = new NigEngine(await BertGpu.create(g, loadCheckpoint(resolve(FIXTURES, 'tiny-minilm'))), SPECIAL);
  const R = fixtureRef('tiny-minilm');
  const pair = (i: number) => { const ids = Array.from(R(`p${i}.input_ids`)); return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) }; };
  const { ref } = await reference(eng, pair(2));
  for (const [rule, tol] of [['trapezoid', 1e-3], ['richardson', 1e-4], ['trapezoid', 2e-2]] as const) {
    const r = await eng.attribute(pair(2), { steps: 4, rule, tol });
    const a = r.adaptive!;
    assert.ok(a && !a.capped && r.errorEstimate! <= tol, `${rule} ${tol}: ${JSON.stringify(a)}`);
    assert.is(a.passes[a.passes.length - 1].steps, r.steps);
    // each point evaluated once (the points of m are every second point of 2m)
    assert.is(a.points, r.steps + 1);
    for (const x of a.passes.slice(0, -1)) assert.ok(x.estimate > tol, 'every earlier pass failed the tolerance');
    assert.ok(relL2(r.nigPre, ref) <= FACTOR * tol, `${rule} ${tol}: true error ${relL2(r.nigPre, ref)}`);
    assert.is(r.F.length, r.steps + 1);
  }
  // the sums from the point store = a plain run at the final m (its estimate from the same points)
  const ad = await eng.attribute(pair(2), { steps: 4, tol: 1e-3 });
  const plain = await eng.attribute(pair(2), { steps: ad.steps, estimate: true });
  assert.ok(ad.adaptive!.passes.length >= 2, JSON.stringify(ad.adaptive));
  for (const k of ['F', 'nigPre', 'nigPost', 'nigPreSegments', 'nigPostSegments', 'igEmbed', 'gradEmbedInput'] as const) {
    assert.ok(relL2(ad[k], plain[k]) < 1e-6, `${k}: store vs plain ${relL2(ad[k], plain[k])}`);
  }
  assert.ok(Math.abs(ad.errorEstimate! - plain.errorEstimate!) <= 1e-4 * plain.errorEstimate!, `${ad.errorEstimate} vs ${plain.errorEstimate}`);
  assert.ok(ad.hiddenDeltas.every((d, l) => Math.abs(d - plain.hiddenDeltas[l]) < 1e-5), `${ad.hiddenDeltas} vs ${plain.hiddenDeltas}`);
  // a store that does not fit the memory budget beside a chunk: that pair evaluates every point of each later
  // pass (no store from the start, or none from the second pass on), with the same result
  const T = eng.paddedLength(pair(2).ids.length);
  const row = eng.chunkMemory(T, 1, 1, 2).bytes;
  // (room for no point, then for the first pass's 5: both evaluate 5 + 17)
  for (const extra of [0, 6]) {
    const small = new NigEngine(eng.model, SPECIAL, row + PointStore.bytes(g, eng.model.cfg, T, extra));
    const r = await small.attribute(pair(2), { steps: 4, tol: 1e-3 });
    assert.is(r.steps, ad.steps);
    assert.is(r.adaptive!.points, 5 + ad.steps + 1, JSON.stringify(r.adaptive));
    assert.ok(relL2(r.nigPre, ad.nigPre) < 1e-6 && Math.abs(r.errorEstimate! - ad.errorEstimate!) <= 1e-4 * ad.errorEstimate!, 'budget fallback = store');
  }
  // 1e-3 with the trapezoid needs m > 4 on this pair; richardson takes the first m
  assert.ok((await eng.attribute(pair(2), { steps: 4, tol: 1e-3 })).steps >= 8);
  assert.is((await eng.attribute(pair(2), { steps: 4, rule: 'richardson', tol: 1e-3 })).steps, 4);
  // the cap
  const c = await eng.attribute(pair(2), { steps: 4, tol: 1e-7, maxSteps: 16 });
  assert.ok(c.adaptive!.capped && c.steps === 16 && c.errorEstimate! > 1e-7, JSON.stringify(c.adaptive));
  // two pairs sharing a batch (24 tokens each): each finishes at its own m; after() once per pair, on its final pass
  const seen: number[] = [];
  const many = await eng.attributeMany([pair(2), pair(4)], { steps: 4, tol: 3e-4 }, async (_v, i) => { seen.push(i); return []; });
  assert.equal(seen.sort(), [0, 1]);
  for (const [j, i] of [2, 4].entries()) {
    const one = await eng.attribute(pair(i), { steps: 4, tol: 3e-4 });
    assert.is(many[j].steps, one.steps);
    assert.ok(relL2(many[j].nigPre, one.nigPre) < 1e-6, `pair ${i}: batched = alone`);
  }
  try {
    await eng.attribute(pair(2), { steps: 6, rule: 'richardson' });
    assert.unreachable('m = 6 with richardson');
  } catch (e) {
    assert.match((e as Error).message, /multiple of 4/);
  }
});

needsShared(S, 'attribute --tol/--rule richardson: .steps and .error_estimate per pair, manifest records m, estimate and passes; user errors', () => {
  const dir = join(tmp, 'cli');
  const pairs = fixturePairs('tiny-monobert').slice(0, 2);
  const jsonl = join(tmp, 'pairs.jsonl');
  writeFileSync(jsonl, pairs.map((p, i) => JSON.stringify({ id: `p${i}`, query: p.query, passage: p.passage })).join('\n') + '\n');
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', resolve(FIXTURES, 'tiny-monobert'), '--tokenizer', TOKENIZER_JSON, '--pairs', jsonl, ...args], { encoding: 'utf8' });
  const r = cli('--tol', '1e-3', '--out', dir);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /m = \d+…\d+ for --tol 0.001/);
  const file = join(dir, 'attributions.safetensors');
  const st = parseSafetensors(readFileSync(file), file);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.is(manifest.options.tol, 1e-3);
  assert.is(manifest.options.maxSteps, 256);
  for (let i = 0; i < 2; i++) {
    const m = toFloat(st.get(`p${i}.steps`)!, Float64Array)[0], est = toFloat(st.get(`p${i}.error_estimate`)!, Float64Array)[0];
    assert.ok(m >= 8 && est <= 1e-3 && est > 0, `p${i}: m ${m}, estimate ${est}`);
    assert.equal(st.get(`p${i}.F`)!.shape, [m + 1]);
    const mp = manifest.pairs[i];
    assert.is(mp.steps, m);
    assert.ok(Math.abs(mp.errorEstimate - est) <= 1e-6 * est && mp.capped === false && mp.passes.length >= 2, JSON.stringify(mp));
  }
  // the cap is reported on stderr and in the manifest
  const capped = cli('--tol', '1e-7', '--max-steps', '8', '--rule', 'richardson', '--out', join(tmp, 'cli-capped'));
  assert.is(capped.status, 0, capped.stderr);
  assert.match(capped.stderr, /2 of 2 pairs reached --max-steps 8 with the estimated error still above --tol 1e-7/);
  assert.ok(JSON.parse(readFileSync(join(tmp, 'cli-capped', 'manifest.json'), 'utf8')).pairs.every((p: { capped: boolean; steps: number }) => p.capped && p.steps === 8));
  for (const [args, msg] of [[['--steps', '6', '--rule', 'richardson'], /--steps 6: .*multiple of 4; use 8/], [['--steps', '8', '--max-steps', '16'], /--max-steps caps the adaptive m of --tol/], [['--tol', '2'], /--tol takes a relative error in \(0, 1\)/], [[], /--steps is required .* or --tol/]] as const) {
    const e = cli(...args, '--out', join(tmp, 'cli-bad'));
    assert.is(e.status, 2, `${args.join(' ')}: ${e.stderr}`);
    assert.match(e.stderr, msg);
  }
});

needsShared(S, 'dataset run with --tol: m and estimate per pair in the checkpoint and aggregate (also after a resume); pair vectors = per-pair runs', async () => {
  const g = await device();
  const MODEL = resolve(FIXTURES, 'tiny-monobert');
  const tok = loadTokenizer(MODEL, { tokenizerFile: TOKENIZER_JSON });
  const eng = new NigEngine(await BertGpu.create(g, loadCheckpoint(MODEL)), SPECIAL);
  const nig = { steps: 4, rule: 'trapezoid' as const, target: 'relevant' as const, baseline: 'pad-keep-special' as const, tol: 1e-3, maxSteps: 64, estimateOf: 'ffn-pre' as const };
  const args = (out: string) => ({ spec: 'dl19', shared: SHARED, selection: { seed: 3, perDataset: 2 }, nig, units: 'ffn-pre' as const, maxLength: 64, checkpointEvery: 2, resume: false, keepPairs: true, outDir: out, modelDir: MODEL, modelHash: 'test' });
  await runDatasets(args(join(tmp, 'ds')), eng, tok);
  const agg = parseSafetensors(readFileSync(join(tmp, 'ds', 'aggregate.safetensors')), 'aggregate');
  const ad = toFloat(agg.get('adaptive')!, Float64Array);
  assert.equal(agg.get('adaptive')!.shape, [4, 2]);
  for (let i = 0; i < 4; i++) assert.ok([4, 8, 16, 32, 64].includes(ad[2 * i]) && ad[2 * i + 1] <= 1e-3 && ad[2 * i + 1] > 0, `pair ${i}: m ${ad[2 * i]}, estimate ${ad[2 * i + 1]}`);
  // stopped after 1 pair and resumed: the same record
  await runDatasets({ ...args(join(tmp, 'ds2')), stopAfter: 1 }, eng, tok);
  await runDatasets({ ...args(join(tmp, 'ds2')), resume: true }, eng, tok);
  const ad2 = toFloat(parseSafetensors(readFileSync(join(tmp, 'ds2', 'aggregate.safetensors')), 'aggregate').get('adaptive')!, Float64Array);
  assert.equal(Array.from(ad2), Array.from(ad));
  // the kept pair vectors are the adaptive results (pairs of different m in the batches, plans rebuilt between passes)
  const vecs = toFloat(parseSafetensors(readFileSync(join(tmp, 'ds', 'pairs.safetensors')), 'pairs').get('nig')!, Float64Array);
  assert.ok(vecs.every(Number.isFinite));
  // and a plain run has no 'adaptive' tensor
  await runDatasets({ ...args(join(tmp, 'ds3')), nig: { steps: 8, rule: 'trapezoid', target: 'relevant', baseline: 'pad-keep-special' } }, eng, tok);
  assert.is(parseSafetensors(readFileSync(join(tmp, 'ds3', 'aggregate.safetensors')), 'aggregate').get('adaptive'), undefined);
});

S.after(() => {
  if (ratios.length) {
    console.log(`\nestimate / true error (relative L2 of the pre-GELU NIG token sums), ${ratios.length} checks:`);
    for (const r of ratios) console.log(`  ${r.what}: estimate ${r.est.toExponential(2)}, true ${r.err.toExponential(2)}, ratio ${(r.est / r.err).toFixed(2)}`);
  }
  rmSync(tmp, { recursive: true, force: true });
});

S.run();
