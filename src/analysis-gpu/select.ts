/**
 * Top-k selection and prune masks on the device: the GPU counterparts of src/analysis/rankings.ts `topK` /
 * `thresholdValue` and src/analysis/pruning.ts `maskFromUnits`, on the score views the attribution and
 * shaders/analysis/cell_mean.wgsl leave on the GPU. The threshold is found by a radix select
 * (shaders/analysis/select.wgsl), the mask written by shaders/analysis/select_mask.wgsl with the same tie rule
 * (equal keys: lower index first), and `writeLayerMasks` copies it into BertGpu's `mask.<l>` weight views with
 * buffer copies. Nothing goes through the host except what a report asks for (`threshold()`, `units()`).
 *
 * Masks are flat over layers: mask[u], u = layer · d_ff + neuron, 0 = selected (prune), 1 = keep.
 */
import type { Gpu } from '../gpu/device.ts';
import { writeView, type View } from '../gpu/arena.ts';
import { readView, submit, submitCommands } from '../gpu/queue.ts';
import type { BertGpu } from '../model/forward.ts';
import type { RankOptions } from '../analysis/rankings.ts';
import { assertUnitSet } from '../analysis/rankings.ts';
import { UserError } from '../util/errors.ts';
import { MASK_BLOCK, SEL, SEL_WORDS, selectMask, selectThreshold, unitMask } from '../kernels/analysis.ts';
import { ownView } from './scores.ts';

export interface Selection {
  /** (N) f32: 0 for the k selected units, 1 for the rest */
  mask: View;
  /**
   * The k-th largest ranking key (|score| with `absolute`; a zero threshold is +0), read back from the device:
   * equals thresholdValue(scores, k) on the same f32 values. Throws when k = 0 or a score is NaN.
   */
  threshold(): Promise<number>;
  /** The selected units, ascending (reads the mask back; for reports and tests). */
  units(): Promise<Uint32Array>;
  /** Frees the selection's buffers (the mask too, unless it was passed in as `out`). */
  destroy(): void;
}

export interface SelectOptions extends RankOptions {
  /** write the mask here (N f32) instead of a new buffer; must not alias the scores */
  out?: View;
}

/** Bits of an order-preserving u32 key back to its f32 value (inverse of analysis/keys.wgsl's rank_key). */
export function keyToValue(key: number): number {
  const bits = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  return new Float32Array(new Uint32Array([bits]).buffer)[0];
}

async function maskUnits(g: Gpu, mask: View, N: number): Promise<Uint32Array> {
  const m = await readView(g, mask, N);
  const out: number[] = [];
  for (let u = 0; u < N; u++) if (m[u] === 0) out.push(u);
  return Uint32Array.from(out);
}

/**
 * Selects the top k of N scores (ranking key descending, ties lowest index first) and writes their prune mask.
 * 0 ≤ k ≤ N; k = 0 gives an all-keep mask. The work is submitted before this resolves; reading the mask or the
 * threshold later waits for it.
 */
export async function selectTopMask(g: Gpu, scores: View, N: number, k: number, opts: SelectOptions = {}): Promise<Selection> {
  if (!(Number.isInteger(N) && N >= 1 && N * 4 <= scores.size)) {
    throw new UserError(`top-k selection over N = ${N} units, but the score view '${scores.name}' holds ${scores.size / 4}; pass N = layers x d_ff of the scored vector`);
  }
  if (!(Number.isInteger(k) && k >= 0 && k <= N)) throw new UserError(`top-k size ${k} is outside [0, ${N}] (the number of units); ask for at most every unit`);
  const label = `top ${k} of ${N}${opts.absolute ? ' |score|' : ''}`;
  const mask = opts.out ?? ownView(g, `${label} mask`, N);
  const sel = ownView(g, `${label} state`, SEL_WORDS);
  const blocks = ownView(g, `${label} blocks`, Math.ceil(N / MASK_BLOCK));
  const ds = k === 0
    ? await unitMask(g, { label, mask, N })
    : [
      ...await selectThreshold(g, { label, scores, sel, N, k, absolute: opts.absolute }),
      ...await selectMask(g, { label, scores, sel, blocks, mask, N, absolute: opts.absolute }),
    ];
  await submit(g, ds, label);
  return {
    mask,
    async threshold() {
      if (k === 0) throw new UserError('an empty selection (k = 0) has no threshold; ask for k >= 1');
      const s = new Uint32Array((await readView(g, sel, 4, SEL.prefix)).buffer);
      const nan = s[SEL.nan - SEL.prefix];
      if (nan > 0) throw new UserError(`${nan} of ${N} scores are NaN; check the attributions (a NaN there usually means an overflow upstream)`);
      return keyToValue(s[0]);
    },
    units: () => maskUnits(g, mask, N),
    destroy() {
      sel.buffer.destroy();
      blocks.buffer.destroy();
      if (!opts.out) mask.buffer.destroy();
    },
  };
}

/**
 * Prune mask of a unit list chosen on the host (the random baselines: src/analysis/pruning.ts randomUnits):
 * fill 1, then scatter 0 at `units` (a set: strictly ascending, each < N). Only the list is uploaded.
 */
export async function randomMask(g: Gpu, units: ArrayLike<number>, N: number, opts: { out?: View } = {}): Promise<View> {
  assertUnitSet(units, 'random prune units');
  if (units.length && !(Number.isInteger(units[0]) && units[0] >= 0 && units[units.length - 1] < N)) {
    throw new UserError(`pruned unit ${units[0] < 0 ? units[0] : units[units.length - 1]} is outside [0, ${N}) (layers x d_ff); check the unit set against the model`);
  }
  const mask = opts.out ?? ownView(g, `mask of ${units.length} units`, N);
  let list: View | undefined;
  if (units.length) {
    list = ownView(g, `prune list of ${units.length}`, units.length);
    writeView(g, list, Uint32Array.from(units));
  }
  await submit(g, await unitMask(g, { label: `mask of ${units.length} units`, mask, units: list, N, n: units.length }), 'random mask');
  if (list) {
    const b = list.buffer;
    void g.device.queue.onSubmittedWorkDone().then(() => b.destroy());
  }
  return mask;
}

/**
 * Copies a flat (layers · d_ff) mask into the model's per-layer FFN masks `mask.<l>` (GPU buffer copies, one
 * per layer, in one submit). Later forwards of `model` prune the units with mask 0.
 */
export function writeLayerMasks(g: Gpu, model: BertGpu, mask: View): void {
  const { layers: L, intermediate: F } = model.cfg;
  if (mask.size < L * F * 4) throw new UserError(`prune mask '${mask.name}' holds ${mask.size / 4} values, the model has ${L} layers x ${F} neurons = ${L * F}; select over that many units`);
  if (g.lostMessage) throw new Error(g.lostMessage);
  const enc = g.device.createCommandEncoder({ label: 'write layer masks' });
  for (let l = 0; l < L; l++) {
    const dst = model.wv.layers[l].mask;
    enc.copyBufferToBuffer(mask.buffer, mask.offset + l * F * 4, dst.buffer, dst.offset, F * 4);
  }
  submitCommands(g, enc.finish());
}
