/**
 * mulberry32: a small 32-bit PRNG, uniform in [0, 1), the same stream in Node and in every browser. The one copy the
 * project uses (pair selection, toy checkpoints and collections, benchmark and tuning inputs, tests).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n values uniform in [-scale, scale) from mulberry32(seed). */
export function uniformArray(n: number, seed: number, scale = 1): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * (r() * 2 - 1);
  return out;
}
