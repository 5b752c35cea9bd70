/**
 * A pair's point store, for adaptive m that evaluates each path point once: the points of m are every second point
 * of 2m, so a pass at a finer m runs only the points not stored yet. Each stored point keeps every attributed
 * activation and its gradient (src/ig/layout.ts `storeLayout`), because a rule's sum multiplies each point's values
 * with its neighbours' (docs/rules.md, "Adaptive m"); the sums of the pass then come from the store
 * (`pathSum`, in α order through the index table). Rows are in evaluation order and never move.
 */
import { Arena } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import { submitCommands } from '../gpu/queue.ts';
import { allocateLayout, layoutBytes, type Bound } from '../model/layout.ts';
import type { BertConfig } from '../model/types.ts';
import { storeLayout, type StoreHandles } from './layout.ts';

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
/** α = k/m as a reduced fraction, the key of a stored point. */
const key = (k: number, m: number) => { const d = gcd(k, m) || 1; return `${k / d}/${m / d}`; };

export class PointStore {
  private arena: Arena | null = null;
  v: Bound<StoreHandles> | null = null;
  cap = 0;
  /** F at each stored row, and the row of each stored α. */
  readonly F: number[] = [];
  private rowOf = new Map<string, number>();
  /** ∂F/∂x at α = 1 (read when the point is evaluated, for results that are not light). */
  gradIn: Float32Array | null = null;

  constructor(private g: Gpu, private cfg: BertConfig, readonly T: number) {}

  /** Bytes of a store of `cap` points (what `grow(cap)` allocates). */
  static bytes(g: Gpu, cfg: BertConfig, T: number, cap: number): number {
    return cap ? layoutBytes(g.limits, storeLayout(cfg, T, cap)) : 0;
  }

  get rows(): number { return this.F.length; }
  get bytes(): number { return PointStore.bytes(this.g, this.cfg, this.T, this.cap); }

  /** The k in 0..m whose point α = k/m is not stored yet, ascending. */
  missing(m: number): number[] {
    const out: number[] = [];
    for (let k = 0; k <= m; k++) if (!this.rowOf.has(key(k, m))) out.push(k);
    return out;
  }

  /** The store row of each α = k/m, k = 0..m (every one must be stored). */
  rowsOf(m: number): number[] {
    return Array.from({ length: m + 1 }, (_, k) => {
      const r = this.rowOf.get(key(k, m));
      if (r === undefined) throw new Error(`point store: α = ${k}/${m} was never evaluated`);
      return r;
    });
  }

  /** Records the point α = k/m just stashed at the next row, with its F. */
  add(k: number, m: number, F: number): void {
    if (this.rows >= this.cap) throw new Error(`point store: full at ${this.cap} points`);
    this.rowOf.set(key(k, m), this.rows);
    this.F.push(F);
  }

  /** Makes room for `cap` points, copying the stored rows into the new buffers (on the GPU). */
  async grow(cap: number): Promise<void> {
    if (cap <= this.cap) return;
    const layout = storeLayout(this.cfg, this.T, cap);
    const arena = new Arena(this.g, `point store ${this.T}x${cap}`);
    const v = await allocateLayout(arena, layout);
    if (this.arena && this.rows) {
      // every buffer of the layout but the index table (rewritten each pass): its stored rows, into the new one
      const enc = this.g.device.createCommandEncoder({ label: 'grow point store' });
      for (const b of layout.buffers) {
        if (b.name === layout.handles.idx) continue;
        const src = this.arena.view(b.name), dst = arena.view(b.name);
        enc.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, (b.bytes / cap) * this.rows);
      }
      submitCommands(this.g, enc.finish());
    }
    this.arena?.destroy();
    this.arena = arena;
    this.v = v;
    this.cap = cap;
  }

  destroy(): void {
    this.arena?.destroy();
    this.arena = null;
    this.v = null;
  }
}
