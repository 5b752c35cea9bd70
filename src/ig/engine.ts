/**
 * The NIG engine: the m+1 path points of a pair are the batch dimension of one forward and one backward;
 * when they do not fit (storage binding limit, buffer size, or the user's --max-memory) they run in chunks,
 * and the path sums carry the last point across chunks so that the result is the same at any chunk size.
 * Every FFN unit of every layer (before and after GELU), every hidden state and the word embeddings are
 * attributed in the same passes; sums over tokens and per segment are reduced on the GPU.
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import { DEFAULT_BUDGET, type Lease } from '../gpu/plans.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { Collect, readViews, settle, submit, submitCommands } from '../gpu/queue.ts';
import { UserError } from '../util/errors.ts';
import type { BertGpu, ForwardPlan } from '../model/forward.ts';
import type { EncodedPair } from '../model/types.ts';
import { buildBackward, type GradEvent } from '../model/backward.ts';
import { defaultTarget, type Target } from '../model/types.ts';
import { embeddingSize } from '../model/config.ts';
import { combine, conductance, pathSum, segments, setConductanceChunk, setSegments, setStash, stash } from '../kernels/ig.ts';
import { allocateLayout, largestBuffer, layoutBytes, paddedLength, type Bound } from '../model/layout.ts';
import { baselineIds, DEFAULT_BASELINE, type Baseline, type SpecialIds } from './baselines.ts';
import { alphas as alphasOf, checkLevelSteps, checkSteps, chunks, coarseLevels, DEFAULT_MAX_STEPS, DEFAULT_RULE, estimateError, kernelRule, nextSteps, ruleWeights, TOL_RANGE, type NigRule } from './path.ts';
import { chunkLayout, clearedSums, type AttributionHandles, type ChunkLayout, type Slot, type SlotHandles, type StoreHandles } from './layout.ts';
import { PointStore } from './store.ts';

export interface NigOptions {
  steps: number;          // m: the path has m + 1 points (with `tol`: the first m tried)
  rule?: NigRule;         // default DEFAULT_RULE (trapezoid); 'right' reproduces the fixtures; 'richardson' (4·T_m − T_{m/2})/3
  /**
   * Adaptive m: per pair, double m (from `steps`) until the estimated relative L2 error of the NIG vector
   * (`estimateOf`, summed over tokens) is at most `tol`, up to `maxSteps` (then `adaptive.capped`).
   */
  tol?: number;
  maxSteps?: number;      // default DEFAULT_MAX_STEPS (256)
  /** Estimate the error at a fixed m too (always with `tol` or richardson); costs the coarser sums, no points. */
  estimate?: boolean;
  estimateOf?: 'ffn-pre' | 'ffn-post'; // the NIG vector the estimate measures; default 'ffn-pre'
  target?: Target;        // default 'relevant' (2 labels) / 'logit' (1 label)
  baseline?: Baseline;    // default 'pad-keep-special'
  perToken?: boolean;     // also return the per-token NIG (L, T, d_ff)
  chunk?: number;         // points per forward/backward; default: as many as the memory budget allows
  /** Read back only F and the completeness deltas (the dataset scheduler aggregates on the GPU instead). */
  light?: boolean;
  /** Called after each chunk of path points with (points done, m + 1). */
  onProgress?: (done: number, total: number) => void;
}

/** The GPU views of a pair's reductions, valid until the next `attribute` call (`head*`, `gate*`: with NigEngine.heads; the gate at α = 1). */
export interface ReductionViews { preTotal: View; preSeg: View; postTotal: View; postSeg: View; headTotal?: View; headSeg?: View; gateTotal?: View; gateSeg?: View }

/** A slot's reductions, as `after` callbacks see them. */
const reductionViews = (v: Bound<SlotHandles>): ReductionViews => ({ preTotal: v.preTotal, preSeg: v.preSeg, postTotal: v.postTotal, postSeg: v.postSeg, ...(v.heads ? { headTotal: v.heads.total, headSeg: v.heads.seg, gateTotal: v.heads.gateTotal!, gateSeg: v.heads.gateSeg! } : {}) });

export interface NigResult {
  T: number;
  steps: number;
  rule: NigRule;
  target: Target;
  chunk: number;
  F: Float32Array;             // (m+1) F along the path
  nigPre: Float32Array;        // (L, d_ff) summed over tokens
  nigPost: Float32Array;       // (L, d_ff)
  nigPreSegments: Float32Array;  // (5, L, d_ff): [CLS], query, first [SEP], passage, last [SEP]
  nigPostSegments: Float32Array; // (5, L, d_ff)
  nigPreTokens?: Float32Array;   // (L, T, d_ff) with perToken
  nigPostTokens?: Float32Array;  // (L, T, d_ff) with perToken
  igEmbed: Float32Array;       // (T, E) IG of the word embeddings (E: the embedding width, the hidden size but in ELECTRA)
  gradEmbedInput: Float32Array; // (T, E) ∂F/∂x at α = 1
  igDelta: number;             // Σ igEmbed − (F(x) − F(x'))
  hiddenDeltas: number[];      // (L+1) the same for NIG over each layer's output hidden states
  /** With NigEngine.heads: head conductance (L, NH) — Σ_k Σ_{t,d} (c_k − c_{k−1})·∂F/∂c, c a head's context output before
   * the output projection —, the same per segment (5, L, NH), and the head-gate gradient ∂F/∂ξ_h = Σ_{t,d} c·∂F/∂c at α = 1 (L, NH). */
  headCond?: Float32Array;
  headCondSegments?: Float32Array;
  headGate?: Float32Array;
  /** Estimated relative L2 error of the NIG vector (`estimateOf`, token sums), with `estimate`, `tol` or richardson. */
  errorEstimate?: number;
  /** With `tol`: each pass (m, estimate), whether the cap stopped it, and the path points evaluated in all passes. */
  adaptive?: AdaptiveRecord;
}

export interface AdaptiveRecord { tol: number; maxSteps: number; capped: boolean; passes: { steps: number; estimate: number }[]; points: number }

/**
 * A built chunk plan: the forward+backward plan of P rows, the path sums of `slots` pairs, their dispatches. Its
 * forward plan and its sums are plans of their own in the model's keeper (src/gpu/plans.ts), leased for as long as
 * this one is kept: the forward plan (T, P) serves every chunk plan of its shape, the sums (T, slots, levels) every
 * P (a pass of adaptive m with point stores builds only its dispatches on them).
 */
interface Attr {
  T: number;
  P: number;                  // rows of the batch
  slots: number;              // pairs sharing the batch (each P / slots rows)
  plan: ForwardPlan;
  arena: Arena;               // the sums' arena
  levels: number;             // coarser sums kept (src/ig/path.ts coarseLevels)
  sums: Bound<AttributionHandles>;
  dispatches: Dispatch[];
  cond: { params: GPUBuffer; R: number; outOff: number; rowOff: number }[]; // uniforms of every conductance dispatch
  gates: { params: GPUBuffer; R: number; outOff: number; rowOff: number }[]; // the head-gate products' (the conductance kernel at α = 1 alone)
  stash: { params: GPUBuffer; R: number; rowOff: number }[];               // with point stores: uniforms of every stash dispatch
  segs: { params: GPUBuffer; U: number; cols: number }[][]; // per slot, its segment reductions (pre, post, heads; then each coarser level's)
  segDispatches: Dispatch[];  // (richardson: the combination first) then every segment reduction
  /** The forward and a backward on the first `rows` rows only (built once per count): for a chunk whose last rows need no gradient. */
  passFor(rows: number): Promise<Dispatch[]>;
}

/** A pass of adaptive m with point stores: the batch's stores (in slot order), its m and rule. */
interface StorePass { stores: PointStore[]; m: number; rule: NigRule }

/** One `attributeMany` call, validated: the pairs, their common padded length, the path and its batching. */
interface Job {
  pairs: EncodedPair[];
  T: number;
  m: number;                  // steps; the path has m + 1 points
  alphas: number[];           // the points this job evaluates per pair, in row order (all m + 1, or the new ones)
  /** The last row's gradients weigh nothing (right rule: α = 0, run last; left: α = 1): it gets no backward (one pair). */
  skipLast: boolean;
  /** The conductance kernel's weights of g at a step's later and earlier row (the rule's, negated and swapped when the rows run from α = 1 down). */
  wr: number; wl: number;
  stores?: PointStore[];      // adaptive m: each pair's point store, the new points appended to it
  rule: NigRule;
  levels: number;             // coarser sums (strides 2, 4)
  estimateOf: 'ffn-pre' | 'ffn-post';
  target: Target;
  P: number;                  // rows per chunk
  rowsPerSlot: number;        // points of one pair per chunk
  baseIds: (number | null)[][];
  light: boolean;
  perToken: boolean;
}

/** What the chunks leave on the host: F along the path and ∂F/∂x at α = 1, per pair. */
interface PathOutputs { F: Float32Array[]; gradIn: (Float32Array | null)[] }

/** Bytes of one chunk plan, and its largest buffer (which must fit one storage binding). */
export interface ChunkMemory { layout: ChunkLayout; bytes: number; largestBinding: number }

export class NigEngine {
  /**
   * Attribute attention heads too (`--units …,heads`): head conductance and the head-gate gradient from the same
   * passes (results `headCond`, `headCondSegments`, `headGate`; reductions `headTotal`, `headSeg`). Its chunk plans
   * are their own (their sums are larger); off, nothing of it is built.
   */
  heads = false;

  /** (the chunk plans live in the model's keeper, `model.plans`, with the forward plans they are built on) */
  constructor(readonly model: BertGpu, readonly special: SpecialIds, private maxMemory?: number) {
    if (maxMemory !== undefined) model.plans.budget = maxMemory;
  }

  /** The memory plan of a chunk of P rows (slots pairs) at length T: exactly what `attribute` allocates. */
  chunkMemory(T: number, P: number, slots = 1, levels = 0): ChunkMemory {
    const layout = chunkLayout(this.model.cfg, T, P, slots, levels, this.model.attention, this.heads);
    return { layout, bytes: layoutBytes(this.model.g.limits, layout.activations, layout.attribution), largestBinding: largestBuffer(layout.activations, layout.attribution).bytes };
  }

  /** The memory budget of one chunk: --max-memory, else DEFAULT_BUDGET (2 GiB: src/gpu/plans.ts says why). */
  budget(): number {
    return this.maxMemory ?? DEFAULT_BUDGET;
  }

  /** Whether a chunk plan fits the budget beside `reserved` bytes held elsewhere (adaptive m's point stores). */
  private fits(T: number, P: number, slots: number, levels = 0, reserved = 0): boolean {
    const m = this.chunkMemory(T, P, slots, levels);
    return m.bytes + reserved <= this.budget() && m.largestBinding <= this.model.g.limits.maxStorageBufferBindingSize;
  }

  /** Points per chunk: all m+1 when they fit, else the most that the binding limit and the budget allow. */
  chunkSize(T: number, points: number, requested?: number, levels = 0, reserved = 0): number {
    if (requested !== undefined) {
      if (!Number.isInteger(requested) || requested < 1) throw new UserError(`chunk size must be a positive integer, got ${requested}`);
      return Math.min(requested, points);
    }
    if (!this.fits(T, 1, 1, levels, reserved)) {
      const one = this.chunkMemory(T, 1, 1, levels);
      throw new UserError(`one path point at ${T} tokens needs ${(one.bytes / 2 ** 20).toFixed(1)} MiB, over the memory budget of ${(this.budget() / 2 ** 20).toFixed(1)} MiB (or its largest buffer over the storage binding limit); raise --max-memory or lower --max-length`);
    }
    let lo = 1, hi = points; // bytes grow with P: the largest P that fits
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.fits(T, mid, 1, levels, reserved)) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  /**
   * The packing rule, the only one: how many of `max` pairs of padded length T (`points` path points each to run)
   * share the next batch — as many as fit the memory budget whole beside `reserved(n)` bytes (n pairs), else 1
   * (its points in chunks), or 0 when not even one point of one pair fits beside `reserved(1)`.
   */
  private pack(T: number, points: number, max: number, levels = 0, reserved: (n: number) => number = () => 0): number {
    if (max < 1 || !this.fits(T, 1, 1, levels, reserved(1))) return 0;
    let n = 1;
    while (n < max && this.fits(T, (n + 1) * points, n + 1, levels, reserved(n + 1))) n++;
    return n;
  }

  /** How many pairs of padded length T, m = `steps`, `attributeMany` runs in one batch (at most `max`). */
  packable(T: number, steps: number, max: number, levels = 0): number {
    return Math.max(1, this.pack(T, steps + 1, max, levels));
  }

  /** Padded length a pair of `len` tokens runs at (pairs of one length share plans and batches). */
  paddedLength(len: number): number {
    return paddedLength(this.model.cfg, len);
  }

  /** NIG of every FFN unit of every layer (and IG on the embeddings) for one encoded pair. */
  async attribute(pair: EncodedPair, o: NigOptions, after?: (v: ReductionViews) => Promise<Dispatch[]>): Promise<NigResult> {
    return (await this.attributeMany([pair], o, after && ((v) => after(v))))[0];
  }

  /**
   * Several pairs: the engine batches them itself — pairs of one padded length share a batch (their points side
   * by side), as many as `pack` lets fit whole; a pair whose points do not fit runs alone, in chunks. The results
   * equal separate runs, in input order. `after` adds dispatches per pair (e.g. aggregation; `i` its index in
   * `pairs`) reading its reduction views.
   */
  async attributeMany(pairs: EncodedPair[], o: NigOptions, after?: (v: ReductionViews, i: number) => Promise<Dispatch[]>): Promise<NigResult[]> {
    if (!pairs.length) return [];
    if (o.tol !== undefined || coarseLevels(o.rule ?? DEFAULT_RULE, !!o.estimate) > 0) return this.attributeAdaptive(pairs, o, after);
    checkSteps(o.steps);
    const results: NigResult[] = new Array(pairs.length);
    let left = pairs.map((_, i) => i);
    while (left.length) {
      const T = this.paddedLength(pairs[left[0]].ids.length);
      const same = left.filter((i) => this.paddedLength(pairs[i].ids.length) === T);
      const batch = same.slice(0, this.packable(T, o.steps, same.length));
      const rs = await this.runBatch(batch.map((i) => pairs[i]), o, after && ((v, s) => after(v, batch[s])));
      batch.forEach((i, s) => { results[i] = rs[s]; });
      left = left.filter((i) => !batch.includes(i));
    }
    return results;
  }

  /** One batch of a fixed m without coarser sums (pairs of one padded length that `pack` let share it). */
  private async runBatch(pairs: EncodedPair[], o: NigOptions, after?: (v: ReductionViews, s: number) => Promise<Dispatch[]>): Promise<NigResult[]> {
    const job = this.prepare(pairs, o);
    const lease = await this.attr(job.T, job.P, job.target, pairs.length, 0);
    try {
      const at = lease.value;
      this.clearSums(at);
      const path = await this.runPath(at, job, o.onProgress);
      await this.reduceSegments(at, job);
      // every pair's totals are read and checked finite before `after` (the dataset run's aggregation) sees them
      const results = await this.readResults(at, job, path);
      if (after) {
        const extra: Dispatch[] = [];
        for (let s = 0; s < pairs.length; s++) extra.push(...await after(reductionViews(at.sums.slots[s]), s));
        if (extra.length) await submit(this.model.g, extra, 'NIG after');
      }
      return results;
    } finally {
      lease.release();
    }
  }

  /**
   * Runs with the coarser sums: a fixed m with an error estimate (richardson, `estimate`), or with `tol` the
   * adaptive loop. Each pass runs the pending pairs at one m (in batches that fit), estimates each pair's error
   * from its own points, and hands the pairs that pass (or reach `maxSteps`) to `after` while their reduction
   * views are valid; the rest run again at a larger m (`nextSteps`).
   *
   * With `tol`, a pass evaluates only the points its pairs have not evaluated yet (the points of m are every
   * second point of 2m): each pair keeps a point store (src/ig/store.ts) and its sums come from it, so a pair that
   * ends at m has evaluated exactly m + 1 points. Where a pair's store would not fit the memory budget beside a
   * chunk plan, that pair drops it and each of its later passes evaluates all its points (`points` says so).
   */
  private async attributeAdaptive(pairs: EncodedPair[], o: NigOptions, after?: (v: ReductionViews, i: number) => Promise<Dispatch[]>): Promise<NigResult[]> {
    const rule = o.rule ?? DEFAULT_RULE;
    const adaptive = o.tol !== undefined;
    const levels = coarseLevels(rule, true);
    const maxSteps = o.maxSteps ?? DEFAULT_MAX_STEPS;
    if (adaptive) {
      if (!(o.tol! > TOL_RANGE.min && o.tol! < TOL_RANGE.exclusiveMax)) throw new UserError(`--tol takes ${TOL_RANGE.range}; got ${o.tol}`);
      checkLevelSteps(maxSteps, levels, '--max-steps');
      if (o.steps > maxSteps) throw new UserError(`--steps ${o.steps} (the first m tried) is above --max-steps ${maxSteps}; lower --steps or raise --max-steps`);
    }
    checkLevelSteps(o.steps, levels);
    const results: NigResult[] = new Array(pairs.length);
    const records = pairs.map((): AdaptiveRecord => ({ tol: o.tol ?? NaN, maxSteps, capped: false, passes: [], points: 0 }));
    // pairs not done yet, each with the m of its next pass and its point store (null: not yet, or dropped)
    let queue = pairs.map((_, i) => ({ i, m: o.steps, reuse: adaptive, store: null as PointStore | null }));
    try {
      while (queue.length) {
        const m = Math.min(...queue.map((q) => q.m));
        const first = queue.find((q) => q.m === m)!;
        const T = this.paddedLength(pairs[first.i].ids.length);
        let batch: typeof queue;
        let stores: PointStore[] | undefined;
        let alphas: number[] | undefined; // (a pass without stores: all m + 1 points, ordered by `prepare`)
        if (first.reuse) {
          const all = Array.from({ length: m + 1 }, (_, k) => k);
          // the pairs with the same points to add share a batch; each store grows to hold them
          const ks = first.store ? first.store.missing(m) : all;
          const same = queue.filter((q) => q.m === m && q.reuse && this.paddedLength(pairs[q.i].ids.length) === T && (q.store ? q.store.missing(m) : all).join() === ks.join());
          const others = queue.filter((q) => !same.includes(q)).reduce((a, q) => a + (q.store?.bytes ?? 0), 0);
          const capOf = (q: (typeof queue)[number]) => (q.store?.rows ?? 0) + ks.length;
          const storeBytes = (qs: typeof queue) => qs.reduce((a, q) => a + PointStore.bytes(this.model.g, this.model.cfg, T, capOf(q)), 0);
          const n = this.pack(T, ks.length, same.length, levels, (k) => others + storeBytes(same.slice(0, k)));
          if (n === 0) {
            // no room for this pair's store: it evaluates all its points from now on
            first.store?.destroy();
            first.store = null;
            first.reuse = false;
            continue;
          }
          batch = same.slice(0, n);
          // (the stores grow beside the plans kept: room for them first)
          this.model.plans.makeRoom(others + storeBytes(batch), this.budget());
          for (const q of batch) {
            q.store ??= new PointStore(this.model.g, this.model.cfg, T);
            await q.store.grow(capOf(q));
          }
          stores = batch.map((q) => q.store!);
          // (a first pass runs α = 0 last: with the right rule its gradient weighs nothing, see `prepare`)
          alphas = (ks[0] === 0 ? [...ks.slice(1), 0] : ks).map((k) => k / m);
        } else {
          const plain = queue.filter((q) => q.m === m && !q.reuse && this.paddedLength(pairs[q.i].ids.length) === T);
          batch = plain.slice(0, this.packable(T, m, plain.length, levels));
        }
        const reserved = queue.reduce((a, q) => a + (q.store?.bytes ?? 0), 0);
        const job = this.prepare(batch.map((q) => pairs[q.i]), { ...o, steps: m }, levels, alphas, stores, reserved);
        const lease = await this.attr(job.T, job.P, job.target, batch.length, levels, rule === 'richardson', stores && { stores, m, rule }, reserved);
        try {
          const at = lease.value;
          if (!stores) this.clearSums(at);
          const path = await this.runPath(at, job, o.onProgress);
          if (stores) this.storePath(job, path);
          await this.reduceSegments(at, job);
          const accepted: Dispatch[] = [];
          const rs = await this.readResults(at, job, path);
          for (const [s, q] of batch.entries()) {
            const r = rs[s];
            const est = r.errorEstimate!, rec = records[q.i];
            rec.passes.push({ steps: m, estimate: est });
            rec.points += job.alphas.length;
            const pass = !adaptive || est <= o.tol!;
            if (!pass && m < maxSteps) { q.m = nextSteps(rule, m, est, o.tol!, maxSteps); continue; }
            rec.capped = !pass;
            if (adaptive) r.adaptive = rec;
            results[q.i] = r;
            q.store?.destroy();
            q.store = null;
            if (after) accepted.push(...await after(reductionViews(at.sums.slots[s]), q.i));
          }
          // (the reduction views are valid while the plan is leased: the accepted pairs' dispatches go now)
          if (accepted.length) await submit(this.model.g, accepted, 'NIG accepted pairs');
        } finally {
          lease.release();
        }
        queue = queue.filter((q) => results[q.i] === undefined);
      }
    } finally {
      for (const q of queue) q.store?.destroy();
    }
    return results;
  }

  // ---------- the steps of attributeMany ----------

  /** Validates the request and fixes its batching: padded length, rows per chunk, baselines. */
  private prepare(pairs: EncodedPair[], o: NigOptions, levels = 0, alphas?: number[], stores?: PointStore[], reserved = 0): Job {
    const cfg = this.model.cfg;
    checkSteps(o.steps);
    const m = o.steps;
    const T = this.paddedLength(pairs[0].ids.length);
    for (const p of pairs) if (this.paddedLength(p.ids.length) !== T) throw new Error('attributeMany: the pairs of a batch must share one padded length');
    const rule = o.rule ?? DEFAULT_RULE;
    const slots = pairs.length;
    // the point whose gradient weighs nothing runs last and skips its backward (one pair a batch): the right rule
    // runs its path from α = 1 down (so α = 0 comes last), where the conductance kernel's step is the rule's
    // negated and mirrored: Σ (y_{k−1} − y_k)·(−g_k) = Σ (y_k − y_{k−1})·g_k; the left rule's α = 1 is last already
    // (kept where ∂F/∂x at α = 1 is read: results that are not light)
    const { wr, wl } = ruleWeights(kernelRule(rule));
    const down = !alphas && wl === 0 && wr !== 0;
    const al = alphas ?? Array.from(alphasOf(m));
    if (down) al.reverse();
    const points = al.length;
    const last = al[points - 1];
    // (heads read the gradient at α = 1 for the head gate: that point always gets its backward)
    const skipLast = slots === 1 && ((last === 0 && wl === 0) || (last === 1 && wr === 0 && !!o.light && !this.heads));
    // (several pairs: `pack` let them share the batch whole)
    const P = slots === 1 ? this.chunkSize(T, points, o.chunk, levels, reserved) : slots * points;
    const baseIds = pairs.map((pair) => Array.from(baselineIds(pair.ids, pair.typeIds, o.baseline ?? DEFAULT_BASELINE, this.special), (b) => (b < 0 ? null : b)));
    return {
      pairs, T, m, alphas: al, skipLast, wr: down ? -wl : wr, wl: down ? -wr : wl, stores, rule, levels, estimateOf: o.estimateOf ?? 'ffn-pre', target: o.target ?? defaultTarget(cfg.numLabels),
      P, rowsPerSlot: P / slots, baseIds, light: !!o.light, perToken: !!o.perToken,
    };
  }

  /** Zeroes every path sum and carry of the pairs about to run. */
  private clearSums(at: Attr): void {
    const g = this.model.g;
    const enc = g.device.createCommandEncoder({ label: 'clear attribution' });
    for (const slot of [...at.sums.slots, ...at.sums.coarse.flat()]) for (const v of clearedSums<View>(slot)) enc.clearBuffer(v.buffer, v.offset, v.size);
    submitCommands(g, enc.finish());
  }

  /**
   * The path in chunks: inputs and chunk uniforms written, one submit per chunk, F collected (read once at the end). With point
   * stores, each chunk's points are stashed at the stores' next rows (F and α recorded by `storePath`).
   */
  private async runPath(at: Attr, job: Job, onProgress?: (done: number, total: number) => void): Promise<PathOutputs> {
    const { model } = this;
    const g = model.g;
    const { pairs, P, rowsPerSlot, T, alphas } = job;
    const E = embeddingSize(model.cfg);
    const points = alphas.length;
    const { wr, wl } = job;
    const back = at.plan.act.back!;
    const base = job.stores?.[0].rows ?? 0; // (the pairs of a batch with stores hold the same number of points)
    const out: PathOutputs = { F: pairs.map(() => new Float32Array(points)), gradIn: pairs.map(() => null) };
    const rows = Array.from({ length: P }, (_, b) => {
      const s = Math.floor(b / rowsPerSlot);
      return { ids: pairs[s].ids, baseIds: job.baseIds[s], typeIds: pairs[s].typeIds };
    });
    const one = alphas.indexOf(1); // ∂F/∂x at α = 1 is read where that point runs
    const parts = chunks(points, rowsPerSlot);
    const grads = one >= 0 && !job.light;
    // F of every chunk and each pair's ∂F/∂x at α = 1 go into one staging buffer as the chunks are submitted, and are
    // read once at the end: no host round trip per chunk (with `onProgress`, a wait per chunk for the progress alone)
    const collect = new Collect(g, 4 * (parts.length * P + (grads ? pairs.length * T * E : 0)), `NIG path of ${pairs.length} pair(s)`);
    const fIds: number[] = [];
    let gIds: number[] = [];
    for (const { k0, count } of parts) {
      // (one pair: no backward on the rows after its last point, nor on a last point that weighs nothing; the
      // pass is built before the uniforms below are written, which include its own)
      const backRows = pairs.length > 1 ? P : count - (job.skipLast && k0 + count === points ? 1 : 0);
      const pass = backRows === P ? at.dispatches : await at.passFor(backRows);
      model.writeInputs(at.plan, rows, Array.from({ length: P }, (_, b) => alphas[Math.min(k0 + (b % rowsPerSlot), points - 1)]));
      for (const c of at.cond) setConductanceChunk(g, c.params, c.R, c.outOff, c.rowOff, k0, count, wr, wl);
      // the head gate: c·∂F/∂c at the row of α = 1 (the kernel's one step from a zero carry), nothing in other chunks
      const here = one >= k0 && one < k0 + count;
      for (const c of at.gates) setConductanceChunk(g, c.params, c.R, c.outOff, c.rowOff + (here ? one - k0 : 0), 1, here ? 1 : 0, 1, 0);
      for (const c of at.stash) setStash(g, c.params, { R: c.R, count, rowOff: c.rowOff, base: base + k0 });
      await submit(g, pass, `NIG points ${k0}..${k0 + count - 1}`);
      fIds.push(collect.add([{ view: back.F, count: P }])[0]);
      if (grads && one >= k0 && one < k0 + count) gIds = collect.add(pairs.map((_, s) => ({ view: back.ds0, count: T * E, elemOffset: (s * rowsPerSlot + one - k0) * T * E })));
      if (onProgress) {
        await settle(g);
        onProgress(k0 + count, points);
      }
    }
    const got = await collect.read();
    parts.forEach(({ k0, count }, i) => {
      for (let s = 0; s < pairs.length; s++) out.F[s].set(got[fIds[i]].subarray(s * rowsPerSlot, s * rowsPerSlot + count), k0);
    });
    gIds.forEach((id, s) => { out.gradIn[s] = got[id]; });
    if (!job.stores && alphas[0] === 1) for (const f of out.F) f.reverse(); // F along the path from α = 0
    return out;
  }

  /**
   * After a path with point stores: records each new point (its α and F) in its pair's store, writes the index
   * table of m, and turns `path` into what `readResults` reads, F along all m + 1 points in α order.
   */
  private storePath(job: Job, path: PathOutputs): void {
    const { m, alphas } = job;
    job.stores!.forEach((store, s) => {
      alphas.forEach((a, j) => store.add(Math.round(a * m), m, path.F[s][j]));
      if (path.gradIn[s]) store.gradIn = path.gradIn[s];
      const rows = store.rowsOf(m);
      writeView(this.model.g, store.v!.idx, Uint32Array.from(rows));
      path.F[s] = Float32Array.from(rows, (r) => store.F[r]);
      path.gradIn[s] = store.gradIn;
    });
  }

  /** Sums over tokens and per segment (each pair's own segment bounds). */
  private async reduceSegments(at: Attr, job: Job): Promise<void> {
    const g = this.model.g;
    const { layers: L } = this.model.cfg;
    for (let s = 0; s < job.pairs.length; s++) {
      const { sep1, ids, passage } = job.pairs[s];
      for (const p of at.segs[s]) setSegments(g, p.params, L, job.T, p.U, sep1, ids.length, passage ?? sep1 + 1, p.cols);
    }
    await submit(g, at.segDispatches, 'NIG segments');
  }

  /**
   * Every pair's results read back at once (one copy, one wait, one map for the batch), checked finite, trimmed to
   * each pair's length, with completeness deltas. The totals are read even when light (small), so that no
   * non-finite value reaches what the caller adds up next.
   */
  private async readResults(at: Attr, job: Job, path: PathOutputs): Promise<NigResult[]> {
    const g = this.model.g;
    const { intermediate: F, layers: L } = this.model.cfg;
    const E = embeddingSize(this.model.cfg);
    const { m, T, light } = job;
    const empty = new Float32Array(0);
    const sum = (a: Float32Array) => a.reduce((x, y) => x + y, 0);
    const coarseKey = job.estimateOf === 'ffn-pre' ? 'preTotal' : 'postTotal';
    const viewsOf = (s: number): View[] => {
      const v = at.sums.slots[s];
      return [
        v.preTotal, v.postTotal, ...(light ? [] : [v.preSeg, v.postSeg]), v.igE, ...v.hid.slice(0, L + 1),
        ...(job.levels > 0 ? at.sums.coarse[s].map((x) => x[coarseKey]) : []), ...(job.perToken ? [v.nigPre, v.nigPost] : []),
        ...(v.heads ? [v.heads.total, v.heads.seg, v.heads.gateTotal!] : []),
      ];
    };
    const per = job.pairs.map((_, s) => viewsOf(s));
    const all = await readViews(g, per.flat().map((view) => ({ view })));
    const results: NigResult[] = [];
    for (let s = 0; s < job.pairs.length; s++) {
      const got = all.splice(0, per[s].length);
      const next = () => got.shift()!;
      const len = job.pairs[s].ids.length;
      const Fpath = path.F[s];
      const [preTotal, postTotal] = [next(), next()];
      const [preSeg, postSeg] = light ? [empty, empty] : [next(), next()];
      const igE = next();
      const hid = got.splice(0, L + 1);
      const coarse = job.levels > 0 ? got.splice(0, job.levels) : [];
      for (const x of [Fpath, preTotal, postTotal]) {
        for (let i = 0; i < x.length; i++) {
          if (!Number.isFinite(x[i])) throw new UserError(`NIG of a pair of ${len} tokens produced a non-finite value (${x[i]}${x === Fpath ? ' in F along the path' : ' in the NIG totals'}): the model's weights or this input overflow float32 (look for NaN or Inf in the checkpoint, or drop the pair); nothing of this pair was added to any aggregate`);
        }
      }
      const dF = Fpath[m] - Fpath[0];
      const trimTC = (a: Float32Array) => a.slice(0, len * E);
      const result: NigResult = {
        T: len, steps: m, rule: job.rule, target: job.target, chunk: job.rowsPerSlot, F: Fpath,
        nigPre: preTotal, nigPost: postTotal, nigPreSegments: preSeg, nigPostSegments: postSeg,
        igEmbed: trimTC(igE), gradEmbedInput: light ? empty : trimTC(path.gradIn[s]!), igDelta: sum(trimTC(igE)) - dF, hiddenDeltas: hid.map((h) => sum(h) - dF),
      };
      if (job.levels > 0) result.errorEstimate = estimateError(job.rule, job.estimateOf === 'ffn-pre' ? preTotal : postTotal, coarse[0], coarse[1]);
      if (job.perToken) {
        const trim = (a: Float32Array) => {
          const out = new Float32Array(L * len * F);
          for (let l = 0; l < L; l++) out.set(a.subarray(l * T * F, l * T * F + len * F), l * len * F);
          return out;
        };
        const [pre, post] = [next(), next()];
        result.nigPreTokens = trim(pre);
        result.nigPostTokens = trim(post);
      }
      if (at.sums.slots[s].heads) {
        [result.headCond, result.headCondSegments, result.headGate] = [next(), next(), next()];
        for (const x of [result.headCond, result.headGate]) {
          for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new UserError(`head attribution of a pair of ${len} tokens produced a non-finite value (${x[i]}): the model's weights or this input overflow float32; nothing of this pair was added to any aggregate`);
        }
      }
      results.push(result);
    }
    return results;
  }

  // ---------- chunk plans ----------

  /** Builds (or reuses) the chunk plan of P rows for `slots` pairs at length T; returns the bytes its arenas hold. */
  async allocateChunk(T: number, P: number, slots = 1, target: Target = defaultTarget(this.model.cfg.numLabels), levels = 0): Promise<number> {
    const lease = await this.attr(T, P, target, slots, levels);
    lease.release();
    return lease.value.plan.arena.bytes + lease.value.arena.bytes;
  }

  /**
   * The dispatches of the chunk plan of P rows for one pair at length T: `chunk` (forward, backward, path sums: once
   * per chunk) and `pair` (the segment reductions: once per pair). For walking a plan without running it (the
   * performance model and the tuner, src/bench/chunk-walk.ts, on a recording device).
   */
  async chunkDispatches(T: number, P: number, target: Target = defaultTarget(this.model.cfg.numLabels)): Promise<{ chunk: Dispatch[]; pair: Dispatch[] }> {
    const lease = await this.attr(T, P, target, 1, 0);
    lease.release();
    return { chunk: lease.value.dispatches, pair: lease.value.segDispatches };
  }

  private storePasses = 0;

  /**
   * The chunk plan, leased from the model's keeper (src/gpu/plans.ts): kept by the memory budget beside `reserved`
   * bytes (point stores), least recently used evicted first. A plan with point stores binds those stores: it is
   * built for its pass alone (on kept forward plan and sums) and goes when released.
   */
  private attr(T: number, P: number, target: Target, slots: number, levels: number, richardson = false, store?: StorePass, reserved = 0): Promise<Lease<Attr>> {
    if (store && this.heads) throw new UserError('heads are not attributed with --tol yet (adaptive m keeps FFN points alone); use a fixed --steps');
    const variant = `${this.heads ? ':heads' : ''}${this.model.planVariant}`;
    const key = store ? `chunk stores#${++this.storePasses}` : `chunk ${T}x${P}/${slots}:${target}:${levels}${richardson ? ':richardson' : ''}${variant}`;
    return this.model.plans.lease(key, { kind: 'chunk', bytes: 0, reserved, budget: this.budget(), keep: !store }, async () => {
      const o = { reserved, budget: this.budget() };
      const fwd = await this.model.plan({ B: P, T, save: true, ...(this.heads ? { context: true } : {}) }, o);
      let sums: Lease<{ arena: Arena; sums: Bound<AttributionHandles> }> | undefined;
      try {
        const layout = chunkLayout(this.model.cfg, T, P, slots, levels, this.model.attention, this.heads).attribution; // (the same at any P)
        sums = await this.model.plans.lease(`sums ${T}/${slots}:${levels}${this.heads ? ':heads' : ''}`, { kind: 'sums', bytes: layoutBytes(this.model.g.limits, layout), ...o }, async () => {
          const arena = new Arena(this.model.g, layout.label);
          const v = await allocateLayout(arena, layout);
          return { value: { arena, sums: v }, bytes: arena.bytes, destroy: () => arena.destroy() };
        });
        const at = await this.build(fwd.value, sums.value.arena, sums.value.sums, T, P, target, slots, levels, richardson, store);
        const [f, s] = [fwd, sums];
        return { value: at, bytes: 0, destroy: () => { f.release(); s.release(); } };
      } catch (e) {
        fwd.release();
        sums?.release();
        throw e;
      }
    });
  }

  /** The chunk plan: activations (the model's plan), path sums, and the backward with the sums hooked in. */
  private async build(plan: ForwardPlan, arena: Arena, sums: Bound<AttributionHandles>, T: number, P: number, target: Target, slots: number, levels: number, richardson: boolean, store?: StorePass): Promise<Attr> {
    const { model } = this;
    const g = model.g;
    const { hidden: C, intermediate: F, layers: L, heads: NH } = model.cfg;
    const E = embeddingSize(model.cfg);
    const cond: Attr['cond'] = [];
    const gates: Attr['gates'] = [];
    const rowsPerSlot = P / slots;
    /** What a GradEvent feeds: each attributed quantity's activation and gradient (this chunk's rows, R values a row),
     * where its sum goes in a slot's sums (at outOff) with its carry, and where a point store keeps it. */
    interface Quantity {
      label: string; y: View; g: View; R: number; outOff: number; yGelu: boolean;
      sum: (v: Slot<View>) => View; carry: (v: Slot<View>) => View;
      storeY: (v: Bound<StoreHandles>) => View; storeG: (v: Bound<StoreHandles>) => View;
    }
    // (R follows the event's rows per sequence: T, or 1 where the last layer computes [CLS] alone)
    const quantities = (e: GradEvent): Quantity[] => {
      if (e.kind === 'hidden') return [{ label: `NIG hidden ${e.l}`, y: e.h, g: e.dh, R: e.tokens * C, outOff: 0, yGelu: false, sum: (v) => v.hid[e.l], carry: (v) => v.carryHid[e.l], storeY: (v) => v.hidY[e.l], storeG: (v) => v.hidG[e.l] }];
      if (e.kind === 'embed') return [{ label: 'IG embeddings', y: e.s0, g: e.ds0, R: T * E, outOff: 0, yGelu: false, sum: (v) => v.igE, carry: (v) => v.carryE, storeY: (v) => v.embY, storeG: (v) => v.embG }];
      if (e.kind === 'context') {
        if (!this.heads) return [];
        const none = (): View => { throw new Error('heads keep no point store'); };
        return [{ label: `head conductance ${e.l}`, y: e.c, g: e.dc, R: e.tokens * C, outOff: e.l * T * C, yGelu: false, sum: (v) => v.heads!.ctx, carry: (v) => v.heads!.carryCtx[e.l], storeY: none, storeG: none }];
      }
      const ffn = { y: e.pre, R: e.tokens * F, outOff: e.l * T * F, storeY: (v: Bound<StoreHandles>) => v.preY[e.l] };
      return [
        { ...ffn, label: `NIG pre ${e.l}`, g: e.dpre, yGelu: false, sum: (v) => v.nigPre, carry: (v) => v.carryPre[e.l], storeG: (v) => v.preG[e.l] },
        { ...ffn, label: `NIG post ${e.l}`, g: e.dpost, yGelu: true, sum: (v) => v.nigPost, carry: (v) => v.carryPost[e.l], storeG: (v) => v.postG[e.l] },
      ];
    };
    const every = new Map<string, Quantity>(); // every quantity of the backward (the path sums from a store read them)
    const stashes: Attr['stash'] = [];
    const onGrad = async (e: GradEvent): Promise<Dispatch[]> => {
      const ds: Dispatch[] = [];
      const qs = quantities(e);
      for (const q of qs) if (!every.has(q.label)) every.set(q.label, q);
      for (let s = 0; s < slots; s++) {
        const rowOff = s * rowsPerSlot;
        if (store) {
          // every point's (y, g) goes to its pair's store (a y two quantities share, once); the sums come from
          // there after the path (below)
          const v = store.stores[s].v!;
          const kept = new Set<View>();
          for (const q of qs) {
            for (const [what, src, dst] of [['', q.y, q.storeY(v)], ['d ', q.g, q.storeG(v)]] as const) {
              if (kept.has(dst)) continue;
              kept.add(dst);
              const c = await stash(g, { label: `stash ${what}${q.label} (pair ${s})`, src, dst, R: q.R });
              stashes.push({ params: c.params, R: q.R, rowOff });
              ds.push(c.d);
            }
          }
          continue;
        }
        // the sums over all points, then (levels > 0) the same over every 2nd and 4th point
        for (const [i, v] of [sums.slots[s], ...sums.coarse[s]].entries()) {
          const stride = 2 ** i;
          for (const q of qs) {
            const c = await conductance(g, { label: `${q.label} (pair ${s}${stride > 1 ? `, every ${stride}th point` : ''})`, y: q.y, g: q.g, out: q.sum(v), carry: q.carry(v), R: q.R, yGelu: q.yGelu, outOff: q.outOff, rowOff, stride });
            cond.push({ params: c.params, R: q.R, outOff: q.outOff, rowOff });
            ds.push(c.d);
          }
        }
        // the head gate (all points' sums only): the same kernel, one step from a zero carry at the row of α = 1
        const h = sums.slots[s].heads;
        if (e.kind === 'context' && h) {
          const R = e.tokens * C, outOff = e.l * T * C;
          const c = await conductance(g, { label: `head gate ${e.l} (pair ${s})`, y: e.c, g: e.dc, out: h.gate!, carry: h.carryGate[e.l], R, outOff, rowOff });
          gates.push({ params: c.params, R, outOff, rowOff });
          ds.push(c.d);
        }
      }
      return ds;
    };
    const back = await buildBackward(model, plan, target, onGrad);
    const passes = new Map<number, Promise<Dispatch[]>>();
    const passFor = (rows: number) => {
      let p = passes.get(rows);
      if (!p) passes.set(rows, (p = buildBackward(model, plan, target, onGrad, rows).then((b) => [...plan.dispatches, ...b])));
      return p;
    };
    const segs: Attr['segs'] = [];
    const segDispatches: Dispatch[] = [];
    if (store) {
      // the rule's sums over all m + 1 points and over every 2nd and 4th, from each pair's store
      const { wr, wl } = ruleWeights(kernelRule(store.rule));
      for (const [s, st] of store.stores.entries()) {
        const v = st.v!;
        for (const [i, out] of [sums.slots[s], ...sums.coarse[s]].entries()) {
          const stride = 2 ** i;
          for (const q of every.values()) {
            segDispatches.push(await pathSum(g, { label: `path sum ${q.label} (pair ${s}${i ? `, every ${stride}th point` : ''})`, y: q.storeY(v), g: q.storeG(v), idx: v.idx, out: q.sum(out), R: q.R, outOff: q.outOff, n: store.m / stride, stride, wr, wl, yGelu: q.yGelu }));
          }
        }
      }
    }
    if (richardson) {
      // richardson: R_m = (4·T_m − T_{m/2}) / 3 in place of T_m, for every sum, before the reductions
      for (let s = 0; s < slots; s++) {
        const [v, h] = [sums.slots[s], sums.coarse[s][0]];
        const sumsOf: [string, View, View, number][] = [['pre', v.nigPre, h.nigPre, L * T * F], ['post', v.nigPost, h.nigPost, L * T * F], ['embeddings', v.igE, h.igE, T * E], ...v.hid.map((x, l): [string, View, View, number] => [`hidden ${l}`, x, h.hid[l], T * C])];
        if (v.heads) sumsOf.push(['heads', v.heads.ctx, h.heads!.ctx, L * T * C]);
        for (const [what, a, b, R] of sumsOf) segDispatches.push(await combine(g, { label: `richardson ${what} (pair ${s})`, a, b, R, ca: 4 / 3, cb: -1 / 3 }));
      }
    }
    for (let s = 0; s < slots; s++) {
      segs.push([]);
      for (const [i, v] of [sums.slots[s], ...sums.coarse[s]].entries()) {
        const hd = v.heads;
        const reductions: [string, View, View, View, number, number][] = [['pre', v.nigPre, v.preTotal, v.preSeg, F, 1], ['post', v.nigPost, v.postTotal, v.postSeg, F, 1]];
        // heads: NH units of HS columns each
        if (hd) reductions.push(['heads', hd.ctx, hd.total, hd.seg, NH, C / NH]);
        if (hd?.gate) reductions.push(['head gate', hd.gate, hd.gateTotal!, hd.gateSeg!, NH, C / NH]);
        for (const [kind, inp, total, seg, U, cols] of reductions) {
          const r = await segments(g, { label: `segments ${kind} (pair ${s}${i ? `, every ${2 ** i}th point` : ''})`, inp, total, seg, L, T, U, cols });
          segs[s].push({ params: r.params, U, cols });
          segDispatches.push(r.d);
        }
      }
    }
    return { T, P, slots, levels, plan, arena, sums, dispatches: [...plan.dispatches, ...back], cond, gates, stash: stashes, segs, segDispatches, passFor };
  }
}
