/**
 * The attribution buffers beside a plan's activations (src/model/layout.ts): per pair sharing the batch (slot),
 * the NIG sums of every FFN unit per token, the hidden-state and embedding sums, the last point of the previous
 * chunk of each (carries), and the per-segment reductions; for plain IG, the row weights and the weighted
 * gradient sum. The NIG engine sizes its chunks from these tables plus the activation table.
 */
import { activationLayout, LayoutBuilder, type ActivationLayout, type AttentionSaved, type Layout } from '../model/layout.ts';
import type { BertConfig } from '../model/types.ts';
import { embeddingSize } from '../model/config.ts';

export interface SlotHandles {
  nigPre: string;       // (L, T, d_ff) Σ over points of NIG before GELU, per token
  nigPost: string;      // (L, T, d_ff) after GELU
  carryPre: string[];   // per layer (2, T, d_ff): (y, g) at the last point of the previous chunk
  carryPost: string[];  // per layer (2, T, d_ff)
  hid: string[];        // per hidden state 0..L (T, C): NIG of the hidden states (completeness cuts)
  carryHid: string[];   // per hidden state (2, T, C)
  igE: string;          // (T, E) IG of the word embeddings
  carryE: string;       // (2, T, E)
  preTotal: string;     // (L, d_ff) summed over tokens
  preSeg: string;       // (5, L, d_ff) per segment
  postTotal: string;    // (L, d_ff)
  postSeg: string;      // (5, L, d_ff)
  heads: HeadHandles | null; // with heads attributed (NigEngine.heads), else null
}

/** The sums of attention heads (c: a head's context, HS columns of the attention output before the output projection). */
export interface HeadHandles {
  ctx: string;          // (L, T, C) Σ over points of (c_k − c_{k−1})·∂F/∂c per token and column
  carryCtx: string[];   // per layer (2, T, C)
  gate: string | null;  // (L, T, C) c·∂F/∂c at α = 1 (the head-gate gradient per column); null in the coarser sums
  carryGate: string[];  // per layer (2, T, C): kept zero (the gate is one point: (c − 0)·∂F/∂c)
  total: string;        // (L, NH) head conductance, summed over tokens and the head's columns
  seg: string;          // (5, L, NH) per segment (of the token)
  gateTotal: string | null; // (L, NH) ∂F/∂ξ_h at α = 1
  gateSeg: string | null;   // (5, L, NH)
}

export interface AttributionHandles {
  slots: SlotHandles[];
  /** per slot, the same sums over every 2nd and 4th point (stride 2^(i+1)): T_{m/2}, T_{m/4} (see `coarseLevels`) */
  coarse: SlotHandles[][];
}

/**
 * The path sums of `slots` pairs of padded length T; with `levels` > 0 each slot also keeps the sums over every
 * 2nd (and 4th) point, for the error estimate and Richardson extrapolation (src/ig/path.ts `coarseLevels`).
 */
export function attributionLayout(cfg: BertConfig, T: number, slots: number, levels = 0, heads = false): Layout<AttributionHandles> {
  const b = new LayoutBuilder();
  const out: SlotHandles[] = [];
  for (let s = 0; s < slots; s++) out.push(slotSums(b, cfg, T, `@${s}`, '', heads, true));
  const coarse = out.map((_, s) => Array.from({ length: levels }, (_, i) => slotSums(b, cfg, T, `@${s}/${2 ** (i + 1)}`, `, every ${2 ** (i + 1)}th point`, heads, false)));
  return { label: `attribution ${T}${heads ? ' with heads' : ''}`, buffers: b.buffers, handles: { slots: out, coarse } };
}

function headSums(b: LayoutBuilder, cfg: BertConfig, T: number, at: (n: string) => string, note: string, gate: boolean): HeadHandles {
  const { hidden: C, layers: L, heads: NH } = cfg;
  const per = (n: string, what: string) => Array.from({ length: L }, (_, l) => b.add(at(`${n}.${l}`), [2, T, C], `${what}, layer ${l}`));
  return {
    ctx: b.add(at('headCtx'), [L, T, C], 'head conductance per token and context column' + note),
    carryCtx: per('carryCtx', 'last (c, g) of the previous chunk, attention context'),
    gate: gate ? b.add(at('headGate'), [L, T, C], 'c·∂F/∂c at α = 1 per token and column') : null,
    carryGate: gate ? per('carryGate', 'zero (the gate gradient is one point)') : [],
    total: b.add(at('headTotal'), [L, NH], 'head conductance, summed over tokens and columns' + note),
    seg: b.add(at('headSeg'), [5, L, NH], 'the same per segment' + note),
    gateTotal: gate ? b.add(at('gateTotal'), [L, NH], '∂F/∂ξ per head at α = 1') : null,
    gateSeg: gate ? b.add(at('gateSeg'), [5, L, NH], 'the same per segment') : null,
  };
}

/** One slot's sums, named `<name><suffix>` (suffix `@s` for the sums over all points, `@s/2`, `@s/4` for the coarser). */
function slotSums(b: LayoutBuilder, cfg: BertConfig, T: number, suffix: string, note: string, heads = false, gate = false): SlotHandles {
  const { hidden: C, intermediate: F, layers: L } = cfg;
  const at = (n: string) => `${n}${suffix}`;
  const nigPre = b.add(at('nigPre'), [L, T, F], 'NIG before GELU per token' + note);
  const nigPost = b.add(at('nigPost'), [L, T, F], 'NIG after GELU per token' + note);
  const carryPre: string[] = [], carryPost: string[] = [];
  for (let l = 0; l < L; l++) {
    carryPre.push(b.add(at(`carryPre.${l}`), [2, T, F], `last (y, g) of the previous chunk, FFN ${l} before GELU`));
    carryPost.push(b.add(at(`carryPost.${l}`), [2, T, F], `the same after GELU`));
  }
  const hid: string[] = [], carryHid: string[] = [];
  for (let l = 0; l <= L; l++) {
    hid.push(b.add(at(`hid.${l}`), [T, C], `NIG of hidden state ${l}`));
    carryHid.push(b.add(at(`carryHid.${l}`), [2, T, C], `last (y, g) of hidden state ${l}`));
  }
  const E = embeddingSize(cfg);
  const igE = b.add(at('igE'), [T, E], 'IG of the word embeddings');
  const carryE = b.add(at('carryE'), [2, T, E], 'last (x, g) of the embeddings');
  return {
    nigPre, nigPost, carryPre, carryPost, hid, carryHid, igE, carryE,
    preTotal: b.add(at('preTotal'), [L, F], 'NIG before GELU, summed over tokens' + note),
    preSeg: b.add(at('preSeg'), [5, L, F], 'the same per segment' + note),
    postTotal: b.add(at('postTotal'), [L, F], 'NIG after GELU, summed over tokens' + note),
    postSeg: b.add(at('postSeg'), [5, L, F], 'the same per segment' + note),
    heads: heads ? headSums(b, cfg, T, at, note, gate) : null,
  };
}

/** A slot's handles, or (bound) its views. */
export type Slot<V> = { [K in Exclude<keyof SlotHandles, 'heads'>]: SlotHandles[K] extends string[] ? V[] : V } & { heads: HeadSlot<V> | null };
export type HeadSlot<V> = { [K in keyof HeadHandles]: HeadHandles[K] extends string[] ? V[] : HeadHandles[K] extends string ? V : V | null };

/** The sums cleared at the start of a pair (everything but the reductions, which are written whole). */
export function clearedSums<V>(s: Slot<V>): V[] {
  const h = s.heads;
  const heads = h ? [h.ctx, ...h.carryCtx, ...(h.gate ? [h.gate] : []), ...h.carryGate] : [];
  return [s.nigPre, s.nigPost, ...s.carryPre.flatMap((c, l) => [c, s.carryPost[l]]), ...s.hid.flatMap((h, l) => [h, s.carryHid[l]]), s.igE, s.carryE, ...heads];
}

/**
 * A pair's point store (adaptive m that reuses its points): every attributed activation and its gradient at each
 * point evaluated so far, one row per point in evaluation order, and the index table of the current m (the row of
 * α = k/m). The path sums of any m whose points are all stored come from it (src/ig/engine.ts, `pathSum`).
 */
export interface StoreHandles {
  preY: string[];   // per layer (cap, T, d_ff) FFN pre-activations
  preG: string[];   // per layer (cap, T, d_ff) their gradients
  postG: string[];  // per layer (cap, T, d_ff) the gradients after GELU (y after GELU is gelu(preY))
  hidY: string[];   // per hidden state 0..L (cap, T, C)
  hidG: string[];
  embY: string;     // (cap, T, C) the interpolated word vectors
  embG: string;
  idx: string;      // (cap) u32
}

/** Bytes of one point in a store (what `storeLayout` reserves per row of its capacity, before alignment). */
export function storePointBytes(cfg: BertConfig, T: number): number {
  const { hidden: C, intermediate: F, layers: L } = cfg;
  return 4 * (3 * L * T * F + 2 * (L + 1) * T * C + 2 * T * C + 1);
}

export function storeLayout(cfg: BertConfig, T: number, cap: number): Layout<StoreHandles> {
  const { hidden: C, intermediate: F, layers: L } = cfg;
  const b = new LayoutBuilder();
  const per = <X>(n: number, f: (l: number) => X) => Array.from({ length: n }, (_, l) => f(l));
  return {
    label: `point store ${T}x${cap}`,
    buffers: b.buffers,
    handles: {
      preY: per(L, (l) => b.add(`preY.${l}`, [cap, T, F], `FFN ${l} before GELU at each stored point`)),
      preG: per(L, (l) => b.add(`preG.${l}`, [cap, T, F], `its gradient`)),
      postG: per(L, (l) => b.add(`postG.${l}`, [cap, T, F], `the gradient after GELU`)),
      hidY: per(L + 1, (l) => b.add(`hidY.${l}`, [cap, T, C], `hidden state ${l} at each stored point`)),
      hidG: per(L + 1, (l) => b.add(`hidG.${l}`, [cap, T, C], `its gradient`)),
      embY: b.add('embY', [cap, T, embeddingSize(cfg)], 'word vectors at each stored point'),
      embG: b.add('embG', [cap, T, embeddingSize(cfg)], 'their gradient'),
      idx: b.add('idx', [cap], 'store row of each point of the current m', 'u32'),
    },
  };
}

export interface IgHandles { w: string; G: string }

/** Plain IG on the embeddings: each row's quadrature weight and the weighted gradient sum. */
export function igLayout(cfg: BertConfig, T: number, P: number): Layout<IgHandles> {
  const b = new LayoutBuilder();
  return { label: `IG ${T}`, buffers: b.buffers, handles: { w: b.add('w', [P], 'quadrature weight of each row'), G: b.add('G', [T, embeddingSize(cfg)], 'Σ weight · ∂F/∂x') } };
}

/** Everything one NIG chunk of P rows (slots pairs) at length T allocates: activations, backward, sums. */
export interface ChunkLayout { activations: ActivationLayout; attribution: Layout<AttributionHandles> }

export function chunkLayout(cfg: BertConfig, T: number, P: number, slots: number, levels = 0, attention: AttentionSaved = 'probs', heads = false): ChunkLayout {
  return { activations: activationLayout(cfg, { B: P, T, save: true, attention, context: heads }), attribution: attributionLayout(cfg, T, slots, levels, heads) };
}
