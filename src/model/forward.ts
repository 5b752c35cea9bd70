/**
 * BERT on the GPU: weights uploaded once, forward plans (lists of dispatches over one activation arena)
 * built per (batch, length, save) and cached. A plan that saves for backward keeps every layer's
 * activations under its own name; a scoring plan reuses one scratch buffer per kind.
 */
import type { Gpu } from '../gpu/device.ts';
import { Arena, readView, writeView, type View } from '../gpu/arena.ts';
import { submit, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';
import type { BertConfig, BertWeights, EncodedPair } from './types.ts';
import { matmul } from '../kernels/matmul.ts';
import { layernormForward } from '../kernels/layernorm.ts';
import { embeddingsForward } from '../kernels/embeddings.ts';
import { attentionForward, MAX_T } from '../kernels/attention.ts';
import { headForward } from '../kernels/head.ts';
import { reserveBackward } from './backward.ts';

const F32 = 4;

export interface PlanShape {
  B: number;     // sequences (pairs, or interpolation points) in the batch
  T: number;     // padded length
  save: boolean; // keep every layer's activations for the backward pass
}

export interface ForwardPlan extends PlanShape {
  arena: Arena;
  dispatches: Dispatch[];
  v: (name: string) => View;
  /** Name of a saved activation: per layer when saving, shared scratch otherwise. */
  act: (what: string, l: number) => string;
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

  private async buildPlan({ B, T, save }: PlanShape): Promise<ForwardPlan> {
    const { cfg, g } = this;
    const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL, eps } = cfg;
    if (T > MAX_T) throw new UserError(`sequence length ${T} exceeds the kernel limit ${MAX_T}`);
    if (T > cfg.maxPositions) throw new UserError(`sequence length ${T} exceeds the model's max_position_embeddings ${cfg.maxPositions}; lower --max-length`);
    const N = B * T;
    const A = new Arena(g, `activations ${B}x${T}`);
    const act = (what: string, l: number) => (save ? `${what}.${l}` : what);
    A.reserve('tok', N * 4 * 4);
    A.reserve('alpha', B * F32);
    A.reserve('amask', N * F32);
    A.reserve('s0', N * C * F32);
    A.reserve('stats0', N * 2 * F32);
    const reserved = new Set<string>(['h.0']);
    A.reserve('h.0', N * C * F32);

    const once = (name: string, bytes: number) => { if (!reserved.has(name)) { reserved.add(name); A.reserve(name, bytes); } };
    for (let l = 0; l < L; l++) {
      once(act('qkv', l), N * 3 * C * F32);
      once(act('probs', l), B * NH * T * T * F32);
      once('att', N * C * F32);
      once('ao', N * C * F32);
      once(act('s1', l), N * C * F32);
      once(act('stats1', l), N * 2 * F32);
      once(act('h1', l), N * C * F32);
      once(act('pre', l), N * F * F32);
      once('post', N * F * F32);
      once('o', N * C * F32);
      once(act('s2', l), N * C * F32);
      once(act('stats2', l), N * 2 * F32);
      once(save ? `h.${l + 1}` : `h.${(l + 1) % 2}`, N * C * F32);
    }
    A.reserve('pooled', B * C * F32);
    A.reserve('logits', B * NL * F32);
    if (save) reserveBackward(A, B, T, C, F, NH);
    await A.buildChecked();
    const v = (n: string) => A.view(n);
    const W = (n: string) => this.weights.view(n);
    const hName = (l: number) => (save ? `h.${l}` : `h.${l % 2}`);
    const ds: Dispatch[] = [];
    ds.push(await embeddingsForward(g, { label: 'embeddings', tok: v('tok'), alpha: v('alpha'), wordEmb: W('wordEmb'), posEmb: W('posEmb'), typeEmb: W('typeEmb'), s: v('s0'), rows: N, T, C }));
    ds.push(await layernormForward(g, { label: 'embeddings LN', a: v('s0'), weight: W('embLnG'), bias: W('embLnB'), out: v('h.0'), stats: v('stats0'), rows: N, C, eps }));
    for (let l = 0; l < L; l++) {
      const h = v(hName(l));
      ds.push(await matmul(g, { label: `L${l} qkv`, inp: h, weight: W(`qkvW.${l}`), bias: W(`qkvB.${l}`), out: v(act('qkv', l)), M: N, N: 3 * C, K: C, transB: true }));
      ds.push(await attentionForward(g, { label: `L${l} attention`, qkv: v(act('qkv', l)), mask: v('amask'), out: v('att'), probs: v(act('probs', l)), B, T, C, NH }));
      ds.push(await matmul(g, { label: `L${l} attn out`, inp: v('att'), weight: W(`aoW.${l}`), bias: W(`aoB.${l}`), out: v('ao'), M: N, N: C, K: C, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN1`, a: v('ao'), b: h, weight: W(`ln1G.${l}`), bias: W(`ln1B.${l}`), out: v(act('h1', l)), s: v(act('s1', l)), stats: v(act('stats1', l)), rows: N, C, eps }));
      ds.push(await matmul(g, { label: `L${l} ffn up`, inp: v(act('h1', l)), weight: W(`iW.${l}`), bias: W(`iB.${l}`), out: v(act('pre', l)), out2: v('post'), mask: W(`mask.${l}`), epilogue: 'ffn-up', M: N, N: F, K: C, transB: true }));
      ds.push(await matmul(g, { label: `L${l} ffn down`, inp: v('post'), weight: W(`oW.${l}`), bias: W(`oB.${l}`), out: v('o'), M: N, N: C, K: F, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN2`, a: v('o'), b: v(act('h1', l)), weight: W(`ln2G.${l}`), bias: W(`ln2B.${l}`), out: v(hName(l + 1)), s: v(act('s2', l)), stats: v(act('stats2', l)), rows: N, C, eps }));
    }
    ds.push(await headForward(g, { label: 'pooler+classifier', h: v(hName(L)), poolW: W('poolW'), poolB: W('poolB'), clsW: W('clsW'), clsB: W('clsB'), pooled: v('pooled'), logits: v('logits'), B, T, C, NL }));
    return { B, T, save, arena: A, dispatches: ds, v, act };
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
    writeView(this.g, plan.v('tok'), new Uint32Array(tok));
    writeView(this.g, plan.v('alpha'), new Float32Array(Array.from({ length: B }, (_, b) => alphas[b] ?? 1)));
    writeView(this.g, plan.v('amask'), amask);
  }

  /** Logits (B, numLabels) of a batch of encoded pairs, padded to the longest (rounded up to 8). */
  async score(pairs: EncodedPair[]): Promise<Float32Array> {
    if (!pairs.length) return new Float32Array(0);
    const maxLen = Math.max(...pairs.map((p) => p.ids.length));
    const T = Math.min(Math.ceil(maxLen / 8) * 8, Math.max(maxLen, Math.min(this.cfg.maxPositions, MAX_T)));
    const plan = await this.plan({ B: pairs.length, T, save: false });
    this.writeInputs(plan, pairs, []);
    submit(this.g, plan.dispatches, 'forward');
    return readView(this.g, plan.v('logits'), pairs.length * this.cfg.numLabels);
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
