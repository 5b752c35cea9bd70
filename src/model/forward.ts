/**
 * A BERT-family cross-encoder on the GPU (BERT, RoBERTa/XLM-R, ELECTRA, DistilBERT: src/model/config.ts): weights uploaded once, forward plans (lists of dispatches over one activation arena)
 * built per (batch, length, save) and kept in `plans` (src/gpu/plans.ts: the one owner of every plan built on this
 * model, the NIG engine's included, kept by a memory budget). A plan that saves for backward keeps every layer's
 * activations under its own name; a scoring plan reuses one scratch buffer per kind.
 */
import type { Gpu } from '../gpu/device.ts';
import { Arena, fmtBytes, writeView, type View } from '../gpu/arena.ts';
import { DEFAULT_BUDGET, PlanKeeper, type Lease } from '../gpu/plans.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import { readView, submit } from '../gpu/queue.ts';
import { UserError } from '../util/errors.ts';
import type { BertConfig, BertWeights, EncodedPair } from './types.ts';
import { embeddingSize, headActivation, positionIds } from './config.ts';
import { matmul } from '../kernels/matmul.ts';
import { layernormForward } from '../kernels/layernorm.ts';
import { embeddingsForward } from '../kernels/embeddings.ts';
import { attentionForward, headMask, MAX_T } from '../kernels/attention.ts';
import { flashAttentionForward } from '../kernels/attention-flash.ts';
import { clsRows, headForward } from '../kernels/head.ts';
import { activationLayout, allocateLayout, bindLayout, layoutBytes, paddedLength, weightLayout, type WeightHandles, type ActivationHandles, type ActivationLayout, type ActivationShape, type AttentionSaved, type Bound } from './layout.ts';

export type PlanShape = ActivationShape;

export interface ForwardPlan extends PlanShape {
  layout: ActivationLayout;
  arena: Arena;
  /** Every activation buffer of the plan, by role (src/model/layout.ts). */
  act: Bound<ActivationHandles>;
  dispatches: Dispatch[];
  /** Per layer the head gates ξ (NH) multiplying the attention context, where the plan was built with a head mask. */
  headMask?: View[];
}

export class BertGpu {
  readonly cfg: BertConfig;
  readonly weights: Arena;
  /** The weight views, by role (src/model/layout.ts `weightLayout`). */
  wv!: Bound<WeightHandles>;
  /**
   * Every plan built on this model, kept by a memory budget: forward plans here, the NIG engine's sums and chunk
   * plans (src/ig/engine.ts). The budget is the engine's (--max-memory sets it), else DEFAULT_BUDGET (2 GiB).
   */
  readonly plans: PlanKeeper;
  /** What its attention keeps for the backward (every layout of this model's plans says so: the engine's too). */
  readonly attention: AttentionSaved;

  private constructor(readonly g: Gpu, readonly w: BertWeights) {
    // a vocabulary over one storage binding (XLM-R's 250k words beside 128 MiB bindings) stays on the host: each
    // batch's distinct rows go to the plan's `words` table (writeInputs)
    const hostWords = w.wordEmb.data.byteLength > g.limits.maxStorageBufferBindingSize;
    this.cfg = hostWords ? { ...w.config, hostWords } : w.config;
    // the GPU class's fused attention keeps the row log-sum-exp, the CPU class's kernels the probabilities
    this.attention = g.kernels === 'cpu' ? 'probs' : 'lse';
    this.weights = new Arena(g, 'weights');
    this.plans = new PlanKeeper(DEFAULT_BUDGET);
  }

  static async create(g: Gpu, w: BertWeights): Promise<BertGpu> {
    const m = new BertGpu(g, w);
    m.upload();
    return m;
  }

  private upload(): void {
    const { w, cfg } = this;
    const C = cfg.hidden;
    const layout = weightLayout(cfg);
    const bind = this.g.limits.maxStorageBufferBindingSize;
    for (const b of layout.buffers) {
      if (b.bytes > bind) {
        throw new UserError(`the model's ${b.what} (${b.shape.join(' × ')}) take ${fmtBytes(b.bytes)}, over this device's storage binding limit of ${fmtBytes(bind)}, and a kernel reads them as one binding; open the device with its adapter's limits (unset IR_NEURONS_LIMITS), or use a device that allows larger bindings`);
      }
      this.weights.reserve(b.name, b.bytes);
    }
    this.weights.build();
    const wv = bindLayout(this.weights, layout.handles);
    const put = (v: View, d: Float32Array) => writeView(this.g, v, d);
    if (wv.wordEmb) put(wv.wordEmb, w.wordEmb.data);
    put(wv.posEmb, w.posEmb.data); put(wv.typeEmb, w.typeEmb.data);
    put(wv.embLnG, w.embLnG.data); put(wv.embLnB, w.embLnB.data);
    if (wv.projW && wv.projB) { put(wv.projW, w.projW!.data); put(wv.projB, w.projB!.data); }
    put(wv.poolW, w.poolW.data); put(wv.poolB, w.poolB.data); put(wv.clsW, w.clsW.data); put(wv.clsB, w.clsB.data);
    w.layers.forEach((L, l) => {
      const v = wv.layers[l];
      const qkvW = new Float32Array(3 * C * C);
      qkvW.set(L.qW.data, 0); qkvW.set(L.kW.data, C * C); qkvW.set(L.vW.data, 2 * C * C);
      const qkvB = new Float32Array(3 * C);
      qkvB.set(L.qB.data, 0); qkvB.set(L.kB.data, C); qkvB.set(L.vB.data, 2 * C);
      put(v.qkvW, qkvW); put(v.qkvB, qkvB); put(v.aoW, L.aoW.data); put(v.aoB, L.aoB.data);
      put(v.ln1G, L.ln1G.data); put(v.ln1B, L.ln1B.data); put(v.iW, L.iW.data); put(v.iB, L.iB.data);
      put(v.oW, L.oW.data); put(v.oB, L.oB.data); put(v.ln2G, L.ln2G.data); put(v.ln2B, L.ln2B.data);
      put(v.mask, new Float32Array(cfg.intermediate).fill(1));
    });
    this.wv = wv;
  }

  /** Sets layer l's FFN neuron mask (length d_ff; 1 keep, 0 prune). */
  setMask(l: number, mask: Float32Array): void {
    if (l < 0 || l >= this.cfg.layers) throw new UserError(`prune mask: layer ${l} does not exist (the model has ${this.cfg.layers})`);
    if (mask.length !== this.cfg.intermediate) throw new UserError(`prune mask: layer ${l} has ${mask.length} values, the model's d_ff is ${this.cfg.intermediate}`);
    writeView(this.g, this.wv.layers[l].mask, mask);
  }

  resetMasks(): void {
    for (let l = 0; l < this.cfg.layers; l++) this.setMask(l, new Float32Array(this.cfg.intermediate).fill(1));
  }

  /** The head gates (one buffer (L, NH)), allocated with the first head mask; `headMasked` while one is set. */
  private heads: { arena: Arena; views: View[] } | null = null;
  private headMasked = false;

  /**
   * Sets the head mask ξ (L·NH values, layer-major; 1 keep, 0 prune: the head's context output is multiplied by
   * ξ before the output projection), or clears it (null). Plans built while a mask is set carry its dispatches
   * (forward, and backward of the gated context); plans without one are untouched, so an unmasked model pays nothing.
   */
  setHeadMask(mask: Float32Array | null): void {
    const { layers: L, heads: NH } = this.cfg;
    if (!mask) { this.headMasked = false; return; }
    if (mask.length !== L * NH) throw new UserError(`head mask: ${mask.length} values, the model has ${L} layers × ${NH} heads = ${L * NH}`);
    if (!this.heads) {
      const arena = new Arena(this.g, 'head mask');
      for (let l = 0; l < L; l++) arena.reserve(`heads.${l}`, 4 * NH);
      arena.build();
      this.heads = { arena, views: Array.from({ length: L }, (_, l) => arena.view(`heads.${l}`)) };
    }
    for (let l = 0; l < L; l++) writeView(this.g, this.heads.views[l], mask.slice(l * NH, (l + 1) * NH));
    this.headMasked = true;
  }

  /** The key suffix of plans built now ('' without a head mask). */
  get planVariant(): string {
    return this.headMasked ? 'h' : '';
  }

  /**
   * The forward plan of this shape, leased from `plans` (built when not kept); release it when done. `reserved`:
   * bytes the caller holds beside the plans, `budget`: the caller's (see PlanKeeper).
   */
  plan(shape: PlanShape, o: { reserved?: number; budget?: number } = {}): Promise<Lease<ForwardPlan>> {
    const bytes = layoutBytes(this.g.limits, activationLayout(this.cfg, { ...shape, attention: this.attention }));
    const ctx = shape.save && shape.context && this.attention === 'probs' ? 'c' : '';
    return this.plans.lease(`forward ${shape.B}x${shape.T}${shape.save ? 's' : ''}${ctx}${this.planVariant}`, { kind: 'forward', bytes, ...o }, async () => {
      const p = await this.buildPlan(shape);
      return { value: p, bytes: p.arena.bytes, destroy: () => p.arena.destroy() };
    });
  }

  /** Frees the buffers of every kept plan not in use (the engine's too: they are all in `plans`). */
  async dropPlans(): Promise<void> {
    this.plans.clear();
  }

  private async buildPlan(shape: PlanShape): Promise<ForwardPlan> {
    const { cfg, g } = this;
    if (shape.T > MAX_T) throw new UserError(`sequence length ${shape.T} exceeds the kernel limit ${MAX_T}`);
    if (shape.T > cfg.maxPositions) throw new UserError(`sequence length ${shape.T} exceeds the model's max_position_embeddings ${cfg.maxPositions}; lower --max-length`);
    const layout = activationLayout(cfg, { ...shape, attention: this.attention });
    const arena = new Arena(g, layout.label);
    const act = await allocateLayout(arena, layout);
    const hm = this.headMasked ? this.heads!.views : undefined;
    return { ...shape, layout, arena, act, dispatches: await this.encodeForward(act, shape, hm), ...(hm ? { headMask: hm } : {}) };
  }

  /** The forward pass over a plan's buffers: embeddings (ELECTRA: and embeddings_project), L encoder layers, the head. */
  private async encodeForward(act: Bound<ActivationHandles>, { B, T }: PlanShape, hm?: View[]): Promise<Dispatch[]> {
    const { cfg, g } = this;
    const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL, eps } = cfg;
    const E = embeddingSize(cfg);
    const N = B * T;
    const W = this.wv;
    const ds: Dispatch[] = [];
    ds.push(await embeddingsForward(g, { label: 'embeddings', tok: act.tok, alpha: act.alpha, wordEmb: act.words ?? W.wordEmb!, posEmb: W.posEmb, typeEmb: W.typeEmb, s: act.s0, rows: N, T, C: E }));
    ds.push(await layernormForward(g, { label: 'embeddings LN', a: act.s0, weight: W.embLnG, bias: W.embLnB, out: act.e0 ?? act.h[0], stats: act.stats0, rows: N, C: E, eps }));
    // ELECTRA: embeddings_project from the embedding width E to the hidden size C
    if (act.e0) ds.push(await matmul(g, { label: 'embeddings_project', inp: act.e0, weight: W.projW!, bias: W.projB!, out: act.h[0], M: N, N: C, K: E, transB: true }));
    for (let l = 0; l < L; l++) {
      const h = act.h[l];
      const a = act.layers[l];
      ds.push(await matmul(g, { label: `L${l} qkv`, inp: h, weight: W.layers[l].qkvW, bias: W.layers[l].qkvB, out: a.qkv, M: N, N: 3 * C, K: C, transB: true }));
      // the last layer: the classifier reads its [CLS] rows alone, so after the attention (keys and values of every
      // token) it runs on those B rows: attention output and residual gathered there (the fused attention computes
      // the [CLS] queries alone, into a (B, C) output)
      const last = l === L - 1;
      const M = last ? B : N;
      if (a.lse) ds.push(await flashAttentionForward(g, { label: `L${l} attention`, qkv: a.qkv, mask: act.amask, out: a.att, lse: a.lse, B, T, C, NH, TQ: last ? 1 : T }));
      else ds.push(await attentionForward(g, { label: `L${l} attention`, qkv: a.qkv, mask: act.amask, out: a.att, probs: a.probs!, B, T, C, NH }));
      if (hm) ds.push(await headMask(g, { label: `L${l} head mask`, x: a.att, mask: hm[l], rows: last && a.lse ? B : N, C, NH }));
      if (last) {
        if (!a.lse) ds.push(await clsRows(g, { label: `L${l} [CLS] attention output`, mode: 'gather', inp: a.att, out: act.cls.att, B, T, C }));
        ds.push(await clsRows(g, { label: `L${l} [CLS] residual`, mode: 'gather', inp: h, out: act.cls.res, B, T, C }));
      }
      ds.push(await matmul(g, { label: `L${l} attn out`, inp: last && !a.lse ? act.cls.att : a.att, weight: W.layers[l].aoW, bias: W.layers[l].aoB, out: a.ao, M, N: C, K: C, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN1`, a: a.ao, b: last ? act.cls.res : h, weight: W.layers[l].ln1G, bias: W.layers[l].ln1B, out: a.h1, s: a.s1, stats: a.stats1, rows: M, C, eps }));
      ds.push(await matmul(g, { label: `L${l} ffn up`, inp: a.h1, weight: W.layers[l].iW, bias: W.layers[l].iB, out: a.pre, out2: a.post, mask: W.layers[l].mask, epilogue: 'ffn-up', M, N: F, K: C, transB: true }));
      ds.push(await matmul(g, { label: `L${l} ffn down`, inp: a.post, weight: W.layers[l].oW, bias: W.layers[l].oB, out: a.o, M, N: C, K: F, transB: true }));
      ds.push(await layernormForward(g, { label: `L${l} LN2`, a: a.o, b: a.h1, weight: W.layers[l].ln2G, bias: W.layers[l].ln2B, out: act.h[l + 1], s: a.s2, stats: a.stats2, rows: M, C, eps }));
    }
    // (h[L] holds one row per sequence: the head reads it as sequences of length 1)
    ds.push(await headForward(g, { label: 'head (dense, activation, classifier)', h: act.h[L], poolW: W.poolW, poolB: W.poolB, clsW: W.clsW, clsB: W.clsB, pooled: act.pooled, logits: act.logits, B, T: 1, C, NL, act: headActivation(cfg) }));
    return ds;
  }

  /**
   * Writes the token table of a batch: row (b, t) = (id, baseId, typeId, position id); padding uses [PAD]. Position
   * ids follow the real ids (src/model/config.ts `positionIds`), token types are 0 in a family with one type row.
   * With cfg.hostWords the ids in the table are rows of the plan's `words`, which gets the batch's distinct rows.
   */
  writeInputs(plan: ForwardPlan, rows: { ids: number[]; baseIds?: (number | null)[]; typeIds: number[] }[], alphas: number[]): void {
    const { B, T } = plan;
    const tok = new Uint32Array(B * T * 4);
    const amask = new Float32Array(B * T);
    const pad = this.cfg.padTokenId;
    const types = this.cfg.typeVocab > 1;
    for (let b = 0; b < B; b++) {
      const r = rows[b] ?? rows[rows.length - 1];
      const pos = positionIds(this.cfg, r.ids, T);
      for (let t = 0; t < T; t++) {
        const o = (b * T + t) * 4;
        const valid = t < r.ids.length;
        const id = valid ? r.ids[t] : pad;
        if (id < 0 || id >= this.cfg.vocabSize) throw new UserError(`token id ${id} is outside the model's vocabulary of ${this.cfg.vocabSize}; the tokenizer does not belong to this model`);
        const base = valid && r.baseIds ? r.baseIds[t] : id;
        tok[o] = id;
        tok[o + 1] = base === null ? 0xffffffff : base!;
        tok[o + 2] = valid && types ? r.typeIds[t] : 0;
        tok[o + 3] = pos[t];
        amask[b * T + t] = valid ? 1 : 0;
      }
    }
    if (plan.act.words) this.gatherWords(plan.act.words, tok);
    writeView(this.g, plan.act.tok, new Uint32Array(tok));
    writeView(this.g, plan.act.alpha, new Float32Array(Array.from({ length: B }, (_, b) => alphas[b] ?? 1)));
    writeView(this.g, plan.act.amask, amask);
  }

  /** cfg.hostWords: renumbers the token table's ids and baseline ids by first use and uploads those rows. */
  private gatherWords(words: View, tok: Uint32Array): void {
    const E = embeddingSize(this.cfg);
    const rowOf = new Map<number, number>();
    const ids: number[] = [];
    const row = (id: number) => {
      let r = rowOf.get(id);
      if (r === undefined) { r = ids.length; rowOf.set(id, r); ids.push(id); }
      return r;
    };
    for (let o = 0; o < tok.length; o += 4) {
      tok[o] = row(tok[o]);
      if (tok[o + 1] !== 0xffffffff) tok[o + 1] = row(tok[o + 1]);
    }
    const cap = Math.floor(words.size / (4 * E));
    if (ids.length > cap) throw new Error(`writeInputs: ${ids.length} distinct word rows, the words table holds ${cap}`);
    const table = new Float32Array(ids.length * E);
    ids.forEach((id, r) => table.set(this.w.wordEmb.data.subarray(id * E, (id + 1) * E), r * E));
    writeView(this.g, words, table);
  }

  /** Logits (B, numLabels) of a batch of encoded pairs, padded to the longest (rounded up to 8). */
  async score(pairs: EncodedPair[]): Promise<Float32Array> {
    if (!pairs.length) return new Float32Array(0);
    const T = paddedLength(this.cfg, Math.max(...pairs.map((p) => p.ids.length)));
    const lease = await this.plan({ B: pairs.length, T, save: false });
    try {
      const plan = lease.value;
      this.writeInputs(plan, pairs, []);
      await submit(this.g, plan.dispatches, 'forward');
      return await readView(this.g, plan.act.logits, pairs.length * this.cfg.numLabels);
    } finally {
      lease.release();
    }
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
