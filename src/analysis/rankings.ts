/**
 * Rankings of units by a score (mean NIG), pooled over every layer: flat unit index u = layer * dff + neuron.
 * Plain arrays only: this is the reference the GPU selection kernel is tested against.
 *
 * The order, exactly (a GPU version must reproduce it bit for bit):
 * - key(u) = scores[u] (signed, default) or |scores[u]| (`absolute`), as a float64; -0 is read as +0, so a
 *   negative zero and a positive zero tie. A NaN score is an error.
 * - Units are ranked by key descending; equal keys by unit index ascending (lower index ranks first).
 * - The top p% is the first k = topCount(p, N) units of that order: every unit whose key is above the k-th
 *   largest key T (`thresholdValue`), then units whose key equals T, lowest index first, until k are taken.
 *
 * `thresholdValue` is a radix select over the float bits (8 passes of 8 bits over the order-preserving 64-bit key),
 * the same histogram-and-narrow scheme a GPU selection runs (with 4 passes over f32 keys: f32 → f64 is exact
 * and keeps the order, so both find the same unit set on f32 scores). O(N) per pass, no sort.
 */
import { UserError } from '../util/errors.ts';

export interface RankOptions {
  /** rank by |value| instead of the signed value */
  absolute?: boolean;
}

/** The usual cut-offs of the analyses, in percent. */
export const STANDARD_PERCENTS: readonly number[] = [0.1, 0.5, 1, 5, 10];

/**
 * Number of units in the top p% of n: ceil(p / 100 · n), at least 1 when n > 0. A relative guard of 1e-9 absorbs
 * float error, so that 0.1% of 3000 is 3 (0.1 · 3000 / 100 evaluates to 3.0000000000000004 in float64).
 */
export function topCount(p: number, n: number): number {
  if (!(Number.isFinite(p) && p > 0 && p <= 100)) throw new UserError(`top percentage ${p} is outside (0, 100]; give a percentage such as 0.1, 1 or 10`);
  if (n === 0) return 0;
  const x = (p * n) / 100;
  return Math.min(n, Math.max(1, Math.ceil(x - x * 1e-9)));
}

/** The ranking key of every unit (see the header): a float64 copy, |v| when absolute, -0 → +0. */
export function rankKeys(scores: ArrayLike<number>, opts: RankOptions = {}): Float64Array {
  const keys = new Float64Array(scores.length);
  for (let u = 0; u < scores.length; u++) {
    const v = scores[u];
    if (Number.isNaN(v)) throw new UserError(`unit ${u} has a NaN score; check the attributions (a NaN there usually means an overflow upstream)`);
    const k = opts.absolute ? Math.abs(v) : v;
    keys[u] = k === 0 ? 0 : k; // -0 → +0
  }
  return keys;
}

/**
 * Order-preserving unsigned view of float64 keys: (hi, lo) 32-bit words such that unsigned (hi, lo) order equals
 * numeric order. Positive floats get the sign bit set; negative floats get every bit flipped.
 */
function sortableWords(keys: Float64Array): Uint32Array {
  const w = new Uint32Array(keys.buffer.slice(keys.byteOffset, keys.byteOffset + keys.byteLength));
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const hiAt = little ? 1 : 0;
  const out = new Uint32Array(keys.length * 2); // (N, 2): [hi, lo]
  for (let i = 0; i < keys.length; i++) {
    const hi = w[2 * i + hiAt];
    const lo = w[2 * i + 1 - hiAt];
    if (hi & 0x80000000) {
      out[2 * i] = ~hi >>> 0;
      out[2 * i + 1] = ~lo >>> 0;
    } else {
      out[2 * i] = (hi | 0x80000000) >>> 0;
      out[2 * i + 1] = lo;
    }
  }
  return out;
}

/** k-th largest of float64 keys (1-based k) by an 8-bit radix select from the most significant digit. */
function radixSelect(keys: Float64Array, k: number): number {
  const words = sortableWords(keys);
  let cand = new Uint32Array(keys.length);
  for (let i = 0; i < cand.length; i++) cand[i] = i;
  let n = cand.length;
  let rest = k; // rank still to find among the candidates
  const hist = new Uint32Array(256);
  for (let pass = 0; pass < 8; pass++) {
    const word = pass < 4 ? 0 : 1;
    const shift = 24 - 8 * (pass % 4);
    hist.fill(0);
    for (let i = 0; i < n; i++) hist[(words[2 * cand[i] + word] >>> shift) & 0xff]++;
    let digit = 255;
    for (; digit > 0; digit--) {
      if (hist[digit] >= rest) break;
      rest -= hist[digit]; // the whole bucket ranks above the k-th
    }
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (((words[2 * cand[i] + word] >>> shift) & 0xff) === digit) cand[m++] = cand[i];
    }
    n = m;
    if (n === 1) break;
  }
  return keys[cand[0]];
}

/**
 * The k-th largest ranking key (1 ≤ k ≤ N): the threshold of the top-k set. With `absolute` it is a |value|.
 * A zero threshold is always +0.
 */
export function thresholdValue(scores: ArrayLike<number>, k: number, opts: RankOptions = {}): number {
  if (!(Number.isInteger(k) && k >= 1 && k <= scores.length)) {
    throw new UserError(`selection rank k = ${k} is outside [1, ${scores.length}] (the number of units); ask for a rank within the vector`);
  }
  return radixSelect(rankKeys(scores, opts), k);
}

/** The first k units of the ranking order (see the header), returned as a set: unit indices ascending. */
export function topK(scores: ArrayLike<number>, k: number, opts: RankOptions = {}): Uint32Array {
  if (k === 0) return new Uint32Array(0);
  const keys = rankKeys(scores, opts);
  if (!(Number.isInteger(k) && k >= 1 && k <= keys.length)) {
    throw new UserError(`top-k size ${k} is outside [0, ${keys.length}] (the number of units); ask for at most every unit`);
  }
  const t = radixSelect(keys, k);
  let above = 0;
  for (let u = 0; u < keys.length; u++) if (keys[u] > t) above++;
  let ties = k - above; // units at the threshold still to take, lowest index first
  const out = new Uint32Array(k);
  let m = 0;
  for (let u = 0; u < keys.length; u++) {
    if (keys[u] > t) out[m++] = u;
    else if (keys[u] === t && ties > 0) {
      out[m++] = u;
      ties--;
    }
  }
  return out;
}

/** The top p% of units (p in percent, e.g. 0.1) under one global threshold; unit indices ascending. */
export function topUnits(scores: ArrayLike<number>, p: number, opts: RankOptions = {}): Uint32Array {
  return topK(scores, topCount(p, scores.length), opts);
}

/**
 * Every unit in ranking order (best first). rank[u] = 1-based position of u, for rank-based fusion.
 * A comparison sort (N log N): fusion over whole rankings needs every position, not just a threshold.
 */
export function rankPositions(scores: ArrayLike<number>, opts: RankOptions = {}): Uint32Array {
  const keys = rankKeys(scores, opts);
  const order = Array.from({ length: keys.length }, (_, i) => i);
  order.sort((a, b) => keys[b] - keys[a] || a - b);
  const rank = new Uint32Array(keys.length);
  for (let r = 0; r < order.length; r++) rank[order[r]] = r + 1;
  return rank;
}

/** Number of units per layer for flat unit indices u = layer * dff + neuron. */
export function layerDistribution(units: ArrayLike<number>, dff: number, layers: number): number[] {
  const counts = new Array<number>(layers).fill(0);
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (!(Number.isInteger(u) && u >= 0 && u < layers * dff)) {
      throw new UserError(`unit ${u} is outside [0, ${layers * dff}) (${layers} layers x ${dff} neurons); check the layer count and d_ff`);
    }
    counts[Math.floor(u / dff)]++;
  }
  return counts;
}

// ---------------------------------------------------------------- unit sets (sorted Uint32Array, no repeats)

/** Checks that `units` is a set as the functions here return it: strictly ascending indices. */
export function assertUnitSet(units: ArrayLike<number>, what: string): void {
  for (let i = 1; i < units.length; i++) {
    if (!(units[i] > units[i - 1])) throw new UserError(`${what}: unit indices must be strictly ascending (a set), found ${units[i - 1]} then ${units[i]}; sort and deduplicate them`);
  }
}

/** A ∩ B of two ascending sets. */
export function intersect(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out: number[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    if (a[i] === b[j]) { out.push(a[i]); i++; j++; } else if (a[i] < b[j]) i++; else j++;
  }
  return Uint32Array.from(out);
}

/** A \ B of two ascending sets. */
export function difference(a: Uint32Array, b: Uint32Array): Uint32Array {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i++) {
    while (j < b.length && b[j] < a[i]) j++;
    if (j >= b.length || b[j] !== a[i]) out.push(a[i]);
  }
  return Uint32Array.from(out);
}

/** |A ∩ B| of two ascending sets. */
export function sharedCount(a: Uint32Array, b: Uint32Array): number {
  let n = 0;
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    if (a[i] === b[j]) { n++; i++; j++; } else if (a[i] < b[j]) i++; else j++;
  }
  return n;
}
