/**
 * Streams the selected pairs of one or more datasets through the NIG engine and aggregates every unit's NIG
 * per (dataset, label) cell on the GPU. Checkpoints every N pairs; `resume` continues from the checkpoint and
 * ends with exactly the result of an uninterrupted run (integer accumulators, same per-pair results); a
 * shard i/n takes the pairs with index ≡ i (mod n), and `merge` adds shards exactly. Everything a run reads from
 * its folder is checked (`prepareSchedule`) before anything is written to it (`runPrepared`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import type { Pair } from '../data/pairs.ts';
import type { EncodedPair } from '../model/types.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import type { NigEngine, NigOptions } from '../ig/engine.ts';
import { CellAccumulators } from '../ig/cells.ts';
import { readState, serializeAggregate, serializeState, type RunState } from './state.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { toFloat } from '../formats/safetensors.ts';
import { openSealed, sealSafetensors } from './integrity.ts';
import { shardKey, type Shard } from './keys.ts';
import { Progress } from '../util/progress.ts';
import { settle } from '../gpu/queue.ts';

export type { Shard };

/** Most pairs of one padded length per batch, unless told (the memory budget may allow fewer). */
export const DEFAULT_PACK = 4;
/** Pairs between checkpoints, unless told. */
export const DEFAULT_CHECKPOINT_EVERY = 25;

export interface ScheduleOptions {
  nig: Omit<NigOptions, 'perToken' | 'light'>;
  units: 'ffn-pre' | 'ffn-post';
  /** heads aggregated beside the FFN units (the engine's `heads` must be set) */
  heads?: boolean;
  maxLength: number;
  checkpointEvery: number;
  shard: Shard;
  resume: boolean;
  /** Stop after this many pairs of the shard (tests simulate a kill with it). */
  stopAfter?: number;
  /** Also keep every pair's NIG vector (pairs.safetensors), for bootstrap stability in the report. */
  keepPairs?: boolean;
  /** Most pairs of one padded length handed to the engine at once (default DEFAULT_PACK; it packs as many as the memory budget allows). */
  pack?: number;
  /** the run key (src/run/keys.ts); the shard key is derived from it and `shard` */
  runKey: string;
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

/**
 * Runs this process's shard of the pairs and returns the final state and the GPU accumulators (which the analysis
 * can use in place). The steps: plan the shard, open (or resume) its state, encode and order its pairs, then
 * attribute batch after batch with a checkpoint every `checkpointEvery` pairs, and finish (last checkpoint, and
 * the aggregate once every pair of the shard is done).
 */
export async function runSchedule(engine: NigEngine, tok: PairTokenizer, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): Promise<RunState & { accumulators: CellAccumulators }> {
  return runPrepared(engine, await prepareSchedule(engine, tok, allPairs, outDir, o), o);
}

/** A shard ready to run: everything read from the folder has been checked, nothing has been written. */
export interface Prepared { plan: ShardPlan; state: RunState; pairVecs: Float32Array | null; queue: Queue }

/**
 * The checking half of runSchedule (writes nothing): plans the shard, reads and verifies the checkpoint (with
 * `resume`: checksum, shard key, counts; without: refuses a folder that holds one), encodes and orders the pairs,
 * and checks that the checkpoint's cell counts are those of the first `done` pairs in that order.
 */
export async function prepareSchedule(engine: NigEngine, tok: PairTokenizer, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): Promise<Prepared> {
  if (o.pack !== undefined && !(Number.isInteger(o.pack) && o.pack >= 1)) throw new UserError(`--pack must be a positive integer, got ${o.pack}`);
  const plan = planShard(engine, allPairs, outDir, o);
  const { state, pairVecs } = readShardState(plan, o);
  const queue = await encodeShard(engine, tok, plan, o);
  const want = new Map<string, number>();
  for (const i of queue.order.slice(0, state.done)) want.set(cellName(plan.pairs[i]), (want.get(cellName(plan.pairs[i])) ?? 0) + 1);
  for (const [c, w] of state.cells) {
    if (w.count !== (want.get(c) ?? 0)) throw new UserError(`${plan.files.checkpoint}: cell ${c} counts ${w.count} pairs, but the first ${state.done} pairs of shard ${o.shard.index}/${o.shard.count} hold ${want.get(c) ?? 0} of it; the checkpoint is damaged — delete it (and pairs.safetensors) to start the shard over`);
  }
  return { plan, state, pairVecs, queue };
}

/** The running half of runSchedule: loads the state into GPU accumulators, attributes, checkpoints, finishes. */
export async function runPrepared(engine: NigEngine, prep: Prepared, o: ScheduleOptions): Promise<RunState & { accumulators: CellAccumulators }> {
  const { plan, queue } = prep;
  const tally = openState(engine, prep);
  const progress = new Progress(`attribute shard ${o.shard.index}/${o.shard.count}`, plan.pairs.length, 'pairs');
  const end = Math.min(plan.pairs.length, o.stopAfter !== undefined ? tally.done + o.stopAfter : plan.pairs.length);
  while (tally.done < end) {
    const before = tally.done;
    await attributeBatch(engine, plan, queue, nextBatch(queue, tally.done, end, o), tally, o);
    progress.tick(tally.done);
    const due = Math.floor(tally.done / o.checkpointEvery) > Math.floor(before / o.checkpointEvery);
    if (due && tally.done < end) await checkpoint(plan, tally, plan.files.checkpoint, false);
  }
  progress.done();
  return finish(engine, plan, tally);
}

// ---------- the steps of runSchedule ----------

/** What one shard does: its pairs (index ≡ shard.index mod shard.count), every cell of the run, the run key, files. */
export interface ShardPlan {
  pairs: Pair[];
  cellNames: string[];
  key: string;
  shard: Shard;
  layers: number;
  dff: number;
  units: number;
  /** layers × heads with heads aggregated, else 0 */
  headUnits: number;
  files: { checkpoint: string; pairs: string; aggregate: string };
}

/** Where the shard stands: pairs done, the GPU accumulators, and per-cell counts, deltas and pair vectors on the host. */
interface Tally {
  done: number;
  cells: CellAccumulators;
  /** the heads' accumulators (same cells), with heads */
  headCells: CellAccumulators | null;
  /** the head-gate gradient's accumulators (same cells, same heads), with heads */
  gateCells: CellAccumulators | null;
  counts: Map<string, number>;
  /** per pair of the shard, in pair order (NaN: not done) */
  deltas: Float32Array;
  /** per pair of the shard, in pair order, L + 2 values: F(x) − F(x′), then the completeness delta of NIG over the hidden states 0..L (NaN: not done) */
  cuts: Float32Array;
  /** per pair of the shard, 2 values with --tol or richardson: the m used and the estimated error (NaN: not done); else null */
  adaptive: Float32Array | null;
  /** per pair of the shard, its NIG vector (keepPairs only; NaN rows: not done) */
  pairVecs: Float32Array | null;
}

/** The shard's pairs in processing order: by padded length (consecutive pairs share GPU plans), then by index. */
export interface Queue {
  encs: EncodedPair[];
  order: number[];
  bucket: (i: number) => number;
}

/** The shard's pairs, cells, shard key and file names (the output folder must exist). */
function planShard(engine: NigEngine, allPairs: readonly Pair[], outDir: string, o: ScheduleOptions): ShardPlan {
  const { layers, intermediate: dff, heads } = engine.model.cfg;
  if (o.heads && !engine.heads) throw new Error('runSchedule: heads aggregated but the engine does not attribute them (set engine.heads)');
  return {
    headUnits: o.heads ? layers * heads : 0,
    pairs: allPairs.filter((_, i) => i % o.shard.count === o.shard.index),
    cellNames: [...new Set(allPairs.map(cellName))],
    key: shardKey(o.runKey, o.shard),
    shard: o.shard,
    layers, dff, units: layers * dff,
    files: { checkpoint: join(outDir, 'checkpoint.safetensors'), pairs: join(outDir, 'pairs.safetensors'), aggregate: join(outDir, 'aggregate.safetensors') },
  };
}

/**
 * A fresh state, or with `resume` the checkpoint's, verified: checksum and count identities (readState), the
 * shard key (a copy of another shard, or of another run, is refused), the cells and the pair vectors' file.
 * Without `resume`, a folder that already holds run files is refused. Reads only.
 */
function readShardState(plan: ShardPlan, o: ScheduleOptions): { state: RunState; pairVecs: Float32Array | null } {
  const { units, files } = plan;
  const n = plan.pairs.length;
  const hu = plan.headUnits;
  const words = () => ({ total: new Uint32Array(hu * 6), seg: new Uint32Array(5 * hu * 6) });
  const heads = () => (hu ? { heads: words(), gate: words() } : {});
  const fresh: RunState = { key: plan.key, done: 0, cells: new Map(plan.cellNames.map((c) => [c, { count: 0, total: new Uint32Array(units * 6), seg: new Uint32Array(5 * units * 6), ...heads() }])), deltas: new Float32Array(n).fill(NaN) };
  if (!o.resume) {
    for (const f of [files.checkpoint, files.aggregate]) {
      if (existsSync(f)) throw new UserError(`${f} exists: add --resume to continue that run, or choose a new --out folder`);
    }
    // pair vectors without a checkpoint: a first attempt of this shard killed between the two writes; nothing
    // counted them, so they are rewritten — but only this shard's (another run's file is refused)
    if (existsSync(files.pairs)) readPairVectors(files.pairs, n, units, plan.key);
    return { state: fresh, pairVecs: o.keepPairs ? new Float32Array(n * units).fill(NaN) : null };
  }
  const state = readState(files.checkpoint);
  if (state.key !== plan.key) {
    const other = [...Array(o.shard.count).keys()].find((i) => shardKey(o.runKey, { index: i, count: o.shard.count }) === state.key);
    throw new UserError(other !== undefined
      ? `${files.checkpoint}: is the checkpoint of shard ${other}/${o.shard.count} of this run, not ${o.shard.index}/${o.shard.count}; resume it with --shard ${other}/${o.shard.count}, or give this shard its own --out folder`
      : `${files.checkpoint}: belongs to a different run (model, tokenizer, options, shard count or pairs differ); rerun with the original options, or without --resume in a new --out folder`);
  }
  if (state.deltas.length !== n) throw new UserError(`${files.checkpoint}: holds ${state.deltas.length} pairs, but shard ${o.shard.index}/${o.shard.count} has ${n}; the checkpoint is damaged — delete it to start the shard over`);
  const names = [...state.cells.keys()];
  if (names.join('\n') !== plan.cellNames.join('\n')) throw new UserError(`${files.checkpoint}: has cells ${names.join(', ')}, the run has ${plan.cellNames.join(', ')}; the checkpoint is damaged — delete it to start the shard over`);
  for (const w of state.cells.values()) {
    if (w.total.length !== units * 6) throw new UserError(`${files.checkpoint}: accumulators for ${w.total.length / 6} units, the model has ${units}; the checkpoint is damaged — delete it to start the shard over`);
    if ((w.heads?.total.length ?? 0) !== hu * 6) throw new UserError(`${files.checkpoint}: head accumulators for ${(w.heads?.total.length ?? 0) / 6} heads, this run has ${hu}; the checkpoint is damaged — delete it to start the shard over`);
    if (hu && !w.gate) throw new UserError(`${files.checkpoint}: head conductance without the head-gate accumulators (written before the gate was aggregated); delete it to start the shard over`);
    if ((w.gate?.total.length ?? 0) !== hu * 6) throw new UserError(`${files.checkpoint}: head-gate accumulators for ${(w.gate?.total.length ?? 0) / 6} heads, this run has ${hu}; the checkpoint is damaged — delete it to start the shard over`);
  }
  let pairVecs: Float32Array | null = null;
  if (o.keepPairs) {
    if (existsSync(files.pairs)) {
      const p = readPairVectors(files.pairs, n, units, plan.key);
      if (p.done < state.done) throw new UserError(`${files.pairs}: holds ${p.done} pair vectors, the checkpoint counts ${state.done}; delete both to start the shard over`);
      pairVecs = p.vectors;
    } else if (state.done > 0) {
      throw new UserError(`${files.pairs}: missing, but the checkpoint counts ${state.done} pairs whose vectors it held; delete checkpoint.safetensors to start the shard over`);
    } else pairVecs = new Float32Array(n * units).fill(NaN);
  }
  return { state, pairVecs };
}

/** The prepared state loaded into GPU accumulators, with the host tallies. */
function openState(engine: NigEngine, prep: Prepared): Tally {
  const { plan, state } = prep;
  const { units } = plan;
  const n = plan.pairs.length;
  const cells = new CellAccumulators(engine.model.g, units, plan.cellNames);
  const headCells = plan.headUnits ? new CellAccumulators(engine.model.g, plan.headUnits, plan.cellNames) : null;
  const gateCells = plan.headUnits ? new CellAccumulators(engine.model.g, plan.headUnits, plan.cellNames) : null;
  const pairVecs = prep.pairVecs;
  for (const [c, w] of state.cells) {
    cells.write(c, w);
    if (headCells) headCells.write(c, w.heads!);
    if (gateCells) gateCells.write(c, w.gate!);
  }
  const deltas = new Float32Array(n).fill(NaN);
  deltas.set(state.deltas.subarray(0, n));
  const cuts = new Float32Array(n * (plan.layers + 2)).fill(NaN);
  if (state.cuts?.length === cuts.length) cuts.set(state.cuts); // (a checkpoint written before cuts were kept has none)
  const counts = new Map([...state.cells].map(([c, w]) => [c, w.count]));
  const adaptive = state.adaptive?.length === 2 * n ? state.adaptive.slice() : null;
  return { done: state.done, cells, headCells, gateCells, counts, deltas, cuts, adaptive, pairVecs };
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
 * The next batch (pair indices) from position `done` of the queue: up to `pack` (default 4) pairs of one padded
 * length. The engine decides how many of them share one pass on the GPU (as many as fit the memory budget: it
 * holds the packing rule, `attributeMany`); the results equal separate runs, so packing changes nothing.
 */
function nextBatch(q: Queue, done: number, end: number, o: ScheduleOptions): number[] {
  const T = q.bucket(q.order[done]);
  const batch: number[] = [];
  while (batch.length < (o.pack ?? DEFAULT_PACK) && done + batch.length < end && q.bucket(q.order[done + batch.length]) === T) batch.push(q.order[done + batch.length]);
  return batch;
}

/** Attributes one batch, adding every pair's NIG to its cell on the GPU; records counts, deltas, pair vectors and `done`. */
async function attributeBatch(engine: NigEngine, plan: ShardPlan, q: Queue, batch: number[], tally: Tally, o: ScheduleOptions): Promise<void> {
  const [totalKey, segKey] = o.units === 'ffn-pre' ? (['preTotal', 'preSeg'] as const) : (['postTotal', 'postSeg'] as const);
  // (the engine checks each pair's totals finite before it asks for the aggregation's dispatches)
  const rs = await engine.attributeMany(batch.map((i) => q.encs[i]), { ...o.nig, light: true }, async (v, s) => {
    const cell = cellName(plan.pairs[batch[s]]);
    const ds = await tally.cells.dispatches(cell, v[totalKey], v[segKey]);
    if (!tally.headCells) return ds;
    return [...ds, ...await tally.headCells.dispatches(cell, v.headTotal!, v.headSeg!), ...await tally.gateCells!.dispatches(cell, v.gateTotal!, v.gateSeg!)];
  });
  for (let s = 0; s < batch.length; s++) {
    const i = batch[s];
    if (tally.pairVecs) tally.pairVecs.set(o.units === 'ffn-pre' ? rs[s].nigPre : rs[s].nigPost, i * plan.units);
    if (rs[s].errorEstimate !== undefined) (tally.adaptive ??= new Float32Array(2 * plan.pairs.length).fill(NaN)).set([rs[s].steps, rs[s].errorEstimate!], 2 * i);
    const cell = cellName(plan.pairs[i]);
    tally.counts.set(cell, (tally.counts.get(cell) ?? 0) + 1);
    tally.deltas[i] = rs[s].igDelta;
    const F = rs[s].F, w = plan.layers + 2;
    tally.cuts.set([F[F.length - 1] - F[0], ...rs[s].hiddenDeltas], i * w);
  }
  tally.done += batch.length;
}

/** Writes the state to `file` (the aggregate when `final`), the pair vectors first: a checkpoint never counts a pair whose vector is not on disk. */
async function checkpoint(plan: ShardPlan, tally: Tally, file: string, final: boolean): Promise<RunState> {
  const { key, units, shard } = plan;
  const done = tally.done;
  const snap: RunState = { key, done, cells: new Map(), deltas: tally.deltas.slice(), cuts: tally.cuts.slice(), ...(tally.adaptive ? { adaptive: tally.adaptive.slice() } : {}) };
  for (const c of plan.cellNames) snap.cells.set(c, { count: tally.counts.get(c) ?? 0, ...(await tally.cells.read(c)), ...(tally.headCells ? { heads: await tally.headCells.read(c), gate: await tally.gateCells!.read(c) } : {}) });
  const meta = { shard: `${shard.index}/${shard.count}`, total: String(plan.pairs.length) };
  if (tally.pairVecs) writeFileAtomic(plan.files.pairs, pairVectorsFile(tally.pairVecs, plan.pairs.length, units, key, done));
  writeFileAtomic(file, final ? serializeAggregate(snap, plan.layers, plan.dff, meta) : serializeState(snap, units, meta));
  return snap;
}

/** After the last batch: waits for the GPU, writes the checkpoint, and the aggregate when the shard is complete. */
async function finish(engine: NigEngine, plan: ShardPlan, tally: Tally): Promise<RunState & { accumulators: CellAccumulators }> {
  await settle(engine.model.g);
  const snap = await checkpoint(plan, tally, plan.files.checkpoint, false);
  if (snap.done === plan.pairs.length) await checkpoint(plan, tally, plan.files.aggregate, true);
  return { ...snap, accumulators: tally.cells };
}

/** The bytes of pairs.safetensors: a 'nig' tensor [pairs, units], with the shard key, `done` and a checksum. */
export function pairVectorsFile(vectors: Float32Array, pairs: number, units: number, key: string, done: number): Uint8Array {
  return sealSafetensors(new Map([['nig', { dtype: 'F32', shape: [pairs, units], data: vectors }]]), { key, done: String(done) });
}

/**
 * Per-pair NIG vectors of a run (rows in pair order; NaN rows: not attributed yet), checksum verified; with
 * `key`, the file must carry that shard key.
 */
export function readPairVectors(file: string, pairs: number, units: number, key?: string): { vectors: Float32Array; done: number; key: string } {
  const fix = 'delete it (a --resume of the run rewrites it only from the start: delete checkpoint.safetensors too) or start a new --out folder';
  const { tensors: st, meta } = openSealed(file, fix);
  const t = st.get('nig');
  if (!t || t.dtype !== 'F32' || t.shape[0] !== pairs || t.shape[1] !== units) throw new UserError(`${file}: expected a 'nig' tensor F32 [${pairs}, ${units}]; it belongs to another run — ${fix}`);
  if (key !== undefined && meta.key !== key) throw new UserError(`${file}: belongs to another run or shard (key ${meta.key}, expected ${key}); ${fix}`);
  if (!/^\d+$/.test(meta.done ?? '') || Number(meta.done) > pairs) throw new UserError(`${file}: its 'done' (${meta.done}) is not a count of at most ${pairs}; ${fix}`);
  return { vectors: toFloat(t, Float32Array), done: Number(meta.done), key: meta.key };
}
