/**
 * The backward pass on the GPU, with respect to activations only (no weight gradients anywhere): layer
 * backwards in exact reverse order of the forward (src/model/forward.ts), over a plan that saved its
 * activations. Gradient rule (llm.c): activation gradients are written with `=`; the residual stream's
 * gradient is added (`matmul` epilogue 'add'). `onGrad` lets the caller insert dispatches right after a
 * gradient exists (the path sums of src/ig/ read them before the next layer overwrites the scratch).
 */
import type { Arena, View } from '../gpu/arena.ts';
import type { Dispatch } from '../gpu/pipelines.ts';
import type { BertGpu, ForwardPlan } from './forward.ts';
import { matmul } from '../kernels/matmul.ts';
import { layernormBackward } from '../kernels/layernorm.ts';
import { attentionBackward } from '../kernels/attention.ts';
import { headBackward, type HeadOutput } from '../kernels/head.ts';
import type { Target } from './types.ts';

const F32 = 4;

export type GradEvent =
  | { kind: 'hidden'; l: number; h: View; dh: View }                          // layer output l (0 = embeddings LN output)
  | { kind: 'ffn'; l: number; pre: View; dpre: View; dpost: View }           // FFN units of layer l
  | { kind: 'embed'; s0: View; ds0: View };                                   // word vectors (s0 moves like x)

/** Reserves the backward scratch in the forward plan's arena (call before `arena.build()`). */
export function reserveBackward(A: Arena, B: number, T: number, C: number, F: number, NH: number): void {
  const N = B * T;
  for (const n of ['dh.0', 'dh.1', 'ds', 'dh1', 'datt', 'ds0']) A.reserve(n, N * C * F32);
  A.reserve('dqkv', N * 3 * C * F32);
  A.reserve('dpre', N * F * F32);
  A.reserve('dpost', N * F * F32);
  A.reserve('dS', B * NH * T * T * F32);
  A.reserve('F', B * F32);
}

/** The head output F is for a target: 1 label, relevant and logit are the logit and non-relevant its negative (as
 * src/ref/bert.ts defines them); 2 labels, softmax[1], softmax[0] or the last logit. */
export function headOutput(target: Target, NL: number): HeadOutput {
  if (NL === 1) return target === 'nonrelevant' ? 'neg-logit' : 'logit';
  return target === 'logit' ? 'logit' : target === 'relevant' ? 'softmax-1' : 'softmax-0';
}

export async function buildBackward(model: BertGpu, plan: ForwardPlan, target: Target, onGrad: (e: GradEvent) => Promise<Dispatch[]>): Promise<Dispatch[]> {
  const { g, cfg } = model;
  const { B, T, v, act } = plan;
  const { hidden: C, intermediate: F, heads: NH, layers: L, numLabels: NL } = cfg;
  const N = B * T;
  const W = (n: string) => model.weights.view(n);
  const ds: Dispatch[] = [];
  let cur = 0; // dh ping-pong
  const dh = () => v(`dh.${cur}`);
  ds.push(await headBackward(g, { label: 'head backward', logits: v('logits'), pooled: v('pooled'), poolW: W('poolW'), clsW: W('clsW'), dh: dh(), F: v('F'), B, T, C, NL, output: headOutput(target, NL) }));
  ds.push(...await onGrad({ kind: 'hidden', l: L, h: v(`h.${L}`), dh: dh() }));
  for (let l = L - 1; l >= 0; l--) {
    ds.push(await layernormBackward(g, { label: `L${l} LN2 backward`, dout: dh(), s: v(act('s2', l)), weight: W(`ln2G.${l}`), stats: v(act('stats2', l)), ds: v('ds'), rows: N, C }));
    ds.push(await matmul(g, { label: `L${l} ffn down backward`, inp: v('ds'), weight: W(`oW.${l}`), out: v('dpre'), out2: v('dpost'), aux: v(act('pre', l)), mask: W(`mask.${l}`), epilogue: 'ffn-down-back', M: N, N: F, K: C, transB: false }));
    ds.push(...await onGrad({ kind: 'ffn', l, pre: v(act('pre', l)), dpre: v('dpre'), dpost: v('dpost') }));
    ds.push(await matmul(g, { label: `L${l} ffn up backward`, inp: v('dpre'), weight: W(`iW.${l}`), out: v('dh1'), aux: v('ds'), epilogue: 'add', M: N, N: C, K: F, transB: false }));
    ds.push(await layernormBackward(g, { label: `L${l} LN1 backward`, dout: v('dh1'), s: v(act('s1', l)), weight: W(`ln1G.${l}`), stats: v(act('stats1', l)), ds: v('ds'), rows: N, C }));
    ds.push(await matmul(g, { label: `L${l} attn out backward`, inp: v('ds'), weight: W(`aoW.${l}`), out: v('datt'), M: N, N: C, K: C, transB: false }));
    ds.push(...await attentionBackward(g, { label: `L${l} attention backward`, dout: v('datt'), probs: v(act('probs', l)), qkv: v(act('qkv', l)), dS: v('dS'), dqkv: v('dqkv'), B, T, C, NH }));
    cur = 1 - cur;
    ds.push(await matmul(g, { label: `L${l} qkv backward`, inp: v('dqkv'), weight: W(`qkvW.${l}`), out: dh(), aux: v('ds'), epilogue: 'add', M: N, N: C, K: 3 * C, transB: false }));
    ds.push(...await onGrad({ kind: 'hidden', l, h: v(`h.${l}`), dh: dh() }));
  }
  ds.push(await layernormBackward(g, { label: 'embeddings LN backward', dout: dh(), s: v('s0'), weight: W('embLnG'), stats: v('stats0'), ds: v('ds0'), rows: N, C }));
  ds.push(...await onGrad({ kind: 'embed', s0: v('s0'), ds0: v('ds0') }));
  return ds;
}
