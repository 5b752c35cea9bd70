// matmul: out(M, N) = inp(M, K) · B(K, N) [+ bias(N)], register-tiled (64×64 tile, 4×4 per thread).
//   TRANS_B = true : B is a Linear weight stored (N, K), i.e. out = inp · Wᵀ   (forward of nn.Linear)
//   TRANS_B = false: B is stored (K, N), i.e. dinp = dout · W                  (activation backward)
// Epilogues (EPI):
//   0: out = acc (+ bias when HAS_BIAS)
//   1: FFN up: pre = (acc + bias) · mask[n]; out = pre, out2 = gelu(pre)   (mask: 1 keep, 0 prune)
//   2: FFN down backward: out = acc · gelu'(aux) · mask[n] (dpre), out2 = acc (dpost); aux = saved pre (M, N)
//   3: residual backward: out = acc + aux (the residual stream's gradient is added, llm.c's `+=` rule)
// All storage bindings are read_write (see src/gpu/pipelines.ts: arena views share buffers).
// Bindings: inp (M,K), w, bias (N), mask (N), aux (M,N), out (M,N), out2 (M,N), Params.
// Numerics: f32 accumulation in K order per 16-wide slice; sizes need not be multiples of the tile.
#include "common/gelu.wgsl"

struct Params { M: u32, N: u32, K: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read_write> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> out2: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override TRANS_B: bool = true;
override HAS_BIAS: bool = true;
override EPI: u32 = 0u;

const BM = 64u;
const BN = 64u;
const BK = 16u;
var<workgroup> As: array<f32, 1024>; // [BK][BM]
var<workgroup> Bs: array<f32, 1024>; // [BK][BN]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    for (var i = 0u; i < 4u; i++) {
      let e = li + i * 256u;
      let am = e / BK;
      let ak = e % BK;
      let gm = row0 + am;
      let gk = k0 + ak;
      var a = 0.0;
      if (gm < p.M && gk < p.K) { a = inp[gm * p.K + gk]; }
      As[ak * BM + am] = a;
      var b = 0.0;
      if (TRANS_B) {
        let gn = col0 + am;
        if (gn < p.N && gk < p.K) { b = w[gn * p.K + gk]; }
        Bs[ak * BN + am] = b;
      } else {
        let bk = e / BN;
        let bn = e % BN;
        let gk2 = k0 + bk;
        let gn = col0 + bn;
        if (gn < p.N && gk2 < p.K) { b = w[gk2 * p.N + gn]; }
        Bs[bk * BN + bn] = b;
      }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, 4>;
      var b: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { a[i] = As[k * BM + lid.y * 4u + i]; }
      for (var j = 0u; j < 4u; j++) { b[j] = Bs[k * BN + lid.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(a[i], b[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = row0 + lid.y * 4u + i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = col0 + lid.x * 4u + j;
      if (n >= p.N) { continue; }
      var v = acc[i * 4u + j];
      if (HAS_BIAS) { v += bias[n]; }
      let idx = m * p.N + n;
      if (EPI == 1u) {
        v *= mask[n];
        out[idx] = v;
        out2[idx] = gelu(v);
      } else if (EPI == 2u) {
        out[idx] = v * gelu_grad(aux[idx]) * mask[n];
        out2[idx] = v;
      } else if (EPI == 3u) {
        out[idx] = v + aux[idx];
      } else {
        out[idx] = v;
      }
    }
  }
}
