// aggregate: adds one pair's attribution vector into a (dataset, label) cell, exactly and in any order:
// each value v is rounded to a fixed-point integer round(v · 2^40) and added, with carries, into a
// 96-bit two's-complement accumulator (3 × u32, little-endian words); so is v². Integer sums do not depend
// on the order of the pairs, which makes a resumed, a sharded-and-merged and an uninterrupted run agree
// bit for bit. Range: |Σ v| < 2^55; resolution 2^-40 ≈ 9.1e-13.
// Bindings: vals (R), acc (R, 6) = (sum w0 w1 w2, sumsq w0 w1 w2), Params. One thread per element.
struct Params { R: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read_write> vals: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

const TWO32: f32 = 4294967296.0;
const SCALE: f32 = 1099511627776.0; // 2^40

// Adds round(v · 2^40) into the accumulator at acc[base .. base+2].
fn add_fixed(base: u32, v: f32) {
  let a = round(abs(v) * SCALE);                 // exact: power-of-two scaling, then an integer
  let hi = floor(a / TWO32);
  var w0 = u32(a - hi * TWO32);                  // exact: fits in 32 bits
  var w1 = u32(hi - floor(hi / TWO32) * TWO32);
  var w2 = u32(floor(hi / TWO32));
  if (v < 0.0) {                                 // two's complement negation over 96 bits
    w0 = ~w0; w1 = ~w1; w2 = ~w2;
    w0 += 1u;
    if (w0 == 0u) { w1 += 1u; if (w1 == 0u) { w2 += 1u; } }
  }
  let s0 = acc[base] + w0;
  let c0 = select(0u, 1u, s0 < w0);
  let t1 = acc[base + 1u] + w1;
  let c1a = select(0u, 1u, t1 < w1);
  let s1 = t1 + c0;
  let c1b = select(0u, 1u, s1 < c0);
  acc[base] = s0;
  acc[base + 1u] = s1;
  acc[base + 2u] = acc[base + 2u] + w2 + c1a + c1b;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 256u;
  if (r >= p.R) { return; }
  let v = vals[r];
  add_fixed(r * 6u, v);
  add_fixed(r * 6u + 3u, v * v);
}
