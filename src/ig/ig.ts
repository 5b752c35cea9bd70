/**
 * Plain IG on the word embeddings with any quadrature (src/ig/path.ts `igPath`: Riemann left/right/middle/
 * trapezoid, Gauss-Legendre): the nodes are the batch of one forward and one backward, and a weighted sum of the
 * embedding gradients accumulates on the GPU across chunks. F(x) and F(x') are evaluated too (as zero-weight
 * rows when they are not nodes), for the completeness delta Σ IG − (F(x) − F(x')).
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { readView, submit, submitCommands } from '../gpu/queue.ts';
import type { ForwardPlan } from '../model/forward.ts';
import type { EncodedPair } from '../model/types.ts';
import { embeddingSize } from '../model/config.ts';
import { buildBackward } from '../model/backward.ts';
import { defaultTarget, type Target } from '../model/types.ts';
import { setWeightedSum, weightedSum } from '../kernels/ig.ts';
import { baselineIds, DEFAULT_BASELINE, type Baseline } from './baselines.ts';
import { chunks, igPath, type IgRule } from './path.ts';
import type { NigEngine } from './engine.ts';
import { igLayout, type IgHandles } from './layout.ts';
import { allocateLayout, type Bound } from '../model/layout.ts';

export interface IgOptions {
  rule: IgRule;
  steps: number;          // intervals (Riemann) or nodes (Gauss-Legendre)
  target?: Target;
  baseline?: Baseline;
  chunk?: number;
}

export interface IgResult {
  rule: IgRule;
  steps: number;
  alphas: Float64Array;     // the nodes, ascending
  weights: Float64Array;
  igEmbed: Float32Array;    // (T, E) (E: the embedding width)
  Fx: number;               // F(x)
  Fbase: number;            // F(x')
  delta: number;            // Σ igEmbed − (F(x) − F(x'))
}

interface Plan { key: string; plan: ForwardPlan; arena: Arena; sums: Bound<IgHandles>; dispatches: Dispatch[]; params: GPUBuffer; P: number; T: number }

export class IgEngine {
  private cached: Plan | null = null;

  constructor(readonly nig: NigEngine) {}

  /** The plan of P rows at length T, on a forward plan leased from the model's plans (the caller releases it). */
  private async build(T: number, P: number, target: Target): Promise<{ at: Plan; release: () => void }> {
    const { model } = this.nig;
    const lease = await model.plan({ B: P, T, save: true });
    try {
      return { at: await this.buildOn(lease.value, T, P, target), release: lease.release };
    } catch (e) {
      lease.release();
      throw e;
    }
  }

  private async buildOn(plan: ForwardPlan, T: number, P: number, target: Target): Promise<Plan> {
    const { model } = this.nig;
    const key = `${T}x${P}:${target}`;
    if (this.cached && this.cached.key === key && this.cached.plan === plan) return this.cached;
    this.cached?.arena.destroy();
    const layout = igLayout(model.cfg, T, P);
    const A = new Arena(model.g, layout.label);
    const sums = await allocateLayout(A, layout);
    let params: GPUBuffer | null = null;
    const back = await buildBackward(model, plan, target, async (e) => {
      if (e.kind !== 'embed') return [];
      const ws = await weightedSum(model.g, { label: 'IG weighted gradient sum', g: e.ds0, w: sums.w, out: sums.G, R: T * embeddingSize(model.cfg) });
      params = ws.params;
      return [ws.d];
    });
    this.cached = { key, plan, arena: A, sums, dispatches: [...plan.dispatches, ...back], params: params!, P, T };
    return this.cached;
  }

  async attribute(pair: EncodedPair, o: IgOptions): Promise<IgResult> {
    const { model } = this.nig;
    const cfg = model.cfg;
    const target: Target = o.target ?? defaultTarget(cfg.numLabels);
    const { alphas, weights } = igPath(o.rule, o.steps);
    // nodes plus the endpoints (weight 0 where they are not nodes)
    const pts: { a: number; w: number }[] = Array.from(alphas, (a, i) => ({ a, w: weights[i] }));
    if (!pts.some((p) => p.a === 0)) pts.unshift({ a: 0, w: 0 });
    if (!pts.some((p) => p.a === 1)) pts.push({ a: 1, w: 0 });
    const T = this.nig.paddedLength(pair.ids.length);
    const P = this.nig.chunkSize(T, pts.length, o.chunk);
    const { at, release } = await this.build(T, P, target);
    try {
      return await this.run(at, pair, o, pts, { alphas, weights });
    } finally {
      release();
    }
  }

  private async run(at: Plan, pair: EncodedPair, o: IgOptions, pts: { a: number; w: number }[], { alphas, weights }: ReturnType<typeof igPath>): Promise<IgResult> {
    const { model, special } = this.nig;
    const g = model.g;
    const C = embeddingSize(model.cfg); // the word vectors' width (ELECTRA: embedding_size)
    const { T, P } = at;
    const base = baselineIds(pair.ids, pair.typeIds, o.baseline ?? DEFAULT_BASELINE, special);
    const baseIds = Array.from(base, (b) => (b < 0 ? null : b));
    const Gv: View = at.sums.G;
    const enc = g.device.createCommandEncoder({ label: 'clear IG' });
    enc.clearBuffer(Gv.buffer, Gv.offset, Gv.size);
    submitCommands(g, enc.finish());
    let Fx = NaN, Fbase = NaN;
    for (const { k0, count } of chunks(pts.length, P)) {
      const rows = Array.from({ length: P }, () => ({ ids: pair.ids, baseIds, typeIds: pair.typeIds }));
      model.writeInputs(at.plan, rows, Array.from({ length: P }, (_, b) => pts[Math.min(k0 + b, pts.length - 1)].a));
      writeView(g, at.sums.w, Float32Array.from({ length: P }, (_, b) => (b < count ? pts[k0 + b].w : 0)));
      setWeightedSum(g, at.params, { R: T * C, count, rowOff: 0 });
      await submit(g, at.dispatches, `IG points ${k0}..${k0 + count - 1}`);
      const f = await readView(g, at.plan.act.back!.F, count);
      for (let b = 0; b < count; b++) {
        if (pts[k0 + b].a === 0) Fbase = f[b];
        if (pts[k0 + b].a === 1) Fx = f[b];
      }
    }
    const G = await readView(g, Gv, pair.ids.length * C);
    // IG = (x − x') · G, with the word embedding rows on the host
    const E = model.w.wordEmb.data;
    const ig = new Float32Array(pair.ids.length * C);
    let total = 0;
    for (let t = 0; t < pair.ids.length; t++) {
      const xi = pair.ids[t] * C, bi = base[t];
      for (let c = 0; c < C; c++) {
        const d = E[xi + c] - (bi < 0 ? 0 : E[bi * C + c]);
        ig[t * C + c] = d * G[t * C + c];
        total += ig[t * C + c];
      }
    }
    return { rule: o.rule, steps: o.steps, alphas, weights, igEmbed: ig, Fx, Fbase, delta: total - (Fx - Fbase) };
  }
}
