/** Dispatch builders for shaders/ig/ (path sums and segment reductions). */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { dispatch, grid, uniform, type Dispatch } from '../gpu/pipelines.ts';

export interface ConductanceArgs {
  label: string;
  y: View; g: View;     // (P, R) activation and its gradient at each point of the chunk
  out: View;            // (outOff + R) accumulated sum
  outOff?: number;      // element offset into out (a layer's slice)
  rowOff?: number;      // first batch row of this pair (pairs sharing a batch)
  carry: View;          // (2, R) last (y, g) of the previous chunk
  R: number;
  yGelu?: boolean;      // y = gelu(saved pre-activation)
}

/** Returns the dispatch and its uniform, rewritten per chunk with `setConductanceChunk`. */
export async function conductance(g: Gpu, a: ConductanceArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  const k = await g.pipelines.get({
    shader: 'ig/conductance.wgsl',
    bindings: ['read', 'read', 'rw', 'rw', 'uniform'],
    constants: { Y_GELU: !!a.yGelu },
  });
  const params = uniform(g, `${a.label} params`, [a.R, 0, 0, a.outOff ?? 0, a.rowOff ?? 0, 0, 0, 0], [1, 0]);
  return { d: dispatch(g, k, a.label, [a.y, a.g, a.out, a.carry, params], grid(g, Math.ceil(a.R / 256))), params };
}

export function setConductanceChunk(g: Gpu, params: GPUBuffer, R: number, outOff: number, rowOff: number, k0: number, count: number, wr: number, wl: number): void {
  const ab = new ArrayBuffer(48);
  new Uint32Array(ab, 0, 8).set([R, k0, count, outOff, rowOff, 0, 0, 0]);
  new Float32Array(ab, 32, 2).set([wr, wl]);
  g.device.queue.writeBuffer(params, 0, ab);
}

export interface SegmentsArgs {
  label: string;
  inp: View;      // (L, T, U)
  total: View;    // (L, U)
  seg: View;      // (5, L, U)
  L: number; T: number; U: number;
}

export async function segments(g: Gpu, a: SegmentsArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  const k = await g.pipelines.get({ shader: 'ig/segments.wgsl', bindings: ['read', 'rw', 'rw', 'uniform'] });
  const params = uniform(g, `${a.label} params`, [a.L, a.T, a.U, 1, a.T]);
  return { d: dispatch(g, k, a.label, [a.inp, a.total, a.seg, params], grid(g, Math.ceil((a.L * a.U) / 256))), params };
}

export function setSegments(g: Gpu, params: GPUBuffer, L: number, T: number, U: number, sep1: number, len: number): void {
  g.device.queue.writeBuffer(params, 0, new Uint32Array([L, T, U, sep1, len, 0, 0, 0]));
}

export interface AggregateArgs {
  label: string;
  vals: View;   // (R) f32
  acc: View;    // (R, 6) u32 fixed-point accumulators
  R: number;
}

export async function aggregate(g: Gpu, a: AggregateArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({ shader: 'ig/aggregate.wgsl', bindings: ['read', 'rw', 'uniform'] });
  const params = uniform(g, `${a.label} params`, [a.R, 0, 0, 0]);
  return dispatch(g, k, a.label, [a.vals, a.acc, params], grid(g, Math.ceil(a.R / 256)));
}

export interface WeightedSumArgs {
  label: string;
  g: View;      // (P, R)
  w: View;      // (P) row weights
  out: View;    // (R)
  R: number;
}

export async function weightedSum(g: Gpu, a: WeightedSumArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  const k = await g.pipelines.get({ shader: 'ig/weighted_sum.wgsl', bindings: ['read', 'read', 'rw', 'uniform'] });
  const params = uniform(g, `${a.label} params`, [a.R, 0, 0, 0]);
  return { d: dispatch(g, k, a.label, [a.g, a.w, a.out, params], grid(g, Math.ceil(a.R / 256))), params };
}
