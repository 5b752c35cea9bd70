/** Dispatch builders for shaders/matmul/. */
import type { Gpu } from '../../gpu/device.ts';
import type { View } from '../../gpu/arena.ts';
import { dispatch, uniform, type Dispatch } from '../../gpu/pipelines.ts';

const BINDINGS = ['read', 'read', 'read', 'read', 'read', 'rw', 'rw', 'uniform'] as const;

export interface MatmulArgs {
  label: string;
  inp: View;    // (M, K)
  weight: View; // (N, K) when transB, else (K, N)
  bias?: View;  // (N)
  out: View;    // (M, N)
  M: number; N: number; K: number;
  transB: boolean;
  /** 'ffn-up': out = pre·mask, out2 = gelu(pre); 'ffn-down-back': out = acc·gelu'(aux)·mask, out2 = acc;
   *  'add': out = acc + aux (residual gradient) */
  epilogue?: 'none' | 'ffn-up' | 'ffn-down-back' | 'add';
  mask?: View;  // (N)
  aux?: View;   // (M, N)
  out2?: View;  // (M, N)
}

export async function matmul(g: Gpu, a: MatmulArgs): Promise<Dispatch> {
  const epi = { none: 0, 'ffn-up': 1, 'ffn-down-back': 2, add: 3 }[a.epilogue ?? 'none'];
  const k = await g.pipelines.get({
    shader: 'matmul/matmul.wgsl',
    bindings: [...BINDINGS],
    constants: { TRANS_B: a.transB, HAS_BIAS: !!a.bias, EPI: epi },
  });
  const u = uniform(g, `${a.label} params`, [a.M, a.N, a.K, 0]);
  return dispatch(g, k, a.label, [a.inp, a.weight, a.bias, a.mask, a.aux, a.out, a.out2, u], [Math.ceil(a.N / 64), Math.ceil(a.M / 64)]);
}
