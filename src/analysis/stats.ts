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
