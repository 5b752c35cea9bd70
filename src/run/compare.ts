/**
 * Reads two run folders for `ir-neurons compare` and assembles their comparison (src/analysis/compare.ts does the
 * numbers). A folder is one of:
 * - 'pairs':      an `attribute --pairs` folder (attributions.safetensors + manifest.json);
 * - 'dataset':    an `attribute --dataset` folder (aggregate.safetensors + manifest.json, optionally
 *                 pairs.safetensors and pruning.json), read and verified by readRunDir;
 * - 'experiment': a folder with the dataset run in run/ and optionally prune/pruning.json (`demo --out`,
 *                 `experiment --out`).
 * Two folders of different kinds, models' shapes, units, pair lists or cells are refused (UserError, exit 2): there
 * is nothing to compare entry by entry. Options that change the numbers (steps, rule, target, baseline, max length,
 * the model's hash, the tokenizer, the pruning's settings) are compared and reported, not refused.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { readJsonFile } from '../util/out-path.ts';
import { readSafetensors, toFloat, type RawTensor } from '../formats/safetensors.ts';
import { openSealed } from './integrity.ts';
import { FIX } from './state.ts';
import { folderPairs, readRunDir, type RunDir } from './run-dir.ts';
import {
  flatten, keyDiffs, pruningDiff, rankingDiffs, tensorDiff, verdict,
  type KeyDiff, type PruningDiff, type RankingDiff, type TensorDiff, type Verdict,
} from '../analysis/compare.ts';
import type { PruningTable } from '../analysis/pruning.ts';
import { STANDARD_PERCENTS } from '../analysis/rankings.ts';

export type FolderKind = 'pairs' | 'dataset' | 'experiment';

interface Tensor { shape: number[]; values: Float64Array }

export interface Folder {
  dir: string;
  kind: FolderKind;
  manifest: any;
  /** every compared tensor by name (integer accumulator words left out: their decoded sums are compared) */
  tensors: Map<string, Tensor>;
  run?: RunDir;
  pruning?: { file: string; options: Record<string, unknown>; table: PruningTable };
}

const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

function decode(tensors: Map<string, RawTensor>, file: string, skip: (name: string) => boolean = () => false): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    if (skip(name)) continue;
    try {
      out.set(name, { shape: t.shape, values: toFloat(t, Float64Array) });
    } catch (e) {
      throw new UserError(`${file}: tensor ${name}: ${(e as Error).message}`);
    }
  }
  return out;
}

function readPruning(file: string): Folder['pruning'] {
  if (!existsSync(file)) return undefined;
  const doc = readJsonFile<{ options?: Record<string, unknown>; table?: PruningTable }>(file, "give the pruning.json written by 'ir-neurons prune'");
  if (!Array.isArray(doc?.table?.rows) || !Array.isArray(doc?.table?.baselines)) throw new UserError(`${file}: not a pruning table (no table.rows and table.baselines); give the pruning.json written by 'ir-neurons prune'`);
  return { file, options: doc.options ?? {}, table: doc.table };
}

function readDatasetRun(shown: string, dir: string, kind: FolderKind, pruningFile: string): Folder {
  const run = readRunDir(dir);
  const af = join(dir, 'aggregate.safetensors');
  const tensors = decode(openSealed(af, FIX.aggregate).tensors, af, (n) => /\.acc_(total|seg)$/.test(n));
  if (run.pairs) tensors.set('pairs.safetensors:nig', { shape: [run.pairs.rows.length, run.pairs.units], values: Float64Array.from(run.pairs.vectors) });
  return { dir: shown, kind, manifest: run.manifest, tensors, run, pruning: readPruning(pruningFile) };
}

/** Reads a folder of any of the three kinds (see the header); a missing or damaged file is a UserError naming it. */
export function readFolder(dir: string): Folder {
  if (!isDir(dir)) throw new UserError(`${dir}: ${existsSync(dir) ? 'not a folder' : 'no such folder'}; give two run folders (attribute --pairs/--dataset, demo or experiment --out)`);
  if (isDir(join(dir, 'run'))) return readDatasetRun(dir, join(dir, 'run'), 'experiment', join(dir, 'prune', 'pruning.json'));
  const af = join(dir, 'attributions.safetensors');
  if (existsSync(af)) {
    const manifest = readJsonFile<any>(join(dir, 'manifest.json'), 'the folder is damaged; restore manifest.json or rerun the attribution');
    if (!manifest?.options || !Array.isArray(manifest.pairs) || !manifest.model?.config) throw new UserError(`${join(dir, 'manifest.json')}: lacks options, pairs or model; the folder is damaged — rerun the attribution`);
    let buf: Uint8Array;
    try {
      buf = readFileSync(af);
    } catch (e) {
      throw new UserError(`${af}: cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); rerun the attribution`);
    }
    return { dir, kind: 'pairs', manifest, tensors: decode(readSafetensors(buf, af).tensors, af) };
  }
  if (existsSync(join(dir, 'manifest.json')) || existsSync(join(dir, 'aggregate.safetensors'))) return readDatasetRun(dir, dir, 'dataset', join(dir, 'pruning.json'));
  throw new UserError(`${dir}: holds no run (no attributions.safetensors, aggregate.safetensors, manifest.json or run/); give the --out folder of attribute, demo or experiment`);
}

/** Refuses two folders whose entries do not correspond (UserError naming the folder and what differs). */
function checkComparable(a: Folder, b: Folder): void {
  const refuse = (what: string, x: unknown, y: unknown): never => {
    throw new UserError(`${b.dir}: ${what} ${String(y)}, ${a.dir} ${String(x)}; compare two runs of one experiment (same model shape, units, pairs and cells)`);
  };
  if (a.kind !== b.kind) throw new UserError(`${b.dir}: is a${b.kind === 'experiment' ? 'n' : ''} ${b.kind} folder, ${a.dir} a${a.kind === 'experiment' ? 'n' : ''} ${a.kind} folder; compare two folders of one kind`);
  const shape = (f: Folder) => `${f.manifest.model.config.layers} layers x ${f.manifest.model.config.intermediate} neurons`;
  if (shape(a) !== shape(b)) refuse('model shape', shape(a), shape(b));
  const units = (f: Folder) => f.manifest.options.units;
  if (units(a) !== units(b)) refuse('units', units(a), units(b));
  if (a.kind === 'pairs') {
    const ids = (f: Folder) => (f.manifest.pairs as { id: string }[]).map((p) => p.id);
    const [x, y] = [ids(a), ids(b)];
    if (x.join('\n') !== y.join('\n')) {
      const i = x.findIndex((id, k) => id !== y[k]);
      refuse('pair ids', `(${x.length}, #${i + 1} ${x[i] ?? 'none'})`, `(${y.length}, #${i + 1} ${y[i] ?? 'none'})`);
    }
    return;
  }
  const pairs = (f: Folder) => folderPairs(f.run!.dir, f.manifest).map((p) => `${p.dataset}/${p.qid}/${p.docid}/${p.label}`);
  const [x, y] = [pairs(a), pairs(b)];
  if (x.join('\n') !== y.join('\n')) {
    const i = x.findIndex((id, k) => id !== y[k]);
    refuse('pair list', `(${x.length} pairs, #${i + 1} ${x[i] ?? 'none'})`, `(${y.length} pairs, #${i + 1} ${y[i] ?? 'none'})`);
  }
  const cells = (f: Folder) => f.run!.cells.map((c) => `${c.dataset}/${c.label}:${c.count}`).join(', ');
  if (cells(a) !== cells(b)) refuse('cells', cells(a), cells(b));
}

/** The options that define a run's numbers (the rest, e.g. memory budgets and chunk sizes, change none). */
function options(f: Folder): Record<string, string> {
  const out: Record<string, unknown> = {};
  if (f.kind === 'pairs') {
    const { maxMemoryMiB: _m, chunk: _c, ...o } = f.manifest.options;
    Object.assign(out, { model: f.manifest.model.hash, ...o });
  } else {
    const { maxMemoryMiB: _m, keepPairs: _k, ...k } = f.manifest.keyInputs ?? {};
    const { chunk: _c, ...nig } = k.nig ?? {};
    Object.assign(out, { ...k, nig, datasets: f.manifest.datasets });
  }
  if (f.pruning) {
    const { batch: _b, outDir: _o, ...p } = f.pruning.options;
    out.pruning = p;
  }
  return flatten(out);
}

/** The environment of a run: the manifest's `environment` when it has one, else its `engine` and `device`. */
function environment(m: any): Record<string, string> {
  return flatten(m.environment ?? { engine: m.engine, device: m.device });
}

/** The adapter line of an environment: `device`, or the first key of `environment` that names the adapter. */
function adapterLine(m: any): string {
  if (typeof m.device === 'string') return m.device;
  const env = flatten(m.environment ?? {});
  const k = Object.keys(env).find((x) => /adapter/i.test(x));
  return k ? `${k}: ${env[k]}` : '(no adapter recorded)';
}

export interface Comparison {
  a: string;
  b: string;
  kind: FolderKind;
  tol: number;
  adapters: [string, string];
  environment: KeyDiff[];
  options: KeyDiff[];
  tensors: TensorDiff[];
  /** tensors of one folder only */
  unmatchedTensors: string[];
  rankings: RankingDiff[];
  pruning?: PruningDiff;
  verdict: Verdict;
}

/** Reads and compares two folders (see the header). */
export function compareFolders(dirA: string, dirB: string, tol: number): Comparison {
  const a = readFolder(dirA), b = readFolder(dirB);
  checkComparable(a, b);
  const opts = keyDiffs(options(a), options(b));
  const tensors: TensorDiff[] = [];
  for (const [name, t] of a.tensors) {
    const u = b.tensors.get(name);
    if (u) tensors.push(tensorDiff(name, t, u, tol));
  }
  const unmatchedTensors = [...[...a.tensors.keys()].filter((n) => !b.tensors.has(n)), ...[...b.tensors.keys()].filter((n) => !a.tensors.has(n))];
  const rankings = a.run && b.run ? rankingDiffs(a.run, b.run, tol, STANDARD_PERCENTS) : [];
  if (a.pruning && !b.pruning) throw new UserError(`${b.dir}: has no pruning table, ${a.pruning.file} does; compare two folders that both have one (or neither)`);
  if (b.pruning && !a.pruning) throw new UserError(`${a.dir}: has no pruning table, ${b.pruning.file} does; compare two folders that both have one (or neither)`);
  const pruning = a.pruning && b.pruning ? pruningDiff(a.pruning.table, b.pruning.table) : undefined;
  const v = verdict({ options: opts, tensors, unmatchedTensors, rankings, pruning }, tol);
  return {
    a: a.dir, b: b.dir, kind: a.kind, tol, adapters: [adapterLine(a.manifest), adapterLine(b.manifest)],
    environment: keyDiffs(environment(a.manifest), environment(b.manifest)).filter((d) => !/^(engine\.)?created$/.test(d.key)),
    options: opts, tensors, unmatchedTensors, rankings, ...(pruning ? { pruning } : {}), verdict: v,
  };
}
