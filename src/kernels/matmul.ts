/**
 * Dispatch builders for shaders/matmul/: one matmul family, its variants (override constants), and its tuning.
 *   kind 'tiled'    matmul.wgsl          BM×BN tile, BK slice, TM×TN per invocation, f32 loads (any shape)
 *   kind 'vec4'     matmul_vec4.wgsl     the same loop with vec4 loads (K % 4 == 0, and N % 4 == 0 when !transB)
 *   kind 'subgroup' matmul_subgroup.wgsl split-K over subgroup lanes, subgroupAdd (needs the 'subgroups' feature)
 * Every variant supports every epilogue and both B layouts. Without tuning every product uses DEFAULT_VARIANT
 * (64×64×16, 4×4); the tiled and vec4 variants give bitwise the same results as it (same fma order), the
 * subgroup variant agrees within f32 rounding. Tuning (src/gpu/autotune.ts) picks a variant per shape class.
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import { readView } from '../gpu/queue.ts';
import { autotune, tunedVariant, tuneOnce, type TuneChoice, type TuneOptions } from '../gpu/autotune.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineKernel, dispatch, type Dispatch } from '../gpu/pipelines.ts';
import { uniformArray } from '../util/rng.ts';
import { cpuMatmulSupports, matmulCpu } from './matmul-cpu.ts';

/** What the product's store does (shaders/matmul/epilogue.wgsl's EPI): see MatmulArgs.epilogue. */
export type Epilogue = 'none' | 'ffn-up' | 'ffn-down-back' | 'add';
export interface MatmulShape { M: number; N: number; K: number; transB: boolean; epilogue?: Epilogue }

/** M rounded up to a power of two (at least 1). */
export function mBucket(M: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, M)));
}

/**
 * The shape class, the tune cache's key: (M rounded up to a power of two, N, K, transB, epilogue), e.g.
 * 'M<=1024 N=3072 K=768 transB ffn-up'. One tuning serves every M in (bucket/2, bucket], e.g. all sequence
 * lengths × path points that round to the same power of two. Changing this format means bumping MATMUL_FAMILY.
 */
export function shapeClass(s: MatmulShape): string {
  return `M<=${mBucket(s.M)} N=${s.N} K=${s.K} ${s.transB ? 'transB' : 'B'} ${s.epilogue ?? 'none'}`;
}

/** Every variant binds the same (shaders/matmul/epilogue.wgsl declares bindings 2..7 and Params). */
const matmulKernel = (shader: string) => defineKernel({
  shader,
  bindings: { inp: 'read', w: 'read', bias: 'read', mask: 'read', aux: 'read', out: 'rw', out2: 'rw', p: 'uniform' },
  params: { M: 'u32', N: 'u32', K: 'u32' },
});
export const MATMUL = matmulKernel('matmul/matmul.wgsl');
export const MATMUL_VEC4 = matmulKernel('matmul/matmul_vec4.wgsl');
export const MATMUL_SUBGROUP = matmulKernel('matmul/matmul_subgroup.wgsl');

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
  epilogue?: Epilogue;
  mask?: View;  // (N)
  aux?: View;   // (M, N)
  out2?: View;  // (M, N)
  /** Force a variant (a MATMUL_VARIANTS name or a custom one); unset: the tuned choice, else the default. */
  variant?: string | MatmulVariant;
}

// ---------- the family ----------
export interface MatmulVariant {
  name: string;
  kind: 'tiled' | 'vec4' | 'subgroup';
  BM: number; BN: number; // output tile per workgroup
  BK: number;             // K slice staged in workgroup memory (tiled, vec4; 0 for subgroup)
  TM: number; TN: number; // outputs per invocation (tiled, vec4) or per subgroup (subgroup)
  WG?: number;            // invocations per workgroup (subgroup; tiled ones use (BN/TN)×(BM/TM))
}

const tiledVariant = (kind: 'tiled' | 'vec4', BM: number, BN: number, BK: number, TM: number, TN: number): MatmulVariant =>
  ({ name: `${kind}-${BM}x${BN}x${BK}-${TM}x${TN}`, kind, BM, BN, BK, TM, TN });
const subgroupVariant = (BM: number, BN: number, TM: number, TN: number, WG: number): MatmulVariant =>
  ({ name: `subgroup-${BM}x${BN}-${TM}x${TN}-wg${WG}`, kind: 'subgroup', BM, BN, BK: 0, TM, TN, WG });

/** The kernel the model used before tuning existed; the reference every candidate is validated against. */
export const DEFAULT_VARIANT = tiledVariant('tiled', 64, 64, 16, 4, 4);
/** Bumped whenever a kernel's code changes, so that cached choices made for the old code are ignored. */
export const MATMUL_FAMILY = 'matmul/2';

/** The candidates; all fit WebGPU's default limits (≤ 256 invocations, ≤ 16 KiB of workgroup memory). */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = [
  DEFAULT_VARIANT,                          // 256 invocations,  8 KiB of workgroup memory
  tiledVariant('tiled', 32, 32, 16, 2, 2),  // 256,  4 KiB: small tiles, more workgroups for small M, N
  tiledVariant('tiled', 32, 32, 32, 4, 4),  //  64,  8 KiB
  tiledVariant('tiled', 64, 64, 16, 8, 4),  // 128,  8 KiB
  tiledVariant('tiled', 128, 64, 16, 8, 4), // 256, 12 KiB
  tiledVariant('tiled', 64, 128, 16, 4, 8), // 256, 12 KiB
  tiledVariant('tiled', 64, 64, 8, 8, 8),   //  64,  4 KiB: 64 accumulators per invocation
  tiledVariant('tiled', 128, 128, 8, 8, 8), // 256,  8 KiB
  tiledVariant('vec4', 64, 64, 16, 4, 4),
  tiledVariant('vec4', 128, 64, 16, 8, 4),
  tiledVariant('vec4', 128, 128, 8, 8, 8),
  subgroupVariant(8, 8, 2, 2, 64),          // 64 invocations: 16 blocks of 2×2 per workgroup
  subgroupVariant(4, 16, 1, 4, 64),         // 64: 16 blocks of 1×4
];

export function variantByName(name: string): MatmulVariant {
  const v = MATMUL_VARIANTS.find((x) => x.name === name);
  if (!v) throw new Error(`no matmul variant named '${name}'; the variants are ${MATMUL_VARIANTS.map((x) => x.name).join(', ')}`);
  return v;
}

/** The variant's override constants (besides TRANS_B, HAS_BIAS, EPI). */
export function variantConstants(v: MatmulVariant): Record<string, number> {
  return v.kind === 'subgroup' ? { BM: v.BM, BN: v.BN, TM: v.TM, TN: v.TN, WG: v.WG ?? 64 } : { BM: v.BM, BN: v.BN, BK: v.BK, TM: v.TM, TN: v.TN };
}

/** Why `v` cannot be built within `limits` (a device's, or WebGPU's defaults), or null when it can. */
export function variantFits(v: MatmulVariant, limits: Record<string, number>): string | null {
  const pos = (x: number | undefined) => Number.isInteger(x) && x! > 0;
  if (![v.BM, v.BN, v.TM, v.TN].every(pos) || v.BM % v.TM || v.BN % v.TN) return `TM, TN must divide BM, BN (${v.BM}x${v.BN}, ${v.TM}x${v.TN})`;
  let invocations: number, x: number, y: number, bytes: number;
  if (v.kind === 'subgroup') {
    if (v.TM * v.TN > 16) return `TM·TN = ${v.TM * v.TN} exceeds the subgroup kernel's 16 accumulators`;
    invocations = x = v.WG ?? 64; y = 1; bytes = 4;
  } else {
    if (v.TM > 8 || v.TN > 8) return `TM, TN = ${v.TM}, ${v.TN} exceed the tiled kernel's 8`;
    if (!pos(v.BK)) return `BK = ${v.BK} is not a positive integer`;
    if (v.kind === 'vec4' && (v.BK % 4 || v.BN % 4)) return `vec4 loads need BK and BN divisible by 4 (${v.BK}, ${v.BN})`;
    x = v.BN / v.TN; y = v.BM / v.TM; invocations = x * y; bytes = 4 * v.BK * (v.BM + v.BN);
  }
  if (invocations > limits.maxComputeInvocationsPerWorkgroup) return `${invocations} invocations per workgroup exceed the limit ${limits.maxComputeInvocationsPerWorkgroup}`;
  if (x > limits.maxComputeWorkgroupSizeX || y > limits.maxComputeWorkgroupSizeY) return `workgroup ${x}×${y} exceeds the limits ${limits.maxComputeWorkgroupSizeX}×${limits.maxComputeWorkgroupSizeY}`;
  if (bytes > limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory exceed the limit ${limits.maxComputeWorkgroupStorageSize}`;
  return null;
}

/** Why `v` cannot run this product on this device (alignment, features), or null when it can. */
export function variantSupports(g: Gpu, v: MatmulVariant, a: MatmulShape & { inp?: View; weight?: View }): string | null {
  if (v.kind === 'subgroup' && !g.features.includes('subgroups')) return "the device lacks the 'subgroups' feature";
  if (v.kind === 'vec4') {
    if (a.K % 4 || (!a.transB && a.N % 4)) return `vec4 loads need K${a.transB ? '' : ' and N'} divisible by 4 (K=${a.K}, N=${a.N})`;
    if ((a.inp && a.inp.offset % 16) || (a.weight && a.weight.offset % 16)) return 'vec4 loads need 16-byte aligned input views';
  }
  return null;
}

const KERNELS = { tiled: MATMUL, vec4: MATMUL_VEC4, subgroup: MATMUL_SUBGROUP } as const;
const EPI = { none: 0, 'ffn-up': 1, 'ffn-down-back': 2, add: 3 } as const;

/** The variant `a` runs with: the forced one (which must fit), else the tuned choice when usable, else the default. */
async function resolveVariant(g: Gpu, a: MatmulArgs): Promise<MatmulVariant> {
  if (a.variant) {
    const v = typeof a.variant === 'string' ? variantByName(a.variant) : a.variant;
    const why = variantFits(v, g.limits) ?? variantSupports(g, v, a);
    if (why) throw new Error(`${a.label}: matmul variant ${v.name} cannot run here: ${why}; choose another (MATMUL_VARIANTS) or leave variant unset`);
    return v;
  }
  const shape: MatmulShape = { M: a.M, N: a.N, K: a.K, transB: a.transB, epilogue: a.epilogue };
  const name = await tunedVariant(g, MATMUL_FAMILY, shapeClass(shape), () => tuneMatmuls(g, [shape]));
  const v = name === undefined ? undefined : MATMUL_VARIANTS.find((x) => x.name === name);
  return v && !variantFits(v, g.limits) && !variantSupports(g, v, a) ? v : DEFAULT_VARIANT;
}

/**
 * One product. On a CPU-class device (g.kernels, src/gpu/device.ts) products the CPU-class kernel supports run on
 * it (src/kernels/matmul-cpu.ts) unless a variant is forced; everything else runs the variant `resolveVariant` picks.
 */
export async function matmul(g: Gpu, a: MatmulArgs): Promise<Dispatch> {
  if (g.kernels === 'cpu' && !a.variant && !cpuMatmulSupports(a)) return matmulCpu(g, a);
  const v = await resolveVariant(g, a);
  const k = await g.pipelines.get(KERNELS[v.kind], {
    constants: { TRANS_B: a.transB, HAS_BIAS: !!a.bias, EPI: EPI[a.epilogue ?? 'none'], ...variantConstants(v) },
  });
  const p = createParams(g, k.def, `${a.label} params`, { M: a.M, N: a.N, K: a.K });
  return dispatch(g, k, a.label, { inp: a.inp, w: a.weight, bias: a.bias, mask: a.mask, aux: a.aux, out: a.out, out2: a.out2, p }, [Math.ceil(a.N / v.BN), Math.ceil(a.M / v.BM)]);
}

// ---------- tuning ----------
/** The products one BERT layer runs (forward.ts, backward.ts) for M = tokens × path points: the tuning set. */
export function bertMatmulShapes(C: number, F: number, M: number): (MatmulShape & { label: string })[] {
  return [
    { label: 'qkv', M, N: 3 * C, K: C, transB: true },
    { label: 'attn out', M, N: C, K: C, transB: true },
    { label: 'ffn up', M, N: F, K: C, transB: true, epilogue: 'ffn-up' },
    { label: 'ffn down', M, N: C, K: F, transB: true },
    { label: 'ffn down backward', M, N: F, K: C, transB: false, epilogue: 'ffn-down-back' },
    { label: 'ffn up backward', M, N: C, K: F, transB: false, epilogue: 'add' },
    { label: 'attn out backward', M, N: C, K: C, transB: false },
    { label: 'qkv backward', M, N: C, K: 3 * C, transB: false, epilogue: 'add' },
  ];
}

/**
 * Tunes each shape's class on this device (see src/gpu/autotune.ts): every variant that fits and supports the
 * shape is validated against the default on random inputs (bias when transB, as in the model; a mask with
 * zeros; aux for the backward epilogues), the valid ones are timed, the fastest is cached on disk and used by
 * `matmul` on this device from then on. `variants` narrows the candidates (the default is always one).
 */
export async function tuneMatmuls(g: Gpu, shapes: MatmulShape[], opts: TuneOptions & { variants?: readonly MatmulVariant[] } = {}): Promise<TuneChoice[]> {
  const out: TuneChoice[] = [];
  for (const s of shapes) out.push(await tuneOnce(g, shapeClass(s), () => tuneShape(g, s, opts)));
  return out;
}

async function tuneShape(g: Gpu, s: MatmulShape, opts: TuneOptions & { variants?: readonly MatmulVariant[] }): Promise<TuneChoice> {
  const { M, N, K, transB } = s;
  const epilogue = s.epilogue ?? 'none';
  const two = epilogue === 'ffn-up' || epilogue === 'ffn-down-back';
  const sizes = { inp: M * K, w: N * K, bias: N, mask: N, aux: M * N, out: M * N, out2: M * N };
  const arena = new Arena(g, `tune ${M}x${N}x${K}`);
  for (const [name, n] of Object.entries(sizes)) arena.reserve(name, 4 * n);
  arena.build();
  const v = (name: string) => arena.view(name);
  writeView(g, v('inp'), uniformArray(M * K, 1, 1));
  writeView(g, v('w'), uniformArray(N * K, 2, 1 / Math.sqrt(K)));
  writeView(g, v('bias'), uniformArray(N, 3, 0.1));
  writeView(g, v('mask'), Float32Array.from({ length: N }, (_, n) => (n % 3 === 1 ? 0 : 1)));
  writeView(g, v('aux'), uniformArray(M * N, 4, 2));
  const args: MatmulArgs = {
    label: `tune ${M}x${N}x${K}`, inp: v('inp'), weight: v('w'), bias: transB ? v('bias') : undefined, out: v('out'),
    out2: two ? v('out2') : undefined, mask: two ? v('mask') : undefined, aux: epilogue === 'ffn-down-back' || epilogue === 'add' ? v('aux') : undefined,
    M, N, K, transB, epilogue,
  };
  const rejected: Record<string, string> = {};
  const candidates = [];
  for (const cand of [DEFAULT_VARIANT, ...(opts.variants ?? MATMUL_VARIANTS).filter((x) => x.name !== DEFAULT_VARIANT.name)]) {
    const why = variantFits(cand, g.limits) ?? variantSupports(g, cand, args);
    if (why) { rejected[cand.name] = why; continue; }
    try {
      candidates.push({ name: cand.name, constants: variantConstants(cand), dispatch: await matmul(g, { ...args, label: `${args.label} ${cand.name}`, variant: cand }) });
    } catch (e) {
      if (cand === DEFAULT_VARIANT) throw e;
      rejected[cand.name] = `does not build: ${(e as Error).message.split('\n')[0]}`;
    }
  }
  try {
    return await autotune(g, {
      family: MATMUL_FAMILY, key: shapeClass(s), shape: { M, N, K }, candidates, rejected, tol: 1e-5,
      read: async () => (two ? [await readView(g, v('out')), await readView(g, v('out2'))] : [await readView(g, v('out'))]),
    }, opts);
  } finally {
    arena.destroy();
  }
}
