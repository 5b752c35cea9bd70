/**
 * Float64 CPU reference of a BERT-family sequence classifier (post-LN BERT encoder; the families' differences of
 * src/model/config.ts: position ids, ELECTRA's embeddings_project, the head's activation): a forward that caches
 * what the backward needs, and a backward of activation gradients only (no weight gradients).
 *
 * Forward, per layer l (x = hidden[l], rows N = B * T):
 *   qkv = x Wqkvᵀ + bqkv; ctx = attention(qkv); res1 = ctx Waoᵀ + bao + x; h1 = LN1(res1)
 *   ffnPre = (h1 Wiᵀ + bi) ⊙ ffnMask; ffnPost = GELU(ffnPre); res2 = ffnPost Woᵀ + bo + h1; hidden[l+1] = LN2(res2)
 * with hidden[0] = LN(word + position + type) (ELECTRA: then embeddings_project), and at the end
 * pooled = act(hidden[L][:, 0] Wpᵀ + bp) (act tanh, GELU for ELECTRA, ReLU for DistilBERT), logits = pooled Wcᵀ + bc.
 * Backward: the layer backwards in exact reverse order; activation grads are written with `=`, and each
 * residual add's skip gradient is added into the stream with `+=` right after its branch's backward.
 */
import type { BertConfig, BertWeights, Target } from '../model/types.ts';
import {
  attentionBackward, attentionForward, embeddingsBackward, embeddingsForward, firstTokenBackward,
  firstTokenForward, geluBackward, geluForward, layernormBackward, layernormForward, maskBackward, maskForward,
  matmulBackward, matmulForward, reluBackward, reluForward, residualBackward, residualForward, tanhBackward, tanhForward,
} from './layers.ts';
import { embeddingSize, headActivation } from '../model/config.ts';

/** Weights widened to float64 once (exact), q/k/v fused into one (3C, C) matrix as the attention layer takes. */
interface LayerF64 {
  qkvW: Float64Array; qkvB: Float64Array; // (3C, C), (3C)
  aoW: Float64Array; aoB: Float64Array;   // (C, C), (C)
  ln1G: Float64Array; ln1B: Float64Array; // (C)
  iW: Float64Array; iB: Float64Array;     // (F, C), (F)
  oW: Float64Array; oB: Float64Array;     // (C, F), (C)
  ln2G: Float64Array; ln2B: Float64Array; // (C)
}
interface WeightsF64 {
  posEmb: Float64Array; typeEmb: Float64Array; // (P, E), (TV, E)
  embLnG: Float64Array; embLnB: Float64Array;  // (E)
  projW: Float64Array | null; projB: Float64Array | null; // ELECTRA's embeddings_project (C, E), (C)
  layers: LayerF64[];
  poolW: Float64Array; poolB: Float64Array;    // (C, C), (C)
  clsW: Float64Array; clsB: Float64Array;      // (NL, C), (NL)
}

const f64Cache = new WeakMap<BertWeights, WeightsF64>();
function f64(w: BertWeights): WeightsF64 {
  let r = f64Cache.get(w);
  if (r) return r;
  const d = (t: { data: Float32Array }) => Float64Array.from(t.data);
  const cat = (...ts: { data: Float32Array }[]) => {
    const out = new Float64Array(ts.reduce((a, t) => a + t.data.length, 0));
    let o = 0;
    for (const t of ts) { out.set(t.data, o); o += t.data.length; }
    return out;
  };
  r = {
    posEmb: d(w.posEmb), typeEmb: d(w.typeEmb), embLnG: d(w.embLnG), embLnB: d(w.embLnB),
    projW: w.projW ? d(w.projW) : null, projB: w.projB ? d(w.projB) : null,
    layers: w.layers.map((l) => ({
      qkvW: cat(l.qW, l.kW, l.vW), qkvB: cat(l.qB, l.kB, l.vB), aoW: d(l.aoW), aoB: d(l.aoB),
      ln1G: d(l.ln1G), ln1B: d(l.ln1B), iW: d(l.iW), iB: d(l.iB), oW: d(l.oW), oB: d(l.oB),
      ln2G: d(l.ln2G), ln2B: d(l.ln2B),
    })),
    poolW: d(w.poolW), poolB: d(w.poolB), clsW: d(w.clsW), clsB: d(w.clsB),
  };
  f64Cache.set(w, r);
  return r;
}

/** Word embeddings of `ids` as float64: (n, E) for n ids (any (B, T) flattened; E the embedding width). */
export function gatherWordVecs(w: BertWeights, ids: ArrayLike<number>): Float64Array {
  const { vocabSize: V } = w.config;
  const C = embeddingSize(w.config);
  const out = new Float64Array(ids.length * C);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new Error(`gatherWordVecs: token id ${id} at position ${i} is outside the vocabulary [0, ${V}); the tokenizer and the checkpoint do not match`);
    }
    for (let c = 0; c < C; c++) out[i * C + c] = w.wordEmb.data[id * C + c];
  }
  return out;
}

export interface BertInput {
  wordVecs: Float64Array;             // (B, T, E)
  typeIds: Int32Array;                // (B, T) (read as 0 where the family has one type row)
  posIds?: Int32Array;                // (B, T) position ids (src/model/config.ts positionIds); default t (RoBERTa: from attnMask)
  attnMask: Uint8Array | Int32Array;  // (B, T) 1 = token, 0 = padding
  B: number; T: number;
}

export interface BertOptions {
  /** Per layer, length d_ff: 1 keeps, 0 prunes; multiplies intermediate.dense's output (before GELU). */
  ffnMask?: (Float64Array | null)[];
}

/** What the forward saves for the backward (and the activations NIG integrates over). */
export interface LayerCache {
  qkv: Float64Array;      // (B, T, 3C) attention input, for its backward
  probs: Float64Array;    // (B, NH, T, T) attention probabilities, for its backward
  res1: Float64Array;     // (B, T, C) input of LN1
  ln1Mean: Float64Array;  // (B, T)
  ln1Rstd: Float64Array;  // (B, T)
  h1: Float64Array;       // (B, T, C) LN1 output: input of the FFN and its residual stream
  ffnPre: Float64Array;   // (B, T, F) intermediate.dense output after the mask: GELU's input, an NIG unit
  ffnPost: Float64Array;  // (B, T, F) GELU output, an NIG unit
  res2: Float64Array;     // (B, T, C) input of LN2
  ln2Mean: Float64Array;  // (B, T)
  ln2Rstd: Float64Array;  // (B, T)
  mask: Float64Array | null; // (F) the FFN mask, if any
}

export interface BertCache {
  B: number; T: number; cfg: BertConfig;
  emb: Float64Array;      // (B, T, E) word + position + type, input of the embedding LayerNorm
  embOut: Float64Array;   // (B, T, E) the embedding LayerNorm's output (ELECTRA: embeddings_project's input)
  embMean: Float64Array;  // (B, T)
  embRstd: Float64Array;  // (B, T)
  /** hidden[0] = embedding output, hidden[l + 1] = output of layer l (transformers' hidden_states), each (B, T, C). */
  hidden: Float64Array[];
  layers: LayerCache[];
  poolPre: Float64Array;  // (B, C) head dense output, the activation's input
  pooled: Float64Array;   // (B, C) the activation's output
  logits: Float64Array;   // (B, NL)
}

export function bertForward(w: BertWeights, input: BertInput, opts: BertOptions = {}): { logits: Float64Array; cache: BertCache } {
  const cfg = w.config, W = f64(w);
  const { B, T } = input;
  const { hidden: C, heads: NH, intermediate: F, numLabels: NL, eps } = cfg;
  const E = embeddingSize(cfg);
  const N = B * T;
  if (T > cfg.maxPositions) throw new Error(`bertForward: sequence length ${T} exceeds max_position_embeddings ${cfg.maxPositions}; truncate the passage`);
  if (input.wordVecs.length !== N * E) throw new Error(`bertForward: wordVecs holds ${input.wordVecs.length} values, expected B*T*E = ${N * E}`);
  if (input.typeIds.length !== N || input.attnMask.length !== N) throw new Error(`bertForward: typeIds/attnMask must hold B*T = ${N} values, found ${input.typeIds.length}/${input.attnMask.length}`);
  const typeIds = cfg.typeVocab === 1 ? new Int32Array(N) : input.typeIds;
  for (let i = 0; i < N; i++) {
    if (typeIds[i] < 0 || typeIds[i] >= cfg.typeVocab) throw new Error(`bertForward: token type ${typeIds[i]} at ${i} is outside [0, ${cfg.typeVocab})`);
  }
  const ffnMask = opts.ffnMask ?? [];
  for (const [l, m] of ffnMask.entries()) {
    if (m && m.length !== F) throw new Error(`bertForward: ffnMask[${l}] has length ${m.length}, expected d_ff = ${F}`);
  }
  const maskAdd = new Float64Array(N); // (B, T) 0 for tokens, -Infinity for padded keys (see attentionForward)
  for (let i = 0; i < N; i++) maskAdd[i] = input.attnMask[i] ? 0 : -Infinity;

  const emb = new Float64Array(N * E), embMean = new Float64Array(N), embRstd = new Float64Array(N), embOut = new Float64Array(N * E);
  const hidden = [new Float64Array(N * C)];
  // default position ids: t, or RoBERTa's from the attention mask (padding_idx + count of tokens so far, pads padding_idx)
  let posIds = input.posIds ?? null;
  if (!posIds && cfg.posOffset) {
    posIds = new Int32Array(N);
    for (let b = 0; b < B; b++) for (let t = 0, n = 0; t < T; t++) posIds[b * T + t] = input.attnMask[b * T + t] ? cfg.padTokenId + ++n : cfg.padTokenId;
  }
  embeddingsForward(emb, input.wordVecs, W.posEmb, W.typeEmb, typeIds, B, T, E, posIds);
  layernormForward(embOut, embMean, embRstd, emb, W.embLnG, W.embLnB, N, E, eps);
  if (W.projW) matmulForward(hidden[0], embOut, W.projW, W.projB!, N, E, C);
  else hidden[0].set(embOut);

  const ctx = new Float64Array(N * C), branch = new Float64Array(N * C); // (B, T, C) scratch, not needed by backward
  const layers: LayerCache[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const Lw = W.layers[l], x = hidden[l];
    const c: LayerCache = {
      qkv: new Float64Array(N * 3 * C), probs: new Float64Array(B * NH * T * T),
      res1: new Float64Array(N * C), ln1Mean: new Float64Array(N), ln1Rstd: new Float64Array(N), h1: new Float64Array(N * C),
      ffnPre: new Float64Array(N * F), ffnPost: new Float64Array(N * F),
      res2: new Float64Array(N * C), ln2Mean: new Float64Array(N), ln2Rstd: new Float64Array(N),
      mask: ffnMask[l] ?? null,
    };
    const out = new Float64Array(N * C);
    matmulForward(c.qkv, x, Lw.qkvW, Lw.qkvB, N, C, 3 * C);
    attentionForward(ctx, c.probs, c.qkv, maskAdd, B, T, C, NH);
    matmulForward(branch, ctx, Lw.aoW, Lw.aoB, N, C, C);
    residualForward(c.res1, branch, x, N * C);
    layernormForward(c.h1, c.ln1Mean, c.ln1Rstd, c.res1, Lw.ln1G, Lw.ln1B, N, C, eps);
    matmulForward(c.ffnPre, c.h1, Lw.iW, Lw.iB, N, C, F);
    if (c.mask) maskForward(c.ffnPre, c.ffnPre, c.mask, N, F);
    geluForward(c.ffnPost, c.ffnPre, N * F);
    matmulForward(branch, c.ffnPost, Lw.oW, Lw.oB, N, F, C);
    residualForward(c.res2, branch, c.h1, N * C);
    layernormForward(out, c.ln2Mean, c.ln2Rstd, c.res2, Lw.ln2G, Lw.ln2B, N, C, eps);
    layers.push(c);
    hidden.push(out);
  }

  const clsIn = new Float64Array(B * C), poolPre = new Float64Array(B * C), pooled = new Float64Array(B * C);
  const logits = new Float64Array(B * NL);
  firstTokenForward(clsIn, hidden[cfg.layers], B, T, C);
  matmulForward(poolPre, clsIn, W.poolW, W.poolB, B, C, C);
  const act = headActivation(cfg);
  (act === 'gelu' ? geluForward : act === 'relu' ? reluForward : tanhForward)(pooled, poolPre, B * C);
  matmulForward(logits, pooled, W.clsW, W.clsB, B, C, NL);
  return { logits, cache: { B, T, cfg, emb, embOut, embMean, embRstd, hidden, layers, poolPre, pooled, logits } };
}

export interface BertGrads {
  dWordVecs: Float64Array; // (B, T, E)
  dHidden: Float64Array[]; // L + 1 of (B, T, C), aligned with cache.hidden
  dFfnPre: Float64Array[]; // L of (B, T, F): gradient w.r.t. ffnPre (after the mask)
  dFfnPost: Float64Array[]; // L of (B, T, F)
}

/** Gradients of Σ_b dlogits[b] · logits[b] w.r.t. the activations (dlogits: (B, NL), usually dF/dlogits). */
export function bertBackward(w: BertWeights, cache: BertCache, dlogits: Float64Array): BertGrads {
  const W = f64(w);
  const { B, T, cfg } = cache;
  const { hidden: C, heads: NH, intermediate: F, numLabels: NL } = cfg;
  const N = B * T, L = cfg.layers;
  if (dlogits.length !== B * NL) throw new Error(`bertBackward: dlogits holds ${dlogits.length} values, expected B*numLabels = ${B * NL}`);

  const dHidden: Float64Array[] = new Array(L + 1);
  const dFfnPre: Float64Array[] = new Array(L), dFfnPost: Float64Array[] = new Array(L);
  const dpooled = new Float64Array(B * C), dpoolPre = new Float64Array(B * C), dclsIn = new Float64Array(B * C);
  matmulBackward(dpooled, dlogits, W.clsW, B, C, NL);
  const act = headActivation(cfg);
  if (act === 'gelu') geluBackward(dpoolPre, cache.poolPre, dpooled, B * C);
  else if (act === 'relu') reluBackward(dpoolPre, cache.poolPre, dpooled, B * C);
  else tanhBackward(dpoolPre, cache.pooled, dpooled, B * C);
  matmulBackward(dclsIn, dpoolPre, W.poolW, B, C, C);
  dHidden[L] = new Float64Array(N * C);
  firstTokenBackward(dHidden[L], dclsIn, B, T, C);

  // scratch (B, T, ·), rewritten (`=`) by each layer
  const dres2 = new Float64Array(N * C), dpreMasked = new Float64Array(N * F), dh1 = new Float64Array(N * C);
  const dres1 = new Float64Array(N * C), dctx = new Float64Array(N * C), dqkv = new Float64Array(N * 3 * C);
  for (let l = L - 1; l >= 0; l--) {
    const Lw = W.layers[l], c = cache.layers[l], dout = dHidden[l + 1];
    const dx = new Float64Array(N * C);
    dFfnPost[l] = new Float64Array(N * F);
    dFfnPre[l] = new Float64Array(N * F);
    layernormBackward(dres2, dout, c.res2, Lw.ln2G, c.ln2Mean, c.ln2Rstd, N, C);
    // residual 2: the branch's gradient is dres2 itself
    matmulBackward(dFfnPost[l], dres2, Lw.oW, N, F, C);
    geluBackward(dFfnPre[l], c.ffnPre, dFfnPost[l], N * F);
    if (c.mask) maskBackward(dpreMasked, dFfnPre[l], c.mask, N, F);
    matmulBackward(dh1, c.mask ? dpreMasked : dFfnPre[l], Lw.iW, N, C, F);
    residualBackward(dh1, dres2, N * C);
    layernormBackward(dres1, dh1, c.res1, Lw.ln1G, c.ln1Mean, c.ln1Rstd, N, C);
    // residual 1: the branch's gradient is dres1 itself
    matmulBackward(dctx, dres1, Lw.aoW, N, C, C);
    attentionBackward(dqkv, dctx, c.probs, c.qkv, B, T, C, NH);
    matmulBackward(dx, dqkv, Lw.qkvW, N, C, 3 * C);
    residualBackward(dx, dres1, N * C);
    dHidden[l] = dx;
  }

  const E = embeddingSize(cfg);
  const demb = new Float64Array(N * E), dWordVecs = new Float64Array(N * E);
  let dEmbOut = dHidden[0];
  if (W.projW) { dEmbOut = new Float64Array(N * E); matmulBackward(dEmbOut, dHidden[0], W.projW, N, E, C); }
  layernormBackward(demb, dEmbOut, cache.emb, W.embLnG, cache.embMean, cache.embRstd, N, E);
  embeddingsBackward(dWordVecs, demb, B, T, E);
  return { dWordVecs, dHidden, dFfnPre, dFfnPost };
}


export function relevanceForward(
  out: Float64Array,    // (B)
  logits: Float64Array, // (B, NL)
  B: number, NL: number, target: Target,
): void {
  for (let b = 0; b < B; b++) {
    const z = logits.subarray(b * NL, b * NL + NL);
    if (target === 'logit') out[b] = z[NL - 1];
    else if (NL === 1) out[b] = target === 'relevant' ? z[0] : -z[0];
    else out[b] = softmax2(z)[target === 'relevant' ? 1 : 0];
  }
}

/** dlogits[b] = dF_b / dlogits[b], i.e. the gradient of Σ_b F_b. */
export function relevanceBackward(
  dlogits: Float64Array, // (B, NL)
  logits: Float64Array,  // (B, NL)
  B: number, NL: number, target: Target,
): void {
  for (let b = 0; b < B; b++) {
    const o = b * NL;
    for (let j = 0; j < NL; j++) dlogits[o + j] = 0;
    if (target === 'logit') dlogits[o + NL - 1] = 1;
    else if (NL === 1) dlogits[o] = target === 'relevant' ? 1 : -1;
    else {
      const p = softmax2(logits.subarray(o, o + NL)), i = target === 'relevant' ? 1 : 0;
      for (let j = 0; j < NL; j++) dlogits[o + j] = p[i] * ((i === j ? 1 : 0) - p[j]);
    }
  }
}

function softmax2(z: Float64Array): [number, number] {
  if (z.length !== 2) throw new Error(`relevance: softmax targets need 1 or 2 labels, found ${z.length}`);
  const m = Math.max(z[0], z[1]), e0 = Math.exp(z[0] - m), e1 = Math.exp(z[1] - m), s = e0 + e1;
  return [e0 / s, e1 / s];
}
