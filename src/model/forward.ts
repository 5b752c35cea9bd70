/**
 * BERT on the GPU: weights uploaded once, forward plans (lists of dispatches over one activation arena)
 * built per (batch, length, save) and cached. A plan that saves for backward keeps every layer's
 * activations under its own name; a scoring plan reuses one scratch buffer per kind.
 */
import type { Gpu } from '../gpu/device.ts';
import { Arena, readView, writeView } from '../gpu/arena.ts';
import { submit, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';
import type { BertConfig, BertWeights, EncodedPair } from './types.ts';
import { matmul } from '../kernels/matmul.ts';
import { layernormForward } from '../kernels/layernorm.ts';
import { embeddingsForward } from '../kernels/embeddings.ts';
import { attentionForward, MAX_T } from '../kernels/attention.ts';
import { headForward } from '../kernels/head.ts';
import { activationLayout, allocateLayout, paddedLength, type ActivationHandles, type ActivationLayout, type ActivationShape, type Bound } from './layout.ts';

export type PlanShape = ActivationShape;

export interface ForwardPlan extends PlanShape {
  layout: ActivationLayout;
  arena: Arena;
  /** Every activation buffer of the plan, by role (src/model/layout.ts). */
  act: Bound<ActivationHandles>;
  dispatches: Dispatch[];
}

export class BertGpu {
  readonly cfg: BertConfig;
  readonly weights: Arena;
  private plans = new Map<string, Promise<ForwardPlan>>();

  private constructor(readonly g: Gpu, readonly w: BertWeights) {
    this.cfg = w.config;
    this.weights = new Arena(g, 'weights');
  }

  static async create(g: Gpu, w: BertWeights): Promise<BertGpu> {
    const m = new BertGpu(g, w);
    m.upload();
    return m;
  }

  private upload(): void {
    const { w, weights: A, cfg } = this;
    const C = cfg.hidden;
    const put: [string, Float32Array][] = [
      ['wordEmb', w.wordEmb.data], ['posEmb', w.posEmb.data], ['typeEmb', w.typeEmb.data],
      ['embLnG', w.embLnG.data], ['embLnB', w.embLnB.data],
      ['poolW', w.poolW.data], ['poolB', w.poolB.data], ['clsW', w.clsW.data], ['clsB', w.clsB.data],
    ];
    w.layers.forEach((L, l) => {
      const qkvW = new Float32Array(3 * C * C);
      qkvW.set(L.qW.data, 0); qkvW.set(L.kW.data, C * C); qkvW.set(L.vW.data, 2 * C * C);
      const qkvB = new Float32Array(3 * C);
      qkvB.set(L.qB.data, 0); qkvB.set(L.kB.data, C); qkvB.set(L.vB.data, 2 * C);
      put.push([`qkvW.${l}`, qkvW], [`qkvB.${l}`, qkvB], [`aoW.${l}`, L.aoW.data], [`aoB.${l}`, L.aoB.data],
        [`ln1G.${l}`, L.ln1G.data], [`ln1B.${l}`, L.ln1B.data], [`iW.${l}`, L.iW.data], [`iB.${l}`, L.iB.data],
        [`oW.${l}`, L.oW.data], [`oB.${l}`, L.oB.data], [`ln2G.${l}`, L.ln2G.data], [`ln2B.${l}`, L.ln2B.data],
        [`mask.${l}`, new Float32Array(cfg.intermediate).fill(1)]);
    });
    for (const [n, d] of put) A.reserve(n, d.byteLength);
    A.build();
    for (const [n, d] of put) writeView(this.g, A.view(n), d);
  }

  /** Sets layer l's FFN neuron mask (length d_ff; 1 keep, 0 prune). */
  setMask(l: number, mask: Float32Array): void {
    if (l < 0 || l >= this.cfg.layers) throw new UserError(`prune mask: layer ${l} does not exist (the model has ${this.cfg.layers})`);
    if (mask.length !== this.cfg.intermediate) throw new UserError(`prune mask: layer ${l} has ${mask.length} values, the model's d_ff is ${this.cfg.intermediate}`);
    writeView(this.g, this.weights.view(`mask.${l}`), mask);
  }

  resetMasks(): void {
    for (let l = 0; l < this.cfg.layers; l++) this.setMask(l, new Float32Array(this.cfg.intermediate).fill(1));
  }

  plan(shape: PlanShape): Promise<ForwardPlan> {
    const key = `${shape.B}x${shape.T}${shape.save ? 's' : ''}`;
    let p = this.plans.get(key);
    if (!p) {
      p = this.buildPlan(shape);
      this.plans.set(key, p);
    }
    return p;
  }

  /** Frees the activation buffers of every cached plan. */
  dropPlans(): void {
    for (const p of this.plans.values()) p.then((x) => x.arena.destroy(), () => {});
    this.plans.clear();
  }

  private async buildPlan(shape: PlanShape): Promise<ForwardPlan> {
    const { cfg, g } = this;
    if (shape.T > MAX_T) throw new UserError(`sequence length ${shape.T} exceeds the kernel limit ${MAX_T}`);
    if (shape.T > cfg.maxPositions) throw new UserError(`sequence length ${shape.T} exceeds the model's max_position_embeddings ${cfg.maxPositions}; lower --max-length`);
    const layout = activationLayout(cfg, shape);
    const arena = new Arena(g, layout.label);
    const act = await allocateLayout(arena, layout);
    return { ...shape, layout, arena, act, dispatches: await this.encodeForward(act, shape) };
  }

  /** The forward pass over a plan's buffers: embeddings, L encoder layers, pooler and classifier. */
  private async encodeForward(act: Bound<ActivationHandles>, { B, T }: PlanShape): Promise<Dispatch[]> {
    const { cfg, g } = this;
    const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL, eps } = cfg;
    const N = B * T;
    const W = (n: string) => this.weights.view(n);
    const ds: Dispatch[] = [];
    ds.push(await embeddingsForward(g, { label: 'embeddings', tok: act.tok, alpha: act.alpha, wordEmb: W('wordEmb'), posEmb: W('posEmb'), typeEmb: W('typeEmb'), s: act.s0, rows: N, T, C }));
    ds.push(await layernormForward(g, { label: 'embeddings LN', a: act.s0, weight: W('embLnG'), bias: W('embLnB'), out: act.h[0], stats: act.stats0, rows: N, C, eps }));
    for (let l = 0; l < L; l++) {
      const h = act.h[l];
      const a = act.layers[l];
      ds.push(await matmul(g, { label: `L${l} qkv`, inp: h, weight: W(`qkvW.${l}`), bias: W(`qkvB.${l}`), out: a.qkv, M: N, N: 3 * C, K: C, transB: true }));
      ds.push(await attentionForward(g, { label: `L${l} attention`, qkv: a.qkv, mask: act.amask, out: a.att, probs: a.probs, B, T, C, NH }));
      ds.push(await matmul(g, { label: `L${l} attn out`, inp: a.att, weight: W(`aoW.${l}`), bias: W(`aoB.${l}`), out: a.ao, M: N, N: C, K: C, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN1`, a: a.ao, b: h, weight: W(`ln1G.${l}`), bias: W(`ln1B.${l}`), out: a.h1, s: a.s1, stats: a.stats1, rows: N, C, eps }));
      ds.push(await matmul(g, { label: `L${l} ffn up`, inp: a.h1, weight: W(`iW.${l}`), bias: W(`iB.${l}`), out: a.pre, out2: a.post, mask: W(`mask.${l}`), epilogue: 'ffn-up', M: N, N: F, K: C, transB: true }));
      ds.push(await matmul(g, { label: `L${l} ffn down`, inp: a.post, weight: W(`oW.${l}`), bias: W(`oB.${l}`), out: a.o, M: N, N: C, K: F, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN2`, a: a.o, b: a.h1, weight: W(`ln2G.${l}`), bias: W(`ln2B.${l}`), out: act.h[l + 1], s: a.s2, stats: a.stats2, rows: N, C, eps }));
    }
    ds.push(await headForward(g, { label: 'pooler+classifier', h: act.h[L], poolW: W('poolW'), poolB: W('poolB'), clsW: W('clsW'), clsB: W('clsB'), pooled: act.pooled, logits: act.logits, B, T, C, NL }));
    return ds;
  }

  /** Writes the token table of a batch: row (b, t) = (id, baseId, typeId, 0); padding uses [PAD]. */
  writeInputs(plan: ForwardPlan, rows: { ids: number[]; baseIds?: (number | null)[]; typeIds: number[] }[], alphas: number[]): void {
    const { B, T } = plan;
    const tok = new Uint32Array(B * T * 4);
    const amask = new Float32Array(B * T);
    const pad = this.cfg.padTokenId;
    for (let b = 0; b < B; b++) {
      const r = rows[b] ?? rows[rows.length - 1];
      for (let t = 0; t < T; t++) {
        const o = (b * T + t) * 4;
        const valid = t < r.ids.length;
        const id = valid ? r.ids[t] : pad;
        if (id < 0 || id >= this.cfg.vocabSize) throw new UserError(`token id ${id} is outside the model's vocabulary of ${this.cfg.vocabSize}; the tokenizer does not belong to this model`);
        const base = valid && r.baseIds ? r.baseIds[t] : id;
        tok[o] = id;
        tok[o + 1] = base === null ? 0xffffffff : base!;
        tok[o + 2] = valid ? r.typeIds[t] : 0;
        amask[b * T + t] = valid ? 1 : 0;
      }
    }
    writeView(this.g, plan.act.tok, new Uint32Array(tok));
    writeView(this.g, plan.act.alpha, new Float32Array(Array.from({ length: B }, (_, b) => alphas[b] ?? 1)));
    writeView(this.g, plan.act.amask, amask);
  }

  /** Logits (B, numLabels) of a batch of encoded pairs, padded to the longest (rounded up to 8). */
  async score(pairs: EncodedPair[]): Promise<Float32Array> {
    if (!pairs.length) return new Float32Array(0);
    const T = paddedLength(this.cfg, Math.max(...pairs.map((p) => p.ids.length)));
    const plan = await this.plan({ B: pairs.length, T, save: false });
    this.writeInputs(plan, pairs, []);
    submit(this.g, plan.dispatches, 'forward');
    return readView(this.g, plan.act.logits, pairs.length * this.cfg.numLabels);
  }
}

/** Relevance F from logits: 2 labels softmax(logits)[1] (or [0] for the non-relevant target); 1 label the logit
 * (its negative for the non-relevant target), as the head kernel and src/ref/bert.ts define them. */
export function relevance(logits: ArrayLike<number>, numLabels: number, target: 'relevant' | 'nonrelevant' | 'logit' = 'relevant'): number[] {
  const out: number[] = [];
  for (let b = 0; b < logits.length / numLabels; b++) {
    if (numLabels === 1 && target === 'nonrelevant') out.push(-logits[b]);
    else if (numLabels === 1 || target === 'logit') out.push(logits[b * numLabels + numLabels - 1]);
    else {
      const [l0, l1] = [logits[b * 2], logits[b * 2 + 1]];
      const m = Math.max(l0, l1);
      const e0 = Math.exp(l0 - m), e1 = Math.exp(l1 - m);
      out.push((target === 'relevant' ? e1 : e0) / (e0 + e1));
    }
  }
  return out;
}
