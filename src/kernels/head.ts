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

/** What head_backward.wgsl differentiates (its TARGET constant): softmax(logits)[1], softmax(logits)[0], the last
 * logit, or minus the last logit. src/model/backward.ts maps the attribution target onto one of these. */
export const HEAD_OUTPUT = { 'softmax-1': 0, 'softmax-0': 1, logit: 2, 'neg-logit': 3 } as const;
export type HeadOutput = keyof typeof HEAD_OUTPUT;

export interface HeadBackArgs {
  label: string;
  logits: View; pooled: View;      // saved by head_forward
  poolW: View; clsW: View;
  dh: View;                        // (B·T, C) gradient of F w.r.t. the last hidden states
  F: View;                         // (B) relevance of each sequence
  B: number; T: number; C: number; NL: number;
  output: HeadOutput;
}

export async function headBackward(g: Gpu, a: HeadBackArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({
    shader: 'head/head_backward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'rw', 'rw', 'uniform'],
    constants: { WG: 128, TARGET: HEAD_OUTPUT[a.output] },
  });
  const u = uniform(g, `${a.label} params`, [a.B, a.T, a.C, a.NL]);
  return dispatch(g, k, a.label, [a.logits, a.pooled, a.poolW, a.clsW, a.dh, a.F, u], [a.B]);
}
