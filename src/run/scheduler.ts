/**
 * Streams the selected pairs of one or more datasets through the NIG engine and aggregates every unit's NIG
 * per (dataset, label) cell on the GPU. Checkpoints every N pairs; `resume` continues from the checkpoint and
 * ends with exactly the result of an uninterrupted run (integer accumulators, same per-pair results); a
 * shard i/n takes the pairs with index ≡ i (mod n), and `mergeShards` adds shards exactly.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { Pair } from '../data/pairs.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { NigEngine, NigOptions } from '../ig/engine.ts';
import { CellAccumulators } from '../ig/cells.ts';
import { readState, serializeAggregate, serializeState, type RunState } from './state.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { parseSafetensors, serializeSafetensors, toFloat } from '../formats/safetensors.ts';
import { readView, type View } from '../gpu/arena.ts';
import { Progress } from '../util/progress.ts';

export interface Shard { index: number; count: number }

export interface ScheduleOptions {
  nig: Omit<NigOptions, 'perToken' | 'light'>;
  units: 'ffn-pre' | 'ffn-post';
  maxLength: number;
  checkpointEvery: number;
  shard: Shard;
  resume: boolean;
  /** Stop after this many pairs of the shard (tests simulate a kill with it). */
  stopAfter?: number;
  /** Also keep every pair's NIG vector (pairs.safetensors), for bootstrap stability in the report. */
  keepPairs?: boolean;
  /** Most pairs of one padded length sharing a batch (default 4; the memory budget may allow fewer). */
  pack?: number;
  modelHash: string;
}

export function parseShard(spec: string | undefined, env: NodeJS.ProcessEnv = process.env): Shard {
  if (!spec) return { index: 0, count: 1 };
  const m = /^(\d+|auto)\/(\d+)$/.exec(spec);
  if (!m) throw new UserError(`--shard '${spec}' must be i/n (0 ≤ i < n) or auto/n`);
  const count = Number(m[2]);
  let index: number;
  if (m[1] === 'auto') {
    const v = env.SLURM_ARRAY_TASK_ID ?? env.JOB_COMPLETION_INDEX;
    if (v === undefined) throw new UserError('--shard auto/n needs SLURM_ARRAY_TASK_ID (Slurm array job) or JOB_COMPLETION_INDEX (Kubernetes Indexed Job)');
    index = Number(v);
  } else index = Number(m[1]);
  if (!Number.isInteger(index) || count < 1 || index < 0 || index >= count) throw new UserError(`--shard ${index}/${count}: need 0 ≤ i < n`);
  return { index, count };
}

export function cellName(p: Pick<Pair, 'dataset' | 'label'>): string {
  return `${p.dataset}/${p.label}`;
}

/** The identity of a run: model, options and the exact pair list (and the shard count, not the index). */
export function runKey(modelHash: string, o: ScheduleOptions, pairs: readonly Pair[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ modelHash, nig: o.nig, units: o.units, maxLength: o.maxLength, shards: o.shard.count }));
  for (const p of pairs) h.update(`${p.dataset}\t${p.qid}\t${p.docid}\t${p.label}\n`);
  return h.digest('hex').slice(0, 32);
}

/** Returns the final state and the GPU accumulators (which the analysis can use in place). */
export async function runSchedule(engine: NigEngine, tok: PairTokenizer, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): Promise<RunState & { gpuCells: CellAccumulators }> {
  const g = engine.model.g;
  const { layers: L, intermediate: F } = engine.model.cfg;
  const units = L * F;
  const mine = allPairs.filter((_, i) => i % o.shard.count === o.shard.index);
  const cellNames = [...new Set(allPairs.map(cellName))];
  const key = runKey(o.modelHash, o, allPairs);
  mkdirSync(outDir, { recursive: true });
  const ckpt = join(outDir, 'checkpoint.safetensors');
  let state: RunState = { key, done: 0, cells: new Map(cellNames.map((c) => [c, { count: 0, total: new Uint32Array(units * 6), seg: new Uint32Array(5 * units * 6) }])), deltas: new Float32Array(0) };
  if (o.resume) {
    state = readState(ckpt);
    if (state.key !== key) throw new UserError(`${ckpt}: belongs to a different run (model, options or pairs differ); rerun without --resume in a new --out folder, or with the original options`);
  } else if (existsSync(ckpt)) {
    throw new UserError(`${ckpt} exists: add --resume to continue that run, or choose a new --out folder`);
  }
  const cells = new CellAccumulators(g, units, cellNames);
  const pairsFile = join(outDir, 'pairs.safetensors');
  const pairVecs = o.keepPairs ? (o.resume && existsSync(pairsFile) ? readPairVectors(pairsFile, mine.length, units) : new Float32Array(mine.length * units).fill(NaN)) : null;
  for (const [c, w] of state.cells) cells.write(c, w);
  // Processing order: by token length (so consecutive pairs share GPU plans), then by index. The integer
  // accumulators make the result independent of the order; deltas stay in pair order.
  const encs = await Promise.all(mine.map((p) => tok.encodePair(p.query, p.passage, o.maxLength).catch((e: Error) => {
    throw new UserError(`${p.dataset} query ${p.qid} / doc ${p.docid}: ${e.message}`);
  })));
  const bucket = (i: number) => engine.paddedLength(encs[i].ids.length);
  const order = mine.map((_, i) => i).sort((x, y) => bucket(x) - bucket(y) || x - y);
  const deltas = new Float32Array(mine.length).fill(NaN);
  deltas.set(state.deltas.subarray(0, mine.length));
  const counts = new Map([...state.cells].map(([c, w]) => [c, w.count]));
  const save = async (file: string, final: boolean) => {
    const snap: RunState = { key, done, cells: new Map(), deltas: deltas.slice() };
    for (const c of cellNames) snap.cells.set(c, { count: counts.get(c) ?? 0, ...(await cells.read(c)) });
    const meta = { shard: `${o.shard.index}/${o.shard.count}`, total: String(mine.length) };
    // the pair vectors first: a checkpoint never counts a pair whose vector is not on disk
    if (pairVecs) writeFileAtomic(pairsFile, serializeSafetensors(new Map([['nig', { dtype: 'F32', shape: [mine.length, units], data: pairVecs }]]), { key, done: String(done) }));
    writeFileAtomic(file, final ? serializeAggregate(snap, L, F, meta) : serializeState(snap, units, meta));
    return snap;
  };
  const progress = new Progress(`attribute shard ${o.shard.index}/${o.shard.count}`, mine.length, 'pairs');
  const end = Math.min(mine.length, o.stopAfter !== undefined ? state.done + o.stopAfter : mine.length);
  if (o.pack !== undefined && !(Number.isInteger(o.pack) && o.pack >= 1)) throw new UserError(`--pack must be a positive integer, got ${o.pack}`);
  const [totalKey, segKey] = o.units === 'ffn-pre' ? (['preTotal', 'preSeg'] as const) : (['postTotal', 'postSeg'] as const);
  // Pairs of one padded length share a batch (the results equal separate runs, so packing does not change them).
  let done = state.done;
  const maxPack = o.pack ?? 4;
  while (done < end) {
    const T = bucket(order[done]);
    const room = engine.packable(T, o.nig.steps, maxPack);
    const pack: number[] = [];
    while (pack.length < room && done + pack.length < end && bucket(order[done + pack.length]) === T) pack.push(order[done + pack.length]);
    const totals: View[] = [];
    const rs = await engine.attributeMany(pack.map((i) => encs[i]), { ...o.nig, light: true }, (v, s) => {
      totals[s] = v[totalKey];
      return cells.dispatches(cellName(mine[pack[s]]), v[totalKey], v[segKey]);
    });
    for (let s = 0; s < pack.length; s++) {
      const i = pack[s];
      if (pairVecs) pairVecs.set(await readView(g, totals[s], units), i * units);
      const cell = cellName(mine[i]);
      counts.set(cell, (counts.get(cell) ?? 0) + 1);
      deltas[i] = rs[s].igDelta;
    }
    const before = done;
    done += pack.length;
    progress.tick(done);
    if (Math.floor(done / o.checkpointEvery) > Math.floor(before / o.checkpointEvery) && done < end) await save(ckpt, false);
  }
  progress.done();
  await g.device.queue.onSubmittedWorkDone();
  const snap = await save(ckpt, false);
  if (snap.done === mine.length) await save(join(outDir, 'aggregate.safetensors'), true);
  return { ...snap, gpuCells: cells };
}

/** Per-pair NIG vectors of a run (rows in pair order; NaN rows: not attributed yet). */
export function readPairVectors(file: string, pairs: number, units: number): Float32Array {
  const st = parseSafetensors(readFileSync(file), file);
  const t = st.get('nig');
  if (!t || t.shape[0] !== pairs || t.shape[1] !== units) throw new UserError(`${file}: expected a 'nig' tensor [${pairs}, ${units}]; it belongs to another run — delete it or start a new --out folder`);
  return toFloat(t, Float32Array);
}
