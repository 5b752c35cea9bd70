/**
 * Reads a dataset run folder (manifest.json + aggregate.safetensors) into analysis cells, after checking that the
 * folder is one consistent, complete run (`verifyRunDir`): the run key recomputed from the manifest's keyed options
 * and the pair lists of datasets/*.json equals the manifest's; the aggregate's checksum holds and it carries the
 * manifest's shard key; every pair of the shard is done; each cell's count is that of the pair list; the options
 * the report shows are the keyed ones; kept pair vectors carry the key and have no missing rows.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { toFloat } from '../formats/safetensors.ts';
import type { Cell, DatasetGroups, Label } from '../analysis/schemes.ts';
import { FIX, readState, type RunState } from './state.ts';
import { readPairVectors } from './scheduler.ts';
import { runKey, shardKey, type KeyInputs, type PairId } from './keys.ts';
import { openSealed } from './integrity.ts';
import { readJsonFile } from '../util/out-path.ts';

export interface RunDir {
  dir: string;
  manifest: {
    model: { dir: string; hash: string; family?: string; config: { layers: number; intermediate: number; hidden: number; numLabels: number; family?: string } };
    options: { nig: { steps: number; rule?: string; target?: string; baseline?: string }; units: string; maxLength: number };
    datasets: { name: string; group: 'in-domain' | 'out-of-domain'; relThreshold: number }[];
    pairs: { total: number };
  };
  cells: Cell[];
  /** with heads aggregated (`attribute --units ffn-pre,heads`): the head conductance cells, heads as units (`dff` = heads per layer, unit u = layer · heads + head) */
  headCells?: Cell[];
  /** with heads aggregated: the head-gate gradient cells (∂F/∂ξ per head at α = 1, summed over the cell's pairs), laid out as `headCells`; absent in runs written before the gate was aggregated */
  gateCells?: Cell[];
  groups: DatasetGroups;
  deltas: Float32Array;
  /** (pairs, L + 2) per pair: F(x) − F(x′), then the completeness delta of NIG over hidden states 0..L; absent in runs written before it was kept */
  cuts?: Float32Array;
  /** (pairs, 2) with --tol or richardson: per pair the m used and the estimated relative error of its NIG */
  adaptive?: Float32Array;
  /** per-pair NIG vectors (rows in pair order) with each row's (dataset, label), when the run kept them */
  pairs?: { vectors: Float32Array; units: number; rows: { dataset: string; label: Label }[] };
  /** the exact accumulator words per cell (what the GPU analysis starts from) */
  words: Map<string, { count: number; total: Uint32Array; seg: Uint32Array }>;
}

/** The pair list of a run folder: datasets/<name>.json of each manifest dataset, in manifest order. */
export function folderPairs(dir: string, manifest: { datasets: { name: string }[] }): (PairId & { label: Label })[] {
  return manifest.datasets.flatMap((d) => {
    const f = join(dir, 'datasets', `${d.name}.json`);
    const dm = readJsonFile<{ pairs?: unknown }>(f, `restore the folder's datasets/ from the run, or rerun`);
    if (!Array.isArray(dm.pairs)) throw new UserError(`${f}: has no pair list; restore the folder's datasets/ from the run, or rerun`);
    return dm.pairs as (PairId & { label: Label })[];
  });
}

/** The manifest of a dataset run folder, with its key checked against what it says (keyed options, pair lists). */
export function readRunManifest(dir: string): { manifest: any; pairs: (PairId & { label: Label })[] } {
  const mf = join(dir, 'manifest.json');
  if (!existsSync(mf)) throw new UserError(`${dir}: no manifest.json; point at the --out folder of 'ir-neurons attribute --dataset ...'`);
  const manifest = readJsonFile<any>(mf, 'the run folder is damaged; restore manifest.json or rerun');
  if (manifest?.kind !== 'dataset-run') throw new UserError(`${mf}: not a dataset run (kind ${manifest?.kind}); use the output of 'attribute --dataset'`);
  const k = manifest.keyInputs as KeyInputs | undefined;
  if (typeof manifest.key !== 'string' || typeof manifest.runKey !== 'string' || !k || typeof k !== 'object' || !k.nig) {
    throw new UserError(`${mf}: has no run key and keyed options (written by an older version, or edited); rerun the attribution into a new --out folder`);
  }
  if (!Array.isArray(manifest.datasets) || !manifest.shard || !manifest.model?.config || !manifest.options?.nig) throw new UserError(`${mf}: lacks datasets, shard, model or options; the run folder is damaged — rerun`);
  const pairs = folderPairs(dir, manifest);
  const rk = runKey(k, pairs);
  if (rk !== manifest.runKey) throw new UserError(`${mf}: its run key ${manifest.runKey} is not the hash of its keyed options and the pair lists in datasets/ (${rk}); the manifest or datasets/ was edited or mixed from another run — rerun, or restore them`);
  const { index, count } = manifest.shard;
  if (shardKey(rk, { index, count }) !== manifest.key) throw new UserError(`${mf}: its key ${manifest.key} is not that of shard ${index}/${count} of run ${rk}; the manifest was edited — restore it or rerun`);
  const o = manifest.options;
  const shown: [string, unknown, unknown][] = [['steps', o.nig.steps, k.nig.steps], ['rule', o.nig.rule ?? null, k.nig.rule], ['target', o.nig.target ?? null, k.nig.target],
    ['baseline', o.nig.baseline ?? null, k.nig.baseline], ['units', o.units, k.units], ['max length', o.maxLength, k.maxLength], ['model', manifest.model.hash, k.model]];
  for (const [name, said, keyed] of shown) {
    if (said !== keyed) throw new UserError(`${mf}: says ${name} ${JSON.stringify(said)}, but the run was keyed with ${JSON.stringify(keyed)}; the manifest was edited — restore it or rerun`);
  }
  return { manifest, pairs };
}

/** Checks a finished folder's aggregate against its manifest: key, completeness, per-cell counts of the pair list. */
export function verifyAggregate(dir: string, manifest: any, pairs: readonly (PairId & { label: Label })[], state: RunState): void {
  const af = join(dir, 'aggregate.safetensors');
  const { index, count } = manifest.shard;
  if (state.key !== manifest.key) throw new UserError(`${af}: carries key ${state.key}, the manifest ${manifest.key}: they come from different runs (two runs into one folder?); rerun the shard into a new --out folder`);
  const mine = pairs.filter((_, i) => i % count === index);
  if (state.deltas.length !== mine.length || state.done !== mine.length) throw new UserError(`${af}: holds ${state.done} of ${state.deltas.length} pairs done, shard ${index}/${count} of the pair list has ${mine.length}; ${FIX.aggregate}`);
  const want = new Map<string, number>();
  for (const p of mine) want.set(`${p.dataset}/${p.label}`, (want.get(`${p.dataset}/${p.label}`) ?? 0) + 1);
  for (const [c, w] of state.cells) {
    if (w.count !== (want.get(c) ?? 0)) throw new UserError(`${af}: cell ${c} counts ${w.count} pairs, the pair list has ${want.get(c) ?? 0}; ${FIX.aggregate}`);
  }
  for (const c of want.keys()) if (!state.cells.has(c)) throw new UserError(`${af}: has no cell ${c}; ${FIX.aggregate}`);
}

export function readRunDir(dir: string): RunDir {
  const af = join(dir, 'aggregate.safetensors');
  const { manifest, pairs: list } = readRunManifest(dir);
  if (!existsSync(af)) throw new UserError(`${dir}: no aggregate.safetensors; the run has not finished (continue it with --resume, or merge its shards)`);
  const state = readState(af, FIX.aggregate);
  verifyAggregate(dir, manifest, list, state);
  const st = openSealed(af, FIX.aggregate).tensors;
  const { layers, intermediate: dff } = manifest.model.config;
  const get = (n: string) => {
    const t = st.get(n);
    if (!t) throw new UserError(`${af}: missing tensor ${n}`);
    return toFloat(t, Float64Array);
  };
  const cells: Cell[] = [];
  for (const name of state.cells.keys()) {
    const [dataset, label] = name.split('/') as [string, Label];
    const segSum = get(`${name}.seg_sum`);
    const units = layers * dff;
    if (!(get(`${name}.count`)[0] > 0)) continue; // a cell without pairs has no mean
    cells.push({
      dataset, label, count: get(`${name}.count`)[0], sum: get(`${name}.sum`), sumSq: get(`${name}.sumsq`), layers, dff,
      segments: [0, 1, 2, 3, 4].map((s) => segSum.slice(s * units, (s + 1) * units)),
    });
  }
  // heads as units: their conductance (`<cell>.heads.*`) and their gate gradient (`<cell>.gate.*`)
  const headCells: Cell[] = [], gateCells: Cell[] = [];
  for (const [name, w] of state.cells) {
    if (!(w.count > 0)) continue;
    const [dataset, label] = name.split('/') as [string, Label];
    for (const [k, out] of [['heads', headCells], ['gate', gateCells]] as const) {
      if (!w[k]) continue;
      const sum = get(`${name}.${k}.sum`);
      const nh = sum.length / layers, segSum = get(`${name}.${k}.seg_sum`);
      if (!Number.isInteger(nh) || nh < 1 || segSum.length !== 5 * sum.length) throw new UserError(`${af}: ${name}.${k}.sum has ${sum.length} values, not ${layers} layers × heads (or its segments differ); ${FIX.aggregate}`);
      if (k === 'gate' && headCells.at(-1)?.dff !== nh) throw new UserError(`${af}: ${name}.gate.sum has ${nh} heads per layer, its head conductance ${headCells.at(-1)?.dff ?? 'none'}; ${FIX.aggregate}`);
      out.push({ dataset, label, count: w.count, sum, sumSq: get(`${name}.${k}.sumsq`), layers, dff: nh, segments: [0, 1, 2, 3, 4].map((s) => segSum.slice(s * sum.length, (s + 1) * sum.length)) });
    }
  }
  const groups: DatasetGroups = {
    inDomain: manifest.datasets.filter((d: { group: string }) => d.group === 'in-domain').map((d: { name: string }) => d.name),
    outOfDomain: manifest.datasets.filter((d: { group: string }) => d.group === 'out-of-domain').map((d: { name: string }) => d.name),
  };
  let pairs: RunDir['pairs'];
  const pf = join(dir, 'pairs.safetensors');
  if (existsSync(pf) && manifest.shard?.count === 1) {
    const rows = list.map((p) => ({ dataset: p.dataset, label: p.label }));
    const units = layers * dff;
    const { vectors, done } = readPairVectors(pf, rows.length, units, manifest.key);
    const missing = rows.findIndex((_, i) => !Number.isFinite(vectors[i * units]));
    if (done !== rows.length || missing >= 0) throw new UserError(`${pf}: ${missing >= 0 ? `row ${missing} (pair ${list[missing].dataset} ${list[missing].qid}/${list[missing].docid}) was never attributed` : `holds ${done} of ${rows.length} pairs`}; the vectors are incomplete — rerun with --keep-pairs from the start, or delete the file to report without bootstrap stability`);
    pairs = { vectors, units, rows };
  }
  return { dir, manifest, cells, ...(headCells.length ? { headCells } : {}), ...(gateCells.length ? { gateCells } : {}), groups, deltas: state.deltas, ...(state.cuts ? { cuts: state.cuts } : {}), ...(state.adaptive ? { adaptive: state.adaptive } : {}), words: state.cells, pairs };
}
