/**
 * Aggregation cells on the GPU: one exact fixed-point accumulator (shaders/ig/aggregate.wgsl) per
 * (dataset, label) cell for the sum and the sum of squares of every unit's NIG, in total over tokens and
 * per segment. The integer words can be read back, saved, restored and added exactly on the host, so
 * resumed and sharded runs reproduce an uninterrupted one bit for bit.
 */
import type { Gpu } from '../gpu/device.ts';
import { Arena, writeView, type View } from '../gpu/arena.ts';
import { readView } from '../gpu/queue.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { aggregate } from '../kernels/ig.ts';

export const SEGMENTS = ['cls', 'query', 'sep1', 'passage', 'sep2'] as const;
const INV_SCALE = 2 ** -40;

/** A process-unique id per GPUBuffer object (labels repeat across arenas; identity does not). */
const ids = new WeakMap<GPUBuffer, number>();
let nextId = 0;
function bufferId(b: GPUBuffer): number {
  let id = ids.get(b);
  if (id === undefined) ids.set(b, (id = nextId++));
  return id;
}

export class CellAccumulators {
  readonly arena: Arena;
  private cache = new Map<string, Promise<Dispatch[]>>();
  /** Each cell's accumulators: total (units, 6) and per segment (5, units, 6) u32 words. */
  private views = new Map<string, { total: View; seg: View }>();

  constructor(private g: Gpu, readonly units: number, readonly cells: string[]) {
    this.arena = new Arena(g, 'cells');
    for (const c of cells) {
      this.arena.reserve(`${c}.total`, units * 6 * 4);
      this.arena.reserve(`${c}.seg`, 5 * units * 6 * 4);
    }
    this.arena.build();
    for (const c of cells) this.views.set(c, { total: this.arena.view(`${c}.total`), seg: this.arena.view(`${c}.seg`) });
  }

  /** The accumulators of a cell (an error naming the cells when it is not one). */
  cell(cell: string): { total: View; seg: View } {
    const v = this.views.get(cell);
    if (!v) throw new Error(`no aggregation cell '${cell}' (cells: ${this.cells.join(', ')})`);
    return v;
  }

  /** Dispatches adding the pair reductions `total` (units) and `seg` (5, units) into `cell`. */
  dispatches(cell: string, total: View, seg: View): Promise<Dispatch[]> {
    const key = `${cell}|${bufferId(total.buffer)}:${total.offset}|${bufferId(seg.buffer)}:${seg.offset}`;
    let d = this.cache.get(key);
    if (!d) {
      if (this.cache.size > 64) this.cache.clear();
      d = Promise.all([
        aggregate(this.g, { label: `aggregate ${cell} total`, vals: total, acc: this.cell(cell).total, R: this.units }),
        aggregate(this.g, { label: `aggregate ${cell} segments`, vals: seg, acc: this.cell(cell).seg, R: 5 * this.units }),
      ]);
      this.cache.set(key, d);
    }
    return d;
  }

  async read(cell: string): Promise<{ total: Uint32Array; seg: Uint32Array }> {
    const t = await readView(this.g, this.cell(cell).total);
    const s = await readView(this.g, this.cell(cell).seg);
    return { total: new Uint32Array(t.buffer), seg: new Uint32Array(s.buffer) };
  }

  write(cell: string, words: { total: Uint32Array; seg: Uint32Array }): void {
    writeView(this.g, this.cell(cell).total, words.total);
    writeView(this.g, this.cell(cell).seg, words.seg);
  }
}

/** Decodes the sums (which = 0) or sums of squares (which = 1) of 96-bit fixed-point accumulators. */
export function wordsToF64(words: Uint32Array, which: 0 | 1): Float64Array {
  const n = words.length / 6;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = i * 6 + which * 3;
    const w2 = words[b + 2] | 0; // signed top word
    out[i] = ((w2 * 4294967296 + words[b + 1]) * 4294967296 + words[b]) * INV_SCALE;
  }
  return out;
}

/** Exact element-wise sum of two accumulator arrays (96-bit two's complement per value). */
export function addWords(a: Uint32Array, b: Uint32Array): Uint32Array {
  if (a.length !== b.length) throw new Error(`addWords: ${a.length} vs ${b.length} words`);
  const out = new Uint32Array(a.length);
  for (let i = 0; i < a.length; i += 3) {
    const s0 = a[i] + b[i];
    const c0 = s0 > 0xffffffff ? 1 : 0;
    const s1 = a[i + 1] + b[i + 1] + c0;
    const c1 = s1 > 0xffffffff ? 1 : 0;
    out[i] = s0 >>> 0;
    out[i + 1] = s1 >>> 0;
    out[i + 2] = (a[i + 2] + b[i + 2] + c1) >>> 0;
  }
  return out;
}
