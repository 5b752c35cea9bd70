/**
 * The one owner of a device's queue: every submit (`submit` for kernels, `submitCommands` for clears and copies),
 * every wait (`settle`, through src/gpu/wait.ts's quiet await) and every read-back (`readView`) of the engine goes
 * through here. Submitting kernels first makes sure each pipeline is compiled (src/gpu/compile.ts: on lavapipe a
 * pipeline is compiled by LLVM at its first dispatch, seconds each), so no wait includes compiling.
 */
import type { GpuContext, View } from './context.ts';
import { encodeDispatches, type Dispatch } from './pipelines.ts';
import { ensureCompiled } from './compile.ts';
import { quietly, waitStats } from './wait.ts';
import { giveBuffer, takeBuffer } from './pool.ts';

/** Waits until everything submitted so far has finished. */
export async function settle(g: GpuContext): Promise<void> {
  const t0 = performance.now();
  await quietly(g.device.queue.onSubmittedWorkDone(), g);
  waitStats.waits++;
  waitStats.waitedMs += performance.now() - t0;
}

/** Records `ds` in one compute pass and submits it, after compiling any pipeline it uses for the first time. */
export async function submit(g: GpuContext, ds: Dispatch[], label = 'kernels'): Promise<void> {
  await ensureCompiled(g, ds.map((d) => d.kernel));
  if (g.lostMessage) throw new Error(g.lostMessage);
  const enc = g.device.createCommandEncoder({ label });
  encodeDispatches(enc, ds, label);
  g.device.queue.submit([enc.finish()]);
}

/** Submits command buffers that run no kernels (clears, copies). */
export function submitCommands(g: GpuContext, ...cmds: GPUCommandBuffer[]): void {
  if (g.lostMessage) throw new Error(g.lostMessage);
  g.device.queue.submit(cmds);
}

/** A range of a view to read back: `count` f32 values (default: the rest of the view) from element `elemOffset`. */
export interface ReadRange { view: View; count?: number; elemOffset?: number }

/** Reads `count` f32 values (default: the whole view) back to the host, after everything submitted before. */
export async function readView(g: GpuContext, v: View, count?: number, elemOffset = 0): Promise<Float32Array> {
  return (await readViews(g, [{ view: v, count, elemOffset }]))[0];
}

/** A staging buffer for `bytes`: one kept from an earlier read-back (src/gpu/pool.ts), else a new one, its size
 * rounded up to a power of two so that reads of nearby sizes share buffers. */
function staging(g: GpuContext, bytes: number, label: string): GPUBuffer {
  const usage = GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST;
  const size = 2 ** Math.ceil(Math.log2(Math.max(256, bytes)));
  return takeBuffer(g, size, usage, label, Infinity) ?? g.device.createBuffer({ label, size, usage });
}

/** Reads several ranges back at once: one staging buffer (kept for the next read), one submit, one wait and one map for all of them. */
export async function readViews(g: GpuContext, ranges: ReadRange[]): Promise<Float32Array[]> {
  if (!ranges.length) return [];
  const c = new Collect(g, ranges.reduce((a, r) => a + rangeBytes(r), 0), ranges.length === 1 ? `read ${ranges[0].view.name}` : `read ${ranges.length} views`);
  c.add(ranges);
  return c.read();
}

const rangeBytes = (r: ReadRange) => (r.count ?? r.view.size / 4 - (r.elemOffset ?? 0)) * 4;

/**
 * A read-back gathered over several submits: each `add` copies its ranges into one staging buffer after
 * everything submitted before it (no wait), and `read` waits once and maps once for all of them. The NIG path
 * collects F and ∂F/∂x of every chunk this way, so a pair costs one host round trip, not one per chunk.
 */
export class Collect {
  private readonly buf: GPUBuffer;
  private at = 0;
  private readonly slices: [number, number][] = [];

  constructor(private readonly g: GpuContext, readonly bytes: number, private readonly label: string) {
    this.buf = staging(g, Math.max(4, bytes), label);
  }

  /** Copies `ranges` in (after the work submitted so far); returns their indices in what `read` returns. */
  add(ranges: ReadRange[]): number[] {
    const enc = this.g.device.createCommandEncoder({ label: this.label });
    const ids = ranges.map((r) => {
      const n = rangeBytes(r);
      if (this.at + n > this.bytes) throw new Error(`${this.label}: ${this.at + n} bytes collected, ${this.bytes} reserved`);
      if (n > 0) enc.copyBufferToBuffer(r.view.buffer, r.view.offset + (r.elemOffset ?? 0) * 4, this.buf, this.at, n);
      this.slices.push([this.at, this.at + n]);
      this.at += n;
      return this.slices.length - 1;
    });
    submitCommands(this.g, enc.finish());
    return ids;
  }

  /** Waits for everything submitted, maps once, and returns every added range (in the order added). */
  async read(): Promise<Float32Array[]> {
    const { g, buf } = this;
    const bytes = Math.max(4, this.at);
    await settle(g);
    await quietly(buf.mapAsync(GPUMapMode.READ, 0, bytes), g);
    const all = buf.getMappedRange(0, bytes);
    const out = this.slices.map(([a, b]) => new Float32Array(all.slice(a, b)));
    buf.unmap();
    giveBuffer(g, buf);
    if (g.lostMessage) throw new Error(g.lostMessage);
    return out;
  }
}
