/**
 * Dispatch builders for shaders/analysis/: cell means from the fixed-point accumulators, fusion of mean vectors,
 * the radix select of the top-k threshold, and the prune masks (top-k, or a host-chosen unit list). Each builder
 * only *describes* dispatches; the caller records them with `submit`/`encodeDispatches`. Sizes travel in uniforms,
 * so one pipeline per (entry, override constants) serves every N.
 */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch, type Kernel } from '../gpu/pipelines.ts';

export const CELL_MEAN = defineKernel({
  shader: 'analysis/cell_mean.wgsl',
  bindings: { acc: 'read', mean: 'rw', p: 'uniform' },
  params: { R: 'u32', count: 'u32', which: 'u32', accOff: 'u32' },
});
export const FUSE = defineKernel({
  shader: 'analysis/fuse.wgsl',
  bindings: { out: 'rw', in0: 'read', in1: 'read', in2: 'read', in3: 'read', in4: 'read', in5: 'read', p: 'uniform' },
  params: { R: 'u32', n: 'u32', carry: 'u32', D: 'u32' },
});
export const SELECT = defineKernel({
  shader: 'analysis/select.wgsl',
  entries: ['init', 'hist', 'scan'],
  bindings: { scores: 'read', sel: 'rw', p: 'uniform' },
  params: { N: 'u32', k: 'u32', shift: 'u32' },
});
export const SELECT_MASK = defineKernel({
  shader: 'analysis/select_mask.wgsl',
  entries: ['count_eq', 'scan_blocks', 'write_mask'],
  bindings: { scores: 'read', sel: 'read', blocks: 'rw', mask: 'rw', p: 'uniform' },
  params: { N: 'u32', nb: 'u32' },
});
export const MASK = defineKernel({
  shader: 'analysis/mask.wgsl',
  entries: ['fill', 'scatter'],
  bindings: { mask: 'rw', units: 'read', p: 'uniform' },
  params: { N: 'u32', n: 'u32' },
});

/** Words of the selection state: histogram (256), then prefix, fixed bits, rest, NaN count (+ padding). */
export const SEL_WORDS = 264;
export const SEL = { prefix: 256, fixed: 257, rest: 258, nan: 259 } as const;
/** Scores per workgroup of a histogram pass (256 lanes × HIST_ITEMS). */
export const HIST_ITEMS = 16;
/** Units per workgroup of the mask kernels (256 lanes × 4); select_mask.wgsl's PER. */
export const MASK_BLOCK = 1024;
/** Mean vectors one fuse dispatch adds (bindings in1..in5 of fuse.wgsl, plus in0). */
export const FUSE_INPUTS = 6;

function need(label: string, v: View, what: string, elems: number): void {
  if (v.size < elems * 4) throw new Error(`${label}: view '${v.name}' (${what}) holds ${v.size / 4} elements, needs ${elems}; allocate it for the full vector`);
}

export interface CellMeanArgs {
  label: string;
  acc: View;       // (accOff + R, 6) u32 fixed-point words, as shaders/ig/aggregate.wgsl writes them
  mean: View;      // (R) f32 out
  R: number;
  count: number;   // pairs in the cell, 1 ≤ count < 2^31
  which?: 0 | 1;   // 0: sum (default), 1: sum of squares
  accOff?: number; // in units: a segment's slice of a `.seg` accumulator
}

export async function cellMean(g: Gpu, a: CellMeanArgs): Promise<Dispatch> {
  if (!(Number.isInteger(a.count) && a.count >= 1 && a.count < 2 ** 31)) {
    throw new Error(`${a.label}: pair count ${a.count} is not an integer in [1, 2^31); a mean needs at least one pair`);
  }
  const accOff = a.accOff ?? 0;
  need(a.label, a.acc, 'accumulator words', (accOff + a.R) * 6);
  need(a.label, a.mean, 'mean', a.R);
  const k = await g.pipelines.get(CELL_MEAN);
  const p = createParams(g, CELL_MEAN, `${a.label} params`, { R: a.R, count: a.count, which: a.which ?? 0, accOff });
  return dispatch(g, k, a.label, { acc: a.acc, mean: a.mean, p }, grid(g, Math.ceil(a.R / 256)));
}

export interface FuseArgs {
  label: string;
  out: View;      // (R) f32: (Σ_d inputs[d]) / D
  inputs: View[]; // D of (R) f32, none aliasing out
  R: number;
}

/** ceil(D / 6) chained dispatches; the last divides by D. */
export async function fuse(g: Gpu, a: FuseArgs): Promise<Dispatch[]> {
  const D = a.inputs.length;
  if (D === 0) throw new Error(`${a.label}: no mean vectors to fuse; give at least one dataset`);
  need(a.label, a.out, 'fusion', a.R);
  a.inputs.forEach((v, i) => need(a.label, v, `input ${i}`, a.R));
  const k = await g.pipelines.get(FUSE);
  const ds: Dispatch[] = [];
  for (let d0 = 0; d0 < D; d0 += FUSE_INPUTS) {
    const ins = a.inputs.slice(d0, d0 + FUSE_INPUTS);
    const last = d0 + FUSE_INPUTS >= D;
    const p = createParams(g, FUSE, `${a.label} params ${d0}`, { R: a.R, n: ins.length, carry: d0 > 0 ? 1 : 0, D: last ? D : 0 });
    const res = { out: a.out, in0: ins[0], in1: ins[1], in2: ins[2], in3: ins[3], in4: ins[4], in5: ins[5], p }; // past ins.length: unused
    ds.push(dispatch(g, k, `${a.label} [${d0}, ${d0 + ins.length})`, res, grid(g, Math.ceil(a.R / 256))));
  }
  return ds;
}

export interface SelectArgs {
  label: string;
  scores: View;   // (N) f32
  sel: View;      // (SEL_WORDS) u32 state; after these dispatches sel[256] = threshold key, sel[258] = ties to take
  N: number;
  k: number;      // 1 ≤ k ≤ N
  absolute?: boolean;
}

/** init, then (hist, scan) for the digits at shifts 24, 16, 8, 0: 9 dispatches, no host round trip. */
export async function selectThreshold(g: Gpu, a: SelectArgs): Promise<Dispatch[]> {
  if (!(Number.isInteger(a.k) && a.k >= 1 && a.k <= a.N)) throw new Error(`${a.label}: selection rank k = ${a.k} is outside [1, ${a.N}]`);
  need(a.label, a.scores, 'scores', a.N);
  need(a.label, a.sel, 'selection state', SEL_WORDS);
  const [init, hist, scan] = await Promise.all([
    g.pipelines.get(SELECT, { entry: 'init' }),
    g.pipelines.get(SELECT, { entry: 'hist', constants: { ABSOLUTE: !!a.absolute, ITEMS: HIST_ITEMS } }),
    g.pipelines.get(SELECT, { entry: 'scan' }),
  ]);
  const tiles = grid(g, Math.ceil(a.N / (256 * HIST_ITEMS)));
  const initParams = createParams(g, SELECT, `${a.label} init params`, { N: a.N, k: a.k, shift: 0 });
  const ds = [dispatch(g, init, `${a.label} init`, { scores: a.scores, sel: a.sel, p: initParams }, [1])];
  for (const shift of [24, 16, 8, 0]) {
    const p = createParams(g, SELECT, `${a.label} params >>${shift}`, { N: a.N, k: a.k, shift });
    ds.push(dispatch(g, hist, `${a.label} histogram >>${shift}`, { scores: a.scores, sel: a.sel, p }, tiles));
    ds.push(dispatch(g, scan, `${a.label} digit >>${shift}`, { scores: a.scores, sel: a.sel, p }, [1]));
  }
  return ds;
}

export interface SelectMaskArgs {
  label: string;
  scores: View;   // (N) f32, the same vector the threshold was selected on
  sel: View;      // (SEL_WORDS) u32 state written by selectThreshold
  blocks: View;   // (ceil(N / MASK_BLOCK)) u32 scratch
  mask: View;     // (N) f32 out: 0 selected (prune), 1 keep
  N: number;
  absolute?: boolean;
}

/** count_eq, scan_blocks, write_mask: exactly k zeros, ties at the threshold lowest index first. */
export async function selectMask(g: Gpu, a: SelectMaskArgs): Promise<Dispatch[]> {
  const nb = Math.ceil(a.N / MASK_BLOCK);
  need(a.label, a.scores, 'scores', a.N);
  need(a.label, a.sel, 'selection state', SEL_WORDS);
  need(a.label, a.blocks, 'block counts', nb);
  need(a.label, a.mask, 'mask', a.N);
  const constants = { ABSOLUTE: !!a.absolute };
  const [count, scan, write] = await Promise.all([
    g.pipelines.get(SELECT_MASK, { entry: 'count_eq', constants }),
    g.pipelines.get(SELECT_MASK, { entry: 'scan_blocks' }),
    g.pipelines.get(SELECT_MASK, { entry: 'write_mask', constants }),
  ]);
  const p = createParams(g, SELECT_MASK, `${a.label} params`, { N: a.N, nb });
  const res = { scores: a.scores, sel: a.sel, blocks: a.blocks, mask: a.mask, p };
  return [
    dispatch(g, count, `${a.label} count ties`, res, grid(g, nb)),
    dispatch(g, scan, `${a.label} scan ties`, res, [1]),
    dispatch(g, write, `${a.label} write mask`, res, grid(g, nb)),
  ];
}

export interface UnitMaskArgs {
  label: string;
  mask: View;     // (N) f32 out
  units?: View;   // (n) u32 unit indices to prune; absent: fill only
  N: number;
  n?: number;
}

/** fill(1), then scatter(0) over the listed units when there are any. */
export async function unitMask(g: Gpu, a: UnitMaskArgs): Promise<Dispatch[]> {
  const n = a.n ?? 0;
  need(a.label, a.mask, 'mask', a.N);
  if (n > 0) {
    if (!a.units) throw new Error(`${a.label}: ${n} units announced but no units view given`);
    need(a.label, a.units, 'units', n);
  }
  const [fill, scatter] = await Promise.all([
    g.pipelines.get(MASK, { entry: 'fill' }),
    g.pipelines.get(MASK, { entry: 'scatter' }),
  ]);
  const p = createParams(g, MASK, `${a.label} params`, { N: a.N, n });
  const ds = [dispatch(g, fill, `${a.label} fill`, { mask: a.mask, units: null, p }, grid(g, Math.ceil(a.N / 256)))];
  if (n > 0) ds.push(dispatch(g, scatter, `${a.label} scatter`, { mask: a.mask, units: a.units!, p }, grid(g, Math.ceil(n / 256))));
  return ds;
}

/** Every pipeline a pruning run's selection uses (cell means, fusion, top-k threshold and mask, unit masks), so that
 * they are compiled in one round before the first selection (src/gpu/compile.ts) rather than one at a time. */
export async function analysisKernels(g: Gpu, absolute = false): Promise<Kernel[]> {
  const constants = { ABSOLUTE: absolute };
  return Promise.all([
    g.pipelines.get(CELL_MEAN), g.pipelines.get(FUSE),
    g.pipelines.get(SELECT, { entry: 'init' }), g.pipelines.get(SELECT, { entry: 'hist', constants: { ABSOLUTE: absolute, ITEMS: HIST_ITEMS } }), g.pipelines.get(SELECT, { entry: 'scan' }),
    g.pipelines.get(SELECT_MASK, { entry: 'count_eq', constants }), g.pipelines.get(SELECT_MASK, { entry: 'scan_blocks' }), g.pipelines.get(SELECT_MASK, { entry: 'write_mask', constants }),
    g.pipelines.get(MASK, { entry: 'fill' }), g.pipelines.get(MASK, { entry: 'scatter' }),
  ] as Promise<Kernel>[]);
}
