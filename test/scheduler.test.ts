/**
 * Dataset runs: DL19 + two out-of-domain sets with the fixture model and small caps. An uninterrupted run,
 * a run stopped and resumed (in process, and a real `kill -9` of the CLI), and two shards merged must all
 * give identical aggregated tensors; the aggregate agrees with per-pair NIG; the output is self-describing.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { runDatasets, type DatasetRunArgs } from '../src/run/datasets.ts';
import { parseShard } from '../src/run/scheduler.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { FIXTURES, REPO, SHARED, TOKENIZER_JSON, needsShared } from './helpers/shared.ts';

const S = suite('scheduler');
const MODEL = resolve(FIXTURES, 'tiny-monobert');
const SPEC = 'dl19,medline,noveleval';
const base = (out: string): DatasetRunArgs => ({
  spec: SPEC, shared: SHARED, selection: { seed: 7, perDataset: 2 }, nig: { steps: 8, rule: 'right', target: 'relevant', baseline: 'pad-keep-special' },
  units: 'ffn-pre', maxLength: 128, checkpointEvery: 3, resume: false, keepPairs: true, outDir: out, modelDir: MODEL, modelHash: 'test',
});

function tensors(file: string): Map<string, Float64Array> {
  const st = parseSafetensors(readFileSync(file), file);
  return new Map([...st].map(([k, v]) => [k, toFloat(v, Float64Array)]));
}

function assertSame(a: Map<string, Float64Array>, b: Map<string, Float64Array>, what: string): void {
  assert.equal([...a.keys()].sort(), [...b.keys()].sort(), `${what}: tensor names`);
  for (const [k, v] of a) {
    const w = b.get(k)!;
    for (let i = 0; i < v.length; i++) {
      if (!(Object.is(v[i], w[i]) || (Number.isNaN(v[i]) && Number.isNaN(w[i])))) assert.unreachable(`${what}: ${k}[${i}] ${v[i]} != ${w[i]}`);
    }
  }
}

const tmp = mkdtempSync(join(tmpdir(), 'sched-'));
let engine: NigEngine;
let tok: ReturnType<typeof loadTokenizer>;

async function setup(): Promise<void> {
  if (engine) return;
  const g = await requestGpu();
  const w = loadCheckpoint(MODEL);
  tok = loadTokenizer(MODEL, { tokenizerFile: TOKENIZER_JSON });
  engine = new NigEngine(await BertGpu.create(g, w), { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 });
}

needsShared(S, 'uninterrupted, stopped+resumed and 2 shards merged give identical aggregates', async () => {
  await setup();
  const full = join(tmp, 'full');
  await runDatasets(base(full), engine, tok);
  const A = tensors(join(full, 'aggregate.safetensors'));
  assert.is(A.size, 6 * 8 + 2, '6 cells (3 datasets × 2 labels) × 8 tensors + deltas + cuts');
  for (const d of SPEC.split(',')) for (const l of ['rel', 'nonrel']) assert.is(A.get(`${d}/${l}.count`)![0], 2, `${d}/${l} count`);
  // stopped after 5 pairs (a checkpoint at 3), resumed from the checkpoint
  const res = join(tmp, 'resumed');
  await runDatasets({ ...base(res), stopAfter: 5 }, engine, tok);
  assert.not.ok(existsSync(join(res, 'aggregate.safetensors')), 'no result yet');
  await runDatasets({ ...base(res), resume: true }, engine, tok);
  assertSame(A, tensors(join(res, 'aggregate.safetensors')), 'resumed');
  const P = tensors(join(full, 'pairs.safetensors'));
  assert.is(P.get('nig')!.length, 12 * 2 * 256, 'one vector per pair');
  assert.ok(P.get('nig')!.every(Number.isFinite), 'every pair attributed');
  assertSame(P, tensors(join(res, 'pairs.safetensors')), 'resumed pair vectors');
  // two shards, then merge (through the CLI)
  for (const i of [0, 1]) await runDatasets({ ...base(join(tmp, `shard${i}`)), shardSpec: `${i}/2` }, engine, tok);
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'merge', '--out', join(tmp, 'merged'), join(tmp, 'shard1'), join(tmp, 'shard0')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assertSame(A, tensors(join(tmp, 'merged', 'aggregate.safetensors')), 'merged');
  assertSame(P, tensors(join(tmp, 'merged', 'pairs.safetensors')), 'merged pair vectors');
  // the per-pair vectors sum to the cell sums (f32 vectors, exact fixed-point sums)
  const sum = A.get('dl19/rel.sum')!;
  const rows = JSON.parse(readFileSync(join(full, 'datasets', 'dl19.json'), 'utf8')).pairs;
  const acc = new Float64Array(512);
  rows.forEach((r: { label: string }, i: number) => { if (r.label === 'rel') for (let u = 0; u < 512; u++) acc[u] += P.get('nig')![i * 512 + u]; });
  for (let u = 0; u < 512; u++) assert.ok(Math.abs(acc[u] - sum[u]) <= 1e-9 + 1e-6 * Math.abs(sum[u]), `unit ${u}`);
  // merge refuses an incomplete set
  const bad = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'merge', '--out', join(tmp, 'm2'), join(tmp, 'shard0')], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /shards 1\/2 are missing/);
  // a resume with other options is refused
  try {
    await runDatasets({ ...base(res), resume: true, nig: { ...base(res).nig, steps: 9 } }, engine, tok);
    assert.unreachable('resume with other options');
  } catch (e) {
    assert.match((e as Error).message, /different run/);
  }
});

needsShared(S, 'the aggregate is the per-pair NIG summed per cell; the output folder describes itself', async () => {
  await setup();
  const full = join(tmp, 'full');
  const A = tensors(join(full, 'aggregate.safetensors'));
  const manifest = JSON.parse(readFileSync(join(full, 'manifest.json'), 'utf8'));
  assert.is(manifest.kind, 'dataset-run');
  assert.is(manifest.pairs.total, 12);
  assert.equal(manifest.datasets.map((d: { name: string }) => d.name), ['dl19', 'medline', 'noveleval']);
  const dm = JSON.parse(readFileSync(join(full, 'datasets', 'medline.json'), 'utf8'));
  assert.is(dm.pairs.length, 4);
  // recompute one cell from per-pair NIG
  const cell = dm.pairs.filter((p: { label: string }) => p.label === 'rel');
  const { loadDatasetConfig, loadDataset } = await import('../src/data/datasets.ts');
  const cfg = loadDatasetConfig(join(REPO, 'data/datasets.json'), { shared: SHARED });
  const med = loadDataset(cfg.datasets.find((d) => d.name === 'medline')!);
  const sum = new Float64Array(2 * 256);
  for (const p of cell) {
    const enc = await tok.encodePair(med.queries.get(p.qid)!, med.docs.get(p.docid)!, 128);
    const r = await engine.attribute(enc, { steps: 8, rule: 'right' });
    r.nigPre.forEach((v, i) => { sum[i] += v; });
  }
  const got = A.get('medline/rel.sum')!;
  for (let i = 0; i < sum.length; i++) assert.ok(Math.abs(got[i] - sum[i]) <= 1e-9 + 1e-6 * Math.abs(sum[i]), `unit ${i}: ${got[i]} vs ${sum[i]}`);
  const mean = A.get('medline/rel.mean')!;
  assert.ok(Math.abs(mean[5] - got[5] / 2) < 1e-12);
  const sumsq = A.get('medline/rel.sumsq')!;
  for (let i = 0; i < 16; i++) assert.ok(sumsq[i] >= got[i] ** 2 / 2 - 1e-9, 'Σv² ≥ (Σv)²/n');
  const segs = A.get('medline/rel.seg_sum')!;
  for (let i = 0; i < 16; i++) {
    const s = segs[i] + segs[512 + i] + segs[1024 + i] + segs[1536 + i] + segs[2048 + i];
    assert.ok(Math.abs(s - got[i]) < 1e-5 * Math.max(1, Math.abs(got[i])), 'segments add up');
  }
});

needsShared(S, 'kill -9 in the middle of a CLI run, then --resume: same aggregate, nothing lost', async () => {
  const out = join(tmp, 'killed');
  const args = [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', MODEL, '--tokenizer', TOKENIZER_JSON, '--dataset', SPEC, '--shared', SHARED,
    '--per-dataset', '2', '--seed', '7', '--steps', '8', '--rule', 'right', '--max-length', '128', '--checkpoint-every', '2', '--out', out];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const ckpt = join(out, 'checkpoint.safetensors');
  const t0 = Date.now();
  while (!existsSync(ckpt) && Date.now() - t0 < 240_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(existsSync(ckpt), `no checkpoint appeared: ${err}`);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  assert.not.ok(existsSync(join(out, 'aggregate.safetensors')), 'killed before the end');
  const r = spawnSync(process.execPath, [...args, '--resume'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const A = tensors(join(tmp, 'full', 'aggregate.safetensors'));
  const B = tensors(join(out, 'aggregate.safetensors'));
  // the CLI hashes the real model folder; the library runs above used 'test' — only the key differs
  assertSame(A, B, 'killed and resumed');
  // without --resume an existing run is not overwritten
  const again = spawnSync(process.execPath, args, { encoding: 'utf8' });
  assert.is(again.status, 2);
  assert.match(again.stderr, /exists: add --resume/);
});

S('--shard parsing: i/n, auto/n from Slurm or Kubernetes, errors', () => {
  assert.equal(parseShard(undefined), { index: 0, count: 1 });
  assert.equal(parseShard('2/4'), { index: 2, count: 4 });
  assert.equal(parseShard('auto/3', { SLURM_ARRAY_TASK_ID: '1' }), { index: 1, count: 3 });
  assert.equal(parseShard('auto/3', { JOB_COMPLETION_INDEX: '2' }), { index: 2, count: 3 });
  assert.throws(() => parseShard('auto/3', {}), /SLURM_ARRAY_TASK_ID/);
  assert.throws(() => parseShard('3/3'), /0 ≤ i < n/);
  assert.throws(() => parseShard('x'), /must be i\/n/);
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
