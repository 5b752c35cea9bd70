/**
 * Attention heads against the float64 fixtures (shared/fixtures: tiny-minilm, tiny-monobert heads.safetensors; the
 * families' reference.safetensors): head conductance at m = 20 (right rule), the head-gate gradient ∂F/∂ξ at α = 1,
 * and head-masked logits (one pair at a time and the padded batch), on both kernel classes. Errors are
 * max|ours − ref| / max|ref| per tensor (relative, max over heads). Then the invariants of the head sums: the same at
 * any chunk size, segments adding up to the totals, and the FFN results unchanged by attributing heads.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { runDatasets, type DatasetRunArgs } from '../src/run/datasets.ts';
import { readRunDir } from '../src/run/run-dir.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { parseSafetensors, serializeSafetensors, toFloat } from '../src/formats/safetensors.ts';
import type { EncodedPair } from '../src/model/types.ts';
import type { SpecialIds } from '../src/ig/baselines.ts';
import { FIXTURES, REPO, SHARED, TOKENIZER_JSON, fixtureRef, needsShared } from './helpers/shared.ts';

const S = suite('heads');

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, 'lengths differ');
  let d = 0, m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / Math.max(m, 1e-30);
}

interface Case { name: string; dir: string; load: () => Promise<{ pairs: EncodedPair[]; special: SpecialIds }>; H: (n: string) => Float64Array }

function headsRef(file: string): (n: string) => Float64Array {
  const st = parseSafetensors(readFileSync(file), file);
  return (n) => toFloat(st.get(n) ?? assert.unreachable(`${file}: no ${n}`) as never, Float64Array);
}

const BERT_SPECIAL: SpecialIds = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const CASES: Case[] = [
  ...(['tiny-minilm', 'tiny-monobert'] as const).map((name): Case => ({
    name, dir: resolve(FIXTURES, name),
    H: (n) => headsRef(resolve(FIXTURES, name, 'heads.safetensors'))(n),
    load: async () => {
      const R = fixtureRef(name);
      const pairs = [0, 1, 2, 3, 4, 5].map((i) => {
        const ids = Array.from(R(`p${i}.input_ids`));
        return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
      });
      return { pairs, special: BERT_SPECIAL };
    },
  })),
  ...(['xlmr', 'electra', 'distilbert'] as const).map((name): Case => {
    const dir = resolve(FIXTURES, 'families', name);
    return {
      name, dir, H: (n) => fixtureRef(`families/${name}`)(n),
      load: async () => {
        const tok = loadTokenizer(dir);
        const lines = readFileSync(join(dir, 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { query: string; passage: string });
        const pairs = await tok.encodePairs(lines.map((p) => [p.query, p.passage] as const), 512);
        return { pairs, special: { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId } };
      },
    };
  }),
];

/** Worst errors of one model on the current kernel class: head conductance and gate of `which` pairs, head-masked logits of all. */
async function check(c: Case, which: number[]): Promise<Record<string, number>> {
  const g = await requestGpu();
  const w = loadCheckpoint(c.dir);
  const model = await BertGpu.create(g, w);
  const { pairs, special } = await c.load();
  const worst = { cond: 0, gate: 0, masked: 0, batch: 0 };
  try {
    const eng = new NigEngine(model, special);
    eng.heads = true;
    for (const i of which) {
      const r = await eng.attribute(pairs[i], { steps: 20, rule: 'right' });
      worst.cond = Math.max(worst.cond, maxRel(r.headCond!, c.H(`p${i}.m20.head_cond`)));
      worst.gate = Math.max(worst.gate, maxRel(r.headGate!, c.H(`p${i}.head_gate_grad`)));
    }
    model.setHeadMask(Float32Array.from(c.H('batch.head_mask')));
    for (let i = 0; i < pairs.length; i++) worst.masked = Math.max(worst.masked, maxRel(await model.score([pairs[i]]), c.H(`p${i}.headmasked_logits`)));
    worst.batch = maxRel(await model.score(pairs), c.H('batch.headmasked_logits'));
    model.setHeadMask(null);
  } finally {
    await model.dropPlans();
  }
  return worst;
}

for (const kernels of ['cpu', 'gpu'] as const) {
  needsShared(S, `${kernels}-class kernels: head conductance (m = 20, right rule), the head-gate gradient and head-masked logits of every model match the fixtures (≤ 1e-3)`, async () => {
    const g = await requestGpu();
    const before = g.kernels;
    g.kernels = kernels; // what IR_NEURONS_KERNELS=kernels chooses when the device opens (this process shares one device)
    try {
      for (const c of CASES) {
        // (the shortest and the longest pair on the CPU class, the longest on the GPU class: the rest are the same code)
        const worst = await check(c, kernels === 'cpu' ? [0, 5] : [5]);
        console.log(`  ${c.name} (${kernels}-class): ${Object.entries(worst).map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
        for (const [k, e] of Object.entries(worst)) assert.ok(e <= 1e-3, `${c.name} ${k}: ${e}`);
      }
    } finally {
      g.kernels = before;
    }
  });
}

needsShared(S, 'head sums: the same at any chunk size and with several pairs in a batch; segments add up to the totals; the FFN results are the same bits with heads on; left rule and light runs keep the gate; --tol refused', async () => {
  const c = CASES[0];
  const g = await requestGpu();
  const model = await BertGpu.create(g, loadCheckpoint(c.dir));
  const { pairs, special } = await c.load();
  try {
    const eng = new NigEngine(model, special);
    const plain = await eng.attribute(pairs[1], { steps: 20, rule: 'right' });
    assert.is(plain.headCond, undefined, 'no heads unless asked');
    eng.heads = true;
    const whole = await eng.attribute(pairs[1], { steps: 20, rule: 'right' });
    assert.equal(whole.nigPre, plain.nigPre, 'FFN NIG unchanged, bit for bit');
    assert.equal(whole.nigPostSegments, plain.nigPostSegments);
    const chunked = await eng.attribute(pairs[1], { steps: 20, rule: 'right', chunk: 6 });
    assert.ok(maxRel(chunked.headCond!, whole.headCond!) < 1e-5, 'chunks of 6 points');
    assert.ok(maxRel(chunked.headGate!, whole.headGate!) < 1e-5, 'gate with chunks');
    const [a, b] = await eng.attributeMany([pairs[0], pairs[1]], { steps: 20, rule: 'right' });
    assert.ok(maxRel(b.headCond!, whole.headCond!) < 1e-5, 'two pairs in a batch');
    assert.ok(maxRel(a.headCond!, c.H('p0.m20.head_cond')) < 1e-3, 'the first pair of the batch');
    const { layers: L, heads: NH } = model.cfg;
    const segSum = new Float64Array(L * NH);
    for (let s = 0; s < 5; s++) for (let j = 0; j < L * NH; j++) segSum[j] += whole.headCondSegments![s * L * NH + j];
    assert.ok(maxRel(segSum, whole.headCond!) < 1e-5, 'segments add up');
    // completeness over heads does not hold (heads are not a cut), but the gate at α = 1 is the rule's own: left rule
    // (α = 1 last, its gradient otherwise skipped in light runs) gives the same gate
    const left = await eng.attribute(pairs[1], { steps: 20, rule: 'left', light: true });
    assert.ok(maxRel(left.headGate!, c.H('p1.head_gate_grad')) < 1e-3, 'left rule, light: the gate');
    const trap = await eng.attribute(pairs[1], { steps: 20, rule: 'trapezoid' });
    const rich = await eng.attribute(pairs[1], { steps: 20, rule: 'richardson' });
    // trapezoid and Richardson at m = 20 are closer to the converged value than the right rule: all within 10 %
    for (const r of [trap, rich, left]) assert.ok(maxRel(r.headCond!, whole.headCond!) < 0.2, `rule ${r.rule}: ${maxRel(r.headCond!, whole.headCond!)}`);
    assert.ok(maxRel(rich.headCond!, trap.headCond!) < maxRel(whole.headCond!, trap.headCond!), 'richardson is nearer the trapezoid than the right rule is');
    await eng.attribute(pairs[1], { steps: 4, tol: 0.1 }).then(() => assert.unreachable('tol with heads'), (e: Error) => assert.match(e.message, /--tol/));
  } finally {
    await model.dropPlans();
  }
});

needsShared(S, 'a dataset run with heads: head cells and head-gate cells beside the FFN cells (the per-pair head conductance and gate gradient summed per cell); stopped + resumed and 2 shards merged give the same bits; without heads the keys are as before', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'heads-run-'));
  const MODEL = resolve(FIXTURES, 'tiny-monobert');
  const g = await requestGpu();
  const tok = loadTokenizer(MODEL, { tokenizerFile: TOKENIZER_JSON });
  const engine = new NigEngine(await BertGpu.create(g, loadCheckpoint(MODEL)), BERT_SPECIAL);
  engine.heads = true;
  const base = (out: string): DatasetRunArgs => ({
    spec: 'dl19,medline', shared: SHARED, selection: { seed: 7, perDataset: 2 }, nig: { steps: 8, rule: 'right', target: 'relevant', baseline: 'pad-keep-special' },
    units: 'ffn-pre', heads: true, maxLength: 128, checkpointEvery: 3, resume: false, outDir: out, modelDir: MODEL, modelHash: 'test',
  });
  const read = (f: string) => { const st = parseSafetensors(readFileSync(f), f); return new Map([...st].map(([k, v]) => [k, toFloat(v, Float64Array)])); };
  const same = (a: Map<string, Float64Array>, b: Map<string, Float64Array>, what: string) => {
    assert.equal([...a.keys()].sort(), [...b.keys()].sort(), what);
    for (const [k, v] of a) assert.ok(v.every((x, i) => Object.is(x, b.get(k)![i])), `${what}: ${k}`);
  };
  try {
    const full = join(tmp, 'full');
    await runDatasets(base(full), engine, tok);
    const A = read(join(full, 'aggregate.safetensors'));
    const { layers: L, heads: NH } = engine.model.cfg;
    assert.equal(A.get('dl19/rel.heads.sum')!.length, L * NH);
    // the cell's head sums are the per-pair head conductance summed
    const dm = JSON.parse(readFileSync(join(full, 'datasets', 'medline.json'), 'utf8'));
    const { loadDatasetConfig, loadDataset } = await import('../src/data/datasets.ts');
    const med = loadDataset(loadDatasetConfig(join(REPO, 'data/datasets.json'), { shared: SHARED }).datasets.find((d) => d.name === 'medline')!);
    const sum = new Float64Array(L * NH), seg = new Float64Array(5 * L * NH), gate = new Float64Array(L * NH), gateSq = new Float64Array(L * NH);
    const rels = dm.pairs.filter((p: { label: string }) => p.label === 'rel');
    assert.ok(rels.length >= 2, 'two relevant pairs in the cell');
    for (const p of rels) {
      const r = await engine.attribute(await tok.encodePair(med.queries.get(p.qid)!, med.docs.get(p.docid)!, 128), { steps: 8, rule: 'right' });
      r.headCond!.forEach((v, i) => { sum[i] += v; });
      r.headCondSegments!.forEach((v, i) => { seg[i] += v; });
      r.headGate!.forEach((v, i) => { gate[i] += v; gateSq[i] += v * v; });
    }
    // the gate cells: the per-pair head-gate gradients summed (and squared), their segments adding up to them
    const gSum = A.get('medline/rel.gate.sum')!, gSeg = A.get('medline/rel.gate.seg_sum')!;
    assert.equal(gSum.length, L * NH);
    assert.ok(maxRel(gSum, gate) < 1e-6, `gate sums ${maxRel(gSum, gate)}`);
    assert.ok(maxRel(A.get('medline/rel.gate.sumsq')!, gateSq) < 1e-5, 'gate sums of squares');
    assert.ok(maxRel(A.get('medline/rel.gate.mean')!, gate.map((x) => x / rels.length)) < 1e-6, 'gate means');
    assert.ok(maxRel(gSum, gSum.map((_, i) => [0, 1, 2, 3, 4].reduce((a, s) => a + gSeg[s * L * NH + i], 0))) < 1e-6, 'gate segments add up to the gate');
    assert.ok(maxRel(gSum, sum) > 1e-3, 'the gate is not the conductance');
    assert.ok(maxRel(A.get('medline/rel.heads.sum')!, sum) < 1e-6, 'head sums');
    assert.ok(maxRel(A.get('medline/rel.heads.seg_sum')!, seg) < 1e-6, 'head segment sums');
    assert.ok(A.get('medline/rel.heads.sumsq')!.every((x, i) => x >= sum[i] ** 2 / 2 - 1e-9), 'Σv² ≥ (Σv)²/n');
    // stopped after 3 pairs (a checkpoint there), resumed
    const res = join(tmp, 'resumed');
    await runDatasets({ ...base(res), stopAfter: 4 }, engine, tok);
    assert.not.ok(existsSync(join(res, 'aggregate.safetensors')));
    const ck = parseSafetensors(readFileSync(join(res, 'checkpoint.safetensors')), 'checkpoint');
    assert.ok(ck.has('dl19/rel.heads.acc_total') && ck.has('dl19/rel.gate.acc_total') && ck.has('dl19/rel.gate.acc_seg'), 'the checkpoint holds the head and gate words');
    // a heads checkpoint written before the gate was aggregated (no gate words) is refused in one line, the folder kept
    const old = join(tmp, 'old');
    cpSync(res, old, { recursive: true });
    const { readState, serializeState } = await import('../src/run/state.ts');
    const st = readState(join(old, 'checkpoint.safetensors'));
    for (const c of st.cells.values()) delete c.gate;
    const units = engine.model.cfg.layers * engine.model.cfg.intermediate;
    writeFileSync(join(old, 'checkpoint.safetensors'), serializeState(st, units, { shard: '0/1', total: String(JSON.parse(readFileSync(join(res, 'manifest.json'), 'utf8')).pairs.total) }));
    const before = readFileSync(join(old, 'checkpoint.safetensors'));
    try {
      await runDatasets({ ...base(old), resume: true }, engine, tok);
      assert.unreachable('an old heads checkpoint was resumed');
    } catch (e) {
      assert.is((e as Error).name, 'UserError', String(e));
      assert.match((e as Error).message, /checkpoint\.safetensors: head conductance without the head-gate accumulators \(written before the gate was aggregated\); delete it to start the shard over/);
    }
    assert.ok(readFileSync(join(old, 'checkpoint.safetensors')).equals(before), 'the refused checkpoint is left as it was');
    await runDatasets({ ...base(res), resume: true }, engine, tok);
    same(A, read(join(res, 'aggregate.safetensors')), 'resumed');
    for (const i of [0, 1]) await runDatasets({ ...base(join(tmp, `shard${i}`)), shardSpec: `${i}/2` }, engine, tok);
    const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'merge', '--out', join(tmp, 'merged'), join(tmp, 'shard1'), join(tmp, 'shard0')], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    same(A, read(join(tmp, 'merged', 'aggregate.safetensors')), 'merged');
    // a shard without the gate words (an older version's) beside one with them: refused in one line
    cpSync(join(tmp, 'shard1'), join(tmp, 'shard1-old'), { recursive: true });
    {
      const { readState, serializeAggregate, FIX } = await import('../src/run/state.ts');
      const f = join(tmp, 'shard1-old', 'aggregate.safetensors');
      const { readSafetensors } = await import('../src/formats/safetensors.ts');
      const { metadata } = readSafetensors(readFileSync(f), f);
      const st = readState(f, FIX.aggregate);
      for (const c of st.cells.values()) delete c.gate;
      writeFileSync(f, serializeAggregate(st, engine.model.cfg.layers, engine.model.cfg.intermediate, { shard: metadata.shard, total: metadata.total }));
    }
    const mixed = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'merge', '--out', join(tmp, 'merged-mixed'), join(tmp, 'shard0'), join(tmp, 'shard1-old')], { encoding: 'utf8' });
    assert.is(mixed.status, 2, mixed.stderr);
    assert.match(mixed.stderr, /^ir-neurons merge: cell \S+: one shard has the head-gate gradient, another not; merge shards of one run\n$/);
    assert.not.ok(existsSync(join(tmp, 'merged-mixed', 'aggregate.safetensors')));
    // readRunDir: gate cells beside the head cells, the aggregate's gate sums
    const rd = readRunDir(full);
    assert.equal(rd.gateCells!.map((c) => `${c.dataset}/${c.label}`), rd.headCells!.map((c) => `${c.dataset}/${c.label}`));
    const gc = rd.gateCells!.find((c) => c.dataset === 'medline' && c.label === 'rel')!;
    assert.is(gc.dff, NH);
    assert.is(gc.count, rels.length);
    assert.ok(Array.from(gc.sum).every((x, i) => Object.is(x, gSum[i])), 'readRunDir gate sums');
    // without heads: no head tensor, the FFN tensors the same bits
    engine.heads = false;
    await runDatasets({ ...base(join(tmp, 'plain')), heads: false }, engine, tok);
    const B = read(join(tmp, 'plain', 'aggregate.safetensors'));
    assert.ok([...B.keys()].every((k) => !k.includes('heads') && !k.includes('gate')), 'no head or gate tensors');
    assert.ok([...A.keys()].some((k) => k.endsWith('.gate.sum')), 'the run with heads has gate tensors');
    for (const [k, v] of B) if (k !== 'deltas' && k !== 'cuts') assert.ok(v.every((x, i) => Object.is(x, A.get(k)![i])), `FFN ${k} unchanged by heads`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

needsShared(S, 'ir-neurons attribute --units ffn-pre,heads writes head_cond, head_cond_segments and head_gate per pair; bad lists are one-line errors (exit 2)', async () => {
  const out = mkdtempSync(join(tmpdir(), 'heads-cli-'));
  const DIR = resolve(FIXTURES, 'families', 'xlmr');
  const cli = (...a: string[]) => spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', DIR, '--pairs', join(DIR, 'pairs.jsonl'), '--steps', '20', '--rule', 'right', ...a], { encoding: 'utf8' });
  try {
    const r = cli('--units', 'ffn-pre,heads', '--out', join(out, 'run'));
    assert.is(r.status, 0, r.stderr);
    const file = join(out, 'run', 'attributions.safetensors');
    const st = parseSafetensors(readFileSync(file), file);
    const H = fixtureRef('families/xlmr');
    const c2 = () => H;
    for (let i = 0; i < 6; i++) {
      assert.ok(maxRel(toFloat(st.get(`p${i}.head_cond`)!, Float64Array), H(`p${i}.m20.head_cond`)) <= 1e-3, `p${i} head_cond`);
      assert.ok(maxRel(toFloat(st.get(`p${i}.head_gate`)!, Float64Array), H(`p${i}.head_gate_grad`)) <= 1e-3, `p${i} head_gate`);
      assert.equal(st.get(`p${i}.head_cond_segments`)!.shape, [5, 3, 4]);
      assert.ok(maxRel(toFloat(st.get(`p${i}.nig`)!, Float64Array), H(`p${i}.m20.nig_pre_sum`)) <= 1e-3, `p${i} nig`);
    }
    // score --head-mask: the fixture's head mask, each pair's head-masked logit; a mask of another shape is a one-line error
    const H2 = c2();
    writeFileSync(join(out, 'mask.safetensors'), serializeSafetensors({ heads: { dtype: 'F32', shape: [3, 4], data: Float32Array.from(H2('batch.head_mask')) } }));
    const sc = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'score', '--model', DIR, '--pairs', join(DIR, 'pairs.jsonl'), '--head-mask', join(out, 'mask.safetensors'), '--out', join(out, 'scores.json')], { encoding: 'utf8' });
    assert.is(sc.status, 0, sc.stderr);
    const rows = JSON.parse(readFileSync(join(out, 'scores.json'), 'utf8')) as { logits: number[] }[];
    rows.forEach((row, i) => assert.ok(maxRel(row.logits, H2(`p${i}.headmasked_logits`)) <= 1e-3, `p${i} head-masked logit`));
    writeFileSync(join(out, 'bad.safetensors'), serializeSafetensors({ heads: { dtype: 'F32', shape: [4, 3], data: new Float32Array(12) } }));
    const bs = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'score', '--model', DIR, '--pairs', join(DIR, 'pairs.jsonl'), '--head-mask', join(out, 'bad.safetensors'), '--out', join(out, 's2.json')], { encoding: 'utf8' });
    assert.is(bs.status, 2);
    assert.match(bs.stderr, /expected \[3, 4\]/);
    for (const [units, msg] of [['ffn-pre,bogus', /'bogus' is not one of: ffn-pre, ffn-post, heads/], ['ffn-pre,ffn-post', /name one/]] as const) {
      const bad = cli('--units', units, '--out', join(out, 'bad'));
      assert.is(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, msg);
      assert.is(bad.stderr.trim().split('\n').length, 1, 'one line');
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}, resolve(FIXTURES, 'families'));

S.run();
