/** Dispatch builders for shaders/attention/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';
import { attentionBackwardCpu, attentionForwardCpu, cpuAttentionSupports } from './attention-cpu.ts';

export const MAX_T = 512;

const PARAMS = { B: 'u32', T: 'u32', C: 'u32', NH: 'u32', HS: 'u32', scale: 'f32' } as const;
export const ATTENTION_FORWARD = defineKernel({
  shader: 'attention/attention_forward.wgsl',
  bindings: { qkv: 'read', mask: 'read', out: 'rw', probs: 'rw', p: 'uniform' },
  params: PARAMS,
});
/** Both halves bind the same views; the q half writes the scores dS that the kv half reads. */
export const ATTENTION_BACKWARD_Q = defineKernel({
  shader: 'attention/attention_backward_q.wgsl',
  bindings: { dout: 'read', probs: 'read', qkv: 'read', dS: 'rw', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
});
export const ATTENTION_BACKWARD_KV = defineKernel({
  shader: 'attention/attention_backward_kv.wgsl',
  bindings: { dout: 'read', probs: 'read', qkv: 'read', dS: 'read', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
});

export interface AttentionArgs {
  label: string;
  qkv: View;    // (B·T, 3C)
  mask: View;   // (B·T) 1 = token, 0 = padding
  out: View;    // (B·T, C)
  probs: View;  // (B, NH, T, T)
  B: number; T: number; C: number; NH: number;
}

export async function attentionForward(g: Gpu, a: AttentionArgs): Promise<Dispatch> {
  const HS = a.C / a.NH;
  if (a.T > MAX_T) throw new UserError(`sequence length ${a.T} exceeds the attention kernel's ${MAX_T}; use --max-length ${MAX_T} or less`);
  if (HS > 128) throw new UserError(`head size ${HS} exceeds the attention kernel's 128`);
  // the one selection point: CPU-class devices run src/kernels/attention-cpu.ts where it supports the shape
  if (g.kernels === 'cpu' && !cpuAttentionSupports(g, { T: a.T, C: a.C, NH: a.NH, views: [a.qkv, a.mask, a.out, a.probs] })) return attentionForwardCpu(g, a);
  const k = await g.pipelines.get(ATTENTION_FORWARD, { constants: { WG: 64, MAX_T } });
  const p = createParams(g, k.def, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NH: a.NH, HS, scale: 1 / Math.sqrt(HS) });
  return dispatch(g, k, a.label, { qkv: a.qkv, mask: a.mask, out: a.out, probs: a.probs, p }, [a.T, a.NH, a.B]);
}

export interface AttentionBackArgs {
  label: string;
  dout: View;   // (B·T, C) gradient w.r.t. the attention output
  probs: View;  // (B, NH, T, T) saved by the forward
  qkv: View;    // (B·T, 3C) saved by the forward
  dS: View;     // (B, NH, T, T) scratch: softmax-backward scores
  dqkv: View;   // (B·T, 3C)
  B: number; T: number; C: number; NH: number;
}

/** Two dispatches: per query row (scores backward, dq), then per key row (dk, dv). */
export async function attentionBackward(g: Gpu, a: AttentionBackArgs): Promise<Dispatch[]> {
  const HS = a.C / a.NH;
  if (g.kernels === 'cpu' && !cpuAttentionSupports(g, { T: a.T, C: a.C, NH: a.NH, views: [a.dout, a.probs, a.qkv, a.dS, a.dqkv] })) return attentionBackwardCpu(g, a);
  const p = createParams(g, ATTENTION_BACKWARD_Q, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NH: a.NH, HS, scale: 1 / Math.sqrt(HS) });
  const res = { dout: a.dout, probs: a.probs, qkv: a.qkv, dS: a.dS, dqkv: a.dqkv, p };
  const kq = await g.pipelines.get(ATTENTION_BACKWARD_Q, { constants: { WG: 64, MAX_T } });
  const kkv = await g.pipelines.get(ATTENTION_BACKWARD_KV, { constants: { WG: 64, MAX_T } });
  return [
    dispatch(g, kq, `${a.label} (q)`, res, [a.T, a.NH, a.B]),
    dispatch(g, kkv, `${a.label} (kv)`, res, [a.T, a.NH, a.B]),
  ];
}

export const HEAD_MASK = defineKernel({
  shader: 'attention/head_mask.wgsl',
  bindings: { x: 'rw', mask: 'read', p: 'uniform' },
  params: { rows: 'u32', C: 'u32', HS: 'u32' },
});

/** Multiplies each head's columns of x (rows, C) by its gate ξ_h (mask (NH)), in place: the context (forward) or its gradient (backward). */
export async function headMask(g: Gpu, a: { label: string; x: View; mask: View; rows: number; C: number; NH: number }): Promise<Dispatch> {
  const k = await g.pipelines.get(HEAD_MASK);
  const p = createParams(g, HEAD_MASK, `${a.label} params`, { rows: a.rows, C: a.C, HS: a.C / a.NH });
  return dispatch(g, k, a.label, { x: a.x, mask: a.mask, p }, grid(g, Math.ceil((a.rows * a.C) / 256)));
}
