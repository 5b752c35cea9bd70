/** The baseline x' of the path, as token ids per position (the engine and the reference share it). */
import { UserError } from '../util/errors.ts';

/**
 * Baselines x' (word vectors; [CLS]/[SEP] positions keep their own embedding unless said otherwise):
 * - 'pad-keep-special' (default, the fixtures'): [PAD] at every query and passage token.
 * - 'pad': [PAD] at every position, [CLS]/[SEP] included.
 * - 'zero': the zero vector at every query and passage token.
 * - 'mask' / 'unk': the [MASK] / [UNK] embedding at every query and passage token.
 * - 'pad-query' / 'pad-passage': [PAD] on one segment only (token type 0 / 1), the other kept.
 */
export type Baseline = 'pad-keep-special' | 'pad' | 'zero' | 'mask' | 'unk' | 'pad-query' | 'pad-passage';

export const BASELINES: Baseline[] = ['pad-keep-special', 'pad', 'zero', 'mask', 'unk', 'pad-query', 'pad-passage'];
export const DEFAULT_BASELINE: Baseline = 'pad-keep-special';

export interface SpecialIds { clsId: number; sepId: number; padId: number; maskId: number; unkId: number }

/** Baseline token ids: the replacement id, or -1 for the zero vector, at every position that moves. */
export function baselineIds(ids: ArrayLike<number>, typeIds: ArrayLike<number>, baseline: Baseline, o: SpecialIds): Int32Array {
  const out = new Int32Array(ids.length);
  for (let t = 0; t < ids.length; t++) {
    const special = ids[t] === o.clsId || ids[t] === o.sepId;
    let moves = !special, repl = o.padId;
    switch (baseline) {
      case 'pad-keep-special': break;
      case 'pad': moves = true; break;
      case 'zero': repl = -1; break;
      case 'mask': repl = o.maskId; break;
      case 'unk': repl = o.unkId; break;
      case 'pad-query': moves = !special && typeIds[t] === 0; break;
      case 'pad-passage': moves = !special && typeIds[t] !== 0; break;
      default: throw new UserError(`unknown baseline '${baseline as string}'; use pad-keep-special, pad, zero, mask, unk, pad-query or pad-passage`);
    }
    out[t] = moves ? repl : ids[t];
  }
  return out;
}

