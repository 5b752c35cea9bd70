// cell_mean: the mean score of every unit of one (dataset, label) cell, straight from its fixed-point
// accumulator (shaders/ig/aggregate.wgsl): mean[u] = S_u · 2^-40 / count, S_u the 96-bit two's-complement
// integer in words (w0, w1, w2) = acc[(accOff + u) · 6 + which · 3 ..] (which 0: sum, 1: sum of squares).
// Bindings: acc (accOff + R, 6) u32, mean (R) f32, Params. One thread per unit.
// Numeric note: correctly rounded (nearest, ties to even). |S| is normalised to 96 bits (leading one at bit
// 95), divided by count bit by bit in integers (restoring long division, remainder < count < 2^31), and the
// first 25 quotient bits plus a sticky bit (any later quotient bit or a non-zero remainder) are rounded to a
// 24-bit significand, which is written into the f32 bits directly. No float operation touches the value, so
// neither flush-to-zero nor an approximate divide can change it. Range: |S| < 2^95 and count ≥ 1 give
// 2^-71 ≤ |mean| < 2^55, always a normal f32; S = 0 gives +0.
struct Params { R: u32, count: u32, which: u32, accOff: u32 }

@group(0) @binding(0) var<storage, read_write> acc: array<u32>;
@group(0) @binding(1) var<storage, read_write> mean: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// Bit i (0 = most significant) of the 96-bit value (w[2] w[1] w[0]).
fn bit_at(w: array<u32, 3>, i: u32) -> u32 {
  var word = w[0];
  if (i < 32u) { word = w[2]; } else if (i < 64u) { word = w[1]; }
  return (word >> (31u - (i % 32u))) & 1u;
}

fn decode_mean(base: u32, count: u32) -> f32 {
  var w0 = acc[base];
  var w1 = acc[base + 1u];
  var w2 = acc[base + 2u];
  let neg = (w2 & 0x80000000u) != 0u;
  if (neg) {                                    // |S|: two's complement negation over 96 bits (exact)
    w0 = ~w0; w1 = ~w1; w2 = ~w2;
    w0 += 1u;
    if (w0 == 0u) { w1 += 1u; if (w1 == 0u) { w2 += 1u; } }
  }
  if ((w0 | w1 | w2) == 0u) { return 0.0; }
  // Normalise: shift left by lz so that the leading one sits at bit 95 (word moves first, then bits).
  var lz = 0u;
  if (w2 == 0u) { w2 = w1; w1 = w0; w0 = 0u; lz = 32u; }
  if (w2 == 0u) { w2 = w1; w1 = 0u; lz = 64u; }
  let s = countLeadingZeros(w2);
  if (s > 0u) {
    w2 = (w2 << s) | (w1 >> (32u - s));
    w1 = (w1 << s) | (w0 >> (32u - s));
    w0 = w0 << s;
  }
  lz += s;
  let d = array<u32, 3>(w0, w1, w2);
  // Long division d / count, quotient bits most significant first. The quotient is ≥ 2^95 / 2^31, so its
  // leading one comes at some i0 ≤ 31 and the 25 bits i0 .. i0+24 exist.
  var r = 0u;
  var i0 = 96u;        // position of the leading quotient one
  var m = 0u;          // 25 collected bits: 24-bit significand and the guard bit
  var sticky = 0u;
  for (var i = 0u; i < 96u; i++) {
    r = (r << 1u) | bit_at(d, i);               // r < count < 2^31 before the shift: no overflow
    var q = 0u;
    if (r >= count) { r -= count; q = 1u; }
    if (i0 == 96u && q == 1u) { i0 = i; }
    if (i0 != 96u) {
      if (i < i0 + 25u) { m = (m << 1u) | q; } else { sticky |= q; }
    }
  }
  sticky |= select(0u, 1u, r != 0u);
  var sig = m >> 1u;
  let guard = m & 1u;
  if (guard == 1u && (sticky == 1u || (sig & 1u) == 1u)) { sig += 1u; }
  // value = sig · 2^(95 − i0 − 23) · 2^(−lz) · 2^−40, sig in [2^23, 2^24]: exponent of the leading bit below.
  var e = i32(55u) - i32(i0) - i32(lz);
  if (sig == 0x1000000u) { sig = 0x800000u; e += 1; } // rounding carried into a new bit
  let bits = select(0u, 0x80000000u, neg) | (u32(e + 127) << 23u) | (sig & 0x7fffffu);
  return bitcast<f32>(bits);
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = gid.x + gid.y * nwg.x * 256u;
  if (u >= p.R) { return; }
  mean[u] = decode_mean((p.accOff + u) * 6u + p.which * 3u, p.count);
}
