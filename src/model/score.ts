/** Scoring encoded pairs with the GPU model (no attribution): what `score`, pruning and pair selection share. */
import type { BertGpu } from './forward.ts';
import type { EncodedPair } from './types.ts';

/** Scores encoded pairs in batches of similar length; returns logits per pair in input order. */
/** Pairs per forward pass of `score` and pruning's re-scoring, unless told (changes no number). */
export const DEFAULT_SCORE_BATCH = 32;

export async function scoreEncoded(model: BertGpu, enc: EncodedPair[], batch: number, progress?: (done: number) => void): Promise<Float32Array[]> {
  const order = enc.map((_, i) => i).sort((a, b) => enc[a].ids.length - enc[b].ids.length);
  const out: Float32Array[] = new Array(enc.length);
  const NL = model.cfg.numLabels;
  for (let s = 0; s < order.length; s += batch) {
    const idx = order.slice(s, s + batch);
    const logits = await model.score(idx.map((i) => enc[i]));
    idx.forEach((i, b) => { out[i] = logits.slice(b * NL, (b + 1) * NL); });
    progress?.(Math.min(order.length, s + batch));
  }
  return out;
}
