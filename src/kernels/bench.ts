/** Dispatch builders for shaders/bench/: kernels that exist to be benchmarked (bench/gelu.ts, the page). */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';

/** Invocations per workgroup of the GELU kernel (its WG override). */
export const GELU_WG = 256;

export const GELU = defineKernel({
  shader: 'bench/gelu.wgsl',
  bindings: { inp: 'read', out: 'rw', p: 'uniform' },
  params: { N: 'u32' },
});

export interface GeluArgs {
  label: string;
  inp: View;   // (N)
  out: View;   // (N) gelu(inp)
  N: number;
}

/** One GELU dispatch over N elements, one element per invocation. */
export async function gelu(g: Gpu, a: GeluArgs): Promise<Dispatch> {
  const k = await g.pipelines.get(GELU, { constants: { WG: GELU_WG } });
  const p = createParams(g, GELU, `${a.label} params`, { N: a.N });
  return dispatch(g, k, a.label, { inp: a.inp, out: a.out, p }, grid(g, Math.ceil(a.N / GELU_WG)));
}
