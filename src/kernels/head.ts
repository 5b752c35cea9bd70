/** Dispatch builders for shaders/head/ (the head: dense, activation, classifier; and the [CLS] rows of the last layer). */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';

const PARAMS = { B: 'u32', T: 'u32', C: 'u32', NL: 'u32' } as const;
export const HEAD_FORWARD = defineKernel({
  shader: 'head/head_forward.wgsl',
  bindings: { h: 'read', poolW: 'read', poolB: 'read', clsW: 'read', clsB: 'read', pooled: 'rw', logits: 'rw', p: 'uniform' },
  params: PARAMS,
});
export const HEAD_BACKWARD = defineKernel({
  shader: 'head/head_backward.wgsl',
  bindings: { logits: 'read', pooled: 'read', poolW: 'read', clsW: 'read', dh: 'rw', F: 'rw', p: 'uniform' },
  params: PARAMS,
});

export interface HeadArgs {
  label: string;
  h: View;                         // (B·T, C)
  poolW: View; poolB: View; clsW: View; clsB: View;
  pooled: View;                    // (B, C) the head dense output z (the activation's input)
  logits: View;                    // (B, NL)
  B: number; T: number; C: number; NL: number;
  /** The activation after the head's dense layer (the family's: src/model/config.ts); default tanh. */
  act?: HeadActivation;
}

/** The head's activation (ACT constant of head_forward/head_backward.wgsl). */
export const HEAD_ACT = { tanh: 0, gelu: 1, relu: 2 } as const;
export type HeadActivation = keyof typeof HEAD_ACT;

export async function headForward(g: Gpu, a: HeadArgs): Promise<Dispatch> {
  const k = await g.pipelines.get(HEAD_FORWARD, { constants: { WG: 128, ACT: HEAD_ACT[a.act ?? 'tanh'] } });
  const p = createParams(g, k.def, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NL: a.NL });
  return dispatch(g, k, a.label, { h: a.h, poolW: a.poolW, poolB: a.poolB, clsW: a.clsW, clsB: a.clsB, pooled: a.pooled, logits: a.logits, p }, [a.B]);
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
  act?: HeadActivation;
}

export async function headBackward(g: Gpu, a: HeadBackArgs): Promise<Dispatch> {
  const k = await g.pipelines.get(HEAD_BACKWARD, { constants: { WG: 128, TARGET: HEAD_OUTPUT[a.output], ACT: HEAD_ACT[a.act ?? 'tanh'] } });
  const p = createParams(g, k.def, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NL: a.NL });
  return dispatch(g, k, a.label, { logits: a.logits, pooled: a.pooled, poolW: a.poolW, clsW: a.clsW, dh: a.dh, F: a.F, p }, [a.B]);
}

export const CLS_ROWS = defineKernel({
  shader: 'head/cls_rows.wgsl',
  entries: ['gather', 'scatter'],
  bindings: { inp: 'read', out: 'rw', p: 'uniform' },
  params: { B: 'u32', T: 'u32', C: 'u32' },
});

/** gather: out (B, C) = the [CLS] rows of inp (B·T, C); scatter: out (B·T, C) = inp (B, C) at [CLS], 0 elsewhere. */
export async function clsRows(g: Gpu, a: { label: string; mode: 'gather' | 'scatter'; inp: View; out: View; B: number; T: number; C: number }): Promise<Dispatch> {
  const k = await g.pipelines.get(CLS_ROWS, { entry: a.mode });
  const p = createParams(g, CLS_ROWS, `${a.label} params`, { B: a.B, T: a.T, C: a.C });
  const n = a.mode === 'gather' ? a.B * a.C : a.B * a.T * a.C;
  return dispatch(g, k, a.label, { inp: a.inp, out: a.out, p }, grid(g, Math.ceil(n / 256)));
}
