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
import type { EncodedPair } from '../model/types.ts';
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

/**
 * Runs this process's shard of the pairs and returns the final state and the GPU accumulators (which the analysis
 * can use in place). The steps: plan the shard, open (or resume) its state, encode and order its pairs, then
 * attribute batch after batch with a checkpoint every `checkpointEvery` pairs, and finish (last checkpoint, and
 * the aggregate once every pair of the shard is done).
 */
export async function runSchedule(engine: NigEngine, tok: PairTokenizer, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): Promise<RunState & { accumulators: CellAccumulators }> {
  const plan = planShard(engine, allPairs, outDir, o);
  const tally = openState(engine, plan, o);
  const queue = await encodeShard(engine, tok, plan, o);
  const progress = new Progress(`attribute shard ${o.shard.index}/${o.shard.count}`, plan.pairs.length, 'pairs');
  const end = Math.min(plan.pairs.length, o.stopAfter !== undefined ? tally.done + o.stopAfter : plan.pairs.length);
  if (o.pack !== undefined && !(Number.isInteger(o.pack) && o.pack >= 1)) throw new UserError(`--pack must be a positive integer, got ${o.pack}`);
  while (tally.done < end) {
    const before = tally.done;
    await attributeBatch(engine, plan, queue, nextBatch(engine, queue, tally.done, end, o), tally, o);
    progress.tick(tally.done);
    const due = Math.floor(tally.done / o.checkpointEvery) > Math.floor(before / o.checkpointEvery);
    if (due && tally.done < end) await checkpoint(plan, tally, plan.files.checkpoint, false);
  }
  progress.done();
  return finish(engine, plan, tally);
}

// ---------- the steps of runSchedule ----------

/** What one shard does: its pairs (index ≡ shard.index mod shard.count), every cell of the run, the run key, files. */
interface ShardPlan {
  pairs: Pair[];
  cellNames: string[];
  key: string;
  shard: Shard;
  layers: number;
  dff: number;
  units: number;
  files: { checkpoint: string; pairs: string; aggregate: string };
}

/** Where the shard stands: pairs done, the GPU accumulators, and per-cell counts, deltas and pair vectors on the host. */
interface Tally {
  done: number;
  cells: CellAccumulators;
  counts: Map<string, number>;
  /** per pair of the shard, in pair order (NaN: not done) */
  deltas: Float32Array;
  /** per pair of the shard, its NIG vector (keepPairs only; NaN rows: not done) */
  pairVecs: Float32Array | null;
}

/** The shard's pairs in processing order: by padded length (consecutive pairs share GPU plans), then by index. */
interface Queue {
  encs: EncodedPair[];
  order: number[];
  bucket: (i: number) => number;
}

/** The shard's pairs, cells, run key and file names (creating the output folder). */
function planShard(engine: NigEngine, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): ShardPlan {
  const { layers, intermediate: dff } = engine.model.cfg;
  mkdirSync(outDir, { recursive: true });
  return {
    pairs: allPairs.filter((_, i) => i % o.shard.count === o.shard.index),
    cellNames: [...new Set(allPairs.map(cellName))],
    key: runKey(o.modelHash, o, allPairs),
    shard: o.shard,
    layers, dff, units: layers * dff,
    files: { checkpoint: join(outDir, 'checkpoint.safetensors'), pairs: join(outDir, 'pairs.safetensors'), aggregate: join(outDir, 'aggregate.safetensors') },
  };
}

/** A fresh state, or with `resume` the checkpoint's (which must belong to this run); loaded into GPU accumulators. */
function openState(engine: NigEngine, plan: ShardPlan, o: ScheduleOptions): Tally {
  const { units, files } = plan;
  const n = plan.pairs.length;
  let state: RunState = { key: plan.key, done: 0, cells: new Map(plan.cellNames.map((c) => [c, { count: 0, total: new Uint32Array(units * 6), seg: new Uint32Array(5 * units * 6) }])), deltas: new Float32Array(0) };
  if (o.resume) {
    state = readState(files.checkpoint);
    if (state.key !== plan.key) throw new UserError(`${files.checkpoint}: belongs to a different run (model, options or pairs differ); rerun without --resume in a new --out folder, or with the original options`);
  } else if (existsSync(files.checkpoint)) {
    throw new UserError(`${files.checkpoint} exists: add --resume to continue that run, or choose a new --out folder`);
  }
  const cells = new CellAccumulators(engine.model.g, units, plan.cellNames);
  const pairVecs = o.keepPairs ? (o.resume && existsSync(files.pairs) ? readPairVectors(files.pairs, n, units) : new Float32Array(n * units).fill(NaN)) : null;
  for (const [c, w] of state.cells) cells.write(c, w);
  const deltas = new Float32Array(n).fill(NaN);
  deltas.set(state.deltas.subarray(0, n));
  const counts = new Map([...state.cells].map(([c, w]) => [c, w.count]));
  return { done: state.done, cells, counts, deltas, pairVecs };
}

/** Encodes the shard's pairs and orders them. The integer accumulators make the result independent of the order. */
async function encodeShard(engine: NigEngine, tok: PairTokenizer, plan: ShardPlan, o: ScheduleOptions): Promise<Queue> {
  const encs = await Promise.all(plan.pairs.map((p) => tok.encodePair(p.query, p.passage, o.maxLength).catch((e: Error) => {
    throw new UserError(`${p.dataset} query ${p.qid} / doc ${p.docid}: ${e.message}`);
  })));
  const bucket = (i: number) => engine.paddedLength(encs[i].ids.length);
  const order = plan.pairs.map((_, i) => i).sort((x, y) => bucket(x) - bucket(y) || x - y);
  return { encs, order, bucket };
}

/**
 * The next batch (pair indices) from position `done` of the queue: pairs of one padded length share a batch, as
 * many as fit in memory and at most `pack` (default 4); the results equal separate runs, so packing changes nothing.
 */
function nextBatch(engine: NigEngine, q: Queue, done: number, end: number, o: ScheduleOptions): number[] {
  const T = q.bucket(q.order[done]);
  const room = engine.packable(T, o.nig.steps, o.pack ?? 4);
  const batch: number[] = [];
  while (batch.length < room && done + batch.length < end && q.bucket(q.order[done + batch.length]) === T) batch.push(q.order[done + batch.length]);
  return batch;
}

/** Attributes one batch, adding every pair's NIG to its cell on the GPU; records counts, deltas, pair vectors and `done`. */
async function attributeBatch(engine: NigEngine, plan: ShardPlan, q: Queue, batch: number[], tally: Tally, o: ScheduleOptions): Promise<void> {
  const [totalKey, segKey] = o.units === 'ffn-pre' ? (['preTotal', 'preSeg'] as const) : (['postTotal', 'postSeg'] as const);
  const totals: View[] = [];
  const rs = await engine.attributeMany(batch.map((i) => q.encs[i]), { ...o.nig, light: true }, (v, s) => {
    totals[s] = v[totalKey];
    return tally.cells.dispatches(cellName(plan.pairs[batch[s]]), v[totalKey], v[segKey]);
  });
  for (let s = 0; s < batch.length; s++) {
    const i = batch[s];
    if (tally.pairVecs) tally.pairVecs.set(await readView(engine.model.g, totals[s], plan.units), i * plan.units);
    const cell = cellName(plan.pairs[i]);
    tally.counts.set(cell, (tally.counts.get(cell) ?? 0) + 1);
    tally.deltas[i] = rs[s].igDelta;
  }
  tally.done += batch.length;
}

/** Writes the state to `file` (the aggregate when `final`), the pair vectors first: a checkpoint never counts a pair whose vector is not on disk. */
async function checkpoint(plan: ShardPlan, tally: Tally, file: string, final: boolean): Promise<RunState> {
  const { key, units, shard } = plan;
  const done = tally.done;
  const snap: RunState = { key, done, cells: new Map(), deltas: tally.deltas.slice() };
  for (const c of plan.cellNames) snap.cells.set(c, { count: tally.counts.get(c) ?? 0, ...(await tally.cells.read(c)) });
  const meta = { shard: `${shard.index}/${shard.count}`, total: String(plan.pairs.length) };
  if (tally.pairVecs) writeFileAtomic(plan.files.pairs, serializeSafetensors(new Map([['nig', { dtype: 'F32', shape: [plan.pairs.length, units], data: tally.pairVecs }]]), { key, done: String(done) }));
  writeFileAtomic(file, final ? serializeAggregate(snap, plan.layers, plan.dff, meta) : serializeState(snap, units, meta));
  return snap;
}

/** After the last batch: waits for the GPU, writes the checkpoint, and the aggregate when the shard is complete. */
async function finish(engine: NigEngine, plan: ShardPlan, tally: Tally): Promise<RunState & { accumulators: CellAccumulators }> {
  await engine.model.g.device.queue.onSubmittedWorkDone();
  const snap = await checkpoint(plan, tally, plan.files.checkpoint, false);
  if (snap.done === plan.pairs.length) await checkpoint(plan, tally, plan.files.aggregate, true);
  return { ...snap, accumulators: tally.cells };
}

/** Per-pair NIG vectors of a run (rows in pair order; NaN rows: not attributed yet). */
export function readPairVectors(file: string, pairs: number, units: number): Float32Array {
  const st = parseSafetensors(readFileSync(file), file);
  const t = st.get('nig');
  if (!t || t.shape[0] !== pairs || t.shape[1] !== units) throw new UserError(`${file}: expected a 'nig' tensor [${pairs}, ${units}]; it belongs to another run — delete it or start a new --out folder`);
  return toFloat(t, Float32Array);
}
