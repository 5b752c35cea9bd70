/** Dispatch builders for shaders/attention/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { dispatch, uniform, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';

export const MAX_T = 512;

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
  const k = await g.pipelines.get({
    shader: 'attention/attention_forward.wgsl',
    bindings: ['read', 'read', 'rw', 'rw', 'uniform'],
    constants: { WG: 64, MAX_T },
  });
  const u = uniform(g, `${a.label} params`, [a.B, a.T, a.C, a.NH, HS, 0, 0, 0], [1 / Math.sqrt(HS)]);
  return dispatch(g, k, a.label, [a.qkv, a.mask, a.out, a.probs, u], [a.T, a.NH, a.B]);
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
  const u = uniform(g, `${a.label} params`, [a.B, a.T, a.C, a.NH, HS, 0, 0, 0], [1 / Math.sqrt(HS)]);
  const res = [a.dout, a.probs, a.qkv, a.dS, a.dqkv, u];
  const bindings = ['read', 'read', 'read', 'rw', 'rw', 'uniform'] as const;
  const kq = await g.pipelines.get({ shader: 'attention/attention_backward_q.wgsl', bindings: [...bindings], constants: { WG: 64, MAX_T } });
  const kkv = await g.pipelines.get({ shader: 'attention/attention_backward_kv.wgsl', bindings: [...bindings], constants: { WG: 64, MAX_T } });
  return [
    dispatch(g, kq, `${a.label} (q)`, res, [a.T, a.NH, a.B]),
    dispatch(g, kkv, `${a.label} (kv)`, res, [a.T, a.NH, a.B]),
  ];
}
