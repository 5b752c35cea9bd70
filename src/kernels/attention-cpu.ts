/**
 * The CPU-class attention kernels (src/gpu/device.ts `kernelClass`), shaped for software WebGPU (lavapipe,
 * SwiftShader) as the CPU-class matmul is (src/kernels/matmul-cpu.ts): a workgroup of L invocations (one subgroup),
 * no workgroup memory, no barriers, `vec4` loads, and `subgroupBroadcast` so that one load feeds L lanes. Two forms,
 * the matmul's subgroup forms (`cpuForm`, one choice per device): 'sg8', L = 8 (subgroups of ≥ 8 lanes: lavapipe),
 * and 'sg4', L = 4 (subgroups of 4..7 lanes: SwiftShader's are exactly 4). Without subgroups the GPU class runs.
 *
 * Forward (attention_forward_cpu*.wgsl), one workgroup per (block of R query rows, head, sequence); each lane owns G
 * groups of 4 output columns (lane l: columns 4(l + L·g)..+3), G the fewest that cover the head size (`FORMS`):
 * sg8 R = 16, G = 1 (head sizes ≤ 32) or R = 8, G = 2 (≤ 64); sg4 R = 16, G = 1 (≤ 16), R = 8, G = 2 (≤ 32) or
 * R = 4, G = 4 (≤ 64), so R·G ≤ 16 output accumulators per lane in both:
 *   1. scores of the R rows against keys in tiles of 4L (lane l: keys 4l..4l+3 of the tile, R `vec4` accumulators):
 *      per 4 dimensions, q rows read as `vec4` (lane l reads rows l, l+L, …) and broadcast, 4 key rows as a
 *      `mat4x4f`; the scaled, masked scores are stored in `probs` (scratch), and each lane keeps a running max and
 *      a rescaled running sum of exp per row (online softmax); subgroupMax / subgroupAdd combine the lanes;
 *   2. per key tile again: p = exp(s − max) / sum read back from `probs`, stored, and out += P·V: lane l's p `vec4`s
 *      are handed to every lane with `subgroupShuffle(p, l)` in a loop over l (unrolled broadcasts made lavapipe's
 *      cold compile take 17–27 s per kernel at R = 32; this form, 2–5 s, and it ran as fast), V rows read as a
 *      `mat4x4f`. R = 16 measured faster than 32 and 8 on the MiniLM shape (sg8, lavapipe).
 * Backward, q half (attention_backward_q_cpu*.wgsl), the same blocks: dp = dout·Vᵀ per key tile as in 1 (stored in
 *   dS), Σ_j p·dp per row (subgroupAdd), then ds = p·(dp − Σ) stored in dS and dq = scale · dS·K as in 2.
 * Backward, kv half (attention_backward_kv_cpu*.wgsl), one workgroup per (block of 4L keys × column group of 4L
 *   head dimensions, head, sequence): per 4 queries, lane l reads dS and probs for its 4 keys (two 4×4 blocks,
 *   transposed), broadcasts them, and adds Qᵀ·ds and doutᵀ·p into 4L `vec4` accumulators each (its 4 columns of dk
 *   and dv).
 * Needs: subgroups of ≥ 4 lanes, T % 4 == 0 (the engine pads T to a multiple of 8), head size % 4 == 0 and ≤ 64,
 * 16-byte aligned views (`cpuAttentionSupports`); otherwise the GPU-class kernels run.
 *
 * Each kernel is one template (shaders/attention/attention_{forward,backward_q,backward_kv}_cpu.wgsl, expanded where
 * it is loaded: src/gpu/template.ts), unrolled (arrays of accumulators are several times slower on lavapipe); its
 * variants are the tables `ATTENTION_FORWARD_CPU`, `ATTENTION_BACKWARD_Q_CPU` (`ROWS`) and `ATTENTION_BACKWARD_KV_CPU`.
 *
 * Numerics: the scores are dot products of 4-term partial sums (a different order from the GPU class), the softmax
 * sum is combined from per-lane sums rescaled by exp(m_lane − max): within f32 rounding of the GPU class; the two
 * forms differ in how the keys are split over lanes, so in the softmax sum's order.
 */
import type { View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineVariants, dispatch, type Dispatch } from '../gpu/pipelines.ts';
import { assertFormRuns, cpuSubgroupForm, type CpuSubgroupForm } from './matmul-cpu.ts';

type Lanes = 4 | 8;
const PARAMS = { B: 'u32', T: 'u32', C: 'u32', NH: 'u32', HS: 'u32', scale: 'f32' } as const;

/**
 * The variants of the forward and of the q half: L lanes, G groups of 4·L head columns (4 per lane in each), R query
 * rows per workgroup; R·G = 16 output accumulators per lane throughout. On SwiftShader, sg4 with R = 16 at G = 2 and
 * R = 8 at G = 4 ran 4–8 % faster but took twice as long to compile cold on lavapipe (the tests compile them there):
 * not taken.
 */
const ROWS = {
  sg8: { L: 8, G: 1, R: 16 },
  sg8_g2: { L: 8, G: 2, R: 8 },
  sg4: { L: 4, G: 1, R: 16 },
  sg4_g2: { L: 4, G: 2, R: 8 },
  sg4_g4: { L: 4, G: 4, R: 4 },
} as const;
type Rows = keyof typeof ROWS;

export const ATTENTION_FORWARD_CPU = defineVariants({
  shader: 'attention/attention_forward_cpu.wgsl',
  bindings: { qkv: 'read', mask: 'read', out: 'rw', probs: 'rw', p: 'uniform' },
  params: PARAMS,
}, ROWS);
export const ATTENTION_BACKWARD_Q_CPU = defineVariants({
  shader: 'attention/attention_backward_q_cpu.wgsl',
  bindings: { dout: 'read', probs: 'read', qkv: 'read', dS: 'rw', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
}, ROWS);
/** The kv half's variants: L lanes (4·L keys per workgroup). */
const KV = { sg8: { L: 8 }, sg4: { L: 4 } } as const satisfies Record<CpuSubgroupForm, { L: Lanes }>;
export const ATTENTION_BACKWARD_KV_CPU = defineVariants({
  shader: 'attention/attention_backward_kv_cpu.wgsl',
  bindings: { dout: 'read', probs: 'read', qkv: 'read', dS: 'read', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
}, KV);

/** Per form, its rows variants by growing G: the first that covers the head size runs. */
const FORMS: Record<CpuSubgroupForm, Rows[]> = { sg8: ['sg8', 'sg8_g2'], sg4: ['sg4', 'sg4_g2', 'sg4_g4'] };

/** One kernel pair of a form: G groups of 4·lanes head columns, R query rows per workgroup. */
interface RowsVariant { G: number; R: number; fwd: (typeof ATTENTION_FORWARD_CPU)[Rows]; q: (typeof ATTENTION_BACKWARD_Q_CPU)[Rows] }

/** The kernels of `form` for head size HS (null when no variant covers it). */
function rowsVariant(form: CpuSubgroupForm, HS: number): RowsVariant | null {
  const v = FORMS[form].find((n) => 4 * ROWS[n].L * ROWS[n].G >= HS);
  return v ? { G: ROWS[v].G, R: ROWS[v].R, fwd: ATTENTION_FORWARD_CPU[v], q: ATTENTION_BACKWARD_Q_CPU[v] } : null;
}

// ---------- builders ----------
/** Why the CPU-class attention cannot run this shape on this device (then the GPU class does), or null. */
export function cpuAttentionSupports(g: Gpu, a: { T: number; C: number; NH: number; views: (View | null | undefined)[] }): string | null {
  const HS = a.C / a.NH;
  if (!cpuSubgroupForm(g)) return 'the CPU-class attention needs subgroups of at least 4 lanes';
  if (a.T % 4 || a.T < 4) return `the CPU-class attention reads vec4s of keys: T must be a multiple of 4 (T=${a.T})`;
  if (HS % 4 || HS > 64) return `the CPU-class attention handles head sizes that are multiples of 4 up to 64 (head size ${HS})`;
  for (const v of a.views) if (v && v.offset % 16) return `the CPU-class attention binds vec4 arrays: view '${v.name}' starts at byte ${v.offset}, not a multiple of 16`;
  return null;
}

/** The form's lanes and its kernel pair for head size HS; refuses a form whose workgroup would not be one subgroup here. */
function formFor(g: Gpu, label: string, form: CpuSubgroupForm | null, HS: number): { lanes: Lanes; v: RowsVariant; kv: (typeof ATTENTION_BACKWARD_KV_CPU)[CpuSubgroupForm] } {
  if (!form) throw new Error(`${label}: ${cpuAttentionSupports(g, { T: 4, C: 4, NH: 1, views: [] })}; leave this shape to attentionForward / attentionBackward`);
  assertFormRuns(g, label, 'attention', form);
  const v = rowsVariant(form, HS);
  if (!v) throw new Error(`${label}: the CPU-class attention handles head sizes up to 64 (head size ${HS})`);
  return { lanes: KV[form].L, v, kv: ATTENTION_BACKWARD_KV_CPU[form] };
}

export interface CpuAttentionArgs { label: string; qkv: View; mask: View; out: View; probs: View; B: number; T: number; C: number; NH: number }

/** The forward in this device's form (`cpuSubgroupForm`), or in `form` (tests; refused where it cannot run). */
export async function attentionForwardCpu(g: Gpu, a: CpuAttentionArgs, form = cpuSubgroupForm(g)): Promise<Dispatch> {
  const HS = a.C / a.NH;
  const { v } = formFor(g, a.label, form, HS);
  const k = await g.pipelines.get(v.fwd);
  const p = createParams(g, k.def, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NH: a.NH, HS, scale: 1 / Math.sqrt(HS) });
  return dispatch(g, k, a.label, { qkv: a.qkv, mask: a.mask, out: a.out, probs: a.probs, p }, [Math.ceil(a.T / v.R), a.NH, a.B]);
}

export interface CpuAttentionBackArgs { label: string; dout: View; probs: View; qkv: View; dS: View; dqkv: View; B: number; T: number; C: number; NH: number }

/** The backward (q half, then kv half) in this device's form, or in `form` (tests; refused where it cannot run). */
export async function attentionBackwardCpu(g: Gpu, a: CpuAttentionBackArgs, form = cpuSubgroupForm(g)): Promise<Dispatch[]> {
  const HS = a.C / a.NH;
  const { lanes, v, kv } = formFor(g, a.label, form, HS);
  const kq = await g.pipelines.get(v.q);
  const kkv = await g.pipelines.get(kv);
  const p = createParams(g, kq.def, `${a.label} params`, { B: a.B, T: a.T, C: a.C, NH: a.NH, HS, scale: 1 / Math.sqrt(HS) });
  const res = { dout: a.dout, probs: a.probs, qkv: a.qkv, dS: a.dS, dqkv: a.dqkv, p };
  return [
    dispatch(g, kq, `${a.label} (q)`, res, [Math.ceil(a.T / v.R), a.NH, a.B]),
    dispatch(g, kkv, `${a.label} (kv)`, res, [Math.ceil(a.T / (4 * lanes)) * Math.ceil(HS / (4 * lanes)), a.NH, a.B]),
  ];
}
