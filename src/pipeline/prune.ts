/**
 * Masked-neuron pruning runs: for each scheme and cut-off p, prune the scheme's units (masks on the GPU),
 * re-score every candidate of every dataset with the masked forward, re-rank, and compare with the unpruned
 * model and with random sets of the same size (uniform without replacement, several seeds). Writes a TREC run
 * file of every ranking, so that any external tool can evaluate them.
 *
 * Units are FFN neurons (`units: 'ffn'`, the default: pruning.json, runs/) or attention heads (`units: 'heads'`:
 * a head's context output zeroed before the output projection, `BertGpu.setHeadMask`; the schemes come from the
 * run's head cells, [layers × heads] as units; pruning-heads.json with `units: 'heads'`, runs-heads/, so both
 * tables can share one folder). The number pruned at p is `topCount(p, N)` = max(1, ⌈p·N/100⌉): at least one
 * unit, so with few heads (e.g. 4) every small p prunes one head — each row says how many (`units`), and the
 * random sets of that p have the same count.
 */
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { BertGpu } from '../model/forward.ts';
import { relevance } from '../model/forward.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { EncodedPair } from '../model/types.ts';
import type { Collection } from '../data/collection.ts';
import { buildSchemes, type Cell, type DatasetGroups, type Scheme } from '../analysis/schemes.ts';
import { topCount } from '../analysis/rankings.ts';
import { maskFromUnits, pruningTable, randomUnits, rerank, writeTrecRun, type Candidate, type PruningDatasetInput, type PruningTable } from '../analysis/pruning.ts';
import type { Run } from '../data/trec.ts';
import { scoreEncoded } from '../model/score.ts';
import { setMasks, type GpuMasks, type MaskChoice } from './gpu-masks.ts';
import { Progress } from '../util/progress.ts';
import { makeDir, writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { runEnvironment, type EnvironmentInputs } from '../run/environment.ts';

export interface PruneDataset { name: string; collection: Collection; relevanceLevel: number }

export interface PruneOptions {
  schemes: string[];     // scheme names, e.g. fusion/all/rel
  percents: number[];    // e.g. [0.1, 0.5, 1, 5, 10]
  seeds: number;         // random sets per p (≥ 5)
  depth: number;         // candidates per query
  maxLength: number;
  batch: number;
  absolute?: boolean;
  outDir: string;
  /** what is pruned: FFN neurons (default) or attention heads (cells: the run's head cells) */
  units?: PruneUnits;
  /** the input files (model folder, tokenizer, dataset files, experiment file) hashed into pruning.json's `environment` */
  inputs?: EnvironmentInputs;
}

export type PruneUnits = 'ffn' | 'heads';
export const PRUNE_UNITS: readonly PruneUnits[] = ['ffn', 'heads'];

/** The table's file and the TREC runs' folder of each unit kind, inside the --out folder. */
export function pruneFiles(units: PruneUnits = 'ffn'): { table: string; runs: string } {
  return units === 'heads' ? { table: 'pruning-heads.json', runs: 'runs-heads' } : { table: 'pruning.json', runs: 'runs' };
}

/** The head mask ξ (layers · heads, layer-major; 1 keep, 0 prune) of a set of head units. */
export function headMaskFromUnits(units: ArrayLike<number>, layers: number, heads: number): Float32Array {
  return Float32Array.from(maskFromUnits(units, layers, heads).flatMap((m) => [...m]));
}

export interface PruneResult {
  table: PruningTable;
  schemes: Scheme[];
  runs: string[];        // TREC run files written
}

interface Prepared { ds: PruneDataset; cands: Candidate[]; enc: EncodedPair[] }

/** The candidates of every judged query (top `depth` of the collection's candidate list), encoded once. */
async function prepare(ds: PruneDataset, tok: PairTokenizer, depth: number, maxLength: number): Promise<Prepared> {
  const c = ds.collection;
  if (!c.candidates) throw new UserError(`${ds.name}: no candidate lists to re-rank; give the dataset a run file or let BM25 make one`);
  const cands: Candidate[] = [];
  const texts: (readonly [string, string])[] = [];
  for (const [qid, docids] of c.candidates) {
    if (!c.qrels.has(qid)) continue;
    const q = c.queries.get(qid);
    if (!q) continue;
    for (const docid of docids.slice(0, depth)) {
      const d = c.docs.get(docid);
      if (d === undefined || !d.trim()) continue;
      cands.push({ qid, docid });
      texts.push([q, d]);
    }
  }
  if (!cands.length) throw new UserError(`${ds.name}: no judged query has candidates with text`);
  return { ds, cands, enc: await tok.encodePairs(texts, maxLength) };
}

/**
 * `gpuMasks`: mask selection on the aggregation accumulators on the GPU (from the attribution in this process, or
 * uploaded from the run's aggregate file); 'dataset' and 'fusion' masks are then selected and written on the GPU.
 */
/** The fewest random sets per scheme and percent that give a baseline with a spread. */
export const MIN_SEEDS = 5;

export async function runPruning(model: BertGpu, tok: PairTokenizer, datasets: PruneDataset[], cells: Cell[], groups: DatasetGroups, o: PruneOptions, gpuMasks?: GpuMasks): Promise<PruneResult> {
  const { layers: L, intermediate: F, heads: NH, numLabels: NL } = model.cfg;
  const heads = o.units === 'heads';
  const N = heads ? L * NH : L * F;
  const files = pruneFiles(o.units);
  for (const c of cells) {
    if (c.layers !== L || c.dff !== (heads ? NH : F)) throw new UserError(`cell (${c.dataset}, ${c.label}) is ${c.layers} layers × ${c.dff} ${heads ? 'heads' : 'neurons'}, the model ${L} × ${heads ? NH : F}; prune the model that was attributed`);
  }
  if (o.seeds < MIN_SEEDS) throw new UserError(`--seeds ${o.seeds}: random baselines need at least ${MIN_SEEDS} seeds`);
  const prepared = await Promise.all(datasets.map((d) => prepare(d, tok, o.depth, o.maxLength)));
  const all: Scheme[] = [];
  for (const p of o.percents) all.push(...buildSchemes(cells, p, { groups, absolute: o.absolute }));
  const wanted = o.schemes.map((name) => {
    const hits = all.filter((s) => s.name === name);
    if (!hits.length) throw new UserError(`scheme '${name}' is unknown; available: ${[...new Set(all.map((s) => s.name))].join(', ')}`);
    return hits;
  }).flat();
  const runsDir = join(o.outDir, files.runs);
  makeDir(runsDir);
  const written: string[] = [];
  const scoreAll = async (masks: MaskChoice, tag: string): Promise<Run[]> => {
    if (heads) model.setHeadMask(masks === 'none' ? null : headMaskFromUnits(masks instanceof Uint32Array ? masks : masks.units, L, NH));
    else await setMasks(model, masks, gpuMasks);
    const out: Run[] = [];
    for (const pr of prepared) {
      const logits = await scoreEncoded(model, pr.enc, o.batch);
      const run = rerank(pr.cands, logits.map((l) => relevance(l, NL)[0]));
      const file = join(runsDir, `${pr.ds.name}.${tag.replace(/[^A-Za-z0-9_.@-]+/g, '_')}.trec`);
      writeFileAtomic(file, writeTrecRun(run, tag.replace(/\s+/g, '_')));
      written.push(file);
      out.push(run);
    }
    return out;
  };
  const steps = 1 + wanted.length + o.percents.length * o.seeds;
  const progress = new Progress(heads ? 'prune heads' : 'prune', steps, 'rankings');
  let done = 0;
  const unpruned = await scoreAll('none', 'unpruned');
  progress.tick(++done);
  const randomByP = new Map<number, Run[][]>(); // p -> seed -> dataset runs
  for (const p of o.percents) {
    const k = topCount(p, N);
    const runs: Run[][] = [];
    for (let s = 0; s < o.seeds; s++) {
      runs.push(await scoreAll(randomUnits(k, N, 1000 * s + Math.round(p * 1000)), `random-${p}-seed${s}`));
      progress.tick(++done);
    }
    randomByP.set(p, runs);
  }
  const rows = new Map<string, PruningDatasetInput>(prepared.map((pr, i) => [pr.ds.name, { dataset: pr.ds.name, qrels: pr.ds.collection.qrels, relevanceLevel: pr.ds.relevanceLevel, unpruned: unpruned[i], rows: [] }]));
  for (const s of wanted) {
    const runs = await scoreAll(s, `${s.name}@${s.p}`);
    progress.tick(++done);
    prepared.forEach((pr, i) => {
      // random sets have the size of the full top-p% (an intersection can be smaller: its row says how many units)
      (rows.get(pr.ds.name)!.rows as unknown[]).push({ scheme: s.name, p: s.p, units: s.units.length, run: runs[i], random: randomByP.get(s.p)!.map((r) => r[i]) });
    });
  }
  progress.done();
  if (heads) model.setHeadMask(null);
  else model.resetMasks();
  const table = pruningTable([...rows.values()], { minSeeds: 5 });
  const environment = runEnvironment(model.g, { tokenizerFile: tok.file, ...o.inputs });
  writeJsonAtomic(join(o.outDir, files.table), { units: o.units ?? 'ffn', options: { ...o, outDir: undefined, inputs: undefined }, environment, table });
  return { table, schemes: wanted, runs: written };
}
