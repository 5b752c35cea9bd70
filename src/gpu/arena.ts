/**
 * A buffer arena with named views. Callers `reserve` named byte ranges, then `build` packs them into as
 * few GPUBuffers as the device allows (each ≤ maxBufferSize, each view ≤ maxStorageBufferBindingSize,
 * offsets aligned to minStorageBufferOffsetAlignment). Views are what kernels bind.
 */
import { UserError } from '../util/errors.ts';
import { withErrorScope, type GpuContext, type View } from './context.ts';
import { giveBuffer, takeBuffer } from './pool.ts';
import { submitCommands } from './queue.ts';

export type { View } from './context.ts';

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class Arena {
  private pending: { name: string; size: number }[] = [];
  private views = new Map<string, View>();
  buffers: GPUBuffer[] = [];
  bytes = 0;

  constructor(private g: GpuContext, readonly label: string) {}

  /** Reserves `bytes` under `name` (rounded up to 4; at least 4). */
  reserve(name: string, bytes: number): void {
    if (this.views.has(name) || this.pending.some((p) => p.name === name)) throw new Error(`arena ${this.label}: '${name}' reserved twice`);
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const max = this.g.limits.maxStorageBufferBindingSize;
    if (size > max) {
      throw new UserError(`${this.label}: buffer '${name}' needs ${fmtBytes(size)}, over this device's storage binding limit of ${fmtBytes(max)}; use fewer interpolation points per chunk (--max-memory) or shorter inputs`);
    }
    this.pending.push({ name, size });
  }

  build(): void {
    for (const buf of packViews(this.pending, this.g.limits)) {
      const label = `${this.label}[${this.buffers.length}] ${buf.views[0].name}..`;
      const buffer = this.kept(buf.size, label) ?? this.g.device.createBuffer({ label, size: buf.size, usage: USAGE() });
      this.buffers.push(buffer);
      this.bytes += buf.size;
      for (const c of buf.views) this.views.set(c.name, { name: c.name, buffer, offset: c.offset, size: c.size });
    }
    this.pending = [];
  }

  /** A buffer some arena freed (src/gpu/pool.ts), zeroed as a new one is; null when none fits. */
  private kept(size: number, label: string): GPUBuffer | null {
    const buf = takeBuffer(this.g, size, USAGE(), label);
    if (buf) {
      const enc = this.g.device.createCommandEncoder({ label: `clear ${label}` });
      enc.clearBuffer(buf, 0, buf.size);
      submitCommands(this.g, enc.finish());
    }
    return buf;
  }

  /** Bytes reserved and not yet built, as `build` will allocate them (alignment padding included). */
  pendingBytes(): number {
    return packViews(this.pending, this.g.limits).reduce((a, b) => a + b.size, 0);
  }

  /** `build` inside out-of-memory and validation error scopes: a failed allocation becomes a clear error. */
  async buildChecked(): Promise<void> {
    const bytes = this.pending.reduce((a, p) => a + p.size, 0);
    await withErrorScope(this.g, `${this.label} (${fmtBytes(bytes)})`, () => this.build());
  }

  view(name: string): View {
    const v = this.views.get(name);
    if (!v) throw new Error(`arena ${this.label}: no view '${name}' (reserved and built?)`);
    return v;
  }

  has(name: string): boolean {
    return this.views.has(name);
  }

  /** Frees the arena's buffers (kept for the next arena of the device: src/gpu/pool.ts). */
  destroy(): void {
    for (const b of this.buffers) giveBuffer(this.g, b);
    this.buffers = [];
    this.views.clear();
  }
}

/** The device limits the packing reads: maxBufferSize and minStorageBufferOffsetAlignment. */
export type PackLimits = Readonly<Record<string, number>>;

/**
 * How `Arena.build` packs reserved views into buffers, as a pure function (so plans can be sized without a device):
 * in reservation order, each view at the next multiple of the offset alignment, a new buffer whenever the next view
 * would pass min(maxBufferSize, 1 GiB). Sizes are rounded up to 4 bytes (at least 4), as `reserve` does.
 */
export function packViews(views: readonly { name: string; size: number }[], limits: PackLimits): { size: number; views: { name: string; offset: number; size: number }[] }[] {
  const align = limits.minStorageBufferOffsetAlignment || 256;
  const cap = Math.min(limits.maxBufferSize, 1 << 30);
  const out: { size: number; views: { name: string; offset: number; size: number }[] }[] = [];
  let cur: { name: string; offset: number; size: number }[] = [];
  let used = 0;
  const flush = () => {
    if (cur.length) out.push({ size: used, views: cur });
    cur = [];
    used = 0;
  };
  for (const p of views) {
    const size = Math.max(4, Math.ceil(p.size / 4) * 4);
    if (Math.ceil(used / align) * align + size > cap && cur.length) flush();
    const o = Math.ceil(used / align) * align;
    cur.push({ name: p.name, size, offset: o });
    used = o + size;
  }
  flush();
  return out;
}

export function fmtBytes(n: number): string {
  return n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function writeView(g: GpuContext, v: View, data: Float32Array | Uint32Array | Int32Array, elemOffset = 0): void {
  if (data.byteLength + elemOffset * 4 > v.size) throw new Error(`writeView ${v.name}: ${data.byteLength} bytes at element ${elemOffset} overflow the ${v.size}-byte view`);
  g.device.queue.writeBuffer(v.buffer, v.offset + elemOffset * 4, data.buffer, data.byteOffset, data.byteLength);
}
