/** Dispatch builders for shaders/layernorm/. */
import type { Gpu } from '../gpu/device.ts';
import type { View } from '../gpu/arena.ts';
import { createParams, defineKernel, defineVariants, dispatch, grid, type Dispatch } from '../gpu/pipelines.ts';
import { cpuForm, cpuSubgroupForm, assertFormRuns, type CpuSubgroupForm } from './matmul-cpu.ts';

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

/**
 * The CPU class (software WebGPU): the same bindings and params, vec4 loads, subgroup sums, one workgroup per row that
 * is one subgroup: 8 lanes (form 'sg8', subgroups of ≥ 8 lanes: lavapipe) or 4 ('sg4', 4..7 lanes: SwiftShader). One
 * template each (shaders/layernorm/layernorm_*_cpu.wgsl, L lanes), a variant per form.
 */
const CPU_VARIANTS = { sg8: { L: 8 }, sg4: { L: 4 } } as const satisfies Record<CpuSubgroupForm, { L: number }>;
export const LAYERNORM_FORWARD_CPU = defineVariants({ ...LAYERNORM_FORWARD, shader: 'layernorm/layernorm_forward_cpu.wgsl' }, CPU_VARIANTS);
export const LAYERNORM_BACKWARD_CPU = defineVariants({ ...LAYERNORM_BACKWARD, shader: 'layernorm/layernorm_backward_cpu.wgsl' }, CPU_VARIANTS);

/**
 * The CPU-class form a CPU-class device runs for this width and these views (`cpuForm`'s), or null: the GPU class
 * (a GPU-class device, C % 4 ≠ 0, a view not 16-byte aligned, no subgroups of ≥ 4 lanes).
 */
export function cpuLayernorm(g: Gpu, C: number, views: (View | null | undefined)[]): CpuSubgroupForm | null {
  if (g.kernels !== 'cpu' || C % 4 !== 0 || !views.every((v) => !v || v.offset % 16 === 0)) return null;
  return cpuSubgroupForm(g);
}

/** The CPU-class form to run, or null for the GPU class; `forced` (tests) must be runnable on the CPU class here. */
function layernormForm(g: Gpu, label: string, C: number, views: (View | null | undefined)[], forced?: CpuSubgroupForm): CpuSubgroupForm | null {
  const form = cpuLayernorm(g, C, views);
  if (!forced) return form;
  if (!form) throw new Error(`${label}: the CPU-class LayerNorm's ${forced} form was asked for, but this device and shape run the GPU class (kernels '${g.kernels}', C=${C}, form ${cpuForm(g)})`);
  assertFormRuns(g, label, 'LayerNorm', forced);
  return forced;
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

/** LayerNorm forward: the CPU class in this device's form (or `form`: tests), else the GPU class. */
export async function layernormForward(g: Gpu, x: LayernormArgs, form?: CpuSubgroupForm): Promise<Dispatch> {
  const cpu = layernormForm(g, x.label, x.C, [x.a, x.b, x.weight, x.bias, x.out, x.s], form);
  const k = cpu
    ? await g.pipelines.get(LAYERNORM_FORWARD_CPU[cpu], { constants: { HAS_RES: !!x.b } })
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

/** LayerNorm backward: the CPU class in this device's form (or `form`: tests), else the GPU class. */
export async function layernormBackward(g: Gpu, x: LayernormBackArgs, form?: CpuSubgroupForm): Promise<Dispatch> {
  const cpu = layernormForm(g, x.label, x.C, [x.dout, x.s, x.weight, x.ds], form);
  const k = cpu
    ? await g.pipelines.get(LAYERNORM_BACKWARD_CPU[cpu])
    : await g.pipelines.get(LAYERNORM_BACKWARD, { constants: { WG: wgFor(x.C) } });
  const p = createParams(g, k.def, `${x.label} params`, { rows: x.rows, C: x.C });
  return dispatch(g, k, x.label, { dout: x.dout, s: x.s, gamma: x.weight, stats: x.stats, ds: x.ds, p }, grid(g, x.rows));
}
