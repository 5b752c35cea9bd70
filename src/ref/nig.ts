/**
 * Float64 reference of Neuron Integrated Gradients (total conductance) for one query-passage pair: the
 * algorithm of shared/fixtures/make_reference.py, with the rule, target and baseline made selectable.
 *
 * The three parts are separate, as in Captum: the path (baseline x', m + 1 points x' + α_k (x − x'), α_k = k/m),
 * the rule (which endpoint's gradient each step uses), and the attributed quantities (FFN units before and
 * after GELU, every hidden state, the word embeddings). All m + 1 points run as one batch of bertForward and
 * one bertBackward; the gradients are of F summed over the batch, so row k holds ∂F(α_k)/∂(·).
 */
import type { BertWeights } from '../model/types.ts';
import { bertBackward, bertForward, gatherWordVecs, relevanceBackward, relevanceForward } from './bert.ts';
import type { Target } from '../model/types.ts';
import { embeddingSize, positionIds } from '../model/config.ts';

import { baselineIds, type Baseline } from '../ig/baselines.ts';
import type { Rule } from '../ig/path.ts';
export type { Rule, Baseline };
export { baselineIds };
export interface NigOptions {
  rule?: Rule;         // default 'right' (the fixtures')
  target?: Target;     // default 'relevant'
  baseline?: Baseline; // default 'pad-keep-special'
  clsId?: number; sepId?: number; padId?: number; maskId?: number; unkId?: number; // bert vocab: 101 102 0 103 100
  ffnMask?: (Float64Array | null)[]; // optional pruning mask, as in bertForward
}

export interface NigResult {
  T: number; m: number; rule: Rule; target: Target;
  alphas: Float64Array;          // (m + 1) k / m
  F: Float64Array;               // (m + 1) F along the path; F[0] = F(x'), F[m] = F(x)
  logitsInput: Float64Array;     // (NL) at α = 1
  logitsBaseline: Float64Array;  // (NL) at α = 0
  nigPre: Float64Array;          // (L, T, d_ff) NIG of intermediate.dense outputs (before GELU)
  nigPost: Float64Array;         // (L, T, d_ff) NIG after GELU
  igEmbed: Float64Array;         // (T, E) IG of the word embeddings (E: the embedding width)
  gradEmbedInput: Float64Array;  // (T, E) ∂F/∂x at α = 1
  igDelta: number;               // Σ igEmbed − (F(x) − F(x')): completeness error of the embedding cut
  nigHidden: Float64Array[];     // L + 1 of (T, C): NIG of hidden[0] (embedding output) .. hidden[L]
  hiddenDelta: number[];         // L + 1: Σ nigHidden[l] − (F(x) − F(x')), each hidden state being a full cut
}

/**
 * Conductance of one unit array along the path: Σ_{k=1..m} (y_k − y_{k−1}) · ĝ_k, with ĝ_k = g_k (right),
 * g_{k−1} (left) or their mean (trapezoid). y, g: (m + 1, n) rows of the batch; out: (n).
 */
export function conductance(out: Float64Array, y: Float64Array, g: Float64Array, m: number, n: number, rule: Rule): void {
  const a = rule === 'right' ? 0 : rule === 'left' ? 1 : 0.5; // weight of g_{k−1}
  const b = 1 - a;                                              // weight of g_k
  out.fill(0);
  for (let k = 1; k <= m; k++) {
    const o = k * n, p = (k - 1) * n;
    for (let i = 0; i < n; i++) out[i] += (y[o + i] - y[p + i]) * (a * g[p + i] + b * g[o + i]);
  }
}

/** Weights of the gradients at α_0..α_m in the IG mean: right 1/m on k ≥ 1, left on k < m, trapezoid halves the ends. */
export function igWeights(m: number, rule: Rule): Float64Array {
  const wts = new Float64Array(m + 1).fill(1 / m);
  if (rule === 'right') wts[0] = 0;
  else if (rule === 'left') wts[m] = 0;
  else { wts[0] = 0.5 / m; wts[m] = 0.5 / m; }
  return wts;
}

export function nigReference(w: BertWeights, ids: ArrayLike<number>, typeIds: ArrayLike<number>, m: number, opts: NigOptions = {}): NigResult {
  const rule = opts.rule ?? 'right', target = opts.target ?? 'relevant';
  const cfg = w.config, C = embeddingSize(cfg), H = cfg.hidden, F = cfg.intermediate, L = cfg.layers, NL = cfg.numLabels;
  const T = ids.length, P = m + 1;
  if (!Number.isInteger(m) || m < 1) throw new Error(`nigReference: steps m = ${m}; use a positive integer (20 to 300 is usual)`);
  if (typeIds.length !== T) throw new Error(`nigReference: ${T} ids but ${typeIds.length} token types`);
  const bIds = baselineIds(ids, typeIds, opts.baseline ?? 'pad-keep-special', {
    clsId: opts.clsId ?? 101, sepId: opts.sepId ?? 102, padId: opts.padId ?? 0, maskId: opts.maskId ?? 103, unkId: opts.unkId ?? 100,
  });

  const x = gatherWordVecs(w, ids);                               // (T, C)
  const xb = gatherWordVecs(w, Array.from(bIds, (id) => (id < 0 ? 0 : id))); // (T, C)
  for (let t = 0; t < T; t++) if (bIds[t] < 0) xb.fill(0, t * C, t * C + C);
  const alphas = new Float64Array(P);
  for (let k = 0; k < P; k++) alphas[k] = k / m;
  const path = new Float64Array(P * T * C);                       // (m + 1, T, C)
  for (let k = 0; k < P; k++) for (let i = 0; i < T * C; i++) path[k * T * C + i] = xb[i] + alphas[k] * (x[i] - xb[i]);
  const tt = new Int32Array(P * T), am = new Int32Array(P * T).fill(1); // (m + 1, T)
  for (let k = 0; k < P; k++) for (let t = 0; t < T; t++) tt[k * T + t] = typeIds[t];
  // positions (and token types) are the real input's at every point of the path
  const pos1 = positionIds(cfg, ids), posIds = new Int32Array(P * T);
  for (let k = 0; k < P; k++) posIds.set(pos1, k * T);

  const { logits, cache } = bertForward(w, { wordVecs: path, typeIds: tt, posIds, attnMask: am, B: P, T }, { ffnMask: opts.ffnMask });
  const Fp = new Float64Array(P), dlogits = new Float64Array(P * NL);
  relevanceForward(Fp, logits, P, NL, target);
  relevanceBackward(dlogits, logits, P, NL, target);
  const g = bertBackward(w, cache, dlogits);
  const dF = Fp[m] - Fp[0];

  const nigPre = new Float64Array(L * T * F), nigPost = new Float64Array(L * T * F);
  for (let l = 0; l < L; l++) {
    conductance(nigPre.subarray(l * T * F, (l + 1) * T * F), cache.layers[l].ffnPre, g.dFfnPre[l], m, T * F, rule);
    conductance(nigPost.subarray(l * T * F, (l + 1) * T * F), cache.layers[l].ffnPost, g.dFfnPost[l], m, T * F, rule);
  }
  const nigHidden: Float64Array[] = [], hiddenDelta: number[] = [];
  for (let l = 0; l <= L; l++) {
    const h = new Float64Array(T * H);
    conductance(h, cache.hidden[l], g.dHidden[l], m, T * H, rule);
    nigHidden.push(h);
    hiddenDelta.push(sum(h) - dF);
  }
  const wts = igWeights(m, rule), igEmbed = new Float64Array(T * C); // (x − x') · Σ_k wts_k ∂F/∂x(α_k)
  for (let i = 0; i < T * C; i++) {
    let s = 0;
    for (let k = 0; k < P; k++) s += wts[k] * g.dWordVecs[k * T * C + i];
    igEmbed[i] = (x[i] - xb[i]) * s;
  }
  return {
    T, m, rule, target, alphas, F: Fp,
    logitsInput: logits.slice(m * NL, P * NL), logitsBaseline: logits.slice(0, NL),
    nigPre, nigPost, igEmbed, gradEmbedInput: g.dWordVecs.slice(m * T * C, P * T * C),
    igDelta: sum(igEmbed) - dF, nigHidden, hiddenDelta,
  };
}

function sum(a: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}
