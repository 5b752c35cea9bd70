/**
 * Dispatch builders for shaders/matmul/: the GPU-class matmul family, its variants, and its tuning.
 * One template, shaders/matmul/matmul.wgsl, and one table of its variants, `MATMUL` (`defineVariants`): workgroup
 * tile BM×BN×BK, TM×TN outputs per invocation (4×4, 8×4, 8×8), vec4 or scalar global loads (VEC4), one or two
 * shared buffers (DB), padding of the shared rows (PAD), and a subgroup form (SUBGROUPS: A shuffled between lanes
 * instead of staged in shared memory). The table is the autotuner's candidate list. Every variant supports every
 * epilogue and both B layouts (TRANS_B, HAS_BIAS, EPI: override constants, picked per call), and gives the same
 * bits as every other (one fma per k in K order). Without tuning every product uses DEFAULT_VARIANT, or, where its
 * vec4 loads cannot run the product (K or N not a multiple of 4, unaligned views), SCALAR_VARIANT, which runs any.
 * The CPU class (src/kernels/matmul-cpu.ts) is a family of its own.
 */
import { Arena, writeView, type View } from '../gpu/arena.ts';
import { readView } from '../gpu/queue.ts';
import { autotune, tunedVariant, tuneOnce, type TuneChoice, type TuneOptions } from '../gpu/autotune.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineKernel, defineVariants, dispatch, type Dispatch } from '../gpu/pipelines.ts';
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
/** A variant's template values (shaders/matmul/matmul.wgsl's header says what each does). */
export type MatmulTile = {
  BM: number; BN: number; BK: number; // workgroup tile: BM×BN outputs, a K slice of BK per shared buffer
  TM: number; TN: number;             // outputs per invocation (multiples of 4, ≤ 8)
  VEC4: boolean;                      // vec4 global loads (K % 4 == 0, N % 4 == 0 when !transB, 16-byte aligned views)
  DB: 1 | 2;                          // shared buffers: 2 = load the next tile into the other while computing
  PAD: number;                        // floats added to each k-row of a shared tile (a multiple of 4)
  SUBGROUPS: boolean;                 // A by subgroupShuffle between lanes (needs uniform subgroups of S lanes, S % TM == 0)
};
export interface MatmulVariant extends MatmulTile { readonly name: string }

const tile = (BM: number, BN: number, BK: number, TM: number, TN: number, o: Partial<MatmulTile> = {}): MatmulTile =>
  ({ BM, BN, BK, TM, TN, VEC4: true, DB: 2, PAD: 4, SUBGROUPS: false, ...o });

/**
 * The variants (name → template values); all fit WebGPU's default limits (≤ 256 invocations, ≤ 16 KiB of workgroup
 * memory: 4·DB·BK·(BM + PAD + BN + PAD) bytes, without the BM + PAD of As in the subgroup form). Names: f32 / v4 / sg
 * (scalar loads, vec4 loads, subgroups), tile, outputs per invocation, _db1 (one shared buffer), _nopad.
 */
const TABLE = {
  f32_64x64x8_4x4: tile(64, 64, 8, 4, 4, { VEC4: false }), // 256 invocations, 8.5 KiB: any M, N, K (the fallback)
  v4_64x64x8_4x4: tile(64, 64, 8, 4, 4),                   // 256, 8.5 KiB: the default
  v4_32x32x8_4x4: tile(32, 32, 8, 4, 4),                   //  64, 4.5 KiB: small M or N, more workgroups
  v4_128x64x8_8x4: tile(128, 64, 8, 8, 4),                 // 256, 12.5 KiB
  v4_64x64x8_8x8: tile(64, 64, 8, 8, 8),                   //  64, 8.5 KiB
  v4_64x128x8_8x8: tile(64, 128, 8, 8, 8),                 // 128, 12.5 KiB
  v4_128x128x8_8x8_db1: tile(128, 128, 8, 8, 8, { DB: 1 }), // 256, 8.25 KiB: two buffers padded would be 16.5 KiB
  v4_128x128x8_8x8_nopad: tile(128, 128, 8, 8, 8, { PAD: 0 }), // 256, 16 KiB: two buffers, 2-way conflicts on stores
  sg_64x64x8_4x4: tile(64, 64, 8, 4, 4, { SUBGROUPS: true }),   // 256, 4.25 KiB (B only): subgroups of ≥ 4 lanes
  sg_128x128x8_8x8: tile(128, 128, 8, 8, 8, { SUBGROUPS: true }), // 256, 8.25 KiB: subgroups of a multiple of 8 lanes
} as const satisfies Record<string, MatmulTile>;

/** The family's descriptions, one per variant (named e.g. matmul/matmul[v4_64x64x8_4x4]). */
export const MATMUL = defineVariants({
  shader: 'matmul/matmul.wgsl',
  bindings: { inp: 'read', w: 'read', bias: 'read', mask: 'read', aux: 'read', out: 'rw', out2: 'rw', p: 'uniform' },
  params: { M: 'u32', N: 'u32', K: 'u32' },
}, TABLE);

/** The variants as the tuner and the benches list them (the table's rows, in order). */
export const MATMUL_VARIANTS: readonly MatmulVariant[] = Object.entries(TABLE).map(([name, t]) => ({ name, ...t }));

export function variantByName(name: string): MatmulVariant {
  const v = MATMUL_VARIANTS.find((x) => x.name === name);
  if (!v) throw new Error(`no matmul variant named '${name}'; the variants are ${MATMUL_VARIANTS.map((x) => x.name).join(', ')}`);
  return v;
}

/** The variant untuned products run; the reference every candidate is validated against. */
export const DEFAULT_VARIANT = variantByName('v4_64x64x8_4x4');
/** The variant that runs any product (scalar loads): where a chosen variant's vec4 loads or subgroups cannot. */
export const SCALAR_VARIANT = variantByName('f32_64x64x8_4x4');
/** Bumped whenever a kernel's code changes, so that cached choices made for the old code are ignored. */
export const MATMUL_FAMILY = 'matmul/3';

/** The variant's template values (what its pipeline key and the tune cache record). */
export function variantValues(v: MatmulVariant): MatmulTile {
  const { BM, BN, BK, TM, TN, VEC4, DB, PAD, SUBGROUPS } = v;
  return { BM, BN, BK, TM, TN, VEC4, DB, PAD, SUBGROUPS };
}

/** Invocations per workgroup and bytes of workgroup memory of `v`. */
export function variantCost(v: MatmulTile): { invocations: number; bytes: number } {
  const invocations = (v.BM / v.TM) * (v.BN / v.TN);
  const floats = v.DB * v.BK * ((v.SUBGROUPS ? 0 : v.BM + v.PAD) + v.BN + v.PAD);
  return { invocations, bytes: 4 * floats + (v.SUBGROUPS ? 4 : 0) };
}

/** Why `v` cannot be built within `limits` (a device's, or WebGPU's defaults), or null when it can. */
export function variantFits(v: MatmulVariant, limits: Record<string, number>): string | null {
  const pos = (x: number) => Number.isInteger(x) && x > 0;
  if (![v.BM, v.BN, v.BK, v.TM, v.TN].every(pos)) return `BM, BN, BK, TM, TN must be positive integers (${v.BM}x${v.BN}x${v.BK}, ${v.TM}x${v.TN})`;
  if (v.TM % 4 || v.TN % 4 || v.TM > 8 || v.TN > 8) return `TM, TN = ${v.TM}, ${v.TN}: the template's register tiles are 4 or 8 outputs a side`;
  if (v.BM % v.TM || v.BN % v.TN || v.BK % 4) return `TM, TN must divide BM, BN and BK must be a multiple of 4 (${v.BM}x${v.BN}x${v.BK}, ${v.TM}x${v.TN})`;
  if (v.PAD % 4 || v.PAD < 0 || (v.DB !== 1 && v.DB !== 2)) return `PAD = ${v.PAD} must be a multiple of 4 and DB = ${v.DB} 1 or 2`;
  if (v.SUBGROUPS && (!v.VEC4 || (v.BN / v.TN) % v.TM)) return `the subgroup form needs VEC4 and BN/TN a multiple of TM (${v.BN}/${v.TN}, ${v.TM})`;
  const { invocations, bytes } = variantCost(v);
  if (invocations > limits.maxComputeInvocationsPerWorkgroup) return `${invocations} invocations per workgroup exceed the limit ${limits.maxComputeInvocationsPerWorkgroup}`;
  if (invocations > limits.maxComputeWorkgroupSizeX) return `workgroup ${invocations}×1 exceeds the limit ${limits.maxComputeWorkgroupSizeX}`;
  if (bytes > limits.maxComputeWorkgroupStorageSize) return `${bytes} bytes of workgroup memory exceed the limit ${limits.maxComputeWorkgroupStorageSize}`;
  return null;
}

/** Why the subgroup form of `v` cannot run on this device, or null when it can (see shaders/matmul/matmul.wgsl). */
export function subgroupsRun(g: Pick<Gpu, 'features' | 'adapterInfo'>, v: MatmulTile): string | null {
  if (!v.SUBGROUPS) return null;
  if (!g.features.includes('subgroups')) return "the device lacks the 'subgroups' feature";
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = g.adapterInfo;
  if (lo === undefined || lo !== hi) return `the subgroup form needs one subgroup size; this adapter has ${lo === undefined ? 'an unreported one' : `${lo}..${hi}`}`;
  const { invocations } = variantCost(v);
  if (lo % v.TM || invocations % lo) return `the subgroup form with TM = ${v.TM} and ${invocations} invocations needs subgroups of a multiple of ${v.TM} lanes dividing ${invocations}; this adapter's have ${lo}`;
  return null;
}

/** Why `v` cannot run this product on this device (alignment, features), or null when it can. */
export function variantSupports(g: Pick<Gpu, 'features' | 'adapterInfo'>, v: MatmulVariant, a: MatmulShape & { inp?: View; weight?: View }): string | null {
  const sg = subgroupsRun(g, v);
  if (sg) return sg;
  if (v.VEC4) {
    if (a.K % 4 || (!a.transB && a.N % 4)) return `vec4 loads need K${a.transB ? '' : ' and N'} divisible by 4 (K=${a.K}, N=${a.N})`;
    if ((a.inp && a.inp.offset % 16) || (a.weight && a.weight.offset % 16)) return 'vec4 loads need 16-byte aligned input views';
  }
  return null;
}

/** `v`'s description: its row of MATMUL, or, for a variant not in the table (tests, experiments), one made for it. */
type MatmulDef = (typeof MATMUL)[keyof typeof MATMUL];
function defOf(v: MatmulVariant): MatmulDef {
  const row = (MATMUL as Record<string, MatmulDef>)[v.name];
  const values = variantValues(v);
  if (row) {
    if (Object.entries(values).every(([k, x]) => row.variant!.values[k] === x)) return row;
    throw new Error(`matmul variant ${v.name}: its values differ from the table's row of that name; name it otherwise`);
  }
  return defineKernel({ shader: 'matmul/matmul.wgsl', bindings: MATMUL.v4_64x64x8_4x4.bindings, params: MATMUL.v4_64x64x8_4x4.params, variant: { name: v.name, values } });
}

const EPI = { none: 0, 'ffn-up': 1, 'ffn-down-back': 2, add: 3 } as const;

/** The variant `a` runs with: the forced one (which must fit), else the tuned choice when usable, else the default
 * (SCALAR_VARIANT where the default's vec4 loads cannot run the product). */
async function resolveVariant(g: Gpu, a: MatmulArgs): Promise<MatmulVariant> {
  if (a.variant) {
    const v = typeof a.variant === 'string' ? variantByName(a.variant) : a.variant;
    const why = variantFits(v, g.limits) ?? variantSupports(g, v, a);
    if (why) throw new Error(`${a.label}: matmul variant ${v.name} cannot run here: ${why}; choose another (MATMUL_VARIANTS) or leave variant unset`);
    return v;
  }
  const shape: MatmulShape = { M: a.M, N: a.N, K: a.K, transB: a.transB, epilogue: a.epilogue };
  const name = await tunedVariant(g, MATMUL_FAMILY, shapeClass(shape), () => tuneMatmuls(g, [shape]));
  const usable = (v: MatmulVariant | undefined): v is MatmulVariant => !!v && !variantFits(v, g.limits) && !variantSupports(g, v, a);
  const tuned = name === undefined ? undefined : MATMUL_VARIANTS.find((x) => x.name === name);
  return usable(tuned) ? tuned : usable(DEFAULT_VARIANT) ? DEFAULT_VARIANT : SCALAR_VARIANT;
}

/**
 * One product. On a CPU-class device (g.kernels, src/gpu/device.ts) products the CPU-class kernel supports run on
 * it (src/kernels/matmul-cpu.ts) unless a variant is forced; everything else runs the variant `resolveVariant` picks.
 */
export async function matmul(g: Gpu, a: MatmulArgs): Promise<Dispatch> {
  if (g.kernels === 'cpu' && !a.variant && !cpuMatmulSupports(a)) return matmulCpu(g, a);
  const v = await resolveVariant(g, a);
  const k = await g.pipelines.get(defOf(v), { constants: { TRANS_B: a.transB, HAS_BIAS: !!a.bias, EPI: EPI[a.epilogue ?? 'none'] } });
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
 * shape is validated against the default (SCALAR_VARIANT where the default's vec4 loads cannot run the shape) on
 * random inputs (bias when transB, as in the model; a mask with zeros; aux for the backward epilogues), the valid
 * ones are timed, the fastest is cached on disk and used by `matmul` on this device from then on. `variants`
 * narrows the candidates (the reference is always one).
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
  // the reference: the default, or the scalar variant where the default's vec4 loads cannot run the shape
  const ref = variantFits(DEFAULT_VARIANT, g.limits) ?? variantSupports(g, DEFAULT_VARIANT, args) ? SCALAR_VARIANT : DEFAULT_VARIANT;
  for (const cand of [ref, ...(opts.variants ?? MATMUL_VARIANTS).filter((x) => x.name !== ref.name)]) {
    const why = variantFits(cand, g.limits) ?? variantSupports(g, cand, args);
    if (why) { rejected[cand.name] = why; continue; }
    try {
      candidates.push({ name: cand.name, constants: { ...variantValues(cand) }, dispatch: await matmul(g, { ...args, label: `${args.label} ${cand.name}`, variant: cand }) });
    } catch (e) {
      if (cand === ref) throw e;
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
