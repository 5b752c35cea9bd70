/** Dispatch builders for shaders/layernorm/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';
import { cpuSubgroups } from './matmul-cpu.ts';

export const LAYERNORM_FORWARD = defineKernel({
  shader: 'layernorm/layernorm_forward.wgsl',
  bindings: { a: 'read', b: 'read', gamma: 'read', beta: 'read', out: 'rw', s: 'rw', stats: 'rw', p: 'uniform' },
  params: { rows: 'u32', C: 'u32', eps: 'f32' },
});
export const LAYERNORM_BACKWARD = defineKernel({
  shader: 'layernorm/layernorm_backward.wgsl',
  bindings: { dout: 'read', s: 'read', gamma: 'read', stats: 'read', ds: 'rw', p: 'uniform' },
  params: { rows: 'u32', C: 'u32' },
});

/** The CPU class (software WebGPU): the same bindings and params, 8-lane workgroups, vec4 loads, subgroup sums. */
export const LAYERNORM_FORWARD_CPU = defineKernel({ ...LAYERNORM_FORWARD, shader: 'layernorm/layernorm_forward_cpu.wgsl' });
export const LAYERNORM_BACKWARD_CPU = defineKernel({ ...LAYERNORM_BACKWARD, shader: 'layernorm/layernorm_backward_cpu.wgsl' });

/** Whether a CPU-class device runs the CPU-class LayerNorm for this width and these views (else the GPU class). */
export function cpuLayernorm(g: Gpu, C: number, views: (View | null | undefined)[]): boolean {
  return g.kernels === 'cpu' && C % 4 === 0 && cpuSubgroups(g) && views.every((v) => !v || v.offset % 16 === 0);
}

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
  const k = cpuLayernorm(g, x.C, [x.a, x.b, x.weight, x.bias, x.out, x.s])
    ? await g.pipelines.get(LAYERNORM_FORWARD_CPU, { constants: { HAS_RES: !!x.b } })
    : await g.pipelines.get(LAYERNORM_FORWARD, { constants: { HAS_RES: !!x.b, WG: wgFor(x.C) } });
  const p = createParams(g, k.def, `${x.label} params`, { rows: x.rows, C: x.C, eps: x.eps });
  return dispatch(g, k, x.label, { a: x.a, b: x.b, gamma: x.weight, beta: x.bias, out: x.out, s: x.s, stats: x.stats, p }, grid(g, x.rows));
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
  const k = cpuLayernorm(g, x.C, [x.dout, x.s, x.weight, x.ds])
    ? await g.pipelines.get(LAYERNORM_BACKWARD_CPU)
    : await g.pipelines.get(LAYERNORM_BACKWARD, { constants: { WG: wgFor(x.C) } });
  const p = createParams(g, k.def, `${x.label} params`, { rows: x.rows, C: x.C });
  return dispatch(g, k, x.label, { dout: x.dout, s: x.s, gamma: x.weight, stats: x.stats, ds: x.ds, p }, grid(g, x.rows));
}
