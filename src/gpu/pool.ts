/**
 * Buffers kept for reuse on their device: the storage buffers arenas free (src/gpu/arena.ts) and the staging
 * buffers of read-backs (src/gpu/queue.ts). On a software adapter the first touch of freshly allocated memory is the
 * dear part of a new buffer (the OS zeroes every page: a 383 MiB chunk plan ran 1.1 s slower on its first use than
 * on its second, bench/RESULTS.md "Issue 22"), and an adaptive or dataset run builds plans of a few sizes over and
 * over and reads back every chunk and every pair. A buffer is taken for a request of the same usage: one of exactly
 * the size asked for first (runs repeat their sizes, so a near fit taken now is another request's miss later), else
 * the smallest of at least that size and at most twice it (any size for a read-back: it maps only what it reads).
 * Kept bytes beyond a usage's limit are destroyed, oldest first. The taker clears what it needs cleared (an arena
 * does: queue order makes that safe).
 */
import type { GpuContext } from './context.ts';

type Kept = { free: GPUBuffer[]; bytes: number };
const pools = new WeakMap<GPUDevice, Map<number, Kept>>();
/** Bytes kept at most: arenas' storage buffers 1 GiB, read-backs' staging buffers 128 MiB. */
const limitOf = (usage: number) => (usage & GPUBufferUsage.MAP_READ ? 1 << 27 : 1 << 30);

function keptOf(g: GpuContext, usage: number): Kept {
  let byUsage = pools.get(g.device);
  if (!byUsage) pools.set(g.device, (byUsage = new Map()));
  let k = byUsage.get(usage);
  if (!k) byUsage.set(usage, (k = { free: [], bytes: 0 }));
  return k;
}

/** A kept buffer of this usage for `size` bytes (see above; at most `maxRatio` times the size), or null when none is kept. */
export function takeBuffer(g: GpuContext, size: number, usage: number, label: string, maxRatio = 2): GPUBuffer | null {
  const p = keptOf(g, usage);
  let best = p.free.findIndex((b) => b.size === size);
  if (best < 0) p.free.forEach((b, i) => { if (b.size >= size && b.size <= maxRatio * size && (best < 0 || b.size < p.free[best].size)) best = i; });
  if (best < 0) return null;
  const [buf] = p.free.splice(best, 1);
  p.bytes -= buf.size;
  buf.label = label;
  return buf;
}

/** Keeps a buffer its owner no longer uses (destroying the oldest kept ones of its usage beyond the limit). */
export function giveBuffer(g: GpuContext, buf: GPUBuffer): void {
  const limit = limitOf(buf.usage);
  if (g.lostMessage || buf.size > limit) { buf.destroy(); return; }
  const p = keptOf(g, buf.usage);
  p.free.push(buf);
  p.bytes += buf.size;
  while (p.bytes > limit) {
    const old = p.free.shift()!;
    p.bytes -= old.size;
    old.destroy();
  }
}

/** Destroys every kept buffer of the device (its memory back to the driver). */
export function drainPool(g: GpuContext): void {
  for (const p of pools.get(g.device)?.values() ?? []) {
    for (const b of p.free) b.destroy();
    p.free = [];
    p.bytes = 0;
  }
}
