/**
 * The main job end to end (`ir-neurons demo`, the README's first command, on a temp folder): NIG over two
 * toy datasets finds the planted neurons, pruning them costs far more than random sets of the same size, every
 * pruned ranking is written as a TREC run that `ir-neurons evaluate` scores exactly as the pruning table says,
 * and the report is written. Needs nothing from ../shared.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO } from './helpers/shared.ts';

const S = suite('pipeline');
const tmp = mkdtempSync(join(tmpdir(), 'demo-'));
const cli = (args: string[]) => spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), ...args], { encoding: 'utf8', timeout: 600_000 });

S('demo: planted neurons found, pruning them beats random, runs evaluate to the table, report written', () => {
  const r = cli(['demo', '--out', tmp, '--steps', '12']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /planted: 5\/5 found/);
  const { table } = JSON.parse(readFileSync(join(tmp, 'prune', 'pruning.json'), 'utf8'));
  for (const b of table.baselines) assert.ok(b.ndcg10 > 0.95, `${b.dataset} unpruned nDCG@10 ${b.ndcg10}`);
  const row = table.rows.find((x: { dataset: string; scheme: string; p: number }) => x.dataset === 'toy-ood' && x.scheme === 'fusion/all/rel' && x.p === 5);
  assert.ok(row, 'row for fusion/all/rel at 5%');
  assert.is(row.units, 7);
  const drop = -row.ndcg10.delta;
  const randomDrop = table.baselines.find((b: { dataset: string }) => b.dataset === 'toy-ood').ndcg10 - row.ndcg10.random.mean;
  assert.ok(drop > 0.3, `planted pruning drop ${drop}`);
  assert.ok(drop > 3 * randomDrop + 3 * row.ndcg10.random.std, `drop ${drop} vs random ${randomDrop} ± ${row.ndcg10.random.std}`);
  assert.is(row.ndcg10.random.n, 5);
  // the TREC run of that ranking, scored by `evaluate`, gives the table's value
  const runs = readdirSync(join(tmp, 'prune', 'runs'));
  assert.ok(runs.length >= 1 + 5 * 5 * 2, `${runs.length} run files`);
  const runFile = join(tmp, 'prune', 'runs', runs.find((f) => f.startsWith('toy-ood.fusion_all_rel@5'))!);
  const ev = cli(['evaluate', '--qrels', join(tmp, 'toy-ood', 'qrels.txt'), '--run', runFile, '--measures', 'ndcg_cut_10']);
  assert.is(ev.status, 0, ev.stderr);
  const line = ev.stdout.split('\n').find((l) => l.startsWith('ndcg_cut_10'))!;
  assert.is(line.split('\t')[2], row.ndcg10.value.toFixed(4));
  for (const f of ['report.html', 'report.json', 'report.md']) assert.ok(existsSync(join(tmp, f)), f);
  const html = readFileSync(join(tmp, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /fusion\/all\/rel/);
  const rep = JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8'));
  assert.is(rep.datasets.length, 2);
  assert.is(rep.datasets[0].rel, 24);
  // bootstrap stability of the relevance sets (the demo keeps per-pair vectors): the planted set is stable
  const fusion = rep.stability.find((x: { scheme: string }) => x.scheme === 'fusion/all/rel');
  assert.ok(fusion && fusion.resamples === 100 && fusion.units === 7, JSON.stringify(rep.stability));
  assert.ok(fusion.mean > 0.9, `mean stability ${fusion.mean}`);
});

S('GPU-selected scheme masks equal the plain-array schemes of src/analysis on the demo run', async () => {
  const { readRunDir } = await import('../src/run/run-dir.ts');
  const { gpuMasksFromRun } = await import('../src/pipeline/gpu-masks.ts');
  const { buildSchemes } = await import('../src/analysis/schemes.ts');
  const { loadCheckpoint } = await import('../src/model/checkpoint.ts');
  const { requestGpu } = await import('../src/gpu/node.ts');
  const { BertGpu } = await import('../src/model/forward.ts');
  const { readView } = await import('../src/gpu/arena.ts');
  const run = readRunDir(join(tmp, 'run'));
  const g = await requestGpu();
  const model = await BertGpu.create(g, loadCheckpoint(join(tmp, 'model')));
  const masks = gpuMasksFromRun(g, model, run);
  let checked = 0;
  for (const p of [1, 5, 10]) {
    for (const s of buildSchemes(run.cells, p, { groups: run.groups, kinds: ['dataset', 'fusion'] })) {
      const r = await masks.apply(s, true);
      assert.ok(r.onGpu);
      assert.equal(Array.from(r.units!), Array.from(s.units), `${s.name} at ${p}%`);
      // the mask really landed in the model's layer masks
      const m0 = await readView(g, model.weights.view('mask.0'));
      const zeros = Array.from(m0).filter((x) => x === 0).length;
      assert.is(zeros, Array.from(s.units).filter((u) => u < 64).length, `${s.name}: layer-0 zeros`);
      checked++;
    }
  }
  assert.ok(checked >= 30);
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
