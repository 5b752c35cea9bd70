/**
 * The NIG engine: the m+1 path points of a pair are the batch dimension of one forward and one backward;
 * when they do not fit (storage binding limit, buffer size, or the user's --max-memory) they run in chunks,
 * and the path sums carry the last point across chunks so that the result is the same at any chunk size.
 * Every FFN unit of every layer (before and after GELU), every hidden state and the word embeddings are
 * attributed in the same passes; sums over tokens and per segment are reduced on the GPU.
 */
import { Arena, readView, writeView, type View } from '../gpu/arena.ts';
import { submit, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../errors.ts';
import type { BertGpu, ForwardPlan } from '../model/forward.ts';
import type { EncodedPair } from '../model/types.ts';
import { buildBackward, type GradEvent } from '../model/backward.ts';
import type { Target } from '../model/kernels/head.ts';
import { conductance, segments, setConductanceChunk, setSegments } from '../model/kernels/ig.ts';
import { MAX_T } from '../model/kernels/attention.ts';
import { baselineIds, type Baseline, type SpecialIds } from './baselines.ts';
import { alphas, checkSteps, chunks, ruleWeights, type Rule } from './path.ts';

const F32 = 4;

export interface NigOptions {
  steps: number;          // m: the path has m + 1 points
  rule?: Rule;            // default 'right'
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
  P: number;
  plan: ForwardPlan;
  arena: Arena;
  dispatches: Dispatch[];
  cond: { params: GPUBuffer; R: number; outOff: number }[]; // uniforms of every conductance dispatch
  segs: { params: GPUBuffer; L: number; U: number }[];
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

  private attr(T: number, P: number, rule: Rule, target: Target): Promise<Attr> {
    const key = `${T}x${P}:${target}`;
    let a = this.cache.get(key);
    if (!a) {
      for (const [k, old] of this.cache) { this.cache.delete(k); old.then((x) => x.arena.destroy(), () => {}); }
      this.model.dropPlans();
      a = this.build(T, P, target);
      this.cache.set(key, a);
    }
    void rule;
    return a;
  }

  private async build(T: number, P: number, target: Target): Promise<Attr> {
    const { model } = this;
    const g = model.g;
    const { hidden: C, intermediate: F, layers: L } = model.cfg;
    const plan = await model.plan({ B: P, T, save: true });
    const A = new Arena(g, `attribution ${T}`);
    const outputs: string[] = [];
    const res = (name: string, n: number) => { A.reserve(name, n * F32); outputs.push(name); };
    res('nigPre', L * T * F); res('nigPost', L * T * F);
    for (let l = 0; l < L; l++) { res(`carryPre.${l}`, 2 * T * F); res(`carryPost.${l}`, 2 * T * F); }
    for (let l = 0; l <= L; l++) { res(`hid.${l}`, T * C); res(`carryHid.${l}`, 2 * T * C); }
    res('igE', T * C); res('carryE', 2 * T * C);
    A.reserve('preTotal', L * F * F32); A.reserve('preSeg', 5 * L * F * F32);
    A.reserve('postTotal', L * F * F32); A.reserve('postSeg', 5 * L * F * F32);
    A.build();
    const v = (n: string) => A.view(n);
    const cond: { params: GPUBuffer; R: number; outOff: number }[] = [];
    const add = async (label: string, y: View, gv: View, out: View, carry: View, R: number, yGelu = false, outOff = 0) => {
      const c = await conductance(g, { label, y, g: gv, out, carry, R, yGelu, outOff });
      cond.push({ params: c.params, R, outOff });
      return [c.d];
    };
    const onGrad = async (e: GradEvent): Promise<Dispatch[]> => {
      if (e.kind === 'hidden') return add(`NIG hidden ${e.l}`, e.h, e.dh, v(`hid.${e.l}`), v(`carryHid.${e.l}`), T * C);
      if (e.kind === 'embed') return add('IG embeddings', e.s0, e.ds0, v('igE'), v('carryE'), T * C);
      return [
        ...await add(`NIG pre ${e.l}`, e.pre, e.dpre, v('nigPre'), v(`carryPre.${e.l}`), T * F, false, e.l * T * F),
        ...await add(`NIG post ${e.l}`, e.pre, e.dpost, v('nigPost'), v(`carryPost.${e.l}`), T * F, true, e.l * T * F),
      ];
    };
    const back = await buildBackward(model, plan, target, onGrad);
    const sPre = await segments(g, { label: 'segments pre', inp: v('nigPre'), total: v('preTotal'), seg: v('preSeg'), L, T, U: F });
    const sPost = await segments(g, { label: 'segments post', inp: v('nigPost'), total: v('postTotal'), seg: v('postSeg'), L, T, U: F });
    return {
      T, P, plan, arena: A, dispatches: [...plan.dispatches, ...back], cond,
      segs: [{ params: sPre.params, L, U: F }, { params: sPost.params, L, U: F }],
      outputs: outputs.map(v),
      segDispatches: [sPre.d, sPost.d],
    } as Attr & { segDispatches: Dispatch[] };
  }

  /** NIG of every FFN unit of every layer (and IG on the embeddings) for one encoded pair. */
  async attribute(pair: EncodedPair, o: NigOptions, after?: (v: ReductionViews) => Promise<Dispatch[]>): Promise<NigResult> {
    const { model, special } = this;
    const g = model.g;
    const cfg = model.cfg;
    const { hidden: C, intermediate: F, layers: L } = cfg;
    checkSteps(o.steps);
    const m = o.steps;
    const rule = o.rule ?? 'right';
    const target: Target = o.target ?? (cfg.numLabels === 1 ? 'logit' : 'relevant');
    const { wr, wl } = ruleWeights(rule);
    const len = pair.ids.length;
    if (len > Math.min(MAX_T, cfg.maxPositions)) throw new UserError(`pair of ${len} tokens exceeds the model's ${cfg.maxPositions} positions; lower --max-length`);
    const T = Math.min(Math.ceil(len / 8) * 8, Math.min(MAX_T, cfg.maxPositions));
    const points = m + 1;
    const P = this.chunkSize(T, points, o.chunk);
    const at = await this.attr(T, P, rule, target) as Attr & { segDispatches: Dispatch[] };
    const base = baselineIds(pair.ids, pair.typeIds, o.baseline ?? 'pad-keep-special', special);
    const baseIds = Array.from(base, (b) => (b < 0 ? null : b));
    // clear sums and carries
    const enc = g.device.createCommandEncoder({ label: 'clear attribution' });
    for (const out of at.outputs) enc.clearBuffer(out.buffer, out.offset, out.size);
    g.device.queue.submit([enc.finish()]);
    const al = alphas(m);
    const Fpath = new Float32Array(points);
    let gradIn: Float32Array | null = null;
    for (const { k0, count } of chunks(points, P)) {
      const rows = Array.from({ length: P }, () => ({ ids: pair.ids, baseIds, typeIds: pair.typeIds }));
      model.writeInputs(at.plan, rows, Array.from({ length: P }, (_, b) => al[Math.min(k0 + b, m)]));
      for (const c of at.cond) setConductanceChunk(g, c.params, c.R, c.outOff, k0, count, wr, wl);
      submit(g, at.dispatches, `NIG points ${k0}..${k0 + count - 1}`);
      const f = await readView(g, at.plan.v('F'), count);
      Fpath.set(f, k0);
      o.onProgress?.(k0 + count, points);
      if (k0 + count - 1 === m && !o.light) gradIn = await readView(g, at.plan.v('ds0'), T * C, (count - 1) * T * C);
    }
    for (const s of at.segs) setSegments(g, s.params, s.L, T, s.U, pair.sep1, len);
    const v = (n: string) => at.arena.view(n);
    const extra = after ? await after({ preTotal: v('preTotal'), preSeg: v('preSeg'), postTotal: v('postTotal'), postSeg: v('postSeg') }) : [];
    submit(g, [...at.segDispatches, ...extra], 'NIG segments');
    const empty = new Float32Array(0);
    const [preTotal, postTotal, preSeg, postSeg, igE] = await Promise.all([
      o.light ? empty : readView(g, v('preTotal')), o.light ? empty : readView(g, v('postTotal')),
      o.light ? empty : readView(g, v('preSeg')), o.light ? empty : readView(g, v('postSeg')), readView(g, v('igE')),
    ]);
    for (const x of [Fpath, preTotal, postTotal]) {
      for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`NIG produced a non-finite value (${x[i]}); the model or input may overflow f32`);
    }
    const dF = Fpath[m] - Fpath[0];
    const sum = (a: Float32Array) => a.reduce((s, x) => s + x, 0);
    const hiddenDeltas: number[] = [];
    for (let l = 0; l <= L; l++) hiddenDeltas.push(sum(await readView(g, v(`hid.${l}`))) - dF);
    const trimTC = (a: Float32Array) => a.slice(0, len * C);
    const result: NigResult = {
      T: len, steps: m, rule, target, chunk: P, F: Fpath,
      nigPre: preTotal, nigPost: postTotal, nigPreSegments: preSeg, nigPostSegments: postSeg,
      igEmbed: trimTC(igE), gradEmbedInput: o.light ? empty : trimTC(gradIn!), igDelta: sum(trimTC(igE)) - dF, hiddenDeltas,
    };
    if (o.perToken) {
      const trim = (a: Float32Array) => {
        const out = new Float32Array(L * len * F);
        for (let l = 0; l < L; l++) out.set(a.subarray(l * T * F, l * T * F + len * F), l * len * F);
        return out;
      };
      result.nigPreTokens = trim(await readView(g, v('nigPre')));
      result.nigPostTokens = trim(await readView(g, v('nigPost')));
    }
    return result;
  }
}
