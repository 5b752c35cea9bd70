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
 * The WGSL is generated here (unrolled: arrays of accumulators are several times slower on lavapipe) and committed
 * as plain files (`node --import tsx tools/gen-attention-cpu-wgsl.ts` rewrites them; test/attention-cpu.test.ts
 * checks they are current).
 *
 * Numerics: the scores are dot products of 4-term partial sums (a different order from the GPU class), the softmax
 * sum is combined from per-lane sums rescaled by exp(m_lane − max): within f32 rounding of the GPU class; the two
 * forms differ in how the keys are split over lanes, so in the softmax sum's order.
 */
import type { View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineKernel, dispatch, type Access, type Dispatch } from '../gpu/pipelines.ts';
import { CPU_FORMS, cpuForm, cpuFormRuns, cpuSubgroupForm, type CpuSubgroupForm } from './matmul-cpu.ts';

const PARAMS = { B: 'u32', T: 'u32', C: 'u32', NH: 'u32', HS: 'u32', scale: 'f32' } as const;
const FWD = { qkv: 'read', mask: 'read', out: 'rw', probs: 'rw', p: 'uniform' } as const;
const BACK_Q = { dout: 'read', probs: 'read', qkv: 'read', dS: 'rw', dqkv: 'rw', p: 'uniform' } as const;
const BACK_KV = { dout: 'read', probs: 'read', qkv: 'read', dS: 'read', dqkv: 'rw', p: 'uniform' } as const;
const kernel = <const B extends Record<string, Access>>(file: string, bindings: B) =>
  defineKernel({ shader: `attention/${file}.wgsl`, bindings, params: PARAMS });

export const ATTENTION_FORWARD_CPU = kernel('attention_forward_cpu', FWD);
export const ATTENTION_FORWARD_CPU_G2 = kernel('attention_forward_cpu_g2', FWD);
export const ATTENTION_BACKWARD_Q_CPU = kernel('attention_backward_q_cpu', BACK_Q);
export const ATTENTION_BACKWARD_Q_CPU_G2 = kernel('attention_backward_q_cpu_g2', BACK_Q);
export const ATTENTION_BACKWARD_KV_CPU = kernel('attention_backward_kv_cpu', BACK_KV);
export const ATTENTION_FORWARD_CPU_SG4 = kernel('attention_forward_cpu_sg4', FWD);
export const ATTENTION_FORWARD_CPU_SG4_G2 = kernel('attention_forward_cpu_sg4_g2', FWD);
export const ATTENTION_FORWARD_CPU_SG4_G4 = kernel('attention_forward_cpu_sg4_g4', FWD);
export const ATTENTION_BACKWARD_Q_CPU_SG4 = kernel('attention_backward_q_cpu_sg4', BACK_Q);
export const ATTENTION_BACKWARD_Q_CPU_SG4_G2 = kernel('attention_backward_q_cpu_sg4_g2', BACK_Q);
export const ATTENTION_BACKWARD_Q_CPU_SG4_G4 = kernel('attention_backward_q_cpu_sg4_g4', BACK_Q);
export const ATTENTION_BACKWARD_KV_CPU_SG4 = kernel('attention_backward_kv_cpu_sg4', BACK_KV);

type Lanes = 4 | 8;
/** One kernel pair of a form: G groups of 4·lanes head columns (4 per lane in each), R query rows per workgroup. */
interface RowsVariant { G: number; R: number; fwd: typeof ATTENTION_FORWARD_CPU; q: typeof ATTENTION_BACKWARD_Q_CPU }

/**
 * Per form: lanes per workgroup and its kernels; `rows` by growing G (the first that covers the head size runs), R·G =
 * 16 output accumulators per lane throughout. On SwiftShader, sg4 with R = 16 at G = 2 and R = 8 at G = 4 ran 4–8 %
 * faster but took twice as long to compile cold on lavapipe (the tests compile them there): not taken.
 */
const FORMS: Record<CpuSubgroupForm, { lanes: Lanes; rows: RowsVariant[]; kv: typeof ATTENTION_BACKWARD_KV_CPU }> = {
  sg8: {
    lanes: 8, kv: ATTENTION_BACKWARD_KV_CPU, rows: [
      { G: 1, R: 16, fwd: ATTENTION_FORWARD_CPU, q: ATTENTION_BACKWARD_Q_CPU },
      { G: 2, R: 8, fwd: ATTENTION_FORWARD_CPU_G2, q: ATTENTION_BACKWARD_Q_CPU_G2 },
    ],
  },
  sg4: {
    lanes: 4, kv: ATTENTION_BACKWARD_KV_CPU_SG4, rows: [
      { G: 1, R: 16, fwd: ATTENTION_FORWARD_CPU_SG4, q: ATTENTION_BACKWARD_Q_CPU_SG4 },
      { G: 2, R: 8, fwd: ATTENTION_FORWARD_CPU_SG4_G2, q: ATTENTION_BACKWARD_Q_CPU_SG4_G2 },
      { G: 4, R: 4, fwd: ATTENTION_FORWARD_CPU_SG4_G4, q: ATTENTION_BACKWARD_Q_CPU_SG4_G4 },
    ],
  },
};

/** The kernels of `form` for head size HS (null when no variant covers it). */
function rowsVariant(form: CpuSubgroupForm, HS: number): RowsVariant | null {
  const { lanes, rows } = FORMS[form];
  return rows.find((v) => 4 * lanes * v.G >= HS) ?? null;
}

type Out = (s?: string) => void;
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function header(out: Out, what: string, L: Lanes, bindings: [string, string][]): void {
  out(`// GENERATED by src/kernels/attention-cpu.ts (${what}); do not edit: \`node --import tsx tools/gen-attention-cpu-wgsl.ts\`.`);
  out(`// CPU-class attention (see the header of src/kernels/attention-cpu.ts): a workgroup of ${L} lanes = one subgroup,`);
  out('// vec4 loads, subgroupBroadcast, no workgroup memory or barriers. Needs T % 4 == 0, HS % 4 == 0, 16-byte aligned');
  out(`// views and subgroups of at least ${L} lanes (the host checks). All buffers are read as vec4.`);
  out('enable subgroups;');
  out();
  out('struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }');
  out();
  bindings.forEach(([name, note], i) => out(`@group(0) @binding(${i}) var<storage, read_write> ${name}: array<vec4<f32>>;${' '.repeat(Math.max(1, 7 - name.length))}// ${note}`));
  out(`@group(0) @binding(${bindings.length}) var<uniform> p: Params;`);
  out();
}

/**
 * Code for one key tile of A·Bᵀ over the head dimension, into acc0..acc{R-1} (row t, the lane's 4 keys): A rows
 * (query side) at `ar<r>` + d, lane l loading rows l + r·L and broadcasting them; B rows (key side) jc..jc+3 at
 * `kr + j·C34 + d`.
 */
function scoreTile(out: Out, L: Lanes, R: number, src: string, ind: string): void {
  for (const t of range(R)) out(`${ind}var acc${t} = vec4f(0.0);`);
  out(`${ind}let kr = kbase + jc * C34;`);
  out(`${ind}for (var d = 0u; d < HS4; d++) {`);
  out(`${ind}  let km = transpose(mat4x4f(qkv[kr + d], qkv[kr + C34 + d], qkv[kr + 2u * C34 + d], qkv[kr + 3u * C34 + d]));`);
  for (const r of range(R / L)) out(`${ind}  let a${r} = ${src}[ar${r} + d];`);
  for (const r of range(R / L)) for (const l of range(L)) out(`${ind}  acc${r * L + l} += km * subgroupBroadcast(a${r}, ${l}u);`);
  out(`${ind}}`);
}

/** Code adding P·X for one key tile (lane l's `pt<t>` hold row t's weights for keys 4l..4l+3) into o<t>_<g>. */
function pvTile(out: Out, L: Lanes, R: number, G: number, ind: string): void {
  // (the loop counts from kt·L, not 0: with a constant start Mesa's NIR unrolls it, and L copies of R shuffles
  // made lavapipe's first-use compile of this kernel seconds longer)
  out(`${ind}for (var kl = kt * ${L}u; kl < kt * ${L}u + ${L}u; kl++) { // keys 4l..4l+3 of the tile, weights from lane l`);
  out(`${ind}  let l = kl - kt * ${L}u;`);
  out(`${ind}  let xr = xbase + min(kt * ${4 * L}u + 4u * l, T - 4u) * C34;`);
  for (const g of range(G)) out(`${ind}  let xm${g} = mat4x4f(qkv[xr + c${g}], qkv[xr + C34 + c${g}], qkv[xr + 2u * C34 + c${g}], qkv[xr + 3u * C34 + c${g}]);`);
  for (const t of range(R)) {
    out(`${ind}  let w${t} = subgroupShuffle(pt${t}, l);`);
    for (const g of range(G)) out(`${ind}  o${t}_${g} += xm${g} * w${t};`);
  }
  out(`${ind}}`);
}

/** Opens the loop over this workgroup's query rows i (t = i − i0; pi: row i's vec4 of this lane's keys in probs / dS),
 * counting from i0 so that Mesa's NIR does not unroll it. */
function rowLoop(out: Out, R: number): void {
  out(`    for (var i = i0; i < min(i0 + ${R}u, T); i++) {`);
  out('      if (!jok) { break; }');
  out('      let t = i - i0;');
  out('      let pi = pbase + i * T4 + j0 / 4u;');
}

/**
 * Forward (kind 'forward') or the q half of the backward ('backward-q') for a workgroup of L lanes: G column groups
 * of 4·L head dimensions, R query rows per workgroup (a multiple of L; 16 / G unless said).
 */
export function attentionRowsCpuWgsl(kind: 'forward' | 'backward-q', G: number, L: Lanes = 8, R = 16 / G): string {
  if (R % L || R < L) throw new Error(`attentionRowsCpuWgsl: ${R} query rows do not split over ${L} lanes`);
  const KT = 4 * L; // keys per tile
  const lines: string[] = [];
  const out: Out = (s = '') => lines.push(s);
  const fwd = kind === 'forward';
  const call = [`'${kind}'`, G, ...(L !== 8 || R !== 16 / G ? [L] : []), ...(R !== 16 / G ? [R] : [])].join(', '); // the defaults unsaid
  header(out, `attentionRowsCpuWgsl(${call})`, L, fwd
    ? [['qkv', '(B·T, 3C/4): [q | k | v] per token'], ['mask', '(B·T/4) 1 = token, 0 = padding'], ['out', '(B·T, C/4)'], ['probs', '(B, NH, T, T/4) saved for backward']]
    : [['dout', '(B·T, C/4) gradient w.r.t. the attention output'], ['probs', '(B, NH, T, T/4) from the forward'], ['qkv', '(B·T, 3C/4)'], ['dS', '(B, NH, T, T/4) softmax-backward scores, for the kv half'], ['dqkv', '(B·T, 3C/4): the q part is written']]);
  if (fwd) {
    out(`// Forward: one workgroup per (${R} query rows, head h, sequence b). p(i, j) = softmax_j(q_i·k_j·scale) over keys with`);
    out('// mask 1 (others p = 0), out_i = Σ_j p(i, j) v_j. Scores go to probs first (scratch), with an online max / sum per');
    out('// lane; then p is written over them and out accumulated.');
  } else {
    out(`// Backward, q half: one workgroup per (${R} query rows, head h, sequence b). dp(i, j) = dout_i·v_j (stored in dS),`);
    out('// ds(i, j) = p(i, j)·(dp(i, j) − Σ_j\' p(i, j\') dp(i, j\')) (stored over it, for the kv half), dq_i = scale·Σ_j ds(i, j) k_j.');
  }
  out(`// Lane l: keys 4l..4l+3 of each tile of ${KT} keys; output columns 4(l + ${L}g)..+3, g < ${G}.`);
  out();
  out(`@compute @workgroup_size(${L})`);
  out('fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {');
  out('  let T = p.T;');
  out('  let T4 = T / 4u;');
  out('  let C4 = p.C / 4u;');
  out('  let C34 = 3u * C4;');
  out('  let HS4 = p.HS / 4u;');
  out('  let h = wg.y;');
  out('  let b = wg.z;');
  out(`  let i0 = wg.x * ${R}u;`);
  out('  let tok0 = b * T;');
  out('  let hoff = h * HS4;');
  // A rows (query side): q in the forward, dout in the backward
  const srcStride = fwd ? 'C34' : 'C4';
  for (const r of range(R / L)) out(`  let ar${r} = (tok0 + min(i0 + lane + ${r * L}u, T - 1u)) * ${srcStride} + hoff;`);
  out(`  let kbase = tok0 * C34 + ${fwd ? 'C4' : '2u * C4'} + hoff;      // key-side rows of the scores: ${fwd ? 'k' : 'v'}`);
  out(`  let xbase = tok0 * C34 + ${fwd ? '2u * C4' : 'C4'} + hoff;      // rows of the weighted sum: ${fwd ? 'v' : 'k'}`);
  out('  let pbase = (b * p.NH + h) * T * T4;');
  for (const g of range(G)) out(`  let c${g} = min(lane + ${g * L}u, HS4 - 1u);`);
  out(`  let ntiles = (T + ${KT - 1}u) / ${KT}u;`);
  // The per-row steps between the two tile products (the forward's softmax, the backward's softmax gradient) run in
  // loops over the rows, counting from i0 so that Mesa's NIR cannot unroll them, on arrays: R inlined copies made
  // lavapipe's first-use compile seconds longer.
  out(`  var ss = array<f32, ${R}>();`);
  if (fwd) out(`  var ms = array<f32, ${R}>();\n  for (var t = 0u; t < ${R}u; t++) { ms[t] = -3.0e38; }`);
  out('  for (var kt = 0u; kt < ntiles; kt++) {');
  out(`    let j0 = kt * ${KT}u + 4u * lane;`);
  out('    let jc = min(j0, T - 4u);');
  out('    let jok = j0 < T;');
  if (fwd) out('    let mk = select(vec4f(0.0), mask[(tok0 + jc) / 4u], jok) != vec4f(0.0);');
  scoreTile(out, L, R, fwd ? 'qkv' : 'dout', '    ');
  out(`    let accs = array<vec4f, ${R}>(${range(R).map((t) => `acc${t}`).join(', ')});`);
  rowLoop(out, R);
  if (fwd) {
    out('      let sc = select(vec4f(-3.0e38), accs[t] * p.scale, mk);');
    out('      probs[pi] = sc;');
    out('      let mn = max(ms[t], max(max(sc.x, sc.y), max(sc.z, sc.w)));');
    out('      ss[t] = ss[t] * exp(ms[t] - mn) + dot(select(vec4f(0.0), exp(sc - vec4f(mn)), mk), vec4f(1.0));');
    out('      ms[t] = mn;');
  } else {
    out('      dS[pi] = accs[t];');
    out('      ss[t] += dot(probs[pi], accs[t]);');
  }
  out('    }');
  out('  }');
  out(fwd ? `  var mxs = array<f32, ${R}>();\n  var invs = array<f32, ${R}>();` : `  var dds = array<f32, ${R}>();`);
  out(`  for (var i = i0; i < i0 + ${R}u; i++) {`);
  out('    let t = i - i0;');
  if (fwd) {
    out('    mxs[t] = subgroupMax(ms[t]);');
    out('    invs[t] = 1.0 / subgroupAdd(ss[t] * exp(ms[t] - mxs[t]));');
  } else out('    dds[t] = subgroupAdd(ss[t]);');
  out('  }');
  for (const t of range(R)) for (const g of range(G)) out(`  var o${t}_${g} = vec4f(0.0);`);
  out('  for (var kt = 0u; kt < ntiles; kt++) {');
  out(`    let j0 = kt * ${KT}u + 4u * lane;`);
  out('    let jok = j0 < T;');
  if (fwd) out('    let mk = select(vec4f(0.0), mask[(tok0 + min(j0, T - 4u)) / 4u], jok) != vec4f(0.0);');
  out(`    var pts = array<vec4f, ${R}>();`);
  rowLoop(out, R);
  if (fwd) {
    out('      pts[t] = select(vec4f(0.0), exp(probs[pi] - vec4f(mxs[t])) * invs[t], mk);');
    out('      probs[pi] = pts[t];');
  } else {
    out('      pts[t] = probs[pi] * (dS[pi] - vec4f(dds[t]));');
    out('      dS[pi] = pts[t];');
  }
  out('    }');
  for (const t of range(R)) out(`    let pt${t} = pts[${t}];`);
  pvTile(out, L, R, G, '    ');
  out('  }');
  for (const g of range(G)) {
    out(`  if (lane + ${g * L}u < HS4) {`);
    for (const t of range(R)) {
      out(fwd
        ? `    if (i0 + ${t}u < T) { out[(tok0 + i0 + ${t}u) * C4 + hoff + c${g}] = o${t}_${g}; }`
        : `    if (i0 + ${t}u < T) { dqkv[(tok0 + i0 + ${t}u) * C34 + hoff + c${g}] = o${t}_${g} * p.scale; }`);
    }
    out('  }');
  }
  out('}');
  return lines.join('\n') + '\n';
}

/** The kv half of the backward for a workgroup of L lanes: dk_j = scale·Σ_i ds(i, j) q_i, dv_j = Σ_i p(i, j) dout_i. */
export function attentionKvCpuWgsl(L: Lanes = 8): string {
  const R = 4 * L; // keys per workgroup: 4 per lane
  const lines: string[] = [];
  const out: Out = (s = '') => lines.push(s);
  header(out, `attentionKvCpuWgsl(${L === 8 ? '' : L})`, L, [['dout', '(B·T, C/4)'], ['probs', '(B, NH, T, T/4) from the forward'], ['qkv', '(B·T, 3C/4)'], ['dS', '(B, NH, T, T/4) from attention_backward_q_cpu'], ['dqkv', '(B·T, 3C/4): the k and v parts are written']]);
  out(`// Backward, kv half: one workgroup per (${R} keys × one group of ${4 * L} head dimensions, head h, sequence b): workgroup x`);
  out(`// = key block · G + column group, G = ceil(HS / ${4 * L}). dk_j = scale·Σ_i ds(i, j) q_i, dv_j = Σ_i p(i, j) dout_i.`);
  out('// Per 4 queries, lane l reads ds and p of its keys 4l..4l+3 (4×4 blocks, transposed) and broadcasts them; lane c owns');
  out(`// columns 4c..4c+3 of its group for all ${R} keys. Padded keys have p = ds = 0, so dk = dv = 0 there.`);
  out();
  out(`@compute @workgroup_size(${L})`);
  out('fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {');
  out('  let T = p.T;');
  out('  let T4 = T / 4u;');
  out('  let C4 = p.C / 4u;');
  out('  let C34 = 3u * C4;');
  out('  let HS4 = p.HS / 4u;');
  out(`  let G = (HS4 + ${L - 1}u) / ${L}u;`);
  out('  let h = wg.y;');
  out('  let b = wg.z;');
  out(`  let j0 = (wg.x / G) * ${R}u;`);
  out(`  let cg = (wg.x % G) * ${L}u + lane;   // this lane's column group (stored when < HS4)`);
  out('  let c = min(cg, HS4 - 1u);');
  out('  let tok0 = b * T;');
  out('  let hoff = h * HS4;');
  out('  let pbase = (b * p.NH + h) * T * T4;');
  out('  let kj = min(j0 + 4u * lane, T - 4u) / 4u;   // this lane\'s 4 keys, as a vec4 index within a row');
  out('  let kok = j0 + 4u * lane < T;');
  for (const t of range(R)) out(`  var dk${t} = vec4f(0.0);\n  var dv${t} = vec4f(0.0);`);
  out('  for (var i = 0u; i < T; i += 4u) {');
  out('    let pr = pbase + i * T4 + kj;');
  out('    var ds = transpose(mat4x4f(dS[pr], dS[pr + T4], dS[pr + 2u * T4], dS[pr + 3u * T4]));');
  out('    var pp = transpose(mat4x4f(probs[pr], probs[pr + T4], probs[pr + 2u * T4], probs[pr + 3u * T4]));');
  out('    if (!kok) { ds = mat4x4f(); pp = mat4x4f(); }');
  out('    let qr = (tok0 + i) * C34 + hoff + c;');
  out('    let qm = mat4x4f(qkv[qr], qkv[qr + C34], qkv[qr + 2u * C34], qkv[qr + 3u * C34]);');
  out('    let dr = (tok0 + i) * C4 + hoff + c;');
  out('    let om = mat4x4f(dout[dr], dout[dr + C4], dout[dr + 2u * C4], dout[dr + 3u * C4]);');
  for (const l of range(L)) {
    for (const k of range(4)) {
      const t = 4 * l + k;
      out(`    dk${t} += qm * subgroupBroadcast(ds[${k}], ${l}u);`);
      out(`    dv${t} += om * subgroupBroadcast(pp[${k}], ${l}u);`);
    }
  }
  out('  }');
  out('  if (cg >= HS4) { return; }');
  // stored in a loop from j0 (Mesa's NIR cannot unroll it): R inlined pairs of stores made the compile slower
  out(`  let dks = array<vec4f, ${R}>(${range(R).map((t) => `dk${t}`).join(', ')});`);
  out(`  let dvs = array<vec4f, ${R}>(${range(R).map((t) => `dv${t}`).join(', ')});`);
  out(`  for (var j = j0; j < min(j0 + ${R}u, T); j++) {`);
  out('    let o = (tok0 + j) * C34 + hoff + c;');
  out('    dqkv[o + C4] = dks[j - j0] * p.scale;');
  out('    dqkv[o + 2u * C4] = dvs[j - j0];');
  out('  }');
  out('}');
  return lines.join('\n') + '\n';
}

/** The generated files, by shader path (what tools/gen-attention-cpu-wgsl.ts writes under shaders/), every form. */
export function attentionCpuShaderFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const { lanes, rows, kv } of Object.values(FORMS)) {
    for (const { G, R, fwd, q } of rows) {
      files[fwd.shader] = attentionRowsCpuWgsl('forward', G, lanes, R);
      files[q.shader] = attentionRowsCpuWgsl('backward-q', G, lanes, R);
    }
    files[kv.shader] = attentionKvCpuWgsl(lanes);
  }
  return files;
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
function formFor(g: Gpu, label: string, form: CpuSubgroupForm | null, HS: number): { lanes: Lanes; v: RowsVariant; kv: typeof ATTENTION_BACKWARD_KV_CPU } {
  if (!form) throw new Error(`${label}: ${cpuAttentionSupports(g, { T: 4, C: 4, NH: 1, views: [] })}; leave this shape to attentionForward / attentionBackward`);
  if (cpuFormRuns(g, form)) throw new Error(`${label}: the CPU-class attention's ${form} form needs subgroups of ≥ ${CPU_FORMS[form].lanes} lanes; this device's form is ${cpuForm(g)} (leave the form to cpuSubgroupForm)`);
  const v = rowsVariant(form, HS);
  if (!v) throw new Error(`${label}: the CPU-class attention handles head sizes up to 64 (head size ${HS})`);
  return { lanes: FORMS[form].lanes, v, kv: FORMS[form].kv };
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
