/**
 * A performance model on paper (issue 24): the FLOPs and bytes of every dispatch of one NIG pass (from the
 * engine's own dispatch list: chunk-walk.ts), priced by a roofline with stated efficiencies, for an H100 and an
 * H200. To be checked against the first GPU measurement; every assumption is a field of `Assumptions`.
 *
 * Per dispatch:
 *   FLOPs   matmul 2·M·N·K (the uniform's M, N, K); the GPU class's fused (flash) attention, per (sequence, head,
 *           query row, key) 2·HS per product it forms: forward 4·HS (QKᵀ, PV), backward's q half 6·HS (S recomputed,
 *           dP = dO·Vᵀ, dQ), kv half 8·HS (S and dP recomputed, dK, dV) — the backward 3.5× the forward; the
 *           row-per-workgroup kernels (attention_*) 4·HS·T per workgroup each; everything else 0 (LayerNorm,
 *           conductance, embeddings, head: memory-bound, a few FLOPs a byte)
 *   bytes   the sizes of the storage bindings it binds (each view read or written once: compulsory traffic; tiles
 *           re-read from L2 are not counted)
 *   time    max(FLOPs / (eff · peak), bytes / (memEff · bandwidth)) + dispatchUs
 *           eff: matmul by its outputs per invocation (TM·TN, see `matmulEfficiency`), scaled down when the grid
 *           has fewer than `wavesFull` workgroups per SM; row-per-workgroup attention `attentionEff`; flash `flashEff`
 * The whole pass: chunks × (chunk dispatches) + the per-pair reductions + chunks × chunkUs (submit, F read back).
 * The walk is of the kernels the engine runs: on the GPU class, flash attention (shaders/attention/flash_*.wgsl: no
 * T×T matrix in its bytes; the last layer's queries are the [CLS] rows, TQ = 1).
 */
import { isMatmul, walkChunk, type ChunkWalk, type WalkedDispatch } from './chunk-walk.ts';
import type { BertConfig } from '../model/types.ts';

export interface Hardware { name: string; flops: number; bandwidth: number; sms: number }
/** f32 (no tensor cores, TF32 off) peaks and HBM bandwidths, SXM parts. */
export const H100: Hardware = { name: 'H100', flops: 67e12, bandwidth: 3.35e12, sms: 132 };
export const H200: Hardware = { name: 'H200', flops: 67e12, bandwidth: 4.8e12, sms: 132 };

export interface Assumptions {
  /** fraction of the f32 peak a matmul reaches, by outputs per invocation (TM·TN); between entries, the lower */
  matmulEff: Record<number, number>;
  /** workgroups per SM below which a matmul's efficiency scales down linearly (too few tiles to fill the GPU) */
  wavesFull: number;
  /** the row-per-workgroup attention kernels: fraction of peak (scalar dot products over K and V rows from L2) */
  attentionEff: number;
  /** a fused flash attention: fraction of peak (register-tiled like the matmul's default) */
  flashEff: number;
  /** memory-bound kernels: fraction of the HBM bandwidth */
  memEff: number;
  /** fixed cost of one dispatch in a compute pass (launch and the barrier before the next), µs */
  dispatchUs: number;
  /** per chunk: the submit and the wait for F's read-back, µs */
  chunkUs: number;
}

/**
 * The defaults, and why. matmul: the first naive register-tiled WGSL f32 matmul through Dawn ran 8.5 TFLOP/s at
 * 4096³ on the H200 (0.127 of 67; ../shared/README.md); the default variant (64×64×8, 4×4 per invocation) is put
 * at 0.15, 8×8 per invocation at 0.30 (4× the register reuse; cuBLAS f32 reaches 51/67 = 0.76), fewer outputs lower.
 * Attention with one workgroup per query row reads T·HS floats of K and V per row from L2: 0.05 of peak. Flash at
 * the default matmul's 0.15. Elementwise and reductions at 0.6 of bandwidth; 4 µs a dispatch; 200 µs a chunk.
 */
export const DEFAULT_ASSUMPTIONS: Assumptions = {
  matmulEff: { 1: 0.04, 4: 0.08, 16: 0.15, 32: 0.22, 64: 0.30 },
  wavesFull: 2, attentionEff: 0.05, flashEff: 0.15, memEff: 0.6, dispatchUs: 4, chunkUs: 200,
};

const isAttention = (k: string) => /^attention\/attention_(forward|backward_q|backward_kv)$/.test(k);
const FLASH_HS = { forward: 4, backward_q: 6, backward_kv: 8 } as const;
const flashPass = (k: string) => /^attention\/flash_(forward|backward_q|backward_kv)$/.exec(k)?.[1] as keyof typeof FLASH_HS | undefined;

export function matmulEfficiency(a: Assumptions, constants: Record<string, number | boolean>): number {
  const outs = Number(constants.TM ?? 4) * Number(constants.TN ?? 4);
  const keys = Object.keys(a.matmulEff).map(Number).sort((x, y) => x - y);
  const k = keys.filter((x) => x <= outs).pop() ?? keys[0];
  return a.matmulEff[k];
}

/** FLOPs of one dispatch (see the header). */
export function dispatchFlops(d: WalkedDispatch): number {
  const p = d.params as Record<string, number>;
  if (isMatmul(d.kernel)) return 2 * p.M * p.N * p.K;
  if (isAttention(d.kernel)) return 4 * p.HS * p.T * d.workgroups[0] * d.workgroups[1] * d.workgroups[2];
  const fl = flashPass(d.kernel);
  if (fl) return FLASH_HS[fl] * p.HS * p.B * p.NH * p.TQ * p.T;
  return 0;
}

/** Bytes of one dispatch: every storage binding's size (unused 16-byte placeholders included: negligible). */
export const dispatchBytes = (d: WalkedDispatch) => Object.values(d.bytes).reduce((a, b) => a + b, 0);

/** A priced group of dispatches. */
export interface Row { name: string; count: number; flops: number; bytes: number; ms: Record<string, number>; bound: 'compute' | 'memory' | 'launch' }

/** The row's group: matmuls by their product shape class, others by kernel. */
function groupOf(d: WalkedDispatch): string {
  if (isMatmul(d.kernel)) {
    const p = d.params as Record<string, number>;
    const epi = ['', ' ffn-up', ' ffn-down-back', ' add'][Number(d.constants.EPI ?? 0)];
    return `matmul M=${p.M} N=${p.N} K=${p.K}${d.constants.TRANS_B ? ' ·Wᵀ' : ''}${epi} (${d.constants.TM ?? '?'}×${d.constants.TN ?? '?'}/inv)`;
  }
  return d.kernel;
}

/** Time of one dispatch on `hw` (ms), and what bounds it. */
export function dispatchMs(d: WalkedDispatch, hw: Hardware, a: Assumptions): { ms: number; bound: Row['bound'] } {
  const flops = dispatchFlops(d), bytes = dispatchBytes(d);
  let eff = 0;
  if (isMatmul(d.kernel)) {
    const wgs = d.workgroups[0] * d.workgroups[1] * d.workgroups[2];
    eff = matmulEfficiency(a, d.constants) * Math.min(1, wgs / (a.wavesFull * hw.sms));
  } else if (isAttention(d.kernel)) eff = a.attentionEff;
  else if (flashPass(d.kernel)) eff = a.flashEff;
  const tc = flops ? flops / (eff * hw.flops) : 0, tm = bytes / (a.memEff * hw.bandwidth), tl = a.dispatchUs * 1e-6;
  const bound = tc >= tm ? (tc > tl ? 'compute' : 'launch') : tm > tl ? 'memory' : 'launch';
  return { ms: (Math.max(tc, tm) + tl) * 1e3, bound };
}

export interface Prediction {
  shape: { L: number; C: number; H: number; F: number }; T: number; points: number; P: number; chunks: number;
  rows: Row[];                  // per group, the whole pass (all chunks)
  total: Record<string, number>;      // ms per pair
  flops: number; bytes: number; dispatches: number;
  hw: Hardware[];
}

/** Prices a walked chunk: the pass of `points` path points in chunks of walk.P (the last chunk priced as a full one). */
export function predict(walk: ChunkWalk, points: number, hw: Hardware[] = [H100, H200], a: Assumptions = DEFAULT_ASSUMPTIONS): Prediction {
  const chunks = Math.ceil(points / walk.P);
  const groups = new Map<string, Row>();
  const longest = new Map<string, number>();
  const add = (d: WalkedDispatch, times: number) => {
    const name = groupOf(d);
    let r = groups.get(name);
    if (!r) groups.set(name, (r = { name, count: 0, flops: 0, bytes: 0, ms: Object.fromEntries(hw.map((h) => [h.name, 0])), bound: 'launch' }));
    r.count += times;
    r.flops += times * dispatchFlops(d);
    r.bytes += times * dispatchBytes(d);
    for (const h of hw) {
      const t = dispatchMs(d, h, a);
      r.ms[h.name] += times * t.ms;
      // the group's bound: that of its longest dispatch (on the last hardware)
      if (h === hw[hw.length - 1] && t.ms > (longest.get(name) ?? -1)) { longest.set(name, t.ms); r.bound = t.bound; }
    }
  };
  for (const d of walk.chunk) add(d, chunks);
  for (const d of walk.pair) add(d, 1);
  const rows = [...groups.values()];
  const sum = (rs: Row[], h: Hardware) => rs.reduce((s, r) => s + r.ms[h.name], 0);

  const { cfg, T } = walk;
  const total: Record<string, number> = {};
  for (const h of hw) total[h.name] = sum(rows, h) + (chunks * a.chunkUs) / 1e3;
  return {
    shape: { L: cfg.layers, C: cfg.hidden, H: cfg.heads, F: cfg.intermediate }, T, points, P: walk.P, chunks, rows, total,
    flops: rows.reduce((s, r) => s + r.flops, 0), bytes: rows.reduce((s, r) => s + r.bytes, 0), dispatches: rows.reduce((s, r) => s + r.count, 0), hw,
  };
}

/** Walks one chunk and prices the pass: `points` path points (m + 1) at T tokens, chunks of P (default: all points). */
export async function predictNig(cfg: BertConfig, T: number, points: number, P = points, hw?: Hardware[], a?: Assumptions): Promise<Prediction> {
  return predict(await walkChunk(cfg, T, P), points, hw, a);
}

const f = (x: number, d = 1) => x.toFixed(d);

/** The Markdown table (and a few lines around it) that bench/RESULTS.md keeps; `peerMs`: the peer's ms/pair per hardware name. */
export function markdown(p: Prediction, peerMs: Record<string, number> = {}, a: Assumptions = DEFAULT_ASSUMPTIONS): string[] {
  const names = p.hw.map((h) => h.name);
  const head = ['kernel (group)', 'dispatches', 'GFLOP', 'GB moved', ...names.map((n) => `${n} ms`), 'bound'];
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  const out = [
    `NIG of all FFN units, one pair: ${p.shape.L} layers, hidden ${p.shape.C}, ${p.shape.H} heads, d_ff ${p.shape.F}; ${p.T} tokens; ${p.points} points in ${p.chunks} chunk(s) of ${p.P}; f32.`,
    `Roofline per dispatch: max(FLOPs / (eff·peak), bytes / (${a.memEff}·bandwidth)) + ${a.dispatchUs} µs; ${a.chunkUs} µs per chunk. matmul eff by outputs per invocation ${JSON.stringify(a.matmulEff)}, below ${a.wavesFull} workgroups per SM scaled down; attention (row per workgroup) ${a.attentionEff}; flash ${a.flashEff}.`,
    `Hardware: ${p.hw.map((h) => `${h.name} ${f(h.flops / 1e12, 0)} TFLOP/s f32, ${f(h.bandwidth / 1e12, 2)} TB/s`).join('; ')}.`,
    '',
    line(head),
    `|${head.map(() => '---').join('|')}|`,
  ];
  const sorted = [...p.rows].sort((x, y) => y.ms[names[0]] - x.ms[names[0]]);
  for (const r of sorted) out.push(line([r.name, r.count, f(r.flops / 1e9), f(r.bytes / 1e9, 2), ...names.map((n) => f(r.ms[n], 2)), r.bound]));
  out.push(line(['**total**', p.dispatches, f(p.flops / 1e9), f(p.bytes / 1e9, 2), ...names.map((n) => `**${f(p.total[n])}**`), '']));
  const peers = names.filter((n) => peerMs[n] !== undefined);
  for (const n of peers) {
    out.push(line([`peer (PyTorch f32, measured, ${n})`, '', '', '', ...names.map((m) => (m === n ? f(peerMs[n]) : '')), '']));
    out.push(line([`ratio predicted / peer (${n})`, '', '', '', ...names.map((m) => (m === n ? `${f(p.total[n] / peerMs[n], 2)}×` : '')), '']));
  }
  return out;
}
