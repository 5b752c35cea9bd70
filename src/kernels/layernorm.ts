/** Dispatch builders for shaders/layernorm/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { dispatch, grid, uniform, type Dispatch } from '../gpu/pipelines.ts';

export function wgFor(C: number): number {
  return C >= 512 ? 256 : C >= 128 ? 128 : 64;
}

export interface LayernormArgs {
  label: string;
  a: View; b?: View;            // (rows, C); out = LN(a + b)
  weight: View; bias: View;     // (C)
  out: View; s?: View;          // (rows, C); s saved when b is given
  stats: View;                  // (rows, 2) mean, rstd
  rows: number; C: number; eps: number;
}

export async function layernormForward(g: Gpu, x: LayernormArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({
    shader: 'layernorm/layernorm_forward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'rw', 'rw', 'rw', 'uniform'],
    constants: { HAS_RES: !!x.b, WG: wgFor(x.C) },
  });
  const u = uniform(g, `${x.label} params`, [x.rows, x.C, 0, 0], [x.eps]);
  return dispatch(g, k, x.label, [x.a, x.b, x.weight, x.bias, x.out, x.s, x.stats, u], grid(g, x.rows));
}

export interface LayernormBackArgs {
  label: string;
  dout: View; s: View;   // (rows, C): incoming gradient, saved LayerNorm input
  weight: View;          // (C) gamma
  stats: View;           // (rows, 2) saved mean, rstd
  ds: View;              // (rows, C) gradient w.r.t. the LayerNorm input
  rows: number; C: number;
}

export async function layernormBackward(g: Gpu, x: LayernormBackArgs): Promise<Dispatch> {
  const k = await g.pipelines.get({
    shader: 'layernorm/layernorm_backward.wgsl',
    bindings: ['read', 'read', 'read', 'read', 'rw', 'uniform'],
    constants: { WG: wgFor(x.C) },
  });
  const u = uniform(g, `${x.label} params`, [x.rows, x.C, 0, 0]);
  return dispatch(g, k, x.label, [x.dout, x.s, x.weight, x.stats, x.ds, u], grid(g, x.rows));
}
