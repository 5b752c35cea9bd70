/**
 * Aggregated scores on the device: the mean NIG per unit of a (dataset, label) cell, decoded straight from the
 * cell's fixed-point accumulator (src/ig/cells.ts), and the fusion of per-dataset means. The GPU counterparts of
 * src/analysis/schemes.ts `cellMean` and `fuseMeans`; nothing is read back.
 *
 * Ownership: a returned view that was not passed in as `out` owns its buffer (`view.buffer.destroy()` frees it).
 */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { submit } from '../gpu/queue.ts';
import type { CellAccumulators } from '../ig/cells.ts';
import { SEGMENTS, type Segment } from '../analysis/schemes.ts';
import { UserError } from '../util/errors.ts';
import { cellMean, fuse } from '../kernels/analysis.ts';

/** A storage view of `elems` 4-byte elements in a buffer of its own. */
export function ownView(g: Gpu, name: string, elems: number): View {
  const size = Math.max(4, elems * 4);
  const buffer = g.device.createBuffer({ label: name, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
  return { name, buffer, offset: 0, size };
}

export interface MeanOptions {
  /** rank one segment's mean instead of the whole pair's (the `.seg` accumulator's slice) */
  segment?: Segment;
  /** decode the sums (default) or the sums of squares */
  which?: 'sum' | 'sumSq';
  /** write here (units f32) instead of a new buffer */
  out?: View;
}

/**
 * Mean score per unit of `cell` (units f32): the 96-bit sum × 2^-40 / count, correctly rounded to f32 (see
 * shaders/analysis/cell_mean.wgsl). `count` is the cell's number of pairs, which the host keeps.
 */
export async function meanScores(g: Gpu, cells: CellAccumulators, cell: string, count: number, opts: MeanOptions = {}): Promise<View> {
  if (!cells.cells.includes(cell)) throw new UserError(`no accumulator cell '${cell}' (cells: ${cells.cells.join(', ') || 'none'}); aggregate that (dataset, label) first`);
  if (!(Number.isInteger(count) && count >= 1 && count < 2 ** 31)) {
    throw new UserError(`cell '${cell}' has pair count ${count}; a mean needs an integer count in [1, 2^31) (drop the cell or add pairs)`);
  }
  const R = cells.units;
  const s = opts.segment === undefined ? -1 : SEGMENTS.indexOf(opts.segment);
  if (opts.segment !== undefined && s < 0) throw new UserError(`unknown segment '${opts.segment}'; known: ${SEGMENTS.join(', ')}`);
  const acc = cells.arena.view(s < 0 ? `${cell}.total` : `${cell}.seg`);
  const out = opts.out ?? ownView(g, `mean ${cell}${s < 0 ? '' : ` ${opts.segment}`}`, R);
  const d = await cellMean(g, { label: `mean ${cell}`, acc, mean: out, R, count, which: opts.which === 'sumSq' ? 1 : 0, accOff: s < 0 ? 0 : s * R });
  await submit(g, [d], `mean ${cell}`);
  return out;
}

export interface FuseOptions {
  /** units per vector; default: the first view's length */
  N?: number;
  /** write here (N f32) instead of a new buffer; must not alias an input */
  out?: View;
}

/** Fusion vector: entry-wise (Σ_d views[d]) / D, summed in dataset order (see shaders/analysis/fuse.wgsl). */
export async function fuseScores(g: Gpu, views: readonly View[], opts: FuseOptions = {}): Promise<View> {
  if (views.length === 0) throw new UserError('fusion: no dataset mean vectors given; a group needs at least one dataset');
  const N = opts.N ?? views[0].size / 4;
  for (const v of views) {
    if (v.size < N * 4) throw new UserError(`fusion: mean vector '${v.name}' holds ${v.size / 4} units, expected ${N}; give every dataset the same units`);
  }
  const out = opts.out ?? ownView(g, `fusion of ${views.length}`, N);
  await submit(g, await fuse(g, { label: 'fusion', out, inputs: [...views], R: N }), 'fusion');
  return out;
}
