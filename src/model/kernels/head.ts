/** Dispatch builders for shaders/head/ (pooler + classifier). */
import type { Gpu } from '../../gpu/device.ts';
import type { View } from '../../gpu/arena.ts';
import { dispatch, uniform, type Dispatch } from '../../gpu/pipelines.ts';

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
