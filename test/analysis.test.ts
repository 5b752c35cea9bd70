/**
 * Analysis on plain arrays (src/analysis): rankings and the selection threshold, schemes and fusion, overlaps,
 * pruning helpers and the pruning table, bootstrap stability. Small cases are computed by hand in the comments;
 * the selection is checked against a sort on many random vectors.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { evaluate } from '../src/analysis/metrics.ts';
import { oodNeurons, oodUnits, overlap, overlapMatrices, overlapMatrix, relVsNonrel } from '../src/analysis/overlaps.ts';
import {
  maskFromUnits, perQueryDeltas, pruningTable, randomUnits, rerank, summariseRandom, writeTrecRun, type PruningDatasetInput,
} from '../src/analysis/pruning.ts';
import {
  difference, intersect, layerDistribution, rankKeys, rankPositions, thresholdValue, topCount, topK, topUnits,
} from '../src/analysis/rankings.ts';
import {
  bootstrapStability, buildSchemes, cellMean, combSumScores, fuseMeans, groupUnits, intersectionUnits, rrfScores, type Cell,
} from '../src/analysis/schemes.ts';
import { Rng, summarise, zScores } from '../src/analysis/stats.ts';
import { parseRun, type Qrels, type Run } from '../src/data/trec.ts';
import { UserError } from '../src/util/errors.ts';
import { throwsUserError } from './helpers/shared.ts';
import { intersectionSummary, knownAnswerChecks, orientCells, relNonrelPerDataset, schemePairCurves, topNeurons, unitName } from '../src/analysis/figures.ts';


const arr = (u: ArrayLike<number>) => Array.from(u);
const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b}`);

// ------------------------------------------------------------------ rankings

test('topCount: ceil(p/100 · N) with a float guard, at least one unit', () => {
  assert.is(topCount(0.1, 3000), 3); // 0.1 * 3000 / 100 = 3.0000000000000004 in float64
  assert.is(topCount(0.1, 24 * 4096), 99); // 98.304
  assert.is(topCount(10, 10), 1);
  assert.is(topCount(0.1, 5), 1);
  assert.is(topCount(100, 7), 7);
  assert.is(topCount(1, 0), 0);
  throwsUserError(() => topCount(0, 10), /outside \(0, 100\]/);
  throwsUserError(() => topCount(101, 10), /outside/);
});

test('topUnits: signed order, ties to the lower index, absolute option', () => {
  const v = Float64Array.from([3, 1, 3, 2, -5, 3]);
  assert.equal(arr(topUnits(v, 30)), [0, 2]); // k = ceil(1.8) = 2: the first two 3s
  assert.equal(arr(topUnits(v, 50)), [0, 2, 5]); // k = 3: all three 3s
  assert.equal(arr(topUnits(v, 60)), [0, 2, 3, 5]); // k = 4: then the 2
  assert.equal(arr(topUnits(v, 100)), [0, 1, 2, 3, 4, 5]);
  assert.equal(arr(topUnits(v, 30, { absolute: true })), [0, 4]); // |−5| first, then the first 3
  assert.is(thresholdValue(v, 1), 3);
  assert.is(thresholdValue(v, 4), 2);
  assert.is(thresholdValue(v, 6), -5);
  assert.is(thresholdValue(v, 1, { absolute: true }), 5);
  // -0 and +0 tie: the lower index wins whatever the sign bit, and the threshold is +0
  assert.equal(arr(topK([-0, 0, -1], 1)), [0]);
  assert.equal(arr(topK([0, -0, -1], 2)), [0, 1]);
  assert.ok(Object.is(thresholdValue([-0, -0, -1], 2), 0));
  assert.equal(arr(rankPositions(v)), [1, 5, 2, 4, 6, 3]);
  throwsUserError(() => topUnits([1, NaN], 50), /unit 1 has a NaN score/);
  throwsUserError(() => thresholdValue([1, 2], 3), /outside \[1, 2\]/);
});

/** Reference: sort unit indices by (key desc, index asc) and take the first k. */
function sortTopK(v: ArrayLike<number>, k: number, absolute: boolean): { units: number[]; kth: number } {
  const keys = rankKeys(v, { absolute });
  const order = arr(keys).map((_, i) => i).sort((a, b) => (keys[a] > keys[b] ? -1 : keys[a] < keys[b] ? 1 : a - b));
  return { units: order.slice(0, k).sort((a, b) => a - b), kth: keys[order[k - 1]] };
}

test('thresholdValue and topK match a sort on 1000 random vectors (duplicates, ±0, ±Infinity, subnormals)', () => {
  const rng = new Rng(7);
  const pool = [0, -0, 1, -1, 0.5, -0.5, 1e-310, -1e-310, Infinity, -Infinity, 3.25, -3.25, 1e300, -1e300];
  for (let t = 0; t < 1000; t++) {
    const n = 1 + rng.int(200);
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rng.float() < 0.5 ? pool[rng.int(pool.length)] : (rng.float() - 0.5) * 10 ** (rng.int(7) - 3);
    if (t % 3 === 0) for (let i = 0; i < n; i++) v[i] = Math.fround(v[i]); // f32 values, as the GPU holds them
    const k = 1 + rng.int(n);
    for (const absolute of [false, true]) {
      const ref = sortTopK(v, k, absolute);
      const got = thresholdValue(v, k, { absolute });
      assert.ok(Object.is(got, ref.kth === 0 ? 0 : ref.kth), `trial ${t}: k=${k} got ${got} want ${ref.kth}`);
      assert.equal(arr(topK(v, k, { absolute })), ref.units, `trial ${t}: top-${k} set`);
    }
  }
});

test('layerDistribution counts units per layer', () => {
  assert.equal(layerDistribution([0, 1, 5, 11], 4, 3), [2, 1, 1]);
  assert.equal(layerDistribution([], 4, 2), [0, 0]);
  throwsUserError(() => layerDistribution([12], 4, 3), /outside \[0, 12\)/);
});

test('set helpers: intersect, difference', () => {
  const a = Uint32Array.from([1, 3, 5, 7]);
  const b = Uint32Array.from([3, 4, 7, 9]);
  assert.equal(arr(intersect(a, b)), [3, 7]);
  assert.equal(arr(difference(a, b)), [1, 5]);
  assert.equal(arr(difference(b, a)), [4, 9]);
});

// ------------------------------------------------------------------ schemes

// Three datasets, 2 layers x 2 neurons, count 2 (sum = 2 · mean). Relevant means:
//   A = [10, 3, 2, 1]   B = [1, 4, 3, 2]   C = [2, 1, 4, 3]
// Non-relevant means: [1, 2, 3, 4] for every dataset.
const MEANS: Record<string, number[]> = { A: [10, 3, 2, 1], B: [1, 4, 3, 2], C: [2, 1, 4, 3] };
function mkCell(dataset: string, label: 'rel' | 'nonrel', mean: number[]): Cell {
  const sum = Float64Array.from(mean, (x) => 2 * x);
  return { dataset, label, count: 2, sum, sumSq: Float64Array.from(mean, (x) => 2 * x * x), layers: 2, dff: 2 };
}
const CELLS: Cell[] = [
  ...Object.entries(MEANS).map(([d, m]) => mkCell(d, 'rel', m)),
  ...Object.keys(MEANS).map((d) => mkCell(d, 'nonrel', [1, 2, 3, 4])),
];
const GROUPS = { inDomain: ['A'], outOfDomain: ['B', 'C'] };
const means = () => ['A', 'B', 'C'].map((d) => Float64Array.from(MEANS[d]));

test('cellMean divides by the count; segments; bad cells are UserErrors', () => {
  assert.equal(arr(cellMean(CELLS[0])), [10, 3, 2, 1]);
  const seg = { ...CELLS[0], segments: [0, 1, 2, 3, 4].map((s) => Float64Array.from([s, s, s, 2 * s])) };
  assert.equal(arr(cellMean(seg, 'passage')), [1.5, 1.5, 1.5, 3]);
  throwsUserError(() => cellMean(CELLS[0], 'query'), /no per-segment sums/);
  throwsUserError(() => cellMean({ ...CELLS[0], count: 0 }), /count 0/);
  throwsUserError(() => cellMean({ ...CELLS[0], sum: new Float64Array(3) }), /expected layers x dff = 4/);
});

test('fusion = mean of means, then top p%', () => {
  // fused = [(10+1+2)/3, (3+4+1)/3, (2+3+4)/3, (1+2+3)/3] = [13/3, 8/3, 3, 2]
  const f = fuseMeans(means());
  [13 / 3, 8 / 3, 3, 2].forEach((x, i) => close(f[i], x));
  assert.equal(arr(groupUnits('fusion', means(), 25)), [0]);
  assert.equal(arr(groupUnits('fusion', means(), 50)), [0, 2]);
});

test('RRF (k = 60) over per-dataset rankings', () => {
  // ranks A: u0 1, u1 2, u2 3, u3 4; B: u1 1, u2 2, u3 3, u0 4; C: u2 1, u3 2, u0 3, u1 4
  const s = rrfScores(means());
  close(s[0], 1 / 61 + 1 / 64 + 1 / 63);
  close(s[1], 1 / 62 + 1 / 61 + 1 / 64);
  close(s[2], 1 / 63 + 1 / 62 + 1 / 61);
  close(s[3], 1 / 64 + 1 / 63 + 1 / 62);
  // u2 > u1 > u0 > u3: RRF ignores A's large magnitude, fusion does not
  assert.equal(arr(groupUnits('rrf', means(), 25)), [2]);
  assert.equal(arr(groupUnits('rrf', means(), 50)), [1, 2]);
  close(rrfScores(means(), { k: 0 })[2], 1 / 3 + 1 / 2 + 1);
});

test('CombSUM of z-scores over units', () => {
  // A: mean 4, population std √12.5; B and C: mean 2.5, std √1.25
  const a = Math.sqrt(12.5), b = Math.sqrt(1.25);
  const want = [6 / a - 1.5 / b - 0.5 / b, -1 / a + 1.5 / b - 1.5 / b, -2 / a + 0.5 / b + 1.5 / b, -3 / a - 0.5 / b + 0.5 / b];
  const s = combSumScores(means());
  want.forEach((x, i) => close(s[i], x));
  assert.equal(arr(groupUnits('combsum', means(), 50)), [0, 2]); // 1.223 and −0.092 lead
  assert.equal(arr(zScores([5, 5, 5])), [0, 0, 0]);
});

test('intersection over datasets', () => {
  // top 50%: A {0,1}, B {1,2}, C {2,3}
  assert.equal(arr(intersectionUnits(means(), 50)), []);
  assert.equal(arr(intersectionUnits(means().slice(0, 2), 50)), [1]);
  assert.equal(arr(intersectionUnits(means().slice(1), 50)), [2]);
});

test('buildSchemes: per-dataset sets, groups x kinds x labels', () => {
  const s = buildSchemes(CELLS, 50, { groups: GROUPS });
  const by = new Map(s.map((x) => [x.name, arr(x.units)]));
  assert.is(s.length, 2 * (3 + 3 * 4)); // 2 labels x (3 datasets + 3 groups x 4 kinds)
  assert.equal(by.get('dataset/A/rel'), [0, 1]);
  assert.equal(by.get('dataset/C/nonrel'), [2, 3]);
  assert.equal(by.get('fusion/in-domain/rel'), [0, 1]);
  // out-of-domain fusion: [1.5, 2.5, 3.5, 2.5]: u2, then the tie u1/u3 goes to u1
  assert.equal(by.get('fusion/out-of-domain/rel'), [1, 2]);
  assert.equal(by.get('intersection/out-of-domain/rel'), [2]);
  assert.equal(by.get('intersection/all/rel'), []);
  assert.equal(by.get('fusion/all/rel'), [0, 2]);
  assert.equal(by.get('rrf/all/rel'), [1, 2]);
  assert.equal(by.get('combsum/all/rel'), [0, 2]);
  assert.equal(by.get('fusion/all/nonrel'), [2, 3]);
  const only = buildSchemes(CELLS, 25, { groups: GROUPS, kinds: ['fusion'], labels: ['rel'] });
  assert.equal(only.map((x) => x.name), ['fusion/in-domain/rel', 'fusion/out-of-domain/rel', 'fusion/all/rel']);
  throwsUserError(() => buildSchemes(CELLS, 50, { groups: { inDomain: ['A', 'D'], outOfDomain: [] } }), /'D' has no cells/);
  throwsUserError(() => buildSchemes(CELLS.filter((c) => !(c.dataset === 'B' && c.label === 'nonrel')), 50, { groups: GROUPS }), /no 'nonrel' cell for dataset 'B'/);
});

// ------------------------------------------------------------------ overlaps

test('overlap and the overlap matrix', () => {
  const A = Uint32Array.from([1, 2, 3, 4]), B = Uint32Array.from([3, 4, 5]), C = new Uint32Array(0);
  assert.is(overlap(A, B), 50);
  close(overlap(B, A), 200 / 3);
  assert.ok(Number.isNaN(overlap(C, A)));
  const m = overlapMatrix([{ name: 'A', units: A }, { name: 'B', units: B }, { name: 'C', units: C }], 1);
  assert.equal(m.names, ['A', 'B', 'C']);
  assert.equal(m.sizes, [4, 3, 0]);
  assert.equal(m.values[0], [100, 50, 0]);
  close(m.values[1][0], 200 / 3);
  assert.is(m.values[1][2], 0);
  assert.ok(m.values[2].every(Number.isNaN));
  throwsUserError(() => overlapMatrix([{ name: 'X', units: Uint32Array.from([2, 1]) }], 1), /strictly ascending/);
});

test('overlap matrices at the standard cut-offs; rel vs nonrel; OOD neurons', () => {
  const ms = overlapMatrices(CELLS, { groups: GROUPS, kinds: ['dataset', 'fusion'] });
  assert.equal(ms.map((m) => `${m.p}:${m.label}`), ['0.1:rel', '0.1:nonrel', '0.5:rel', '0.5:nonrel', '1:rel', '1:nonrel', '5:rel', '5:nonrel', '10:rel', '10:nonrel']);
  assert.is(ms[0].names.length, 6); // 3 datasets + 3 fusion groups
  // at 0.1% of 4 units: one unit each. A {0}, B {1}, C {2}; fusion in {0}, out {2} (2.5 vs 3.5), all {0}
  const rel = ms[0];
  const at = (r: string, c: string) => rel.values[rel.names.indexOf(r)][rel.names.indexOf(c)];
  assert.is(at('dataset/A/rel', 'fusion/all/rel'), 100);
  assert.is(at('dataset/B/rel', 'fusion/all/rel'), 0);
  assert.is(at('dataset/C/rel', 'fusion/out-of-domain/rel'), 100);

  const lo = relVsNonrel(buildSchemes(CELLS, 50, { groups: GROUPS }));
  const fa = lo.find((o) => o.scheme === 'fusion/all')!;
  assert.equal({ ...fa }, { scheme: 'fusion/all', p: 50, rel: 2, nonrel: 2, shared: 1, relInNonrel: 50, nonrelInRel: 50 });
  assert.is(lo.find((o) => o.scheme === 'dataset/A')!.shared, 0);

  assert.equal(arr(oodUnits(Uint32Array.from([1, 2]), Uint32Array.from([0, 1]))), [2]);
  const ood = oodNeurons(CELLS, GROUPS, 'rel', 50); // out {1,2} \ in {0,1}
  assert.equal(arr(ood.units), [2]);
  assert.equal(ood.perLayer, [0, 1]);
  assert.is(ood.outOfDomainSize, 2);
  throwsUserError(() => oodNeurons(CELLS, { inDomain: ['A'], outOfDomain: [] }, 'rel', 50), /need both/);
});

// ------------------------------------------------------------------ pruning

test('randomUnits: exact count, distinct, seeded, roughly uniform', () => {
  const a = randomUnits(10, 100, 1);
  assert.is(a.length, 10);
  for (let i = 1; i < a.length; i++) assert.ok(a[i] > a[i - 1]);
  assert.ok(a[9] < 100);
  assert.equal(arr(randomUnits(10, 100, 1)), arr(a));
  assert.not.equal(arr(randomUnits(10, 100, 2)), arr(a));
  assert.equal(arr(randomUnits(7, 7, 3)), [0, 1, 2, 3, 4, 5, 6]);
  assert.is(randomUnits(0, 7, 3).length, 0);
  throwsUserError(() => randomUnits(8, 7, 0), /cannot draw 8 distinct units out of 7/);
  // 20000 draws of 5 out of 50: each unit expected 2000 times; χ² has 49 degrees of freedom (mean 49, sd ≈ 10)
  const counts = new Float64Array(50);
  for (let s = 0; s < 20000; s++) for (const u of randomUnits(5, 50, s)) counts[u]++;
  const chi2 = counts.reduce((acc, c) => acc + (c - 2000) ** 2 / 2000, 0);
  assert.ok(chi2 < 100, `chi-square ${chi2} too large for a uniform draw`);
  // the draws must also not favour the last index, which Floyd's algorithm adds on collisions
  assert.ok(Math.abs(counts[49] - 2000) < 200 && Math.abs(counts[0] - 2000) < 200);
});

test('maskFromUnits zeroes exactly the chosen units', () => {
  const m = maskFromUnits([0, 5], 2, 4);
  assert.equal(m.map(arr), [[0, 1, 1, 1], [1, 0, 1, 1]]);
  throwsUserError(() => maskFromUnits([8], 2, 4), /outside \[0, 8\)/);
});

test('rerank and writeTrecRun: score desc, ties by docid desc, queries in strcmp order', () => {
  const run = rerank(
    [{ qid: 'q2', docid: 'd1' }, { qid: 'q2', docid: 'd2' }, { qid: 'q2', docid: 'd3' }, { qid: 'q10', docid: 'x' }],
    [0.5, 0.9, 0.5, -1],
  );
  assert.equal(run.get('q2')!.map((d) => d.docid), ['d2', 'd3', 'd1']);
  const text = writeTrecRun(run, 'pruned');
  assert.is(text, 'q10 Q0 x 1 -1 pruned\nq2 Q0 d2 1 0.9 pruned\nq2 Q0 d3 2 0.5 pruned\nq2 Q0 d1 3 0.5 pruned\n');
  const back = parseRun(text, 'mem');
  assert.equal(back.get('q2'), run.get('q2'));
  throwsUserError(() => rerank([{ qid: 'q', docid: 'd' }], [1, 2]), /1 candidates but 2 scores/);
  throwsUserError(() => rerank([{ qid: 'q', docid: 'd' }, { qid: 'q', docid: 'd' }], [1, 2]), /appears twice/);
  throwsUserError(() => writeTrecRun(run, 'a tag'), /whitespace/);
});

test('summariseRandom: mean and sample std', () => {
  const s = summariseRandom([1, 2, 3, 4]);
  assert.is(s.mean, 2.5);
  close(s.std, Math.sqrt(5 / 3));
  assert.is(s.n, 4);
  assert.equal(summariseRandom([7]), { mean: 7, std: 0, n: 1 });
});

// q1: d1 grade 2, d2 grade 1, d3 grade 0; q2: e1 grade 1, e2 grade 0. Relevance level 2 (TREC DL).
const QRELS: Qrels = new Map([
  ['q1', new Map([['d1', 2], ['d2', 1], ['d3', 0]])],
  ['q2', new Map([['e1', 1], ['e2', 0]])],
]);
const runOf = (q1: string[], q2: string[]): Run => new Map([
  ['q1', q1.map((docid, i) => ({ docid, score: 3 - i }))],
  ['q2', q2.map((docid, i) => ({ docid, score: 2 - i }))],
]);
const UNPRUNED = runOf(['d1', 'd2', 'd3'], ['e1', 'e2']);
const PRUNED = runOf(['d3', 'd2', 'd1'], ['e1', 'e2']);

test('pruningTable on a toy case, with metrics.evaluate', () => {
  // unpruned: nDCG@10 = 1 for both queries; MRR@10 (grade >= 2) = (1 + 0) / 2 = 0.5
  // pruned q1: DCG = 1/log2(3) + 2/log2(4), IDCG = 2 + 1/log2(3); MRR q1 = 1/3
  const ndcgQ1 = (1 / Math.log2(3) + 1) / (2 + 1 / Math.log2(3));
  const random = [UNPRUNED, PRUNED, UNPRUNED, PRUNED, UNPRUNED];
  const input: PruningDatasetInput = { dataset: 'toy', qrels: QRELS, relevanceLevel: 2, unpruned: UNPRUNED, rows: [{ scheme: 'fusion/all/rel', p: 1, units: 3, run: PRUNED, random }] };
  const t = pruningTable([input]);
  assert.equal(t.baselines, [{ dataset: 'toy', relevanceLevel: 2, queries: 2, ndcg10: 1, mrr10: 0.5 }]);
  const r = t.rows[0];
  assert.is(r.units, 3);
  close(r.ndcg10.value, (ndcgQ1 + 1) / 2);
  close(r.ndcg10.delta, (ndcgQ1 + 1) / 2 - 1);
  close(r.mrr10.value, 1 / 6);
  close(r.mrr10.delta, 1 / 6 - 0.5);
  assert.is(r.ndcg10.wins, 0);
  assert.is(r.ndcg10.losses, 1);
  const rs = summarise([1, (ndcgQ1 + 1) / 2, 1, (ndcgQ1 + 1) / 2, 1]);
  close(r.ndcg10.random.mean, rs.mean);
  close(r.ndcg10.random.std, rs.std);
  assert.is(r.ndcg10.random.n, 5);
  close(r.mrr10.random.mean, (0.5 * 3 + (1 / 6) * 2) / 5);
  // with level 1, MRR counts q2's grade-1 passage too
  assert.is(pruningTable([{ ...input, relevanceLevel: 1 }]).baselines[0].mrr10, 1);
  throwsUserError(() => pruningTable([{ ...input, rows: [{ ...input.rows[0], random: random.slice(0, 4) }] }]), /4 random runs, need at least 5/);
  assert.equal(JSON.parse(JSON.stringify(t)), t); // JSON-ready
});

test('perQueryDeltas between two evaluations', () => {
  const a = evaluate(QRELS, UNPRUNED, ['recip_rank_10'], { relevanceLevel: 2 });
  const b = evaluate(QRELS, PRUNED, ['recip_rank_10'], { relevanceLevel: 2 });
  const d = perQueryDeltas(a, b, 'recip_rank_10');
  assert.equal(d.map((x) => x.qid), ['q1', 'q2']);
  close(d[0].delta, 1 / 3 - 1);
  assert.is(d[1].delta, 0);
  throwsUserError(() => perQueryDeltas(a, b, 'map'), /'map' was not evaluated/);
});

// ------------------------------------------------------------------ bootstrap stability

test('bootstrap stability: 1 for a dominant unit, < 1 for a borderline one; seeded; sampler form agrees', () => {
  // unit 0 is 10 in every pair; units 1 and 2 swap between pairs; top 50% = 2 of 4 units
  const P = [[10, 1, 0, -5], [10, 1, 0, -5], [10, 0, 1, -5]].map((v) => Float64Array.from(v));
  const s = bootstrapStability(P, 50, { resamples: 200, seed: 3 });
  assert.equal(arr(s.units), [0, 1]); // means: [10, 2/3, 1/3, -5]
  assert.is(s.stability[0], 1);
  assert.ok(s.stability[1] < 1 && s.stability[1] > 0.4, `borderline unit kept ${s.stability[1]}`);
  // unit 1 drops when at least 2 of the 3 draws are the third pair: 3·(1/3)²·(2/3) + (1/3)³ = 7/27, so it stays
  // with probability 20/27 ≈ 0.74 (binomial sd over 200 resamples ≈ 0.03)
  assert.ok(Math.abs(s.stability[1] - 20 / 27) < 0.1, `kept ${s.stability[1]}`);
  assert.equal(bootstrapStability(P, 50, { resamples: 200, seed: 3 }), s);
  const sampler = {
    count: P.length,
    mean(idx: Uint32Array) {
      const m = new Float64Array(4);
      for (const i of idx) for (let u = 0; u < 4; u++) m[u] += P[i][u] / idx.length;
      return m;
    },
  };
  assert.equal(arr(bootstrapStability(sampler, 50, { resamples: 200, seed: 3 }).stability), arr(s.stability));
  throwsUserError(() => bootstrapStability(P, 50, { resamples: 0 }), /resamples = 0/);
});

test('Rng: seeded, int(n) in range', () => {
  const a = new Rng(42), b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.uint32());
  assert.equal(Array.from({ length: 5 }, () => b.uint32()), xs);
  assert.ok(new Set(xs).size === 5);
  const r = new Rng(1);
  for (let i = 0; i < 1000; i++) {
    const v = r.int(7);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 7);
  }
});

// ---------------------------------------------------------------- figures (Fig. 2, Fig. 3, top neurons, known answers)

/** 3 datasets x 2 labels over 2 layers x 5 neurons; unit 0 shared, 1 only in b and c, 2 in a only, 9 dead, 7 non-relevance. */
function figCells(): Cell[] {
  const mk = (dataset: string, label: 'rel' | 'nonrel', v: number[]): Cell => ({ dataset, label, count: 2, sum: Float64Array.from(v, (x) => 2 * x), sumSq: new Float64Array(10), layers: 2, dff: 5,
    segments: [0, 1, 2, 3, 4].map((s) => Float64Array.from(v, (x) => (s === 1 ? 0.5 * x : s === 3 ? 1.5 * x : 0))) });
  //                 u: 0    1    2    3    4    5    6    7     8    9
  return [
    mk('a', 'rel', [9, -1, 8, 1, 0.5, 0.2, 0.1, -2, 0.3, 0]), mk('a', 'nonrel', [3, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -4, -0.7, 0]),
    mk('b', 'rel', [9, 8, -1, 1, 0.5, 0.2, 0.1, -2, 0.3, 0]), mk('b', 'nonrel', [3, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -4, -0.7, 0]),
    mk('c', 'rel', [9, 8, -1, 1, 0.5, 0.2, 0.1, -2, 0.3, 0]), mk('c', 'nonrel', [3, -0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -4, -0.7, 0]),
  ];
}

test('figures: orientation, Fig. 2 pair curves, Fig. 3 intersections with exclusions, rel vs nonrel', () => {
  const raw = figCells();
  const cells = orientCells(raw, 'relevant');
  assert.is(cells[1].sum[7], 8); // nonrel cells turned: unit 7 pushes towards "non-relevant"
  assert.is(cells[0].sum[0], 18); // rel cells as they are
  assert.is(cells[1].segments![3][7], 6);
  assert.is(orientCells(raw, 'nonrelevant')[0].sum[0], -18);
  assert.is(unitName(7, 5), 'L1.2');
  // top 20% = 2 units: a {0, 2}, b and c {0, 1}
  const curves = schemePairCurves(cells, 'rel', [10, 20, 50]);
  assert.equal(curves.map((c) => [c.name, c.values]), [['a ∩ b', [100, 50, 80]], ['a ∩ c', [100, 50, 80]], ['b ∩ c', [100, 100, 100]]]);
  const rows = intersectionSummary(cells, 'rel', [20], [['a'], ['a', 'b']]);
  assert.equal(rows.map((r) => [r.name, r.datasets, r.sizes, r.shares, Array.from(r.units[0])]), [
    ['all datasets', ['a', 'b', 'c'], [1], [50], [0]], ['all but a', ['b', 'c'], [2], [100], [0, 1]], ['all but a, b', ['c'], [2], [100], [0, 1]],
  ]);
  throwsUserError(() => intersectionSummary(cells, 'rel', [20], [['nope']]), /--exclude: dataset 'nope' is not in the run \(datasets: a, b, c\)/);
  throwsUserError(() => intersectionSummary(cells, 'rel', [20], [['a', 'b', 'c']]), /leaves no dataset/);
  // rel top 20% of a: {0, 2}; oriented nonrel top 20%: {7, 8}: nothing shared; at 50%, {0, 2, 3, 4, 8} vs {4, 5, 6, 7, 8}: 2 of 5
  assert.equal(relNonrelPerDataset(cells, [20, 50]).map((r) => [r.dataset, r.values]), [['a', [0, 40]], ['b', [0, 40]], ['c', [0, 40]]]);
});

test('figures: top neurons (named, per cell, per segment) and the known-answer checks of each role', () => {
  const raw = figCells();
  const t = topNeurons(raw, 'rel', 3);
  assert.equal(t.rows.map((r) => [r.name, r.score]), [['L0.0', 9], ['L0.1', 5], ['L0.2', 2]]);
  assert.equal(t.rows[0].perCell, [9, 3, 9, 3, 9, 3]);
  assert.equal(t.rows[0].segments, [0, 2.25, 0, 6.75, 0]); // sums to the score
  const cells = orientCells(raw, 'relevant');
  const checks = knownAnswerChecks(cells, { inDomain: ['a'], outOfDomain: ['b', 'c'] }, { relevance: [0], ood: [1], nonrel: [7], dead: [9, 3] }, 20);
  assert.equal(checks.map((c) => `${c.role} ${c.found}/${c.total} ${c.passed} ${c.missing.join(',')}`), [
    'relevance 1/1 true ', 'shared 1/1 true ', 'ood 1/1 true ', 'nonrel 1/1 true ', 'dead 1/2 false L0.3',
  ]);
  // a planted unit that is not found is reported missing
  assert.equal(knownAnswerChecks(cells, { inDomain: ['a'], outOfDomain: ['b', 'c'] }, { relevance: [2] }, 20).map((c) => `${c.role} ${c.found}/${c.total}`), ['relevance 0/1', 'shared 0/1']);
});

test.run();
