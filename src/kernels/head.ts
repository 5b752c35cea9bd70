/** Dispatch builders for shaders/head/ (pooler + classifier). */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { dispatch, uniform, type Dispatch } from '../gpu/pipelines.ts';

export interface HeadArgs {
  label: string;
  h: View;                         // (B·T, C)
  poolW: View; poolB: View; clsW: View; clsB: View;
  pooled: View;                    // (B, C)
  logits: View;                    // (B, NL)
  B: number; T: number; C: number; NL: number;
}

export async function headForward(g: Gpu, a: HeadArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({
    shader: 'head/head_forward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'read', 'rw', 'rw', 'uniform'],
    constants: { WG: 128 },
  });
  const u = uniform(g, `${a.label} params`, [a.B, a.T, a.C, a.NL]);
  return dispatch(g, k, a.label, [a.h, a.poolW, a.poolB, a.clsW, a.clsB, a.pooled, a.logits, u], [a.B]);
}

export type Target = 'relevant' | 'nonrelevant' | 'logit';

export interface HeadBackArgs {
  label: string;
  logits: View; pooled: View;      // saved by head_forward
  poolW: View; clsW: View;
  dh: View;                        // (B·T, C) gradient of F w.r.t. the last hidden states
  F: View;                         // (B) relevance of each sequence
  B: number; T: number; C: number; NL: number;
  target: Target;
}

export async function headBackward(g: Gpu, a: HeadBackArgs): Promise<Dispatch> {
  // 1 label: relevant and logit are the logit, non-relevant its negative (as src/ref/bert.ts defines them)
  const target = a.NL === 1 ? (a.target === 'nonrelevant' ? 3 : 2) : a.target === 'logit' ? 2 : a.target === 'relevant' ? 0 : 1;
  const k = await g.pipelines.get({
    shader: 'head/head_backward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'rw', 'rw', 'uniform'],
    constants: { WG: 128, TARGET: target },
  });
  const u = uniform(g, `${a.label} params`, [a.B, a.T, a.C, a.NL]);
  return dispatch(g, k, a.label, [a.logits, a.pooled, a.poolW, a.clsW, a.dh, a.F, u], [a.B]);
}
