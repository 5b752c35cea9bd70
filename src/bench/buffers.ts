/**
 * Small helpers for kernel benchmarks and tests: pack named host arrays into one Arena, run dispatches inside
 * validation scopes, read views back. Everything here is f32/u32 on the device; callers widen to f64 for the
 * reference. (Tests reach them through test/helpers/gpu.ts.)
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { readView, settle, submit } from '../gpu/queue.ts';

/** A host array to upload, or a number: that many zero-filled elements (an output). */
export type Init = Float32Array | Uint32Array | number;

export interface Bufs {
  arena: Arena;
  v(name: string): View;
  write(name: string, data: Float32Array | Uint32Array, elemOffset?: number): void;
  read(name: string, count?: number, elemOffset?: number): Promise<Float32Array>;
  destroy(): void;
}

/** Reserves one view per entry of `init` (4 bytes per element), builds the arena and uploads the arrays. */
export function upload(g: Gpu, label: string, init: Record<string, Init>): Bufs {
  const arena = new Arena(g, label);
  for (const [name, x] of Object.entries(init)) arena.reserve(name, 4 * (typeof x === 'number' ? x : x.length));
  arena.build();
  for (const [name, x] of Object.entries(init)) if (typeof x !== 'number') writeView(g, arena.view(name), x);
  return {
    arena,
    v: (name) => arena.view(name),
    write: (name, data, off = 0) => writeView(g, arena.view(name), data, off),
    read: (name, count, off = 0) => readView(g, arena.view(name), count, off),
    destroy: () => arena.destroy(),
  };
}

/** Submits `ds` in one compute pass; throws the validation error, if any, instead of leaving zeros behind. */
export async function run(g: Gpu, ds: Dispatch[], label = 'test'): Promise<void> {
  g.device.pushErrorScope('validation');
  await submit(g, ds, label);
  const err = await g.device.popErrorScope();
  if (err) throw new Error(`${label}: WebGPU validation error: ${err.message}`);
}

/** Waits until everything submitted so far has finished on the device. */
export function done(g: Gpu): Promise<void> {
  return settle(g);
}
