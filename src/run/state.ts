/**
 * The on-disk state of a dataset run: `checkpoint.safetensors` (written atomically by src/util/atomic.ts: temp file, fsync,
 * rename, so a run killed at any moment — even kill -9 — leaves either the old or the new checkpoint) and
 * `aggregate.safetensors` (the result: per (dataset, label) cell the count, sums, sums of squares and means
 * of every unit's NIG, in total and per segment, plus the exact accumulator words used by merge). Both carry the
 * run key and a checksum (src/run/integrity.ts); reading one verifies the checksum and that the cell counts add
 * up to `done`.
 */
import { existsSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { toFloat, type WriteTensor } from '../formats/safetensors.ts';
import { wordsToF64 } from '../ig/cells.ts';
import { openSealed, sealSafetensors } from './integrity.ts';

/**
 * A cell's count and exact words: of the FFN units, and with heads (`--units …,heads`) of the heads [layers, heads]:
 * their conductance (`heads`) and their gate gradient ∂F/∂ξ at α = 1 (`gate`), each as units.
 */
export interface CellWords { count: number; total: Uint32Array; seg: Uint32Array; heads?: { total: Uint32Array; seg: Uint32Array }; gate?: { total: Uint32Array; seg: Uint32Array } }

/** The head quantities a cell may hold beside the FFN units, by their tensor prefix (`<cell>.heads.*`, `<cell>.gate.*`). */
export const HEAD_KINDS = ['heads', 'gate'] as const;

export interface RunState {
  key: string;               // the shard's key (src/run/keys.ts): model, options, the pair list and the shard i/n
  done: number;              // pairs of this shard finished
  cells: Map<string, CellWords>;
  deltas: Float32Array;      // per pair of the shard, in pair order: IG-embedding completeness delta (NaN: not done)
  cuts?: Float32Array;       // (pairs, L + 2) per pair: F(x) − F(x′), then the completeness delta of NIG over hidden states 0..L
  adaptive?: Float32Array;   // (pairs, 2) per pair, with --tol or richardson: the m used and the estimated relative error of its NIG (NaN: not done)
  sha256?: string;           // the file's checksum, when read from one
}

const i32 = (w: Uint32Array) => new Int32Array(w.buffer, w.byteOffset, w.length);

/** A cell's exact accumulator words (total and per segment), as int32 tensors. */
function setAccumulators(t: Map<string, WriteTensor>, cell: string, c: CellWords, units: number): void {
  t.set(`${cell}.acc_total`, { dtype: 'I32', shape: [units, 6], data: i32(c.total) });
  t.set(`${cell}.acc_seg`, { dtype: 'I32', shape: [5, units, 6], data: i32(c.seg) });
  for (const k of HEAD_KINDS) {
    const w = c[k];
    if (!w) continue;
    const n = w.total.length / 6;
    t.set(`${cell}.${k}.acc_total`, { dtype: 'I32', shape: [n, 6], data: i32(w.total) });
    t.set(`${cell}.${k}.acc_seg`, { dtype: 'I32', shape: [5, n, 6], data: i32(w.seg) });
  }
}

/** The tensors every run file ends with (per-pair deltas, cuts, adaptive m) and the sealed metadata (key, done, cells). */
function sealRun(t: Map<string, WriteTensor>, s: RunState, meta: Record<string, string>): Uint8Array {
  t.set('deltas', { dtype: 'F32', shape: [s.deltas.length], data: s.deltas });
  setCuts(t, s);
  setAdaptive(t, s);
  return sealSafetensors(t, { ...meta, key: s.key, done: String(s.done), cells: JSON.stringify([...s.cells.keys()]) });
}

export function serializeState(s: RunState, units: number, meta: Record<string, string> = {}): Uint8Array {
  const t = new Map<string, WriteTensor>();
  for (const [cell, c] of s.cells) {
    t.set(`${cell}.count`, { dtype: 'I32', shape: [1], data: Int32Array.of(c.count) });
    setAccumulators(t, cell, c, units);
  }
  return sealRun(t, s, meta);
}

/** The optional 'adaptive' tensor (pairs, 2): per pair the m used and the estimated relative error (src/ig/path.ts estimateError). */
function setAdaptive(t: Map<string, WriteTensor>, s: RunState): void {
  if (s.adaptive && s.deltas.length) t.set('adaptive', { dtype: 'F32', shape: [s.deltas.length, 2], data: s.adaptive });
}

/** The optional 'cuts' tensor (pairs, L + 2): the gap F(x) − F(x′) and the hidden-state completeness deltas per pair. */
function setCuts(t: Map<string, WriteTensor>, s: RunState): void {
  if (s.cuts && s.deltas.length) t.set('cuts', { dtype: 'F32', shape: [s.deltas.length, s.cuts.length / s.deltas.length], data: s.cuts });
}

/** What to do when a state file is refused, by kind. */
export const FIX = {
  checkpoint: 'delete it (and pairs.safetensors) to start this shard over, or restore the file from a copy',
  aggregate: 'rewrite it from the checkpoint with --resume (or merge the shards again)',
} as const;

/**
 * Reads a checkpoint or aggregate, verifying its checksum and its count identities: every cell count is an
 * integer ≥ 0, the counts add up to `done`, and `done` is at most the shard's pair count.
 */
export function readState(file: string, fix: string = FIX.checkpoint): RunState {
  if (!existsSync(file)) throw new UserError(`${file}: no checkpoint to resume from; run without --resume first`);
  const { tensors: st, meta } = openSealed(file, fix);
  const bad = (what: string): never => {
    throw new UserError(`${file}: ${what}; ${fix}`);
  };
  const words = (name: string, n: number) => {
    const r = st.get(name);
    if (!r) bad(`missing tensor ${name}`);
    if (r!.dtype !== 'I32' || r!.bytes.byteLength !== n * 4) bad(`tensor ${name} is ${r!.dtype} [${r!.shape}], expected I32 with ${n} words`);
    return new Uint32Array(new Uint8Array(r!.bytes).buffer);
  };
  let names: unknown;
  try {
    names = JSON.parse(meta.cells ?? '[]');
  } catch {
    names = null;
  }
  if (!Array.isArray(names) || names.some((c) => typeof c !== 'string')) bad(`its metadata 'cells' is not a list of cell names`);
  if (typeof meta.key !== 'string' || !meta.key) bad('it has no run key');
  if (!/^\d+$/.test(meta.done ?? '')) bad(`its 'done' (${meta.done}) is not a count`);
  const d = st.get('deltas');
  if (!d || d.dtype !== 'F32' || d.shape.length !== 1) bad("missing tensor 'deltas' (F32, one per pair of the shard)");
  const deltas = new Float32Array(new Uint8Array(d!.bytes).buffer);
  const done = Number(meta.done);
  const cells = new Map<string, CellWords>();
  let sum = 0;
  for (const cell of names as string[]) {
    const cnt = st.get(`${cell}.count`);
    if (!cnt || cnt.shape.length !== 1 || cnt.shape[0] !== 1) bad(`missing tensor ${cell}.count`);
    const count = toFloat(cnt!, Float64Array)[0];
    if (!Number.isInteger(count) || count < 0) bad(`cell ${cell} has count ${count}, not a count`);
    const units = st.get(`${cell}.acc_total`)?.bytes.byteLength ?? 0;
    const c: CellWords = { count, total: words(`${cell}.acc_total`, units / 4), seg: words(`${cell}.acc_seg`, (units / 4) * 5) };
    for (const k of HEAD_KINDS) {
      const hb = st.get(`${cell}.${k}.acc_total`)?.bytes.byteLength;
      if (hb !== undefined) c[k] = { total: words(`${cell}.${k}.acc_total`, hb / 4), seg: words(`${cell}.${k}.acc_seg`, (hb / 4) * 5) };
    }
    cells.set(cell, c);
    sum += count;
  }
  if (sum !== done) bad(`its cell counts add up to ${sum} pairs, but it says ${done} are done`);
  if (done > deltas.length) bad(`it says ${done} pairs are done, but the shard has ${deltas.length}`);
  if (meta.total !== undefined && Number(meta.total) !== deltas.length) bad(`it says the shard has ${meta.total} pairs, but holds ${deltas.length} deltas`);
  const c = st.get('cuts');
  if (c && (c.dtype !== 'F32' || c.shape.length !== 2 || c.shape[0] !== deltas.length)) bad(`tensor 'cuts' is ${c.dtype} [${c.shape}], expected F32 [${deltas.length}, layers + 2]`);
  const cuts = c ? new Float32Array(new Uint8Array(c.bytes).buffer) : undefined;
  const ad = st.get('adaptive');
  if (ad && (ad.dtype !== 'F32' || ad.shape.length !== 2 || ad.shape[0] !== deltas.length || ad.shape[1] !== 2)) bad(`tensor 'adaptive' is ${ad.dtype} [${ad.shape}], expected F32 [${deltas.length}, 2]`);
  const adaptive = ad ? new Float32Array(new Uint8Array(ad.bytes).buffer) : undefined;
  return { key: meta.key, done, cells, deltas, ...(cuts ? { cuts } : {}), ...(adaptive ? { adaptive } : {}), sha256: meta.sha256 };
}

/** The result file: decoded float64 statistics per cell, and the exact words for `merge`. */
export function serializeAggregate(s: RunState, layers: number, dff: number, meta: Record<string, string>): Uint8Array {
  const units = layers * dff;
  const t = new Map<string, WriteTensor>();
  for (const [cell, c] of s.cells) {
    const sum = wordsToF64(c.total, 0), sumsq = wordsToF64(c.total, 1);
    const mean = sum.map((x) => (c.count ? x / c.count : 0));
    t.set(`${cell}.count`, { dtype: 'F64', shape: [1], data: Float64Array.of(c.count) });
    t.set(`${cell}.mean`, { dtype: 'F64', shape: [layers, dff], data: mean });
    t.set(`${cell}.sum`, { dtype: 'F64', shape: [layers, dff], data: sum });
    t.set(`${cell}.sumsq`, { dtype: 'F64', shape: [layers, dff], data: sumsq });
    t.set(`${cell}.seg_sum`, { dtype: 'F64', shape: [5, layers, dff], data: wordsToF64(c.seg, 0) });
    t.set(`${cell}.seg_sumsq`, { dtype: 'F64', shape: [5, layers, dff], data: wordsToF64(c.seg, 1) });
    for (const k of HEAD_KINDS) {
      // heads as units (their conductance; their gate gradient): the same statistics over [layers, heads]
      const w = c[k];
      if (!w) continue;
      const nh = w.total.length / 6 / layers, hs = wordsToF64(w.total, 0);
      t.set(`${cell}.${k}.mean`, { dtype: 'F64', shape: [layers, nh], data: hs.map((x) => (c.count ? x / c.count : 0)) });
      t.set(`${cell}.${k}.sum`, { dtype: 'F64', shape: [layers, nh], data: hs });
      t.set(`${cell}.${k}.sumsq`, { dtype: 'F64', shape: [layers, nh], data: wordsToF64(w.total, 1) });
      t.set(`${cell}.${k}.seg_sum`, { dtype: 'F64', shape: [5, layers, nh], data: wordsToF64(w.seg, 0) });
      t.set(`${cell}.${k}.seg_sumsq`, { dtype: 'F64', shape: [5, layers, nh], data: wordsToF64(w.seg, 1) });
    }
    setAccumulators(t, cell, c, units);
  }
  return sealRun(t, s, meta);
}
