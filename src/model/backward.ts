/**
 * The backward pass on the GPU, with respect to activations only (no weight gradients anywhere): layer
 * backwards in exact reverse order of the forward (src/model/forward.ts), over a plan that saved its
 * activations. Gradient rule (llm.c): activation gradients are written with `=`; the residual stream's
 * gradient is added (`matmul` epilogue 'add'). `onGrad` lets the caller insert dispatches right after a
 * gradient exists (the path sums of src/ig/ read them before the next layer overwrites the scratch).
 */
import type { View } from '../gpu/arena.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import type { BertGpu, ForwardPlan } from './forward.ts';
import { matmul } from '../kernels/matmul.ts';
import { layernormBackward } from '../kernels/layernorm.ts';
import { attentionBackward } from '../kernels/attention.ts';
import { flashAttentionBackward } from '../kernels/attention-flash.ts';
import { clsRows, headBackward, type HeadOutput } from '../kernels/head.ts';
import { headMask } from '../kernels/attention.ts';
import type { Target } from './types.ts';
import { embeddingSize, headActivation } from './config.ts';

/** `tokens`: rows per sequence of the views, T, or 1 where only [CLS] is computed (the last layer's FFN and output). */
export type GradEvent =
  | { kind: 'hidden'; l: number; h: View; dh: View; tokens: number }         // layer output l (0 = embeddings LN output)
  | { kind: 'ffn'; l: number; pre: View; dpre: View; dpost: View; tokens: number } // FFN units of layer l
  | { kind: 'embed'; s0: View; ds0: View }                                     // word vectors (s0 moves like x), (B·T, E)
  /** Attention context of layer l before the output projection, (rows, C): head h is columns h·HS..(h+1)·HS−1 */
  | { kind: 'context'; l: number; c: View; dc: View; tokens: number };

/** The head output F is for a target: 1 label, relevant and logit are the logit and non-relevant its negative (as
 * src/ref/bert.ts defines them); 2 labels, softmax[1], softmax[0] or the last logit. */
export function headOutput(target: Target, NL: number): HeadOutput {
  if (NL === 1) return target === 'nonrelevant' ? 'neg-logit' : 'logit';
  return target === 'logit' ? 'logit' : target === 'relevant' ? 'softmax-1' : 'softmax-0';
}

/**
 * `rows` (default all B): the layers' backward runs on the first `rows` rows only (the head backward, which gives F,
 * on all B): a row whose gradients nothing reads — a path point of weight 0 — costs no backward. The `onGrad`
 * events come all the same (their consumers read the forward's values of every row).
 */
export async function buildBackward(model: BertGpu, plan: ForwardPlan, target: Target, onGrad: (e: GradEvent) => Promise<Dispatch[]>, rows = plan.B): Promise<Dispatch[]> {
  const { g, cfg } = model;
  const { T, act } = plan;
  const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL } = cfg;
  const E = embeddingSize(cfg);
  if (!act.back) throw new Error('buildBackward: the plan did not save activations (plan with save: true)');
  if (!(Number.isInteger(rows) && rows >= 0 && rows <= plan.B)) throw new Error(`buildBackward: rows ${rows} outside 0..${plan.B}`);
  const d = act.back;
  const B = rows;
  const N = B * T;
  const W = model.wv;
  const ds: Dispatch[] = [];
  let cur = 0; // dh ping-pong
  // (the last layer runs after its attention on the [CLS] rows alone: h[L] and its gradient are (B, C), and so
  // is everything of that layer down to its attention output, whose gradient is scattered back to every row)
  const tok = (l: number) => (l >= L - 1 ? 1 : T);
  // the context c (the attention output before attn out) and ∂F/∂c: (B·T, C) a.att and d.datt, but in the last layer
  // of the GPU class (its fused attention computed the [CLS] queries alone: (B, C) a.att, the gradient in cls.att)
  const contextEvent = (l: number): GradEvent => {
    const a = act.layers[l];
    return l === L - 1 && a.lse ? { kind: 'context', l, c: a.att, dc: act.cls.att, tokens: 1 } : { kind: 'context', l, c: a.att, dc: d.datt, tokens: T };
  };
  ds.push(await headBackward(g, { label: 'head backward', logits: act.logits, pooled: act.pooled, poolW: W.poolW, clsW: W.clsW, dh: d.dh[cur], F: d.F, B: plan.B, T: 1, C, NL, output: headOutput(target, NL), act: headActivation(cfg) }));
  ds.push(...await onGrad({ kind: 'hidden', l: L, h: act.h[L], dh: d.dh[cur], tokens: 1 }));
  if (B === 0) {
    // no row needs a gradient: only the events (for the forward's values)
    for (let l = L - 1; l >= 0; l--) {
      const a = act.layers[l];
      ds.push(...await onGrad({ kind: 'ffn', l, pre: a.pre, dpre: d.dpre, dpost: d.dpost, tokens: tok(l) }));
      ds.push(...await onGrad(contextEvent(l)));
      ds.push(...await onGrad({ kind: 'hidden', l, h: act.h[l], dh: d.dh[(L - l) % 2], tokens: T }));
    }
    ds.push(...await onGrad({ kind: 'embed', s0: act.s0, ds0: d.ds0 }));
    return ds;
  }
  for (let l = L - 1; l >= 0; l--) {
    const a = act.layers[l];
    const last = l === L - 1;
    const M = last ? B : N;
    ds.push(await layernormBackward(g, { label: `L${l} LN2 backward`, dout: d.dh[cur], s: a.s2, weight: W.layers[l].ln2G, stats: a.stats2, ds: d.ds, rows: M, C }));
    ds.push(await matmul(g, { label: `L${l} ffn down backward`, inp: d.ds, weight: W.layers[l].oW, out: d.dpre, out2: d.dpost, aux: a.pre, mask: W.layers[l].mask, epilogue: 'ffn-down-back', M, N: F, K: C, transB: false }));
    ds.push(...await onGrad({ kind: 'ffn', l, pre: a.pre, dpre: d.dpre, dpost: d.dpost, tokens: tok(l) }));
    ds.push(await matmul(g, { label: `L${l} ffn up backward`, inp: d.dpre, weight: W.layers[l].iW, out: d.dh1, aux: d.ds, epilogue: 'add', M, N: C, K: F, transB: false }));
    if (last) {
      // the LN1 input's gradient at [CLS] (cls.res) is the residual's and, through attn out, the attention output's
      // (cls.att); both go back to every row, 0 off [CLS]
      ds.push(await layernormBackward(g, { label: `L${l} LN1 backward`, dout: d.dh1, s: a.s1, weight: W.layers[l].ln1G, stats: a.stats1, ds: act.cls.res, rows: M, C }));
      ds.push(await matmul(g, { label: `L${l} attn out backward`, inp: act.cls.res, weight: W.layers[l].aoW, out: act.cls.att, M, N: C, K: C, transB: false }));
      // (the fused attention takes the [CLS] rows' gradient as it is: its queries there are the [CLS] rows alone)
      if (!a.lse) ds.push(await clsRows(g, { label: `L${l} [CLS] attention output backward`, mode: 'scatter', inp: act.cls.att, out: d.datt, B, T, C }));
      ds.push(await clsRows(g, { label: `L${l} [CLS] residual backward`, mode: 'scatter', inp: act.cls.res, out: d.ds, B, T, C }));
    } else {
      ds.push(await layernormBackward(g, { label: `L${l} LN1 backward`, dout: d.dh1, s: a.s1, weight: W.layers[l].ln1G, stats: a.stats1, ds: d.ds, rows: N, C }));
      ds.push(await matmul(g, { label: `L${l} attn out backward`, inp: d.ds, weight: W.layers[l].aoW, out: d.datt, M: N, N: C, K: C, transB: false }));
    }
    ds.push(...await onGrad(contextEvent(l)));
    if (plan.headMask) ds.push(await headMask(g, { label: `L${l} head mask backward`, x: last && a.lse ? act.cls.att : d.datt, mask: plan.headMask[l], rows: last && a.lse ? B : N, C, NH }));
    if (a.lse) ds.push(...await flashAttentionBackward(g, { label: `L${l} attention backward`, dout: last ? act.cls.att : d.datt, out: a.att, lse: a.lse, qkv: a.qkv, mask: act.amask, D: d.D!, dqkv: d.dqkv, B, T, C, NH, TQ: last ? 1 : T }));
    else ds.push(...await attentionBackward(g, { label: `L${l} attention backward`, dout: d.datt, probs: a.probs!, qkv: a.qkv, dS: d.dS!, dqkv: d.dqkv, B, T, C, NH }));
    cur = 1 - cur;
    ds.push(await matmul(g, { label: `L${l} qkv backward`, inp: d.dqkv, weight: W.layers[l].qkvW, out: d.dh[cur], aux: d.ds, epilogue: 'add', M: N, N: C, K: 3 * C, transB: false }));
    ds.push(...await onGrad({ kind: 'hidden', l, h: act.h[l], dh: d.dh[cur], tokens: T }));
  }
  // ELECTRA: back through embeddings_project (C → E) first
  if (d.de0) ds.push(await matmul(g, { label: 'embeddings_project backward', inp: d.dh[cur], weight: W.projW!, out: d.de0, M: N, N: E, K: C, transB: false }));
  ds.push(await layernormBackward(g, { label: 'embeddings LN backward', dout: d.de0 ?? d.dh[cur], s: act.s0, weight: W.embLnG, stats: act.stats0, ds: d.ds0, rows: N, C: E }));
  ds.push(...await onGrad({ kind: 'embed', s0: act.s0, ds0: d.ds0 }));
  return ds;
}
