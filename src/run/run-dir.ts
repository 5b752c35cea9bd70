/** Reads a dataset run folder (manifest.json + aggregate.safetensors) into analysis cells. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseSafetensors, toFloat } from '../formats/safetensors.ts';
import type { Cell, DatasetGroups, Label } from '../analysis/schemes.ts';
import { readState } from './state.ts';
import { readPairVectors } from './scheduler.ts';

export interface RunDir {
  dir: string;
  manifest: {
    model: { dir: string; hash: string; config: { layers: number; intermediate: number; hidden: number; numLabels: number } };
    options: { nig: { steps: number; rule?: string; target?: string; baseline?: string }; units: string; maxLength: number };
    datasets: { name: string; group: 'in-domain' | 'out-of-domain'; relThreshold: number }[];
    pairs: { total: number };
  };
  cells: Cell[];
  groups: DatasetGroups;
  deltas: Float32Array;
  /** per-pair NIG vectors (rows in pair order) with each row's (dataset, label), when the run kept them */
  pairs?: { vectors: Float32Array; units: number; rows: { dataset: string; label: Label }[] };
  /** the exact accumulator words per cell (what the GPU analysis starts from) */
  words: Map<string, { count: number; total: Uint32Array; seg: Uint32Array }>;
}

export function readRunDir(dir: string): RunDir {
  const mf = join(dir, 'manifest.json');
  const af = join(dir, 'aggregate.safetensors');
  if (!existsSync(mf)) throw new UserError(`${dir}: no manifest.json; point at the --out folder of 'ir-neurons attribute --dataset ...'`);
  if (!existsSync(af)) throw new UserError(`${dir}: no aggregate.safetensors; the run has not finished (continue it with --resume, or merge its shards)`);
  const manifest = JSON.parse(readFileSync(mf, 'utf8'));
  if (manifest.kind !== 'dataset-run') throw new UserError(`${mf}: not a dataset run (kind ${manifest.kind}); use the output of 'attribute --dataset'`);
  const st = parseSafetensors(readFileSync(af), af);
  const { layers, intermediate: dff } = manifest.model.config;
  const get = (n: string) => {
    const t = st.get(n);
    if (!t) throw new UserError(`${af}: missing tensor ${n}`);
    return toFloat(t, Float64Array);
  };
  const state = readState(af);
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
  const groups: DatasetGroups = {
    inDomain: manifest.datasets.filter((d: { group: string }) => d.group === 'in-domain').map((d: { name: string }) => d.name),
    outOfDomain: manifest.datasets.filter((d: { group: string }) => d.group === 'out-of-domain').map((d: { name: string }) => d.name),
  };
  let pairs: RunDir['pairs'];
  const pf = join(dir, 'pairs.safetensors');
  if (existsSync(pf) && manifest.shard?.count === 1) {
    const rows = manifest.datasets.flatMap((d: { name: string }) => {
      const f = join(dir, 'datasets', `${d.name}.json`);
      return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')).pairs.map((p: { dataset: string; label: Label }) => ({ dataset: p.dataset, label: p.label })) : [];
    });
    const vectors = readPairVectors(pf, rows.length, layers * dff);
    pairs = { vectors, units: layers * dff, rows };
  }
  return { dir, manifest, cells, groups, deltas: state.deltas, words: state.cells, pairs };
}
