/**
 * The CPU-class matmul (src/gpu/device.ts `kernelClass`): the matmul family shaped for software WebGPU (Mesa's
 * lavapipe, SwiftShader), where every storage load costs a masked scalar load per lane and nothing is shared
 * through workgroup memory cheaply. What pays there is loads per multiply-add, so:
 *   - no workgroup memory, no barriers; a workgroup of L invocations that is one subgroup (L = 8 on lavapipe, 4 on
 *     SwiftShader);
 *   - each invocation owns R rows × 4 columns of out, in R `vec4` accumulators (separate variables, unrolled:
 *     arrays of accumulators ran 4.5× slower on lavapipe);
 *   - per K step of 4: A rows are read as `vec4` along K, lane l reading rows l, l+L, l+2L, … of the tile (R/L
 *     rows), and handed to every lane with `subgroupBroadcast` (one load feeds L lanes); B is read as 4 `vec4`s
 *     (a `mat4x4f`): rows n..n+3 of W (N, K) when TRANS_B, rows k..k+3 of B (K, N) otherwise;
 *   - the epilogues of shaders/matmul/epilogue.wgsl (none, ffn-up, ffn-down-back, add) on `vec4`s of out.
 * Three forms (`CpuForm`, `CPU_FORMS`), one chosen per device by `cpuForm`, each a variant of the template
 * shaders/matmul/matmul_cpu.wgsl (`MATMUL_CPU`, src/gpu/template.ts): 'sg8' (L = 8, R = 32: subgroups of ≥ 8 lanes,
 * lavapipe), 'sg4' (L = 4, R = 16: subgroups of ≥ 4 lanes, SwiftShader's are exactly 4; on SwiftShader 32
 * accumulators per lane ran 1.6–1.75× slower than 16–24, bench/RESULTS.md), 'nosg' (L = 8, R = 32, each lane reading
 * its 32 A rows itself: no `subgroups` feature, or narrower).
 * All need K % 4 == 0, N % 4 == 0 and 16-byte aligned views (`cpuMatmulSupports`); other products use the
 * GPU-class family.
 *
 * Numerics: per output, K/4 partial dot products of 4 terms (a different order from the GPU-class family's one
 * fma per k): within f32 rounding of it, not bitwise equal; the three forms add in the same order.
 */
import type { View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineVariants, dispatch, type Dispatch } from '../gpu/pipelines.ts';

/** Columns per invocation (one `vec4` of out); rows per invocation and invocations per workgroup are the form's. */
const COLS = 4;

/**
 * The CPU-class matmul's forms: subgroup broadcasts (SUBGROUPS) in a workgroup of L = 8 lanes or of 4, or none; R
 * rows per workgroup and per invocation (a workgroup's tile: R × 4·L).
 */
export type CpuForm = 'sg8' | 'sg4' | 'nosg';
const FORMS = {
  sg8: { L: 8, R: 32, SUBGROUPS: true },
  sg4: { L: 4, R: 16, SUBGROUPS: true },
  nosg: { L: 8, R: 32, SUBGROUPS: false },
} as const satisfies Record<CpuForm, { L: 4 | 8; R: number; SUBGROUPS: boolean }>;

/** The variants of shaders/matmul/matmul_cpu.wgsl, one per form. */
export const MATMUL_CPU = defineVariants({
  shader: 'matmul/matmul_cpu.wgsl',
  bindings: { inp: 'read', w: 'read', bias: 'read', mask: 'read', aux: 'read', out: 'rw', out2: 'rw', p: 'uniform' },
  params: { M: 'u32', N: 'u32', K: 'u32' },
}, FORMS);

/** Per form: its description, and its lanes per workgroup and rows per workgroup (and per invocation). */
const form = <F extends CpuForm>(f: F) => ({ def: MATMUL_CPU[f], subgroups: FORMS[f].SUBGROUPS, lanes: FORMS[f].L, rows: FORMS[f].R });
export const CPU_FORMS = { sg8: form('sg8'), sg4: form('sg4'), nosg: form('nosg') };

// ---------- the builder ----------
export type CpuEpilogue = 'none' | 'ffn-up' | 'ffn-down-back' | 'add';
const EPI = { none: 0, 'ffn-up': 1, 'ffn-down-back': 2, add: 3 } as const;

export interface CpuMatmulArgs {
  label: string;
  inp: View; weight: View; bias?: View; out: View;
  M: number; N: number; K: number;
  transB: boolean;
  epilogue?: CpuEpilogue;
  mask?: View; aux?: View; out2?: View;
}

/** The lanes every subgroup of this device has (subgroupMinSize), 0 without the `subgroups` feature or a reported size. */
const subgroupLanes = (g: Pick<Gpu, 'features' | 'adapterInfo'>) => (g.features.includes('subgroups') ? g.adapterInfo.subgroupMinSize ?? 0 : 0);

/**
 * The form this device runs: 'sg8' where every subgroup has ≥ 8 lanes (lavapipe), 'sg4' where it has ≥ 4
 * (SwiftShader: exactly 4), else 'nosg'. A subgroup form's workgroup (8 or 4 invocations) then lies inside one
 * subgroup, which its broadcasts need.
 */
export function cpuForm(g: Pick<Gpu, 'features' | 'adapterInfo'>): CpuForm {
  const lanes = subgroupLanes(g);
  return lanes >= 8 ? 'sg8' : lanes >= 4 ? 'sg4' : 'nosg';
}

/**
 * Why `kernel`'s (the CPU-class matmul's, attention's, LayerNorm's) `form` cannot run on this device — its workgroup
 * would not be one subgroup — or null when it can. Every family's forms have the matmul's lanes.
 */
export function cpuFormRuns(g: Pick<Gpu, 'features' | 'adapterInfo'>, form: CpuForm, kernel = 'matmul'): string | null {
  const { subgroups, lanes } = CPU_FORMS[form];
  if (!subgroups || subgroupLanes(g) >= lanes) return null;
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = g.adapterInfo;
  const has = !g.features.includes('subgroups') ? 'no subgroups feature' : lo === undefined ? 'subgroups of unreported size' : `subgroups of ${lo === hi || hi === undefined ? lo : `${lo}..${hi}`} lanes`;
  return `the CPU-class ${kernel}'s ${form} form needs subgroups of ≥ ${lanes} lanes; this adapter has ${has} (its form is ${cpuForm(g)})`;
}

/** The one refusal of a form forced (tests, benches) where it cannot run: throws, naming the dispatch and the kernel. */
export function assertFormRuns(g: Pick<Gpu, 'features' | 'adapterInfo'>, label: string, kernel: string, form: CpuForm): void {
  const why = cpuFormRuns(g, form, kernel);
  if (why) throw new Error(`${label}: ${why}; leave the form to cpuForm`);
}

/** The forms with subgroup broadcasts: the CPU-class attention and LayerNorm have only these (no form without). */
export type CpuSubgroupForm = Exclude<CpuForm, 'nosg'>;

/** This device's form (`cpuForm`'s) where it has subgroups of ≥ 4 lanes, else null (attention and LayerNorm then
 * run the GPU class). */
export function cpuSubgroupForm(g: Pick<Gpu, 'features' | 'adapterInfo'>): CpuSubgroupForm | null {
  const f = cpuForm(g);
  return f === 'nosg' ? null : f;
}

/** Why the CPU-class kernel cannot run this product (then the GPU-class family does), or null when it can. */
export function cpuMatmulSupports(a: { M: number; N: number; K: number; inp?: View; weight?: View; bias?: View; mask?: View; aux?: View; out?: View; out2?: View }): string | null {
  if (a.K % 4 || a.N % 4) return `the CPU-class matmul reads vec4s: K and N must be multiples of 4 (K=${a.K}, N=${a.N})`;
  if (a.M < 1 || a.N < 4 || a.K < 4) return `M, N, K = ${a.M}, ${a.N}, ${a.K} are too small for the CPU-class matmul`;
  for (const [n, v] of Object.entries({ inp: a.inp, weight: a.weight, bias: a.bias, mask: a.mask, aux: a.aux, out: a.out, out2: a.out2 })) {
    if (v && v.offset % 16) return `the CPU-class matmul binds vec4 arrays: view ${n} ('${v.name}') starts at byte ${v.offset}, not a multiple of 16`;
  }
  return null;
}

/** The CPU-class matmul in the form this device runs (`cpuForm`), or in `form` (tests, benches; refused where it cannot run). */
export async function matmulCpu(g: Gpu, a: CpuMatmulArgs, form: CpuForm = cpuForm(g)): Promise<Dispatch> {
  const why = cpuMatmulSupports(a);
  if (why) throw new Error(`${a.label}: ${why}; use the GPU-class family (matmul with IR_NEURONS_KERNELS=gpu)`);
  assertFormRuns(g, a.label, 'matmul', form);
  const { def, lanes, rows } = CPU_FORMS[form];
  const k = await g.pipelines.get(def, { constants: { TRANS_B: a.transB, HAS_BIAS: !!a.bias, EPI: EPI[a.epilogue ?? 'none'] } });
  const p = createParams(g, k.def, `${a.label} params`, { M: a.M, N: a.N, K: a.K });
  return dispatch(g, k, a.label, { inp: a.inp, w: a.weight, bias: a.bias, mask: a.mask, aux: a.aux, out: a.out, out2: a.out2, p },
    [Math.ceil(a.N / (COLS * lanes)), Math.ceil(a.M / rows)]);
}
