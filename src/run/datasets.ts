/**
 * `ir-neurons attribute --dataset NAMES ...`: the dataset mode of `attribute` (see src/run/scheduler.ts).
 * NAMES: comma-separated dataset names of the config, or a group (in-domain, out-of-domain), or all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.ts';
import { loadDatasetConfig, loadDataset, type DatasetEntry } from '../data/datasets.ts';
import { selectAllPairs, datasetManifest, type Pair, type PairOptions } from '../data/pairs.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { BertGpu } from '../model/forward.ts';
import { relevance } from '../model/forward.ts';
import type { NigEngine, NigOptions } from '../ig/engine.ts';
import { parseShard, prepareSchedule, runPrepared, type ScheduleOptions } from './scheduler.ts';
import { DATASET_IG, runKey, shardKey, tokenizerId, type KeyInputs } from './keys.ts';
import { lockDir } from './lock.ts';
import { headEnvironment, runManifest, type ManifestHead } from './manifest.ts';
import { machineOf, type Environment } from './environment.ts';
import { makeDir, writeJsonAtomic } from '../util/atomic.ts';
import { prepareOutDir, removeCreated } from '../util/out-path.ts';
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
  /** heads aggregated too (`--units …,heads`; the engine's `heads` set): keyed as units 'ffn-pre,heads' */
  heads?: boolean;
  maxLength: number;
  checkpointEvery: number;
  shardSpec?: string;
  resume: boolean;
  stopAfter?: number;
  keepPairs?: boolean;
  pack?: number;
  /** the --max-memory budget the engine was made with (it can change the chunk plan, so the bits): keyed */
  maxMemoryMiB?: number;
  outDir: string;
  modelDir: string;
  modelHash: string;
  /** the experiment file this run comes from (`ir-neurons experiment FILE.json`), hashed into the manifest's environment; never keyed */
  experiment?: { file: string; hash?: string };
}

/** What the run key hashes besides the pairs (see src/run/keys.ts). */
export function keyInputs(a: DatasetRunArgs, tok: PairTokenizer): KeyInputs {
  // every NIG option (steps, rule, target, baseline, chunk, and any other, e.g. an adaptive tolerance), as JSON
  const n = JSON.parse(JSON.stringify(a.nig)) as Record<string, unknown>;
  const nig = Object.fromEntries(Object.keys(n).sort().map((k) => [k, n[k]]));
  return {
    model: a.modelHash, tokenizer: tokenizerId(tok),
    nig: { ...nig, steps: a.nig.steps, rule: a.nig.rule ?? null, target: a.nig.target ?? null, baseline: a.nig.baseline ?? null, chunk: a.nig.chunk ?? null },
    units: a.heads ? `${a.units},heads` : a.units, maxLength: a.maxLength, maxMemoryMiB: a.maxMemoryMiB ?? null, keepPairs: !!a.keepPairs, ig: DATASET_IG,
  };
}

/** The keyed options that differ between the folder's manifest and this run, as `name: old → new` (for refusals). */
function keyDiff(outDir: string, now: KeyInputs): string {
  try {
    const was = JSON.parse(readFileSync(join(outDir, 'manifest.json'), 'utf8')).keyInputs as Record<string, unknown> | undefined;
    if (!was) return '';
    const flat = (o: Record<string, unknown>, pre = ''): [string, string][] => Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' ? flat(v as Record<string, unknown>, `${pre}${k}.`) : [[`${pre}${k}`, JSON.stringify(v)] as [string, string]]));
    const old = new Map(flat(was));
    const diffs = flat(now as unknown as Record<string, unknown>).filter(([k, v]) => old.get(k) !== v).map(([k, v]) => `${k} ${old.get(k) ?? 'unset'} → ${v}`);
    return diffs.length ? ` (the folder's run has ${diffs.join(', ')})` : '';
  } catch {
    return '';
  }
}

/**
 * The environments a resumed run was made in before (the folder manifest's `earlierEnvironments` and its
 * `environment` when that was another machine or build than `now`), or undefined when there were none.
 */
function earlierEnvironments(manifestFile: string, now: Environment): Environment[] | undefined {
  let was: { environment?: Environment; earlierEnvironments?: Environment[] };
  try {
    was = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch {
    return undefined;
  }
  const out = [...(was.earlierEnvironments ?? [])];
  if (was.environment && machineOf(was.environment) !== machineOf(now)) out.push(was.environment);
  return out.length ? out : undefined;
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

/**
 * Runs the datasets; returns the exit code and the run's GPU accumulators (for analysis in the same process).
 * The output folder is locked for the whole run; everything is checked (options, the folder's files against the
 * run and shard key) before anything is written into it, so a refused run leaves the folder as it was.
 */
export async function runDatasets(a: DatasetRunArgs, engine: NigEngine, tok: PairTokenizer): Promise<{ code: number; accumulators: CellAccumulators; complete: boolean }> {
  const shard = parseShard(a.shardSpec);
  if (!Number.isInteger(a.checkpointEvery) || a.checkpointEvery < 1) throw new UserError(`--checkpoint-every must be a positive integer, got ${a.checkpointEvery}`);
  if (a.stopAfter !== undefined && !(Number.isInteger(a.stopAfter) && a.stopAfter >= 0)) throw new UserError(`--stop-after must be an integer >= 0, got ${a.stopAfter}`);
  const created = prepareOutDir(a.outDir);
  let lock;
  try {
    lock = lockDir(a.outDir, `attribute --dataset ${a.spec}${a.shardSpec ? ` --shard ${a.shardSpec}` : ''}`);
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  let ok = false;
  try {
    const r = await lockedRun(a, engine, tok, shard);
    ok = true;
    return r;
  } finally {
    lock.release();
    if (!ok) removeCreated(created);
  }
}

async function lockedRun(a: DatasetRunArgs, engine: NigEngine, tok: PairTokenizer, shard: ReturnType<typeof parseShard>) {
  const model = engine.model;
  const { entries, pairs } = await selectDatasetPairs(a, model, tok);
  const inputs = keyInputs(a, tok);
  const rk = runKey(inputs, pairs);
  const o: ScheduleOptions = { nig: a.nig, units: a.units, heads: !!a.heads, maxLength: a.maxLength, checkpointEvery: a.checkpointEvery, shard, resume: a.resume, stopAfter: a.stopAfter, keepPairs: a.keepPairs, pack: a.pack, runKey: rk };
  let prep;
  try {
    prep = await prepareSchedule(engine, tok, pairs, a.outDir, o);
  } catch (e) {
    if (e instanceof UserError && / belongs to a different run/.test(e.message)) throw new UserError(e.message + keyDiff(a.outDir, inputs));
    throw e;
  }
  // checked: from here on the folder is written
  const manifestFile = join(a.outDir, 'manifest.json');
  makeDir(join(a.outDir, 'datasets'));
  for (const e of entries) writeJsonAtomic(join(a.outDir, 'datasets', `${e.name}.json`), { name: e.name, group: e.group, relThreshold: e.relThreshold, ...datasetManifest(pairs.filter((p) => p.dataset === e.name), a.selection) });
  const head: ManifestHead = {
    kind: 'dataset-run', key: shardKey(rk, shard), model: { dir: a.modelDir, hash: a.modelHash, config: model.cfg }, tokenizer: tok, g: model.g,
    inputs: { datasets: entries, experiment: a.experiment },
  };
  // the environment is not in the key: resuming on another machine is allowed, and the earlier machines are kept
  const earlier = a.resume ? earlierEnvironments(manifestFile, headEnvironment(head)) : undefined;
  const manifest = runManifest(head, {
    runKey: rk,
    keyInputs: inputs,
    options: { nig: a.nig, units: a.heads ? `${a.units},heads` : a.units, maxLength: a.maxLength, maxMemoryMiB: a.maxMemoryMiB ?? null, keepPairs: !!a.keepPairs, selection: { ...a.selection, filter: undefined }, checkpointEvery: a.checkpointEvery },
    shard,
    datasets: entries.map((e) => ({ name: e.name, group: e.group, relThreshold: e.relThreshold, manifest: `datasets/${e.name}.json` })),
    cells: [...new Set(pairs.map((p) => `${p.dataset}/${p.label}`))],
    pairs: { total: pairs.length, shard: pairs.filter((_, i) => i % shard.count === shard.index).length },
    files: { aggregate: 'aggregate.safetensors', checkpoint: 'checkpoint.safetensors', ...(a.keepPairs ? { pairs: 'pairs.safetensors' } : {}) },
    pairOrder: 'pairs of this shard in the order of the dataset manifests (dataset, qid, label, docid), every shard.count-th from shard.index',
    earlierEnvironments: earlier,
  });
  writeJsonAtomic(manifestFile, manifest);
  const t0 = performance.now();
  const st = await runPrepared(engine, prep, o);
  // again with the kernels the run built (the file hashes are cached: this costs a stat per file)
  writeJsonAtomic(manifestFile, { ...manifest, environment: headEnvironment(head) });
  const total = pairs.filter((_, i) => i % shard.count === shard.index).length;
  const secs = (performance.now() - t0) / 1000;
  process.stderr.write(st.done === total
    ? `attributed ${total} pairs of ${entries.map((e) => e.name).join(', ')} in ${secs.toFixed(1)} s -> ${join(a.outDir, 'aggregate.safetensors')}\n`
    : `stopped after ${st.done}/${total} pairs; continue with --resume\n`);
  return { code: 0, accumulators: st.accumulators, complete: st.done === total };
}
