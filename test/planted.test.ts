/**
 * Known-answer test: a checkpoint whose relevance runs through a few hand-planted FFN units
 * (tools/make-planted-bert.ts) on a toy collection whose relevant passages hold the evidence those units detect
 * (tools/make-toy-collection.ts). The checkpoint is valid (GPU forward = float64 reference), it ranks the toy
 * collection well, NIG over the relevant pairs puts the planted units on top, and pruning them hurts the ranking
 * far more than pruning random units of the same count.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { loadTokenizer, type PairTokenizer } from '../src/tokenizer/tokenizer.ts';
import { BertGpu, relevance } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { bertForward, gatherWordVecs } from '../src/ref/bert.ts';
import { evaluate } from '../src/analysis/metrics.ts';
import { topK } from '../src/analysis/rankings.ts';
import { maskFromUnits, randomUnits, rerank, NDCG10, type Candidate } from '../src/analysis/pruning.ts';
import { summarise } from '../src/analysis/stats.ts';
import { readQrels, readRun, readTopicsTsv, type Qrels } from '../src/data/trec.ts';
import { readDocsTsv } from '../src/data/tsv.ts';
import type { BertWeights, EncodedPair } from '../src/model/types.ts';
import { makePlantedBert, type PlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { NONREL_WORDS, toyVocab } from '../src/toy/vocab.ts';

const S = suite('planted');
const STEPS = 20;
const RANDOM_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

interface Ctx {
  dir: string;
  planted: PlantedBert;
  w: BertWeights;
  tok: PairTokenizer;
  model: BertGpu;
  qrels: Qrels;
  candidates: Candidate[];
  pairs: EncodedPair[];
  shuffledNdcg: number;
}
let ctx: Ctx;

S.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'planted-'));
  const planted = makePlantedBert({ out: join(dir, 'model'), seed: 1 });
  const coll = makeToyCollection({ out: join(dir, 'toy'), seed: 1 });
  const w = loadCheckpoint(planted.dir);
  const tok = loadTokenizer(planted.dir);
  const model = await BertGpu.create(await requestGpu(), w);
  // read the collection back from its files, as a user of the formats would
  const queries = readTopicsTsv(coll.files.queries);
  const corpus = readDocsTsv(coll.files.corpus);
  const qrels = readQrels(coll.files.qrels);
  const run = readRun(coll.files.run);
  const candidates: Candidate[] = [];
  for (const [qid, docs] of run) for (const d of docs) candidates.push({ qid, docid: d.docid });
  const pairs = await tok.encodePairs(candidates.map((c) => [queries.get(c.qid)!, corpus.get(c.docid)!] as const), 128);
  const shuffledNdcg = evaluate(qrels, run, [NDCG10]).all.get(NDCG10)!;
  ctx = { dir, planted, w, tok, model, qrels, candidates, pairs, shuffledNdcg };
});

S.after(() => {
  if (ctx) rmSync(ctx.dir, { recursive: true, force: true });
});

/** F = softmax(logits)[1] of every candidate, scored in one batch. */
async function scoreAll(): Promise<number[]> {
  return relevance(await ctx.model.score(ctx.pairs), 2);
}

function ndcg(scores: number[]): number {
  return evaluate(ctx.qrels, rerank(ctx.candidates, scores), [NDCG10]).all.get(NDCG10)!;
}

async function pruned(units: ArrayLike<number>): Promise<number[]> {
  const { layers, intermediate } = ctx.w.config;
  maskFromUnits(units, layers, intermediate).forEach((m, l) => ctx.model.setMask(l, m));
  try {
    return await scoreAll();
  } finally {
    ctx.model.resetMasks();
  }
}

S('the toy collection tokenises without [UNK] and the planted units are where the tool says', () => {
  const { planted, pairs, tok, w } = ctx;
  assert.is(pairs.length, 120);
  for (const p of pairs) assert.not.ok(p.ids.includes(tok.unkId), `[UNK] in ${p.ids}`);
  assert.equal(planted.flatUnits, [7, 23, 41, 64 + 12, 64 + 58]);
  assert.equal(planted.roles, { relevance: [7, 23, 41, 64 + 12, 64 + 58], ood: [30, 50], nonrel: [15, 35], dead: [3, 64 + 20, 64 + 40] });
  assert.is(w.config.numLabels, 2);
  assert.is(w.config.intermediate, 64);
});

S('GPU forward equals the float64 reference on a few pairs (relative 1e-4)', async () => {
  const { w, pairs, model } = ctx;
  const pick = [0, 3, 57, 119].map((i) => pairs[i]);
  const got = await model.score(pick);
  pick.forEach((p, b) => {
    const T = p.ids.length;
    const { logits } = bertForward(w, { wordVecs: gatherWordVecs(w, p.ids), typeIds: Int32Array.from(p.typeIds), attnMask: new Uint8Array(T).fill(1), B: 1, T });
    for (let j = 0; j < 2; j++) {
      const err = Math.abs(got[b * 2 + j] - logits[j]) / Math.max(Math.abs(logits[j]), 1e-3);
      assert.ok(err <= 1e-4, `pair ${b} logit ${j}: GPU ${got[b * 2 + j]} vs reference ${logits[j]} (relative error ${err.toExponential(2)})`);
    }
  });
});

S('the planted model ranks the toy collection well, far above the shuffled run', async () => {
  const n = ndcg(await scoreAll());
  console.log(`  nDCG@10: planted model ${n.toFixed(4)}, shuffled run ${ctx.shuffledNdcg.toFixed(4)}`);
  assert.ok(n >= 0.9, `nDCG@10 ${n} < 0.9`);
  assert.ok(n >= ctx.shuffledNdcg + 0.2, `nDCG@10 ${n} is not clearly above the shuffled run's ${ctx.shuffledNdcg}`);
});

S('NIG summed over the relevant pairs ranks the planted units on top', async () => {
  const { model, tok, qrels, candidates, pairs, planted } = ctx;
  const { layers, intermediate } = model.cfg;
  const eng = new NigEngine(model, tok);
  const sum = new Float64Array(layers * intermediate);
  let n = 0;
  for (let i = 0; i < pairs.length; i++) {
    if ((qrels.get(candidates[i].qid)?.get(candidates[i].docid) ?? 0) < 1) continue;
    const r = await eng.attribute(pairs[i], { steps: STEPS });
    for (let u = 0; u < sum.length; u++) sum[u] += r.nigPre[u];
    n++;
  }
  assert.is(n, 48);
  const k = planted.flatUnits.length;
  const top = Array.from(topK(sum, k));
  const hits = top.filter((u) => planted.flatUnits.includes(u)).length;
  const others = Array.from(sum).filter((_, u) => !planted.flatUnits.includes(u)).map(Math.abs);
  const weakest = Math.min(...planted.flatUnits.map((u) => sum[u]));
  console.log(`  NIG precision@${k}: ${hits / k} (top ${top.join(', ')}); weakest planted ${weakest.toFixed(4)}, largest other |NIG| ${Math.max(...others).toFixed(4)}`);
  assert.ok(hits / k >= 0.9, `precision@${k} ${hits / k}: top units ${top} vs planted ${planted.flatUnits}`);
  // the other roles on in-domain relevant pairs: dead units exactly 0; OOD and cue detectors (no OOD words or cues here) off
  for (const u of planted.roles.dead) assert.is(sum[u], 0, `dead unit ${u}: NIG ${sum[u]}`);
  for (const u of [...planted.roles.ood, ...planted.roles.nonrel]) assert.ok(Math.abs(sum[u]) < 1e-5, `unit ${u}: |NIG| ${sum[u]} on pairs without its words`);
});

S('pruning the dead units changes no score (bit for bit); pruning the cue detectors raises the cue-holding passages only', async () => {
  const { planted, candidates, pairs } = ctx;
  const base = await scoreAll();
  assert.equal(await pruned(planted.roles.dead), base);
  const noCue = await pruned(planted.roles.nonrel);
  const vocab = toyVocab();
  const cueId = new Set(NONREL_WORDS.map((w) => vocab.indexOf(w)));
  let up = 0, cues = 0;
  pairs.forEach((p, i) => {
    const hasCue = p.ids.some((id) => cueId.has(id));
    if (hasCue) { cues++; if (noCue[i] > base[i] + 0.1) up++; } else assert.ok(Math.abs(noCue[i] - base[i]) < 1e-5, `pair ${candidates[i].docid}: ${base[i]} -> ${noCue[i]} without a cue`);
  });
  assert.is(cues, 36);
  assert.is(up, cues);
});

S('pruning the planted units hurts far more than pruning random units of the same count', async () => {
  const { planted, model } = ctx;
  const total = model.cfg.layers * model.cfg.intermediate;
  const base = await scoreAll();
  const base0 = ndcg(base);
  const meanAbsChange = (s: number[]) => s.reduce((a, x, i) => a + Math.abs(x - base[i]), 0) / s.length;
  const p = await pruned(planted.flatUnits);
  const pDrop = base0 - ndcg(p), pChange = meanAbsChange(p);
  const rDrops: number[] = [], rChanges: number[] = [];
  for (const seed of RANDOM_SEEDS) {
    const r = await pruned(randomUnits(planted.flatUnits.length, total, seed));
    rDrops.push(base0 - ndcg(r));
    rChanges.push(meanAbsChange(r));
  }
  const rd = summarise(rDrops), rc = summarise(rChanges);
  console.log(`  nDCG@10: unpruned ${base0.toFixed(4)}, planted-pruned ${(base0 - pDrop).toFixed(4)}, random-pruned ${(base0 - rd.mean).toFixed(4)} ± ${rd.std.toFixed(4)} (${rd.n} seeds)`);
  console.log(`  mean |ΔF|: planted ${pChange.toFixed(4)}, random ${rc.mean.toFixed(4)} ± ${rc.std.toFixed(4)}`);
  assert.ok(pDrop >= 0.3, `pruning the planted units drops nDCG@10 by only ${pDrop}`);
  assert.ok(pDrop >= 3 * rd.mean, `planted drop ${pDrop} < 3 x mean random drop ${rd.mean}`);
  assert.ok(base0 - pDrop < base0 - rd.mean - 3 * rd.std, `planted-pruned nDCG ${base0 - pDrop} is within 3 std of the random mean ${base0 - rd.mean} ± ${rd.std}`);
  assert.ok(pChange >= 3 * rc.mean && pChange > rc.mean + 3 * rc.std, `planted |ΔF| ${pChange} vs random ${rc.mean} ± ${rc.std}`);
  // the masks were reset: the unpruned scores come back
  const again = await scoreAll();
  assert.ok(again.every((x, i) => Math.abs(x - base[i]) <= 1e-6), 'scores after resetMasks differ from the unpruned ones');
});

S.run();
