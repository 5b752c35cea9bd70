/**
 * Small statistics and a seeded PRNG shared by the analysis modules (schemes, pruning). Plain arrays only.
 *
 * PRNG: xoshiro128** (Blackman and Vigna), state seeded from one 32-bit integer through splitmix32, so the same
 * seed gives the same stream on every platform. `int(n)` is unbiased (rejection of the short last bucket), which
 * matters for uniform random pruning sets and bootstrap resamples.
 */
import { UserError } from '../util/errors.ts';

/** splitmix32 step: a well-mixed 32-bit value from a 32-bit counter (used only to fill xoshiro's state). */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Seeded xoshiro128** generator. */
export class Rng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new UserError(`random seed ${seed} is not an integer; give an integer seed`);
    let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32); // fold 53 bits into 32
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      this.s[i] = splitmix32(x);
    }
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // the all-zero state is a fixed point
  }

  /** Next uniform 32-bit unsigned integer. */
  uint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.uint32() / 2 ** 32;
  }

  /** Uniform integer in [0, n), n in [1, 2^32], without modulo bias. */
  int(n: number): number {
    if (!(Number.isInteger(n) && n >= 1 && n <= 2 ** 32)) throw new UserError(`random int range ${n} is not an integer in [1, 2^32]; this is a bug in the caller`);
    const limit = 2 ** 32 - (2 ** 32 % n); // accept draws below the largest multiple of n
    for (;;) {
      const x = this.uint32();
      if (x < limit) return x % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Mean and standard deviation of a list of numbers. */
export interface Summary {
  mean: number;
  /** sample standard deviation (n − 1 in the denominator); 0 when n < 2 */
  std: number;
  n: number;
}

/** Mean and sample std (n − 1); an empty list gives NaN mean. */
export function summarise(values: ArrayLike<number>): Summary {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: 0, n: 0 };
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, std: n > 1 ? Math.sqrt(ss / (n - 1)) : 0, n };
}

/**
 * z-scores over the entries of one vector: (v − mean) / std with the population std (n in the denominator).
 * A constant vector (std 0) gives all zeros.
 */
export function zScores(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  let s = 0;
  for (let i = 0; i < n; i++) s += v[i];
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (v[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  if (std === 0) return out;
  for (let i = 0; i < n; i++) out[i] = (v[i] - mean) / std;
  return out;
}

// ---------------------------------------------------------------- rank correlation

function checkPair(x: ArrayLike<number>, y: ArrayLike<number>, what: string): number {
  if (x.length !== y.length) throw new UserError(`${what}: vectors of ${x.length} and ${y.length} entries; correlate rankings of the same units`);
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) || Number.isNaN(y[i])) throw new UserError(`${what}: entry ${i} is NaN; check the scores (a NaN there usually means an overflow upstream)`);
  }
  return x.length;
}

/** Ranks 1..n of the values, ascending; tied values share the mean of their ranks. */
export function averageRanks(v: ArrayLike<number>): Float64Array {
  const n = v.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && v[order[j]] === v[order[i]]) j++;
    const mean = (i + 1 + j) / 2; // ranks i+1 .. j
    for (let k = i; k < j; k++) r[order[k]] = mean;
    i = j;
  }
  return r;
}

/**
 * Spearman's ρ: the Pearson correlation of the average ranks (ties get the mean of their ranks). NaN when either
 * vector is constant (or n < 2): no ranking to correlate. O(n log n).
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = checkPair(x, y, 'Spearman rho');
  if (n < 2) return NaN;
  const rx = averageRanks(x), ry = averageRanks(y);
  const m = (n + 1) / 2; // the mean rank, ties or not
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const a = rx[i] - m, b = ry[i] - m;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Pairs among runs of equal values in a sorted order: Σ t(t − 1)/2 over the runs of ties. */
function tiedPairs(n: number, same: (i: number) => boolean): number {
  let t = 0;
  for (let i = 1, run = 1; i <= n; i++) {
    if (i < n && same(i)) run++;
    else { t += (run * (run - 1)) / 2; run = 1; }
  }
  return t;
}

/**
 * Kendall's τ-b, (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)), n0 = n(n − 1)/2, n1 and n2 the pairs tied
 * in x and in y. Knight's O(n log n) algorithm: sort by (x, y), count the ties in x and in (x, y), then count the
 * discordant pairs as the swaps of a merge sort of y in that order. NaN when either vector is constant (or n < 2).
 */
export function kendallTauB(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = checkPair(x, y, 'Kendall tau');
  if (n < 2) return NaN;
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || y[a] - y[b]);
  const n1 = tiedPairs(n, (i) => x[order[i]] === x[order[i - 1]]);
  const n3 = tiedPairs(n, (i) => x[order[i]] === x[order[i - 1]] && y[order[i]] === y[order[i - 1]]);
  // merge sort of y (in x order), counting the pairs i < j with y_i > y_j: the discordant pairs (ties in x are
  // sorted by y, so they add no swap)
  let a = Float64Array.from(order, (i) => y[i]);
  let b = new Float64Array(n);
  let swaps = 0;
  for (let w = 1; w < n; w *= 2) {
    for (let lo = 0; lo < n; lo += 2 * w) {
      const mid = Math.min(lo + w, n), hi = Math.min(lo + 2 * w, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (a[j] < a[i]) { b[k++] = a[j++]; swaps += mid - i; } else b[k++] = a[i++];
      }
      while (i < mid) b[k++] = a[i++];
      while (j < hi) b[k++] = a[j++];
    }
    [a, b] = [b, a];
  }
  const n2 = tiedPairs(n, (i) => a[i] === a[i - 1]); // a is y sorted
  const n0 = (n * (n - 1)) / 2;
  const denom = Math.sqrt((n0 - n1) * (n0 - n2));
  // concordant − discordant = n0 − n1 − n2 + n3 − 2 · discordant
  return denom === 0 ? NaN : (n0 - n1 - n2 + n3 - 2 * swaps) / denom;
}
