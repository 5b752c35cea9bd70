/**
 * The main job end to end (`ir-neurons demo`, the README's first command, on a temp folder): NIG over three
 * toy datasets finds every planted role (relevance neurons shared by all datasets, OOD neurons, non-relevance
 * neurons, neurons that do nothing), pruning the relevance neurons costs far more than random sets of the same
 * size, every pruned ranking is written as a TREC run that `ir-neurons evaluate` scores exactly as the pruning
 * table says, and the report holds the known answers, Fig. 2, Fig. 3 with an exclusion, the named top neurons
 * and the completeness of every full cut. Needs nothing from ../shared.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';

const S = suite('pipeline');
const tmp = mkdtempSync(join(tmpdir(), 'demo-'));
/** The CLI's `main` in this process (test/helpers/cli.ts; the GPU test below shares its device); `status` as spawnSync's. */
const cli = async (args: string[]) => { const r = await runCli(args); return { status: r.code, stdout: r.stdout, stderr: r.stderr }; };

S('demo: planted neurons found, pruning them beats random, runs evaluate to the table, report written', async () => {
  const r = await cli(['demo', '--out', tmp, '--steps', '12']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /planted: 5\/5 found/);
  for (const role of ['relevance 5/5', 'shared 5/5', 'ood 2/2', 'nonrel 2/2', 'dead 3/3']) assert.ok(r.stdout.includes(role), `${role} in: ${r.stdout}`);
  const { table } = JSON.parse(readFileSync(join(tmp, 'prune', 'pruning.json'), 'utf8'));
  for (const b of table.baselines) assert.ok(b.ndcg10 > 0.95, `${b.dataset} unpruned nDCG@10 ${b.ndcg10}`);
  const row = table.rows.find((x: { dataset: string; scheme: string; p: number }) => x.dataset === 'toy-ood-a' && x.scheme === 'fusion/all/rel' && x.p === 5);
  assert.ok(row, 'row for fusion/all/rel at 5%');
  assert.is(row.units, 7);
  const drop = -row.ndcg10.delta;
  const randomDrop = table.baselines.find((b: { dataset: string }) => b.dataset === 'toy-ood-a').ndcg10 - row.ndcg10.random.mean;
  assert.ok(drop > 0.3, `planted pruning drop ${drop}`);
  assert.ok(drop > 3 * randomDrop + 3 * row.ndcg10.random.std, `drop ${drop} vs random ${randomDrop} ± ${row.ndcg10.random.std}`);
  assert.is(row.ndcg10.random.n, 5);
  // the TREC run of that ranking, scored by `evaluate`, gives the table's value
  const runs = readdirSync(join(tmp, 'prune', 'runs'));
  assert.is(runs.length, 3 * (1 + 5 * 3 + 5 * 5)); // per dataset: unpruned, 5 p x 3 schemes, 5 p x 5 random sets
  const runFile = join(tmp, 'prune', 'runs', runs.find((f) => f.startsWith('toy-ood-a.fusion_all_rel@5'))!);
  const ev = await cli(['evaluate', '--qrels', join(tmp, 'toy-ood-a', 'qrels.txt'), '--run', runFile, '--measures', 'ndcg_cut_10']);
  assert.is(ev.status, 0, ev.stderr);
  const line = ev.stdout.split('\n').find((l) => l.startsWith('ndcg_cut_10'))!;
  assert.is(line.split('\t')[2], row.ndcg10.value.toFixed(4));
  for (const f of ['report.html', 'report.json', 'report.md']) assert.ok(existsSync(join(tmp, f)), f);
  const html = readFileSync(join(tmp, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /fusion\/all\/rel/);
  const rep = JSON.parse(readFileSync(join(tmp, 'report.json'), 'utf8'));
  assert.is(rep.datasets.length, 3);
  assert.is(rep.datasets[0].rel, 24);
  // the known answers, in the report beside their sections
  assert.match(rep.knownAnswers.headline, /^5\/5 planted neurons found/);
  assert.equal(rep.knownAnswers.checks.map((c: { role: string; found: number; total: number; passed: boolean; section: string }) => `${c.role}:${c.found}/${c.total}:${c.passed}:${c.section}`),
    ['relevance:5/5:true:top-neurons', 'shared:5/5:true:fig3', 'ood:2/2:true:ood', 'nonrel:2/2:true:label-overlaps', 'dead:3/3:true:top-neurons']);
  assert.equal(rep.knownAnswers.checks[2].units, ['L0.30', 'L0.50']);
  for (const id of ['fig3', 'ood', 'label-overlaps', 'top-neurons']) assert.ok(html.includes(`<section id="${id}">`) && new RegExp(`<section id="${id}">(?:(?!</section>).)*class="check pass"`, 's').test(html), `check beside ${id}`);
  // Fig. 3: the intersection of all three datasets at 5% is the shared relevance neurons; leaving the in-domain one out adds the OOD neurons
  const [all, butIn] = rep.fig3.panels[0].rows;
  const at5 = rep.fig3.ps.indexOf(5);
  assert.equal(all.units[at5], ['L0.7', 'L0.23', 'L0.41', 'L1.12', 'L1.58']);
  assert.is(butIn.name, 'all but toy-in');
  assert.equal(butIn.units[at5], ['L0.7', 'L0.23', 'L0.30', 'L0.41', 'L0.50', 'L1.12', 'L1.58']);
  // Fig. 2: the two out-of-domain datasets agree on their top sets up to 5% (the planted units; above, noise units); the in-domain one shares 5 of 7 at 5%
  const ood = rep.fig2.panels[0].series.find((x: { name: string }) => x.name === 'toy-ood-a ∩ toy-ood-b');
  assert.ok(ood.values.slice(0, at5 + 1).every((v: number) => v === 100), JSON.stringify(ood));
  assert.is(rep.fig2.panels[0].series[0].values[at5], (100 * 5) / 7);
  // top neurons, named, with their role; the amplifiers act at [CLS] only
  assert.equal(rep.topNeurons.rows.slice(0, 7).map((x: { name: string }) => x.name).sort(), ['L0.23', 'L0.30', 'L0.41', 'L0.50', 'L0.7', 'L1.12', 'L1.58']);
  const amp = rep.topNeurons.rows.find((x: { name: string }) => x.name === 'L1.12');
  assert.is(amp.role, 'relevance');
  assert.ok(Math.abs(amp.segments[0] - amp.score) < 1e-9 * Math.abs(amp.score) + 1e-12, JSON.stringify(amp));
  // completeness of every full cut, with the relative error
  assert.equal(rep.completeness.map((c: { cut: string }) => c.cut), ['word embeddings (IG)', 'embedding output (hidden state 0)', 'layer 0 output (hidden state 1)', 'layer 1 output (hidden state 2)']);
  for (const c of rep.completeness) assert.ok(c.pairs === 144 && c.meanAbsGap > 0.3 && c.meanRelAbs > 0 && c.meanRelAbs < 0.5, JSON.stringify(c)); // m = 12: a few to ~30 %
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
  const { readView } = await import('../src/gpu/queue.ts');
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
