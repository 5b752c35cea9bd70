/**
 * The GPU-class attention (src/gpu/device.ts `kernelClass`): fused, flash attention's scheme, forward and backward
 * (shaders/attention/flash_*.wgsl). What it keeps for the backward is the output O (B·TQ, C) and the row log-sum-exp
 * lse (B, NH, TQ) — not the (B, NH, T, T) probabilities the per-row kernels and the CPU class keep — and the backward
 * recomputes the probabilities from Q, K and lse (src/model/layout.ts lists the buffers: `AttentionSaved` 'lse').
 *
 * Tiles: a workgroup of WG = 256 invocations; head rows padded to HS4 = ⌈HS/4⌉ vec4s in workgroup memory. The forward
 * and the q half of the backward take BR = ⌊WG / HS4⌋ query rows per workgroup (one output vec4 per invocation: 16
 * rows at head size 64, 32 at 32, 8 at 128) and loop over keys in tiles of BC; the kv half takes BC = ⌊WG / HS4⌋ keys
 * per workgroup and loops over queries in tiles of BR. The looped tile is the largest of 64, 32, 16, 8, 4 whose
 * workgroup memory fits the device's maxComputeWorkgroupStorageSize (`flashTiles`), so K and V (or Q and dout) are
 * read from memory once per workgroup tile, not once per query row.
 *
 * TQ, the queries per sequence: T, or 1 for the last layer (its [CLS] rows alone; the keys and values span all T
 * tokens). The q half then writes dq = 0 for tokens 1..T−1.
 *
 * Determinism: no atomics; every sum (scores, softmax, P·V, D, dq, dk, dv) runs in a fixed order set by the tiles,
 * which depend only on the head size and the device's limit: reruns on one device are bit for bit the same.
 */
import type { View } from '../gpu/arena.ts';
import type { Gpu } from '../gpu/device.ts';
import { createParams, defineKernel, dispatch, type Dispatch } from '../gpu/pipelines.ts';
import { UserError } from '../util/errors.ts';

const PARAMS = { B: 'u32', T: 'u32', TQ: 'u32', C: 'u32', NH: 'u32', HS: 'u32', scale: 'f32' } as const;
export const FLASH_FORWARD = defineKernel({
  shader: 'attention/flash_forward.wgsl',
  bindings: { qkv: 'read', mask: 'read', out: 'rw', lse: 'rw', p: 'uniform' },
  params: PARAMS,
});
export const FLASH_BACKWARD_Q = defineKernel({
  shader: 'attention/flash_backward_q.wgsl',
  bindings: { dout: 'read', out: 'read', lse: 'read', qkv: 'read', mask: 'read', D: 'rw', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
});
export const FLASH_BACKWARD_KV = defineKernel({
  shader: 'attention/flash_backward_kv.wgsl',
  bindings: { dout: 'read', lse: 'read', qkv: 'read', mask: 'read', D: 'read', dqkv: 'rw', p: 'uniform' },
  params: PARAMS,
});

export const FLASH_WG = 256;
export const FLASH_MAX_HS = 128;
const LOOPED = [64, 32, 16, 8, 4];

export interface FlashTile { HS4: number; BR: number; BC: number; bytes: number }
export interface FlashTiles { forward: FlashTile; q: FlashTile; kv: FlashTile }

/** Tile sizes (override constants) and their workgroup memory for head size HS under `maxBytes` of workgroup memory. */
export function flashTiles(HS: number, maxBytes: number): FlashTiles {
  if (!(Number.isInteger(HS) && HS >= 1 && HS <= FLASH_MAX_HS)) throw new UserError(`head size ${HS}: the GPU-class attention takes head sizes 1..${FLASH_MAX_HS}`);
  const HS4 = Math.ceil(HS / 4);
  const rows = Math.floor(FLASH_WG / HS4);
  const v = 16 * HS4; // bytes of one padded head row
  const pick = (bytes: (n: number) => number, what: string): number => {
    const n = LOOPED.find((x) => bytes(x) <= maxBytes);
    if (n === undefined) throw new UserError(`the GPU-class attention (${what}) needs ${bytes(4)} bytes of workgroup memory at head size ${HS}; the device offers ${maxBytes}`);
    return n;
  };
  const fwd = (BC: number) => v * (rows + 2 * BC) + 4 * rows * BC + 12 * rows;
  const q = (BC: number) => v * (2 * rows + 2 * BC) + 4 * rows * BC + 4 * rows * HS4 + 8 * rows;
  const kv = (BR: number) => v * (2 * rows + 2 * BR) + 8 * BR * rows + 8 * BR;
  const fBC = pick(fwd, 'forward'), qBC = pick(q, 'backward, q half'), kBR = pick(kv, 'backward, kv half');
  return {
    forward: { HS4, BR: rows, BC: fBC, bytes: fwd(fBC) },
    q: { HS4, BR: rows, BC: qBC, bytes: q(qBC) },
    kv: { HS4, BR: kBR, BC: rows, bytes: kv(kBR) },
  };
}

const constants = (t: FlashTile) => ({ WG: FLASH_WG, HS4: t.HS4, BR: t.BR, BC: t.BC });
const limit = (g: Gpu) => g.limits.maxComputeWorkgroupStorageSize ?? 16384;

export interface FlashArgs {
  label: string;
  qkv: View;    // (B·T, 3C)
  mask: View;   // (B·T) 1 = token, 0 = padding
  out: View;    // (B·TQ, C) saved for backward
  lse: View;    // (B, NH, TQ) saved for backward
  B: number; T: number; C: number; NH: number;
  /** Queries per sequence: T (default), or 1 (the [CLS] rows alone). */
  TQ?: number;
}

function params(g: Gpu, def: typeof FLASH_FORWARD | typeof FLASH_BACKWARD_Q | typeof FLASH_BACKWARD_KV, a: { label: string; B: number; T: number; C: number; NH: number; TQ?: number }) {
  const HS = a.C / a.NH, TQ = a.TQ ?? a.T;
  if (!Number.isInteger(HS)) throw new Error(`${a.label}: hidden ${a.C} is not a multiple of ${a.NH} heads`);
  if (!(TQ === a.T || TQ === 1)) throw new Error(`${a.label}: TQ ${TQ}: the queries are every token (T = ${a.T}) or [CLS] alone (1)`);
  return { HS, TQ, buf: createParams(g, def, `${a.label} params`, { B: a.B, T: a.T, TQ, C: a.C, NH: a.NH, HS, scale: 1 / Math.sqrt(HS) }) };
}

/** One dispatch: out and lse of every query (B, NH, ⌈TQ/BR⌉ workgroups). */
export async function flashAttentionForward(g: Gpu, a: FlashArgs): Promise<Dispatch> {
  const { HS, TQ, buf } = params(g, FLASH_FORWARD, a);
  const t = flashTiles(HS, limit(g)).forward;
  const k = await g.pipelines.get(FLASH_FORWARD, { constants: constants(t) });
  return dispatch(g, k, a.label, { qkv: a.qkv, mask: a.mask, out: a.out, lse: a.lse, p: buf }, [Math.ceil(TQ / t.BR), a.NH, a.B]);
}

export interface FlashBackArgs {
  label: string;
  dout: View;   // (B·TQ, C) gradient w.r.t. the attention output
  out: View;    // (B·TQ, C) saved by the forward
  lse: View;    // (B, NH, TQ) saved by the forward
  qkv: View;    // (B·T, 3C) saved by the forward
  mask: View;   // (B·T)
  D: View;      // (B, NH, TQ) scratch: rowsum(dout ∘ out)
  dqkv: View;   // (B·T, 3C)
  B: number; T: number; C: number; NH: number;
  TQ?: number;
}

/** Two dispatches: per query tile (D, dq; every token's q part), then per key tile (dk, dv). */
export async function flashAttentionBackward(g: Gpu, a: FlashBackArgs): Promise<Dispatch[]> {
  const { HS, buf } = params(g, FLASH_BACKWARD_Q, a);
  const tiles = flashTiles(HS, limit(g));
  const kq = await g.pipelines.get(FLASH_BACKWARD_Q, { constants: constants(tiles.q) });
  const kkv = await g.pipelines.get(FLASH_BACKWARD_KV, { constants: constants(tiles.kv) });
  return [
    dispatch(g, kq, `${a.label} (q)`, { dout: a.dout, out: a.out, lse: a.lse, qkv: a.qkv, mask: a.mask, D: a.D, dqkv: a.dqkv, p: buf }, [Math.ceil(a.T / tiles.q.BR), a.NH, a.B]),
    dispatch(g, kkv, `${a.label} (kv)`, { dout: a.dout, lse: a.lse, qkv: a.qkv, mask: a.mask, D: a.D, dqkv: a.dqkv, p: buf }, [Math.ceil(a.T / tiles.kv.BC), a.NH, a.B]),
  ];
}
