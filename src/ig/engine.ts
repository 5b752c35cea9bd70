/**
 * The NIG engine: the m+1 path points of a pair are the batch dimension of one forward and one backward;
 * when they do not fit (storage binding limit, buffer size, or the user's --max-memory) they run in chunks,
 * and the path sums carry the last point across chunks so that the result is the same at any chunk size.
 * Every FFN unit of every layer (before and after GELU), every hidden state and the word embeddings are
 * attributed in the same passes; sums over tokens and per segment are reduced on the GPU.
 */
import { Arena, readView, writeView, type View } from '../gpu/arena.ts';
import { submit, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';
import type { BertGpu, ForwardPlan } from '../model/forward.ts';
import type { EncodedPair } from '../model/types.ts';
import { buildBackward, type GradEvent } from '../model/backward.ts';
import type { Target } from '../model/types.ts';
import { conductance, segments, setConductanceChunk, setSegments } from '../kernels/ig.ts';
import { MAX_T } from '../kernels/attention.ts';
import { baselineIds, type Baseline, type SpecialIds } from './baselines.ts';
import { alphas, checkSteps, chunks, DEFAULT_RULE, ruleWeights, type Rule } from './path.ts';

const F32 = 4;

export interface NigOptions {
  steps: number;          // m: the path has m + 1 points
  rule?: Rule;            // default DEFAULT_RULE (trapezoid); 'right' reproduces the fixtures
  target?: Target;        // default 'relevant' (2 labels) / 'logit' (1 label)
  baseline?: Baseline;    // default 'pad-keep-special'
  perToken?: boolean;     // also return the per-token NIG (L, T, d_ff)
  chunk?: number;         // points per forward/backward; default: as many as the memory budget allows
  /** Read back only F and the completeness deltas (the dataset scheduler aggregates on the GPU instead). */
  light?: boolean;
  /** Called after each chunk of path points with (points done, m + 1). */
  onProgress?: (done: number, total: number) => void;
}

/** The GPU views of a pair's reductions, valid until the next `attribute` call. */
export interface ReductionViews { preTotal: View; preSeg: View; postTotal: View; postSeg: View }

export interface NigResult {
  T: number;
  steps: number;
  rule: Rule;
  target: Target;
  chunk: number;
  F: Float32Array;             // (m+1) F along the path
  nigPre: Float32Array;        // (L, d_ff) summed over tokens
  nigPost: Float32Array;       // (L, d_ff)
  nigPreSegments: Float32Array;  // (5, L, d_ff): [CLS], query, first [SEP], passage, last [SEP]
  nigPostSegments: Float32Array; // (5, L, d_ff)
  nigPreTokens?: Float32Array;   // (L, T, d_ff) with perToken
  nigPostTokens?: Float32Array;  // (L, T, d_ff) with perToken
  igEmbed: Float32Array;       // (T, C) IG of the word embeddings
  gradEmbedInput: Float32Array; // (T, C) ∂F/∂x at α = 1
  igDelta: number;             // Σ igEmbed − (F(x) − F(x'))
  hiddenDeltas: number[];      // (L+1) the same for NIG over each layer's output hidden states
}

interface Attr {
  T: number;
  P: number;                  // rows of the batch
  slots: number;              // pairs sharing the batch (each P / slots rows)
  plan: ForwardPlan;
  arena: Arena;
  dispatches: Dispatch[];
  cond: { params: GPUBuffer; R: number; outOff: number; rowOff: number }[]; // uniforms of every conductance dispatch
  segs: GPUBuffer[];          // uniforms of the segment reductions, two per slot (pre, post)
  segDispatches: Dispatch[];
  outputs: View[];            // cleared at the start of a pair (sums and carries)
}

export class NigEngine {
  private cache = new Map<string, Promise<Attr>>();

  constructor(readonly model: BertGpu, readonly special: SpecialIds, private maxMemory?: number) {}

  /** Bytes one path point needs in the forward (saved) + backward plans at length T. */
  bytesPerPoint(T: number): { total: number; largestBinding: number } {
    const { hidden: C, intermediate: F, heads: NH, layers: L } = this.model.cfg;
    const perLayer = T * (3 * C + 3 * C + F + 6) + NH * T * T;
    const scratch = T * (3 * C + 2 * F) + T * (6 * C + 3 * C + 2 * F) + NH * T * T;
    const total = F32 * (L * perLayer + scratch + T * (2 * C + 2) + C);
    const largestBinding = F32 * Math.max(NH * T * T, T * F, 3 * T * C);
    return { total, largestBinding };
  }

  /** Points per chunk: all m+1 when they fit, else as many as the limits and the budget allow. */
  chunkSize(T: number, points: number, requested?: number): number {
    if (requested !== undefined) {
      if (!Number.isInteger(requested) || requested < 1) throw new UserError(`chunk size must be a positive integer, got ${requested}`);
      return Math.min(requested, points);
    }
    const { total, largestBinding } = this.bytesPerPoint(T);
    const lim = this.model.g.limits;
    const budget = this.maxMemory ?? Math.min(lim.maxBufferSize, 2 ** 31);
    const byBinding = Math.floor(lim.maxStorageBufferBindingSize / largestBinding);
    const byBudget = Math.floor(budget / total);
    const p = Math.min(points, byBinding, byBudget);
    if (p < 1) throw new UserError(`one path point at ${T} tokens needs ${(total / 2 ** 20).toFixed(1)} MiB, over the memory budget; raise --max-memory or lower --max-length`);
    return p;
  }

  private attr(T: number, P: number, target: Target, slots: number): Promise<Attr> {
    const key = `${T}x${P}/${slots}:${target}`;
    let a = this.cache.get(key);
    if (!a) {
      for (const [k, old] of this.cache) { this.cache.delete(k); old.then((x) => x.arena.destroy(), () => {}); }
      this.model.dropPlans();
      a = this.build(T, P, target, slots);
      this.cache.set(key, a);
    }
    return a;
  }

  private async build(T: number, P: number, target: Target, slots: number): Promise<Attr> {
    const { model } = this;
    const g = model.g;
    const { hidden: C, intermediate: F, layers: L } = model.cfg;
    const plan = await model.plan({ B: P, T, save: true });
    const A = new Arena(g, `attribution ${T}`);
    const outputs: string[] = [];
    const res = (name: string, n: number) => { A.reserve(name, n * F32); outputs.push(name); };
    for (let s = 0; s < slots; s++) {
      res(`nigPre@${s}`, L * T * F); res(`nigPost@${s}`, L * T * F);
      for (let l = 0; l < L; l++) { res(`carryPre.${l}@${s}`, 2 * T * F); res(`carryPost.${l}@${s}`, 2 * T * F); }
      for (let l = 0; l <= L; l++) { res(`hid.${l}@${s}`, T * C); res(`carryHid.${l}@${s}`, 2 * T * C); }
      res(`igE@${s}`, T * C); res(`carryE@${s}`, 2 * T * C);
      A.reserve(`preTotal@${s}`, L * F * F32); A.reserve(`preSeg@${s}`, 5 * L * F * F32);
      A.reserve(`postTotal@${s}`, L * F * F32); A.reserve(`postSeg@${s}`, 5 * L * F * F32);
    }
    await A.buildChecked();
    const v = (n: string) => A.view(n);
    const cond: Attr['cond'] = [];
    const rowsPerSlot = P / slots;
    const add = async (label: string, y: View, gv: View, out: View, carry: View, R: number, s: number, yGelu = false, outOff = 0) => {
      const rowOff = s * rowsPerSlot;
      const c = await conductance(g, { label: `${label} (pair ${s})`, y, g: gv, out, carry, R, yGelu, outOff, rowOff });
      cond.push({ params: c.params, R, outOff, rowOff });
      return [c.d];
    };
    const onGrad = async (e: GradEvent): Promise<Dispatch[]> => {
      const ds: Dispatch[] = [];
      for (let s = 0; s < slots; s++) {
        if (e.kind === 'hidden') ds.push(...await add(`NIG hidden ${e.l}`, e.h, e.dh, v(`hid.${e.l}@${s}`), v(`carryHid.${e.l}@${s}`), T * C, s));
        else if (e.kind === 'embed') ds.push(...await add('IG embeddings', e.s0, e.ds0, v(`igE@${s}`), v(`carryE@${s}`), T * C, s));
        else {
          ds.push(...await add(`NIG pre ${e.l}`, e.pre, e.dpre, v(`nigPre@${s}`), v(`carryPre.${e.l}@${s}`), T * F, s, false, e.l * T * F));
          ds.push(...await add(`NIG post ${e.l}`, e.pre, e.dpost, v(`nigPost@${s}`), v(`carryPost.${e.l}@${s}`), T * F, s, true, e.l * T * F));
        }
      }
      return ds;
    };
    const back = await buildBackward(model, plan, target, onGrad);
    const segs: GPUBuffer[] = [];
    const segDispatches: Dispatch[] = [];
    for (let s = 0; s < slots; s++) {
      for (const kind of ['pre', 'post'] as const) {
        const r = await segments(g, { label: `segments ${kind} (pair ${s})`, inp: v(`nig${kind === 'pre' ? 'Pre' : 'Post'}@${s}`), total: v(`${kind}Total@${s}`), seg: v(`${kind}Seg@${s}`), L, T, U: F });
        segs.push(r.params);
        segDispatches.push(r.d);
      }
    }
    return { T, P, slots, plan, arena: A, dispatches: [...plan.dispatches, ...back], cond, segs, segDispatches, outputs: outputs.map(v) };
  }

  /**
   * How many pairs of padded length T can share one batch with all their m+1 points: 1 when the points of a
   * single pair already need chunks, else as many as the memory budget allows, at most `max`.
   */
  packable(T: number, steps: number, max: number): number {
    const points = steps + 1;
    const fit = Math.floor(this.chunkSize(T, max * points) / points);
    return Math.max(1, Math.min(max, fit));
  }

  /** Padded length a pair of `len` tokens runs at (pairs of one length share plans and batches). */
  paddedLength(len: number): number {
    const cap = Math.min(MAX_T, this.model.cfg.maxPositions);
    if (len > cap) throw new UserError(`pair of ${len} tokens exceeds the model's ${this.model.cfg.maxPositions} positions; lower --max-length`);
    return Math.min(Math.ceil(len / 8) * 8, cap);
  }

  /** NIG of every FFN unit of every layer (and IG on the embeddings) for one encoded pair. */
  async attribute(pair: EncodedPair, o: NigOptions, after?: (v: ReductionViews) => Promise<Dispatch[]>): Promise<NigResult> {
    return (await this.attributeMany([pair], o, after && ((v) => after(v))))[0];
  }

  /**
   * Several pairs of the same padded length in one batch (their points side by side; the results equal
   * separate runs). One pair may be chunked; several must fit whole (see `packable`). `after` adds dispatches
   * per pair (e.g. aggregation) reading its reduction views.
   */
  async attributeMany(pairs: EncodedPair[], o: NigOptions, after?: (v: ReductionViews, i: number) => Promise<Dispatch[]>): Promise<NigResult[]> {
    const { model, special } = this;
    const g = model.g;
    const cfg = model.cfg;
    const { hidden: C, intermediate: F, layers: L } = cfg;
    checkSteps(o.steps);
    if (!pairs.length) return [];
    const m = o.steps;
    const rule = o.rule ?? DEFAULT_RULE;
    const target: Target = o.target ?? (cfg.numLabels === 1 ? 'logit' : 'relevant');
    const { wr, wl } = ruleWeights(rule);
    const T = this.paddedLength(pairs[0].ids.length);
    for (const p of pairs) if (this.paddedLength(p.ids.length) !== T) throw new Error('attributeMany: the pairs of a batch must share one padded length');
    const points = m + 1;
    const slots = pairs.length;
    let P: number;
    if (slots === 1) P = this.chunkSize(T, points, o.chunk);
    else {
      if (this.packable(T, m, slots) < slots) throw new UserError(`${slots} pairs of ${T} tokens with ${points} points each do not fit one batch; pack fewer (see packable)`);
      P = slots * points;
    }
    const at = await this.attr(T, P, target, slots);
    const rowsPerSlot = P / slots;
    const baseIds = pairs.map((pair) => Array.from(baselineIds(pair.ids, pair.typeIds, o.baseline ?? 'pad-keep-special', special), (b) => (b < 0 ? null : b)));
    // clear sums and carries
    const enc = g.device.createCommandEncoder({ label: 'clear attribution' });
    for (const out of at.outputs) enc.clearBuffer(out.buffer, out.offset, out.size);
    g.device.queue.submit([enc.finish()]);
    const al = alphas(m);
    const Fpath = pairs.map(() => new Float32Array(points));
    const gradIn: (Float32Array | null)[] = pairs.map(() => null);
    for (const { k0, count } of chunks(points, rowsPerSlot)) {
      const rows = Array.from({ length: P }, (_, b) => {
        const s = Math.floor(b / rowsPerSlot);
        return { ids: pairs[s].ids, baseIds: baseIds[s], typeIds: pairs[s].typeIds };
      });
      model.writeInputs(at.plan, rows, Array.from({ length: P }, (_, b) => al[Math.min(k0 + (b % rowsPerSlot), m)]));
      for (const c of at.cond) setConductanceChunk(g, c.params, c.R, c.outOff, c.rowOff, k0, count, wr, wl);
      submit(g, at.dispatches, `NIG points ${k0}..${k0 + count - 1}`);
      const f = await readView(g, at.plan.v('F'), P);
      for (let s = 0; s < slots; s++) {
        Fpath[s].set(f.subarray(s * rowsPerSlot, s * rowsPerSlot + count), k0);
        if (k0 + count - 1 === m && !o.light) gradIn[s] = await readView(g, at.plan.v('ds0'), T * C, (s * rowsPerSlot + count - 1) * T * C);
      }
      o.onProgress?.(k0 + count, points);
    }
    const v = (n: string) => at.arena.view(n);
    const extra: Dispatch[] = [];
    for (let s = 0; s < slots; s++) {
      setSegments(g, at.segs[2 * s], L, T, F, pairs[s].sep1, pairs[s].ids.length);
      setSegments(g, at.segs[2 * s + 1], L, T, F, pairs[s].sep1, pairs[s].ids.length);
      if (after) extra.push(...await after({ preTotal: v(`preTotal@${s}`), preSeg: v(`preSeg@${s}`), postTotal: v(`postTotal@${s}`), postSeg: v(`postSeg@${s}`) }, s));
    }
    submit(g, [...at.segDispatches, ...extra], 'NIG segments');
    const empty = new Float32Array(0);
    const sum = (a: Float32Array) => a.reduce((x, y) => x + y, 0);
    const results: NigResult[] = [];
    for (let s = 0; s < slots; s++) {
      const len = pairs[s].ids.length;
      const [preTotal, postTotal, preSeg, postSeg, igE] = await Promise.all([
        o.light ? empty : readView(g, v(`preTotal@${s}`)), o.light ? empty : readView(g, v(`postTotal@${s}`)),
        o.light ? empty : readView(g, v(`preSeg@${s}`)), o.light ? empty : readView(g, v(`postSeg@${s}`)), readView(g, v(`igE@${s}`)),
      ]);
      for (const x of [Fpath[s], preTotal, postTotal]) {
        for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`NIG produced a non-finite value (${x[i]}); the model or input may overflow f32`);
      }
      const dF = Fpath[s][m] - Fpath[s][0];
      const hiddenDeltas: number[] = [];
      for (let l = 0; l <= L; l++) hiddenDeltas.push(sum(await readView(g, v(`hid.${l}@${s}`))) - dF);
      const trimTC = (a: Float32Array) => a.slice(0, len * C);
      const result: NigResult = {
        T: len, steps: m, rule, target, chunk: rowsPerSlot, F: Fpath[s],
        nigPre: preTotal, nigPost: postTotal, nigPreSegments: preSeg, nigPostSegments: postSeg,
        igEmbed: trimTC(igE), gradEmbedInput: o.light ? empty : trimTC(gradIn[s]!), igDelta: sum(trimTC(igE)) - dF, hiddenDeltas,
      };
      if (o.perToken) {
        const trim = (a: Float32Array) => {
          const out = new Float32Array(L * len * F);
          for (let l = 0; l < L; l++) out.set(a.subarray(l * T * F, l * T * F + len * F), l * len * F);
          return out;
        };
        result.nigPreTokens = trim(await readView(g, v(`nigPre@${s}`)));
        result.nigPostTokens = trim(await readView(g, v(`nigPost@${s}`)));
      }
      results.push(result);
    }
    return results;
  }
}
