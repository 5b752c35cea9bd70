/**
 * `ir-neurons compare` and what it stands on: Spearman ρ and Kendall τ-b against hand-computed values (ties
 * included) and against a brute-force O(n²) τ-b; the tensor difference (scale floor, NaN, shapes); the pruning
 * table's differences; and the command on small dataset and pairs runs of the planted toy model (src/toy/), run
 * in this process: a run and its rerun agree bit for bit (exit 0); the CPU-class and GPU-class kernels agree within
 * the default tolerance (exit 0); other NIG steps exit 1 with the options named; a truncated or damaged
 * safetensors, two kinds of folder and two pair lists exit 2 with the file or folder named.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { averageRanks, kendallTauB, spearman, Rng } from '../src/analysis/stats.ts';
import { DEFAULT_TOL, pruningDiff, tensorDiff } from '../src/analysis/compare.ts';
import type { PruningTable } from '../src/analysis/pruning.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { runCli } from './helpers/cli.ts';

const S = suite('compare');
const tmp = mkdtempSync(join(tmpdir(), 'compare-'));
const close = (a: number, b: number, eps = 1e-12) => assert.ok(Math.abs(a - b) <= eps, `${a} vs ${b}`);

S('averageRanks: ties share the mean of their ranks', () => {
  assert.equal([...averageRanks([10, 30, 20, 30, 5])], [2, 4.5, 3, 4.5, 1]);
});

S('Spearman rho and Kendall tau-b: hand-computed values, ties included', () => {
  // y ties at 7: ranks [1, 2, 3.5, 5, 3.5]; rho = 8 / sqrt(10 · 9.5); tau-b: 8 concordant, 1 discordant, 1 tie in y → 7 / sqrt(10 · 9)
  close(spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 8 / Math.sqrt(95));
  close(kendallTauB([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]), 7 / Math.sqrt(90));
  // scipy.stats.kendalltau's documented example (ties in x and y)
  close(kendallTauB([12, 2, 1, 12, 2], [1, 4, 7, 1, 0]), -0.47140452079103173);
  // ties in both: one concordant, one discordant pair
  close(kendallTauB([1, 1, 2, 2], [1, 2, 1, 2]), 0);
  close(spearman([1, 1, 2, 2], [1, 2, 1, 2]), 0);
  close(kendallTauB([1, 2, 3, 4], [8, 6, 4, 2]), -1);
  close(spearman([1, 2, 3, 4], [8, 6, 4, 2]), -1);
  close(kendallTauB([3, 1, 2], [30, 10, 20]), 1);
  assert.ok(Number.isNaN(kendallTauB([1, 1, 1], [1, 2, 3])), 'a constant ranking has no tau');
  assert.ok(Number.isNaN(spearman([1, 2, 3], [4, 4, 4])), 'nor rho');
  assert.throws(() => kendallTauB([1, 2], [1]), /vectors of 2 and 1 entries/);
});

S('Kendall tau-b (Knight, n log n) equals the O(n²) count on random data with many ties', () => {
  const rng = new Rng(7);
  for (const [n, levels] of [[2, 2], [37, 4], [300, 12], [513, 1000]] as const) {
    const x = Array.from({ length: n }, () => rng.int(levels));
    const y = x.map((v) => (rng.float() < 0.5 ? v : rng.int(levels)));
    let c = 0, d = 0, tx = 0, ty = 0;
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const s = Math.sign(x[i] - x[j]) * Math.sign(y[i] - y[j]);
        if (s > 0) c++; else if (s < 0) d++;
        if (x[i] === x[j]) tx++;
        if (y[i] === y[j]) ty++;
      }
    }
    const n0 = (n * (n - 1)) / 2;
    const want = (c - d) / Math.sqrt((n0 - tx) * (n0 - ty));
    if (Number.isNaN(want)) assert.ok(Number.isNaN(kendallTauB(x, y)), `n = ${n}: a constant vector`);
    else close(kendallTauB(x, y), want, 1e-12);
  }
});

S('tensorDiff: relative to the larger of the tensor scale and the floor; NaN in one run and other shapes are differences', () => {
  const t = (values: number[]) => ({ shape: [values.length], values });
  const d = tensorDiff('x', t([2, 0.001, -1]), t([2.0001, 0.002, -1]), DEFAULT_TOL);
  close(d.maxAbs, 0.001, 1e-15);
  close(d.scale, 2.0001);
  close(d.maxRel, 0.001 / 2.0001);
  assert.is(d.within, false);
  const small = tensorDiff('delta', t([1e-6]), t([3e-6]), DEFAULT_TOL);
  close(small.maxRel, 2e-6 / 0.1, 1e-15); // the floor (0.1), not 1e-6, is the scale
  assert.is(small.within, true);
  assert.is(tensorDiff('n', t([NaN, 1]), t([NaN, 1]), 1e-4).within, true);
  assert.is(tensorDiff('n', t([NaN, 1]), t([0, 1]), 1e-4).maxAbs, Infinity);
  const s = tensorDiff('F', { shape: [21], values: new Array(21).fill(0) }, { shape: [11], values: new Array(11).fill(0) }, 1e-4);
  assert.is(s.within, false);
  assert.is(s.note, 'shape [21] vs [11]');
});

S('pruningDiff: per row and baseline, matched by dataset, scheme and p; rows of one table listed', () => {
  const cell = (value: number) => ({ value, delta: 0, random: { mean: value, std: 0, n: 5 }, wins: 0, losses: 0 });
  const table = (v: number, extra = false): PruningTable => ({
    measures: { ndcg10: 'ndcg_cut_10', mrr10: 'recip_rank_10' },
    baselines: [{ dataset: 'd', relevanceLevel: 1, queries: 3, ndcg10: 0.5, mrr10: 0.6 }],
    rows: [{ dataset: 'd', scheme: 'fusion/all/rel', p: 5, units: 3, ndcg10: cell(v), mrr10: cell(0.4) },
      ...(extra ? [{ dataset: 'd', scheme: 'fusion/all/rel', p: 10, units: 6, ndcg10: cell(0), mrr10: cell(0) }] : [])],
  });
  const d = pruningDiff(table(0.3), table(0.25, true));
  close(d.rows[0].dNdcg10, -0.05);
  close(d.maxDNdcg10, 0.05);
  assert.is(d.maxDMrr10, 0);
  assert.equal(d.unmatched, ['d fusion/all/rel 10%']);
});

// ---------------------------------------------------------------- the command on toy runs

const model = join(tmp, 'model');
const config = join(tmp, 'datasets.json');
const cli = (...args: string[]) => runCli(args);
const dataset = (out: string, ...more: string[]) => cli('attribute', '--model', model, '--dataset', 'toy-in,toy-ood-a', '--datasets-config', config, '--shared', tmp,
  '--steps', '4', '--per-query', '1', '--keep-pairs', '--out', join(tmp, out), ...more);

S.before(() => {
  makePlantedBert({ out: model, seed: 1 });
  const entries = [['toy-in', 'in-domain', 1, 'in'], ['toy-ood-a', 'out-of-domain', 2, 'ood']] as const;
  for (const [name, , seed, domain] of entries) makeToyCollection({ out: join(tmp, name), seed, domain });
  writeFileSync(config, JSON.stringify({
    version: 1,
    datasets: entries.map(([name, group]) => ({ name, group, format: 'tsv', relThreshold: 2, unlisted: 'unjudged', files: { docs: `${name}/corpus.tsv`, queries: `${name}/queries.tsv`, qrels: `${name}/qrels.txt`, run: `${name}/run.txt` } })),
  }));
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));

S('dataset runs: a rerun agrees bit for bit, the GPU-class kernels within the default tolerance (exit 0); other steps exit 1 with the reason', async () => {
  const g = await requestGpu();
  const before = g.kernels;
  try {
    g.kernels = 'cpu';
    for (const out of ['cpu', 'cpu-again']) assert.is((await dataset(out)).code, 0);
    assert.is((await dataset('steps8', '--steps', '8')).code, 0);
    g.kernels = 'gpu'; // the class a discrete GPU gets (IR_NEURONS_KERNELS=gpu): other kernels, other summation orders
    assert.is((await dataset('gpu')).code, 0);
  } finally {
    g.kernels = before;
  }
  const same = await cli('compare', join(tmp, 'cpu'), join(tmp, 'cpu-again'), '--json');
  assert.is(same.code, 0, same.stdout + same.stderr);
  const j = JSON.parse(same.stdout);
  assert.is(j.verdict.within, true);
  assert.ok(j.tensors.length >= 20, `${j.tensors.length} tensors`);
  assert.ok(j.tensors.some((t: { name: string }) => t.name === 'pairs.safetensors:nig'), 'the kept pair vectors are compared');
  for (const t of j.tensors) assert.is(t.maxAbs, 0, `${t.name}: the same run on the same adapter is bit for bit the same`);
  assert.ok(j.rankings.length > 10);
  for (const r of j.rankings) {
    if (r.kind !== 'intersection') { assert.is(r.spearman, 1, r.scheme); assert.is(r.kendall, 1, r.scheme); }
    for (const o of r.overlaps) if (o.size) assert.is(o.overlap, 1);
  }

  const classes = await cli('compare', join(tmp, 'cpu'), join(tmp, 'gpu'), '--json');
  assert.is(classes.code, 0, classes.stdout + classes.stderr);
  const c = JSON.parse(classes.stdout);
  const worst = Math.max(...c.tensors.map((t: { maxRel: number }) => t.maxRel));
  assert.ok(worst > 0 && worst < DEFAULT_TOL / 10, `CPU vs GPU class: worst relative difference ${worst}, expected in (0, ${DEFAULT_TOL / 10})`);
  const summary = await cli('compare', join(tmp, 'cpu'), join(tmp, 'gpu'));
  assert.is(summary.code, 0);
  assert.match(summary.stdout, /^compare: A .*cpu\n/);
  assert.match(summary.stdout, /\nadapter A: adapter: .*\nadapter B: adapter: /);
  assert.match(summary.stdout, /\ntensors: \d+ compared, worst abs [\d.e+-]+ \(.+\), worst rel [\d.e+-]+ \(.+\); 0 beyond --tol 0\.0001\n/);
  assert.match(summary.stdout, /\nrankings: \d+ schemes, min Spearman rho 1\.0000\d\d .*min Kendall tau 1\.0000\d\d/);
  assert.match(summary.stdout, /\ncompare: within tolerance \(--tol 0\.0001/);
  assert.ok(summary.stdout.split('\n').length <= 24, 'one screen');
  // a tolerance below the measured difference fails it
  assert.is((await cli('compare', join(tmp, 'cpu'), join(tmp, 'gpu'), '--tol', String(worst / 2))).code, 1);

  const steps = await cli('compare', join(tmp, 'cpu'), join(tmp, 'steps8'));
  assert.is(steps.code, 1, steps.stdout + steps.stderr);
  assert.match(steps.stdout, /\noptions: 1 differ — not the same experiment\n {2}nig\.steps: 4 \| 8\n/);
  assert.match(steps.stdout, /\ncompare: DIFFER: options differ \(nig\.steps 4 vs 8\): not the same experiment; \d+ tensors beyond --tol/);
});

S('experiment folders (run/ and prune/pruning.json): pruning differences shown; kinds and pair lists must match (exit 2)', async () => {
  const table = { options: { schemes: ['fusion/all/rel'], percents: [5], seeds: 5, depth: 100, maxLength: 128, batch: 64 }, table: {
    measures: { ndcg10: 'ndcg_cut_10', mrr10: 'recip_rank_10' }, baselines: [{ dataset: 'toy-in', relevanceLevel: 2, queries: 12, ndcg10: 0.9, mrr10: 0.95 }],
    rows: [{ dataset: 'toy-in', scheme: 'fusion/all/rel', p: 5, units: 7, ndcg10: { value: 0.5, delta: -0.4, random: { mean: 0.9, std: 0, n: 5 }, wins: 0, losses: 9 }, mrr10: { value: 0.6, delta: -0.35, random: { mean: 0.95, std: 0, n: 5 }, wins: 0, losses: 8 } }],
  } };
  for (const [name, run, ndcg] of [['exp-a', 'cpu', 0.5], ['exp-b', 'gpu', 0.52]] as const) {
    cpSync(join(tmp, run), join(tmp, name, 'run'), { recursive: true });
    mkdirSync(join(tmp, name, 'prune'));
    table.table.rows[0].ndcg10.value = ndcg;
    writeFileSync(join(tmp, name, 'prune', 'pruning.json'), JSON.stringify(table));
  }
  const r = await cli('compare', join(tmp, 'exp-a'), join(tmp, 'exp-b'));
  assert.is(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\(experiment folders\)/);
  assert.match(r.stdout, /\npruning: 1 rows, 1 baselines; max \|Δ nDCG@10\| 0\.0200, max \|Δ MRR@10\| 0\.0000\n/);

  const kinds = await cli('compare', join(tmp, 'exp-a'), join(tmp, 'gpu'));
  assert.is(kinds.code, 2);
  assert.match(kinds.stderr, /^ir-neurons compare: .*gpu: is a dataset folder, .*exp-a an experiment folder; compare two folders of one kind\n$/);

  assert.is((await cli('attribute', '--model', model, '--dataset', 'toy-in', '--datasets-config', config, '--shared', tmp, '--steps', '4', '--per-query', '1', '--out', join(tmp, 'in-only'))).code, 0);
  const pairs = await cli('compare', join(tmp, 'cpu'), join(tmp, 'in-only'));
  assert.is(pairs.code, 2);
  assert.match(pairs.stderr, /in-only: pair list \(24 pairs, #25 none\), .*cpu \(48 pairs, #25 toy-ood-a\/q01\/.*\); compare two runs of one experiment \(same model shape, units, pairs and cells\)\n$/);
});

S('pairs folders: other steps exit 1 (other F shapes too); a truncated or damaged safetensors exits 2 naming the file', async () => {
  const jsonl = join(tmp, 'pairs.jsonl');
  writeFileSync(jsonl, '{"id":"a","query":"what temperature is boiling water","passage":"water boiling celsius fahrenheit"}\n{"id":"b","query":"what does a vaccine do","passage":"snow price bus"}\n');
  const attr = (out: string, steps: string) => cli('attribute', '--model', model, '--pairs', jsonl, '--steps', steps, '--out', join(tmp, out));
  assert.is((await attr('pairs4', '4')).code, 0);
  assert.is((await attr('pairs4-again', '4')).code, 0);
  assert.is((await attr('pairs8', '8')).code, 0);
  assert.is((await cli('compare', join(tmp, 'pairs4'), join(tmp, 'pairs4-again'))).code, 0);
  const r = await cli('compare', join(tmp, 'pairs4'), join(tmp, 'pairs8'));
  assert.is(r.code, 1);
  assert.match(r.stdout, /\(pairs folders\)/);
  assert.match(r.stdout, /compare: DIFFER: options differ \(igSteps 4 vs 8, steps 4 vs 8\): not the same experiment; 2 tensors of other shapes \(a\.F: shape \[5\] vs \[9\]\)/);

  const kinds = await cli('compare', join(tmp, 'pairs4'), join(tmp, 'cpu'));
  assert.is(kinds.code, 2);
  assert.match(kinds.stderr, /cpu: is a dataset folder, .*pairs4 a pairs folder/);

  cpSync(join(tmp, 'pairs4'), join(tmp, 'cut'), { recursive: true });
  const file = join(tmp, 'cut', 'attributions.safetensors');
  truncateSync(file, readFileSync(file).byteLength - 100);
  const cut = await cli('compare', join(tmp, 'pairs4'), join(tmp, 'cut'));
  assert.is(cut.code, 2);
  assert.is(cut.stderr.split('\n').length, 2, 'one line');
  assert.ok(cut.stderr.includes(`${file}: not a valid safetensors file`), cut.stderr);

  cpSync(join(tmp, 'cpu'), join(tmp, 'damaged'), { recursive: true });
  const agg = join(tmp, 'damaged', 'aggregate.safetensors');
  const bytes = readFileSync(agg);
  bytes[10] = 0x7b; // a '{' in the JSON header: "__metadata__" becomes "{_metadata__", a tensor without a dtype
  writeFileSync(agg, bytes);
  const bad = await cli('compare', join(tmp, 'damaged'), join(tmp, 'cpu'));
  assert.is(bad.code, 2);
  assert.ok(bad.stderr.includes(`${agg}: not a valid safetensors file: tensor "{_metadata__" has unknown dtype`), bad.stderr);

  cpSync(join(tmp, 'cpu'), join(tmp, 'no-manifest'), { recursive: true });
  writeFileSync(join(tmp, 'no-manifest', 'manifest.json'), '{"kind": "dataset-run", ');
  const mf = await cli('compare', join(tmp, 'cpu'), join(tmp, 'no-manifest'));
  assert.is(mf.code, 2);
  assert.ok(mf.stderr.includes(`${join(tmp, 'no-manifest', 'manifest.json')}: not valid JSON`), mf.stderr);

  const one = await cli('compare', join(tmp, 'cpu'));
  assert.is(one.code, 2);
  assert.match(one.stderr, /compare takes two folders, got 1/);
  const none = await cli('compare', join(tmp, 'cpu'), join(tmp, 'nowhere'));
  assert.is(none.code, 2);
  assert.match(none.stderr, /nowhere: no such folder/);
});

S.run();
