/**
 * Storage buffers that arenas freed, kept for the next arena of the same device. On a software adapter the first
 * touch of freshly allocated memory is the dear part of a new buffer (the OS zeroes every page: a 383 MiB chunk
 * plan ran 1.1 s slower on its first use than on its second, bench/RESULTS.md "Issue 22"), and an adaptive or
 * dataset run builds plans of a few sizes over and over. An arena takes the kept buffer of exactly the size it needs,
 * else the smallest of at least that size and at most twice it, cleared to zero as a new buffer would be (queue order makes the reuse safe:
 * the clear runs after every earlier submit that used it); kept bytes beyond the limit are destroyed, oldest first.
 */
import type { GpuContext } from './context.ts';
import { submitCommands } from './queue.ts';

const pools = new WeakMap<GPUDevice, { free: GPUBuffer[]; bytes: number }>();
const LIMIT = 1 << 30;

function poolOf(g: GpuContext) {
  let p = pools.get(g.device);
  if (!p) pools.set(g.device, (p = { free: [], bytes: 0 }));
  return p;
}

/** A kept buffer of `size`..2·`size` bytes with storage usage, zeroed; null when none is kept. */
export function takeBuffer(g: GpuContext, size: number, label: string): GPUBuffer | null {
  const p = poolOf(g);
  let best = -1;
  // (one of exactly this size first: runs repeat their sizes, so a near fit taken now is another arena's miss later)
  best = p.free.findIndex((b) => b.size === size);
  if (best < 0) p.free.forEach((b, i) => { if (b.size >= size && b.size <= 2 * size && (best < 0 || b.size < p.free[best].size)) best = i; });
  if (best < 0) return null;
  const [buf] = p.free.splice(best, 1);
  p.bytes -= buf.size;
  buf.label = label;
  const enc = g.device.createCommandEncoder({ label: `clear ${label}` });
  enc.clearBuffer(buf, 0, buf.size);
  submitCommands(g, enc.finish());
  return buf;
}

/** Keeps a buffer an arena no longer uses (destroying the oldest kept ones beyond the limit). */
export function giveBuffer(g: GpuContext, buf: GPUBuffer): void {
  const p = poolOf(g);
  if (g.lostMessage || buf.size > LIMIT) { buf.destroy(); return; }
  p.free.push(buf);
  p.bytes += buf.size;
  while (p.bytes > LIMIT) {
    const old = p.free.shift()!;
    p.bytes -= old.size;
    old.destroy();
  }
}

/** Destroys every kept buffer of the device (its memory back to the driver). */
export function drainPool(g: GpuContext): void {
  const p = poolOf(g);
  for (const b of p.free) b.destroy();
  p.free = [];
  p.bytes = 0;
}
