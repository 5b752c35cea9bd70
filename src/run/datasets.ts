/**
 * `ir-neurons attribute --dataset NAMES ...`: the dataset mode of `attribute` (see src/run/scheduler.ts).
 * NAMES: comma-separated dataset names of the config, or a group (in-domain, out-of-domain), or all.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.ts';
import { loadDatasetConfig, loadDataset, type DatasetEntry } from '../data/datasets.ts';
import { selectAllPairs, datasetManifest, type Pair, type PairOptions } from '../data/pairs.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { BertGpu } from '../model/forward.ts';
import { relevance } from '../model/forward.ts';
import type { NigEngine, NigOptions } from '../ig/engine.ts';
import { parseShard, runKey, runSchedule, type ScheduleOptions } from './scheduler.ts';
import { runManifest } from './manifest.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import type { CellAccumulators } from '../ig/cells.ts';
import { scoreEncoded } from '../model/score.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function defaultShared(): string {
  return process.env.IR_NEURONS_SHARED ?? resolve(REPO_ROOT, '../shared');
}

export function pickDatasets(spec: string, all: DatasetEntry[], file: string): DatasetEntry[] {
  const out: DatasetEntry[] = [];
  for (const name of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const hit = name === 'all' ? all : all.filter((d) => d.name === name || d.group === name);
    if (!hit.length) throw new UserError(`--dataset '${name}' is not in ${file} (datasets: ${all.map((d) => d.name).join(', ')}; groups: in-domain, out-of-domain, all)`);
    for (const d of hit) if (!out.includes(d)) out.push(d);
  }
  return out;
}

export interface DatasetRunArgs {
  spec: string;
  configFile?: string;
  shared?: string;
  selection: PairOptions & { correctOnly?: boolean };
  nig: Omit<NigOptions, 'perToken' | 'light'>;
  units: 'ffn-pre' | 'ffn-post';
  maxLength: number;
  checkpointEvery: number;
  shardSpec?: string;
  resume: boolean;
  stopAfter?: number;
  keepPairs?: boolean;
  pack?: number;
  outDir: string;
  modelDir: string;
  modelHash: string;
}

/** Loads the datasets and selects the pairs (the same list on every shard and on resume). */
export async function selectDatasetPairs(a: DatasetRunArgs, model: BertGpu, tok: PairTokenizer): Promise<{ entries: DatasetEntry[]; pairs: Pair[] }> {
  const configFile = a.configFile ?? join(REPO_ROOT, 'data/datasets.json');
  const cfg = loadDatasetConfig(configFile, { shared: a.shared ?? defaultShared() });
  const entries = pickDatasets(a.spec, cfg.datasets, configFile);
  const collections = entries.map((e) => loadDataset(e));
  const filter = a.selection.correctOnly
    ? async (ps: Pair[]) => {
      const enc = await tok.encodePairs(ps.map((p) => [p.query, p.passage] as const), a.maxLength);
      const logits = await scoreEncoded(model, enc, 32);
      const NL = model.cfg.numLabels;
      // correct: relevant pairs scored as relevant; with 1 label, logit > 0 counts as "relevant"
      return ps.map((p, i) => {
        const s = relevance(logits[i], NL)[0];
        const saysRel = NL === 2 ? s > 0.5 : s > 0;
        return saysRel === (p.label === 'rel');
      });
    }
    : undefined;
  const pairs = await selectAllPairs(collections, { ...a.selection, filter });
  if (!pairs.length) throw new UserError(`no pairs selected from ${entries.map((e) => e.name).join(', ')}; check the caps and thresholds`);
  return { entries, pairs };
}

/** Runs the datasets; returns the exit code and the run's GPU accumulators (for analysis in the same process). */
export async function runDatasets(a: DatasetRunArgs, engine: NigEngine, tok: PairTokenizer): Promise<{ code: number; accumulators: CellAccumulators; complete: boolean }> {
  const model = engine.model;
  const shard = parseShard(a.shardSpec);
  const { entries, pairs } = await selectDatasetPairs(a, model, tok);
  const o: ScheduleOptions = { nig: a.nig, units: a.units, maxLength: a.maxLength, checkpointEvery: a.checkpointEvery, shard, resume: a.resume, stopAfter: a.stopAfter, keepPairs: a.keepPairs, pack: a.pack, modelHash: a.modelHash };
  mkdirSync(join(a.outDir, 'datasets'), { recursive: true });
  for (const e of entries) writeJsonAtomic(join(a.outDir, 'datasets', `${e.name}.json`), { name: e.name, group: e.group, relThreshold: e.relThreshold, ...datasetManifest(pairs.filter((p) => p.dataset === e.name), a.selection) });
  const head = { kind: 'dataset-run', key: runKey(a.modelHash, o, pairs), model: { dir: a.modelDir, hash: a.modelHash, config: model.cfg }, tokenizer: tok, g: model.g };
  writeJsonAtomic(join(a.outDir, 'manifest.json'), runManifest(head, {
    options: { nig: a.nig, units: a.units, maxLength: a.maxLength, selection: { ...a.selection, filter: undefined }, checkpointEvery: a.checkpointEvery },
    shard,
    datasets: entries.map((e) => ({ name: e.name, group: e.group, relThreshold: e.relThreshold, manifest: `datasets/${e.name}.json` })),
    cells: [...new Set(pairs.map((p) => `${p.dataset}/${p.label}`))],
    pairs: { total: pairs.length, shard: pairs.filter((_, i) => i % shard.count === shard.index).length },
    files: { aggregate: 'aggregate.safetensors', checkpoint: 'checkpoint.safetensors', ...(a.keepPairs ? { pairs: 'pairs.safetensors' } : {}) },
    pairOrder: 'pairs of this shard in the order of the dataset manifests (dataset, qid, label, docid), every shard.count-th from shard.index',
  }));
  const t0 = performance.now();
  const st = await runSchedule(engine, tok, pairs, a.outDir, o);
  const total = pairs.filter((_, i) => i % shard.count === shard.index).length;
  const secs = (performance.now() - t0) / 1000;
  process.stderr.write(st.done === total
    ? `attributed ${total} pairs of ${entries.map((e) => e.name).join(', ')} in ${secs.toFixed(1)} s -> ${join(a.outDir, 'aggregate.safetensors')}\n`
    : `stopped after ${st.done}/${total} pairs; continue with --resume\n`);
  return { code: 0, accumulators: st.accumulators, complete: st.done === total };
}
