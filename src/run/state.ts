/**
 * The on-disk state of a dataset run: `checkpoint.safetensors` (written atomically by src/util/atomic.ts: temp file, fsync,
 * rename, so a run killed at any moment — even kill -9 — leaves either the old or the new checkpoint) and
 * `aggregate.safetensors` (the result: per (dataset, label) cell the count, sums, sums of squares and means
 * of every unit's NIG, in total and per segment, plus the exact accumulator words used by merge).
 */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { parseSafetensors, serializeSafetensors, toFloat, type WriteTensor } from '../formats/safetensors.ts';
import { wordsToF64 } from '../ig/cells.ts';

export interface CellWords { count: number; total: Uint32Array; seg: Uint32Array }

export interface RunState {
  key: string;               // hash of model, options and the shard's pair list
  done: number;              // pairs of this shard finished
  cells: Map<string, CellWords>;
  deltas: Float32Array;      // per pair of the shard, in pair order: IG-embedding completeness delta (NaN: not done)
}

const i32 = (w: Uint32Array) => new Int32Array(w.buffer, w.byteOffset, w.length);

export function serializeState(s: RunState, units: number, meta: Record<string, string> = {}): Uint8Array {
  const t = new Map<string, WriteTensor>();
  for (const [cell, c] of s.cells) {
    t.set(`${cell}.count`, { dtype: 'I32', shape: [1], data: Int32Array.of(c.count) });
    t.set(`${cell}.acc_total`, { dtype: 'I32', shape: [units, 6], data: i32(c.total) });
    t.set(`${cell}.acc_seg`, { dtype: 'I32', shape: [5, units, 6], data: i32(c.seg) });
  }
  t.set('deltas', { dtype: 'F32', shape: [s.deltas.length], data: s.deltas });
  return serializeSafetensors(t, { ...meta, key: s.key, done: String(s.done), cells: JSON.stringify([...s.cells.keys()]) });
}

export function readState(file: string): RunState {
  if (!existsSync(file)) throw new UserError(`${file}: no checkpoint to resume from; run without --resume first`);
  const buf = readFileSync(file);
  const st = parseSafetensors(buf, file);
  const n = buf.readBigUInt64LE(0);
  const meta = JSON.parse(buf.subarray(8, 8 + Number(n)).toString('utf8')).__metadata__ ?? {};
  const words = (name: string) => {
    const r = st.get(name);
    if (!r) throw new UserError(`${file}: missing tensor ${name}; the checkpoint is damaged — delete it to start over`);
    return new Uint32Array(new Uint8Array(r.bytes).buffer);
  };
  const cells = new Map<string, CellWords>();
  for (const cell of JSON.parse(meta.cells ?? '[]') as string[]) {
    const cnt = st.get(`${cell}.count`);
    if (!cnt) throw new UserError(`${file}: missing tensor ${cell}.count; the file is damaged`);
    cells.set(cell, { count: toFloat(cnt, Float64Array)[0], total: words(`${cell}.acc_total`), seg: words(`${cell}.acc_seg`) });
  }
  const d = st.get('deltas');
  return { key: meta.key, done: Number(meta.done), cells, deltas: d ? new Float32Array(new Uint8Array(d.bytes).buffer) : new Float32Array(0) };
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
    t.set(`${cell}.acc_total`, { dtype: 'I32', shape: [units, 6], data: i32(c.total) });
    t.set(`${cell}.acc_seg`, { dtype: 'I32', shape: [5, units, 6], data: i32(c.seg) });
  }
  t.set('deltas', { dtype: 'F32', shape: [s.deltas.length], data: s.deltas });
  return serializeSafetensors(t, { ...meta, key: s.key, done: String(s.done), cells: JSON.stringify([...s.cells.keys()]) });
}
