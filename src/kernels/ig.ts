/** Dispatch builders for shaders/ig/ (path sums, their Richardson combination, segment reductions). */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, defineVariants, dispatch, grid, writeParams, type Dispatch } from '../gpu/pipelines.ts';

/** The path sum, one template (shaders/ig/conductance.wgsl) in two variants: 'gpu', one element per invocation, and
 * 'cpu', the CPU class (software WebGPU): the same bindings, params and arithmetic, W = 4 elements per invocation with
 * vec4 loads; chosen by `conductance` on a CPU-class device when R and outOff are multiples of 4. */
export const CONDUCTANCE = defineVariants({
  shader: 'ig/conductance.wgsl',
  bindings: { y: 'read', g: 'read', out: 'rw', carry: 'rw', p: 'uniform' },
  params: { R: 'u32', k0: 'u32', count: 'u32', outOff: 'u32', rowOff: 'u32', wr: 'f32', wl: 'f32' },
}, { gpu: { W: 1 }, cpu: { W: 4 } });
export const SEGMENTS = defineKernel({
  shader: 'ig/segments.wgsl',
  bindings: { inp: 'read', total: 'rw', seg: 'rw', p: 'uniform' },
  params: { L: 'u32', T: 'u32', U: 'u32', sep1: 'u32', len: 'u32', passage: 'u32', cols: 'u32' },
});
export const AGGREGATE = defineKernel({
  shader: 'ig/aggregate.wgsl',
  bindings: { vals: 'read', acc: 'rw', p: 'uniform' },
  params: { R: 'u32' },
});
export const COMBINE = defineKernel({
  shader: 'ig/combine.wgsl',
  bindings: { a: 'rw', b: 'read', p: 'uniform' },
  params: { R: 'u32', ca: 'f32', cb: 'f32' },
});
export const STASH = defineKernel({
  shader: 'ig/stash.wgsl',
  bindings: { src: 'read', dst: 'rw', p: 'uniform' },
  params: { R: 'u32', count: 'u32', rowOff: 'u32', base: 'u32' },
});
export const PATH_SUM = defineKernel({
  shader: 'ig/path_sum.wgsl',
  bindings: { y: 'read', g: 'read', idx: 'read', out: 'rw', p: 'uniform' },
  params: { R: 'u32', n: 'u32', stride: 'u32', outOff: 'u32', wr: 'f32', wl: 'f32' },
});
export const WEIGHTED_SUM = defineKernel({
  shader: 'ig/weighted_sum.wgsl',
  bindings: { g: 'read', w: 'read', out: 'rw', p: 'uniform' },
  params: { R: 'u32', count: 'u32', rowOff: 'u32' },
});

export interface ConductanceArgs {
  label: string;
  y: View; g: View;     // (P, R) activation and its gradient at each point of the chunk
  out: View;            // (outOff + R) accumulated sum
  outOff?: number;      // element offset into out (a layer's slice)
  rowOff?: number;      // first batch row of this pair (pairs sharing a batch)
  carry: View;          // (2, R) last (y, g) of the previous chunk
  R: number;
  yGelu?: boolean;      // y = gelu(saved pre-activation)
  stride?: number;      // sum over every stride-th point only (default 1: all points)
}

/** Returns the dispatch and its uniform, rewritten per chunk with `setConductanceChunk`. */
export async function conductance(g: Gpu, a: ConductanceArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  // (stride 1 passes no STRIDE constant: the plain sum keeps its pipeline)
  const cpu = g.kernels === 'cpu' && a.R % 4 === 0 && (a.outOff ?? 0) % 4 === 0 && [a.y, a.g, a.out, a.carry].every((v) => v.offset % 16 === 0);
  const k = await g.pipelines.get(CONDUCTANCE[cpu ? 'cpu' : 'gpu'], { constants: { Y_GELU: !!a.yGelu, ...(a.stride && a.stride > 1 ? { STRIDE: a.stride } : {}) } });
  const params = createParams(g, CONDUCTANCE.gpu, `${a.label} params`, { R: a.R, k0: 0, count: 0, outOff: a.outOff ?? 0, rowOff: a.rowOff ?? 0, wr: 1, wl: 0 });
  return { d: dispatch(g, k, a.label, { y: a.y, g: a.g, out: a.out, carry: a.carry, p: params }, grid(g, Math.ceil(a.R / 256))), params }; // (CPU class: 64 invocations × 4 elements)
}

/** Rewrites a conductance uniform for one chunk: points k0..k0+count-1, right/left rule weights wr, wl. */
export function setConductanceChunk(g: Gpu, params: GPUBuffer, R: number, outOff: number, rowOff: number, k0: number, count: number, wr: number, wl: number): void {
  writeParams(g, CONDUCTANCE.gpu, params, { R, k0, count, outOff, rowOff, wr, wl });
}

/** a = ca·a + cb·b over R elements, in place (Richardson: ca = 4/3, cb = −1/3). */
export async function combine(g: Gpu, v: { label: string; a: View; b: View; R: number; ca: number; cb: number }): Promise<Dispatch> {
  const k = await g.pipelines.get(COMBINE);
  const p = createParams(g, COMBINE, `${v.label} params`, { R: v.R, ca: v.ca, cb: v.cb });
  return dispatch(g, k, v.label, { a: v.a, b: v.b, p }, grid(g, Math.ceil(v.R / 256)));
}

export interface SegmentsArgs {
  label: string;
  inp: View;      // (L, T, U·cols)
  total: View;    // (L, U)
  seg: View;      // (5, L, U)
  L: number; T: number; U: number;
  cols?: number;  // columns per unit (heads: HS), default 1
}

/** Returns the dispatch and its uniform, rewritten per pair with `setSegments`. */
export async function segments(g: Gpu, a: SegmentsArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  const k = await g.pipelines.get(SEGMENTS);
  const params = createParams(g, SEGMENTS, `${a.label} params`, { L: a.L, T: a.T, U: a.U, sep1: 1, len: a.T, passage: 2, cols: a.cols ?? 1 });
  return { d: dispatch(g, k, a.label, { inp: a.inp, total: a.total, seg: a.seg, p: params }, grid(g, Math.ceil((a.L * a.U) / 256))), params };
}

/** `passage`: the passage's first token (sep1 + 1 with one separator; XLM-R's `</s></s>` make it sep1 + 2). */
export function setSegments(g: Gpu, params: GPUBuffer, L: number, T: number, U: number, sep1: number, len: number, passage = sep1 + 1, cols = 1): void {
  writeParams(g, SEGMENTS, params, { L, T, U, sep1, len, passage, cols });
}

export interface AggregateArgs {
  label: string;
  vals: View;   // (R) f32
  acc: View;    // (R, 6) u32 fixed-point accumulators
  R: number;
}

export async function aggregate(g: Gpu, a: AggregateArgs): Promise<Dispatch> {
  const k = await g.pipelines.get(AGGREGATE);
  const p = createParams(g, AGGREGATE, `${a.label} params`, { R: a.R });
  return dispatch(g, k, a.label, { vals: a.vals, acc: a.acc, p }, grid(g, Math.ceil(a.R / 256)));
}

export interface WeightedSumArgs {
  label: string;
  g: View;      // (P, R)
  w: View;      // (P) row weights
  out: View;    // (R)
  R: number;
}

/** Returns the dispatch and its uniform (count 0: adds nothing), rewritten per chunk with `setWeightedSum`. */
export async function weightedSum(g: Gpu, a: WeightedSumArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  const k = await g.pipelines.get(WEIGHTED_SUM);
  const params = createParams(g, WEIGHTED_SUM, `${a.label} params`, { R: a.R, count: 0, rowOff: 0 });
  return { d: dispatch(g, k, a.label, { g: a.g, w: a.w, out: a.out, p: params }, grid(g, Math.ceil(a.R / 256))), params };
}

/** Rewrites a weighted-sum uniform: rows rowOff..rowOff+count-1 of the chunk. */
export function setWeightedSum(g: Gpu, params: GPUBuffer, v: { R: number; count: number; rowOff: number }): void {
  writeParams(g, WEIGHTED_SUM, params, v);
}

/** Both kernels below load vec4s: every size and offset a multiple of 4 elements, every view 16-byte aligned. */
function checkVec4(what: string, R: number, off: number, views: View[]): void {
  if (R % 4 !== 0 || off % 4 !== 0 || views.some((v) => v.offset % 16 !== 0)) throw new Error(`${what}: R ${R} and offset ${off} must be multiples of 4 and the views 16-byte aligned`);
}

export interface StashArgs {
  label: string;
  src: View;      // (P, R) one activation or gradient of the chunk
  dst: View;      // (capacity, R) a pair's point store
  R: number;
}

/** Copies rows of a chunk into a point store; the uniform (which rows, where) is rewritten per chunk with `setStash`. */
export async function stash(g: Gpu, a: StashArgs): Promise<{ d: Dispatch; params: GPUBuffer }> {
  checkVec4(a.label, a.R, 0, [a.src, a.dst]);
  const k = await g.pipelines.get(STASH);
  const params = createParams(g, STASH, `${a.label} params`, { R: a.R, count: 0, rowOff: 0, base: 0 });
  return { d: dispatch(g, k, a.label, { src: a.src, dst: a.dst, p: params }, grid(g, Math.ceil(a.R / 256))), params };
}

/** Rewrites a stash uniform: chunk rows rowOff..rowOff+count−1 go to store rows base..base+count−1. */
export function setStash(g: Gpu, params: GPUBuffer, v: { R: number; count: number; rowOff: number; base: number }): void {
  writeParams(g, STASH, params, v);
}

export interface PathSumArgs {
  label: string;
  y: View; g: View;   // (capacity, R) a pair's point store
  idx: View;          // (m + 1) u32: the store row of α = k/m
  out: View;          // (outOff + R)
  R: number;
  outOff?: number;
  n: number;          // steps summed: m / stride
  stride: number;     // 1: all points; 2, 4: every 2nd, 4th (the rule at m/2, m/4)
  wr: number; wl: number; // the rule's weights of g at the right and left end of a step
  yGelu?: boolean;
}

/** The rule's sum of one activation over the stored points (path_sum.wgsl). */
export async function pathSum(g: Gpu, a: PathSumArgs): Promise<Dispatch> {
  checkVec4(a.label, a.R, a.outOff ?? 0, [a.y, a.g, a.out]);
  const k = await g.pipelines.get(PATH_SUM, { constants: { Y_GELU: !!a.yGelu } });
  const p = createParams(g, PATH_SUM, `${a.label} params`, { R: a.R, n: a.n, stride: a.stride, outOff: a.outOff ?? 0, wr: a.wr, wl: a.wl });
  return dispatch(g, k, a.label, { y: a.y, g: a.g, idx: a.idx, out: a.out, p }, grid(g, Math.ceil(a.R / 256)));
}
