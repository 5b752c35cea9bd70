/**
 * Plain float64 CPU reference of every BERT layer, forward and backward side by side (llm.c style).
 * Every WGSL kernel is tested against these loops, which take the same arguments in the same order.
 *
 * Conventions
 * - Layout is row-major: (B, T, C) means index (b * T + t) * C + c; N = B * T rows where a layer is per-token.
 * - Linear weights are Hugging Face's [OC, C]: row o holds the weights of output o.
 * - Forward: `out` first, then what the backward needs saved (mean, rstd, probs), then inputs.
 *   Backward: `dinp` first, then `dout`, then the saved forward values.
 * - Gradient rule: every backward writes its `dinp` with `=` (activation gradients, never accumulated),
 *   except `residualBackward`, which adds the skip connection's gradient into the residual stream with `+=`.
 * - Only activation gradients: no weight gradients are needed anywhere in NIG.
 */

/**
 * Word vectors plus position and token-type embeddings (the IG path moves only the word vectors). Position ids:
 * `posIds` (B, T) when given (RoBERTa's padding_idx + 1 + t), else t.
 */
export function embeddingsForward(
  out: Float64Array,      // (B, T, C)
  wordVecs: Float64Array, // (B, T, C) already gathered (or interpolated) word embeddings
  posEmb: Float64Array,   // (P, C), P > every position id
  typeEmb: Float64Array,  // (TV, C)
  typeIds: Int32Array,    // (B, T)
  B: number, T: number, C: number,
  posIds: Int32Array | null = null, // (B, T)
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * C;
      const p = (posIds ? posIds[b * T + t] : t) * C;
      const y = typeIds[b * T + t] * C;
      for (let c = 0; c < C; c++) out[o + c] = wordVecs[o + c] + posEmb[p + c] + typeEmb[y + c];
    }
  }
}

/** Gradient of the sum w.r.t. the word vectors is the incoming gradient itself (the tables do not move). */
export function embeddingsBackward(
  dwordVecs: Float64Array, // (B, T, C)
  dout: Float64Array,      // (B, T, C)
  B: number, T: number, C: number,
): void {
  for (let i = 0; i < B * T * C; i++) dwordVecs[i] = dout[i];
}

/** LayerNorm over the last axis with two-pass statistics (mean first, then the centred variance). */
export function layernormForward(
  out: Float64Array,    // (N, C)
  mean: Float64Array,   // (N) saved for backward
  rstd: Float64Array,   // (N) saved for backward: 1 / sqrt(var + eps), var biased (divides by C)
  inp: Float64Array,    // (N, C)
  weight: Float64Array, // (C)
  bias: Float64Array,   // (C)
  N: number, C: number, eps: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let m = 0;
    for (let c = 0; c < C; c++) m += inp[o + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) { const d = inp[o + c] - m; v += d * d; }
    v /= C;
    const s = 1 / Math.sqrt(v + eps);
    for (let c = 0; c < C; c++) out[o + c] = (inp[o + c] - m) * s * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = s;
  }
}

/** dinp = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dout * weight. */
export function layernormBackward(
  dinp: Float64Array,   // (N, C)
  dout: Float64Array,   // (N, C)
  inp: Float64Array,    // (N, C) the forward's input
  weight: Float64Array, // (C)
  mean: Float64Array,   // (N) from the forward
  rstd: Float64Array,   // (N) from the forward
  N: number, C: number,
): void {
  for (let n = 0; n < N; n++) {
    const o = n * C, m = mean[n], s = rstd[n];
    let dnormMean = 0, dnormNormMean = 0;
    for (let c = 0; c < C; c++) {
      const dnorm = dout[o + c] * weight[c];
      dnormMean += dnorm;
      dnormNormMean += dnorm * (inp[o + c] - m) * s;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let c = 0; c < C; c++) {
      const norm = (inp[o + c] - m) * s;
      dinp[o + c] = s * (dout[o + c] * weight[c] - dnormMean - norm * dnormNormMean);
    }
  }
}

/** out = inp · weightᵀ + bias. */
export function matmulForward(
  out: Float64Array,         // (N, OC)
  inp: Float64Array,         // (N, C)
  weight: Float64Array,      // (OC, C)
  bias: Float64Array | null, // (OC) or none
  N: number, C: number, OC: number,
): void {
  rowDots(out, inp, weight, bias, N, C, OC);
}

/** dinp = dout · weight (activation gradient only), as row dot products against weightᵀ. */
export function matmulBackward(
  dinp: Float64Array,   // (N, C)
  dout: Float64Array,   // (N, OC)
  weight: Float64Array, // (OC, C)
  N: number, C: number, OC: number,
): void {
  const weightT = new Float64Array(C * OC); // (C, OC)
  for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) weightT[c * OC + o] = weight[o * C + c];
  rowDots(dinp, dout, weightT, null, N, OC, C);
}

/**
 * out[n, m] = bias[m] + Σ_k a[n, k] · w[m, k], for a (N, K), w (M, K), out (N, M). Plain loops would do; this
 * computes a 4-row × 2-column tile per pass over k (each load feeds several multiply-adds, about 3x faster in V8),
 * with the same summation order as the plain loop, and plain loops for the leftover rows and column.
 */
function rowDots(out: Float64Array, a: Float64Array, w: Float64Array, bias: Float64Array | null, N: number, K: number, M: number): void {
  let n = 0;
  for (; n + 4 <= N; n += 4) {
    const a0 = n * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    const o0 = n * M, o1 = o0 + M, o2 = o1 + M, o3 = o2 + M;
    let m = 0;
    for (; m + 2 <= M; m += 2) {
      const wa = m * K, wb = wa + K;
      const ba = bias === null ? 0 : bias[m], bb = bias === null ? 0 : bias[m + 1];
      let s0 = ba, s1 = ba, s2 = ba, s3 = ba, t0 = bb, t1 = bb, t2 = bb, t3 = bb;
      for (let k = 0; k < K; k++) {
        const u = w[wa + k], v = w[wb + k];
        const x0 = a[a0 + k], x1 = a[a1 + k], x2 = a[a2 + k], x3 = a[a3 + k];
        s0 += x0 * u; s1 += x1 * u; s2 += x2 * u; s3 += x3 * u;
        t0 += x0 * v; t1 += x1 * v; t2 += x2 * v; t3 += x3 * v;
      }
      out[o0 + m] = s0; out[o1 + m] = s1; out[o2 + m] = s2; out[o3 + m] = s3;
      out[o0 + m + 1] = t0; out[o1 + m + 1] = t1; out[o2 + m + 1] = t2; out[o3 + m + 1] = t3;
    }
    for (; m < M; m++) for (let r = 0; r < 4; r++) out[(n + r) * M + m] = dot(a, (n + r) * K, w, m * K, K, bias === null ? 0 : bias[m]);
  }
  for (; n < N; n++) for (let m = 0; m < M; m++) out[n * M + m] = dot(a, n * K, w, m * K, K, bias === null ? 0 : bias[m]);
}

function dot(a: Float64Array, ao: number, b: Float64Array, bo: number, K: number, init: number): number {
  let s = init;
  for (let k = 0; k < K; k++) s += a[ao + k] * b[bo + k];
  return s;
}

const TWO_OVER_SQRT_PI = 1.1283791670955126; // 2 / sqrt(pi)
const INV_SQRT_PI = 0.5641895835477563;      // 1 / sqrt(pi)

/** exp(-x * x) without the rounding of x * x: x = hi + lo with hi of 24 bits, so hi * hi is exact. */
function expNegSquare(x: number): number {
  const hi = Math.fround(x);
  const lo = x - hi;
  return Math.exp(-hi * hi) * Math.exp(-lo * (x + hi));
}

/**
 * Error function to float64 accuracy: |error| < 2e-15 against glibc's erf on 22,000 points in [-8, 8]
 * (spot values in test/ref.test.ts).
 * |x| < 3: erf(x) = 2/sqrt(pi) e^{-x²} Σ_n x (2x²)^n / (2n+1)!!, all terms positive (no cancellation).
 * 3 <= |x| < 6: erf = 1 - erfc, erfc(x) = e^{-x²}/sqrt(pi) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))),
 * the continued fraction evaluated bottom-up; erfc < 2.3e-5 there, so its relative error barely matters.
 * |x| >= 6: erfc(6) = 2e-17 rounds away, erf = ±1.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    const x2 = 2 * ax * ax;
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= x2 / (2 * n + 1);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    const r = TWO_OVER_SQRT_PI * expNegSquare(ax) * sum;
    return x < 0 ? -r : r;
  }
  if (ax >= 6) return x < 0 ? -1 : 1;
  let f = ax; // tail of the continued fraction, 60 levels deep (converged well below 1e-16 for ax >= 3)
  for (let n = 60; n >= 1; n--) f = ax + (n / 2) / f;
  const erfc = INV_SQRT_PI * expNegSquare(ax) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** Exact GELU, as torch's: x · ½(1 + erf(x / sqrt 2)). */
export function geluForward(
  out: Float64Array, // (N)
  inp: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + erf(x * Math.SQRT1_2));
  }
}

const INV_SQRT_2PI = 0.3989422804014327; // 1 / sqrt(2 pi)

/** dinp = dout · (Φ(x) + x φ(x)). */
export function geluBackward(
  dinp: Float64Array, // (N)
  inp: Float64Array,  // (N) the forward's input
  dout: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    const cdf = 0.5 * (1 + erf(x * Math.SQRT1_2));
    const pdf = INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    dinp[i] = dout[i] * (cdf + x * pdf);
  }
}

/**
 * Multi-head self-attention core: probs = softmax_keys(q·k / sqrt(hs) + maskAdd), out = probs · v,
 * heads concatenated (channel h * hs + d). q, k, v come fused as (B, T, 3C) (q | k | v), as llm.c does.
 * Padding: maskAdd is 0 for tokens and -Infinity for padded keys, so padded keys get probability exactly 0.
 * transformers adds torch.finfo(float64).min instead; exp(s + min - max) underflows to exactly 0 too, so the
 * two agree bit for bit on every row with at least one real key (the [CLS] key always is one). A row whose
 * keys are all masked would give zeros here, not transformers' uniform average; it cannot occur in BERT input.
 */
export function attentionForward(
  out: Float64Array,     // (B, T, C)
  probs: Float64Array,   // (B, NH, T, T) saved for backward: [b, h, query, key]
  qkv: Float64Array,     // (B, T, 3C)
  maskAdd: Float64Array, // (B, T) additive key mask: 0 or -Infinity
  B: number, T: number, C: number, NH: number,
): void {
  const hs = C / NH, C3 = 3 * C, scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * C3 + h * hs;
        const po = ((b * NH + h) * T + t) * T;
        let max = -Infinity;
        for (let t2 = 0; t2 < T; t2++) {
          const ko = (b * T + t2) * C3 + C + h * hs;
          let s = 0;
          for (let d = 0; d < hs; d++) s += qkv[qo + d] * qkv[ko + d];
          s = s * scale + maskAdd[b * T + t2];
          probs[po + t2] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let t2 = 0; t2 < T; t2++) {
          const e = max === -Infinity ? 0 : Math.exp(probs[po + t2] - max);
          probs[po + t2] = e;
          sum += e;
        }
        const inv = sum === 0 ? 0 : 1 / sum;
        for (let t2 = 0; t2 < T; t2++) probs[po + t2] *= inv;
        const oo = (b * T + t) * C + h * hs;
        for (let d = 0; d < hs; d++) out[oo + d] = 0;
        for (let t2 = 0; t2 < T; t2++) {
          const p = probs[po + t2];
          if (p === 0) continue;
          const vo = (b * T + t2) * C3 + 2 * C + h * hs;
          for (let d = 0; d < hs; d++) out[oo + d] += p * qkv[vo + d];
        }
      }
    }
  }
}

/**
 * dv = probsᵀ · dout; dprobs = dout · vᵀ; dscores = probs ⊙ (dprobs − Σ_keys probs ⊙ dprobs);
 * dq = dscores · k / sqrt(hs); dk = dscoresᵀ · q / sqrt(hs). Masked keys have probs 0, hence no gradient.
 */
export function attentionBackward(
  dqkv: Float64Array,  // (B, T, 3C)
  dout: Float64Array,  // (B, T, C)
  probs: Float64Array, // (B, NH, T, T) from the forward
  qkv: Float64Array,   // (B, T, 3C) from the forward
  B: number, T: number, C: number, NH: number,
): void {
  const hs = C / NH, C3 = 3 * C, scale = 1 / Math.sqrt(hs);
  dqkv.fill(0, 0, B * T * C3);
  const dscores = new Float64Array(T); // (T) one query row at a time
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const po = ((b * NH + h) * T + t) * T;
        const doo = (b * T + t) * C + h * hs;
        let dot = 0;
        for (let t2 = 0; t2 < T; t2++) {
          const vo = (b * T + t2) * C3 + 2 * C + h * hs;
          const p = probs[po + t2];
          let dp = 0;
          for (let d = 0; d < hs; d++) {
            dp += dout[doo + d] * qkv[vo + d];
            dqkv[vo + d] += p * dout[doo + d];
          }
          dscores[t2] = dp;
          dot += p * dp;
        }
        const qo = (b * T + t) * C3 + h * hs;
        for (let t2 = 0; t2 < T; t2++) {
          const ds = probs[po + t2] * (dscores[t2] - dot) * scale;
          if (ds === 0) continue;
          const ko = (b * T + t2) * C3 + C + h * hs;
          for (let d = 0; d < hs; d++) {
            dqkv[qo + d] += ds * qkv[ko + d];
            dqkv[ko + d] += ds * qkv[qo + d];
          }
        }
      }
    }
  }
}

/**
 * The attention of the first TQ queries of each sequence (TQ = T: every token, as attentionForward; TQ = 1: the
 * [CLS] rows alone, as the last layer needs) against all T keys, as the GPU class's fused kernels compute it
 * (shaders/attention/flash_forward.wgsl): out (B·TQ, C) and the row log-sum-exp of the scaled, masked scores,
 * lse = log Σ_keys exp(s), which the fused backward keeps instead of the probabilities.
 */
export function attentionRowsForward(
  out: Float64Array,     // (B, TQ, C)
  lse: Float64Array,     // (B, NH, TQ) saved for backward
  qkv: Float64Array,     // (B, T, 3C)
  maskAdd: Float64Array, // (B, T) additive key mask: 0 or -Infinity
  B: number, T: number, C: number, NH: number, TQ: number,
): void {
  const hs = C / NH, C3 = 3 * C, scale = 1 / Math.sqrt(hs);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < TQ; t++) {
        const qo = (b * T + t) * C3 + h * hs;
        let max = -Infinity;
        for (let t2 = 0; t2 < T; t2++) {
          const ko = (b * T + t2) * C3 + C + h * hs;
          let x = 0;
          for (let d = 0; d < hs; d++) x += qkv[qo + d] * qkv[ko + d];
          s[t2] = x * scale + maskAdd[b * T + t2];
          if (s[t2] > max) max = s[t2];
        }
        let sum = 0;
        for (let t2 = 0; t2 < T; t2++) sum += max === -Infinity ? 0 : Math.exp(s[t2] - max);
        lse[(b * NH + h) * TQ + t] = max + Math.log(sum);
        const oo = (b * TQ + t) * C + h * hs;
        for (let d = 0; d < hs; d++) out[oo + d] = 0;
        for (let t2 = 0; t2 < T; t2++) {
          const p = max === -Infinity ? 0 : Math.exp(s[t2] - max) / sum;
          if (p === 0) continue;
          const vo = (b * T + t2) * C3 + 2 * C + h * hs;
          for (let d = 0; d < hs; d++) out[oo + d] += p * qkv[vo + d];
        }
      }
    }
  }
}

/**
 * The backward of attentionRowsForward: dqkv (B, T, 3C) from dout (B, TQ, C), the probabilities recomputed here;
 * dq is 0 for tokens TQ..T−1 (no query there), padded keys get no k or v gradient.
 */
export function attentionRowsBackward(
  dqkv: Float64Array,    // (B, T, 3C)
  dout: Float64Array,    // (B, TQ, C)
  qkv: Float64Array,     // (B, T, 3C)
  maskAdd: Float64Array, // (B, T)
  B: number, T: number, C: number, NH: number, TQ: number,
): void {
  const probs = new Float64Array(B * NH * T * T), full = new Float64Array(B * T * C);
  attentionForward(full, probs, qkv, maskAdd, B, T, C, NH);
  const dfull = new Float64Array(B * T * C); // dout at the first TQ tokens of each sequence, 0 elsewhere
  for (let b = 0; b < B; b++) dfull.set(dout.subarray(b * TQ * C, (b + 1) * TQ * C), b * T * C);
  attentionBackward(dqkv, dfull, probs, qkv, B, T, C, NH);
}

/** Elementwise tanh (the pooler's activation). */
export function tanhForward(
  out: Float64Array, // (N)
  inp: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) out[i] = Math.tanh(inp[i]);
}

/** ReLU (DistilBERT's head): out = max(inp, 0). */
export function reluForward(
  out: Float64Array, // (N)
  inp: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) out[i] = Math.max(inp[i], 0);
}

/** dinp = dout · [inp > 0], from the forward's input. */
export function reluBackward(
  dinp: Float64Array, // (N)
  inp: Float64Array,  // (N) the forward's input
  dout: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) dinp[i] = inp[i] > 0 ? dout[i] : 0;
}

/** dinp = dout · (1 − out²), from the forward's output. */
export function tanhBackward(
  dinp: Float64Array, // (N)
  out: Float64Array,  // (N) the forward's output
  dout: Float64Array, // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) dinp[i] = dout[i] * (1 - out[i] * out[i]);
}

/** Residual connection: out = inp1 (the branch) + inp2 (the residual stream). */
export function residualForward(
  out: Float64Array,  // (N)
  inp1: Float64Array, // (N) branch output
  inp2: Float64Array, // (N) residual stream
  N: number,
): void {
  for (let i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

/**
 * The residual add's backward. The branch's gradient is dout itself (callers alias it, no copy); the stream's
 * gradient is added here with `+=`, after the branch's own backward has written that buffer with `=`.
 */
export function residualBackward(
  dinp2: Float64Array, // (N) gradient of the residual stream, accumulated
  dout: Float64Array,  // (N)
  N: number,
): void {
  for (let i = 0; i < N; i++) dinp2[i] += dout[i];
}

/** Column mask (FFN pruning): out[n, c] = inp[n, c] · mask[c]; may run in place (out === inp). */
export function maskForward(
  out: Float64Array,  // (N, C)
  inp: Float64Array,  // (N, C)
  mask: Float64Array, // (C) 1 keep, 0 prune
  N: number, C: number,
): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) out[n * C + c] = inp[n * C + c] * mask[c];
}

export function maskBackward(
  dinp: Float64Array, // (N, C)
  dout: Float64Array, // (N, C)
  mask: Float64Array, // (C)
  N: number, C: number,
): void {
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) dinp[n * C + c] = dout[n * C + c] * mask[c];
}

/** The pooler's input: the hidden state of the first token ([CLS]) of every sequence. */
export function firstTokenForward(
  out: Float64Array, // (B, C)
  inp: Float64Array, // (B, T, C)
  B: number, T: number, C: number,
): void {
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) out[b * C + c] = inp[b * T * C + c];
}

/** Scatters the gradient back to token 0; every other token gets 0. */
export function firstTokenBackward(
  dinp: Float64Array, // (B, T, C)
  dout: Float64Array, // (B, C)
  B: number, T: number, C: number,
): void {
  dinp.fill(0, 0, B * T * C);
  for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) dinp[b * T * C + c] = dout[b * C + c];
}
