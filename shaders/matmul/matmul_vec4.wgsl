// matmul_vec4: the tiled matmul of matmul.wgsl (same constants, loop and epilogues) with vec4 loads of the
// inputs: inp and w are bound as vec4<f32> and each load brings 4 consecutive elements along K (along N for w
// when !TRANS_B). Requires K % 4 == 0 (and N % 4 == 0 when !TRANS_B), BK % 4 == 0, BN % 4 == 0 and 16-byte
// aligned binding offsets: the host builder checks and uses matmul.wgsl otherwise. With those, a vec4 is
// either wholly inside the matrix or wholly outside, so bounds are checked per vec4.
// Bindings: inp (M,K/4), w (N,K/4) or (K,N/4), bias (N), mask (N), aux (M,N), out (M,N), out2 (M,N), Params.
// Numerics: identical to matmul.wgsl (the same fma sequence per output).
#include "matmul/epilogue.wgsl"
#include "matmul/tiled.wgsl"

@group(0) @binding(0) var<storage, read_write> inp: array<vec4<f32>>; // (M, K/4)
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;   // (N, K/4) when TRANS_B, else (K, N/4)

/** As[k][m] = inp[row0 + m, k0 + k], Bs[k][n] = B[k0 + k, col0 + n]; zeros outside. */
fn load_tiles(k0: u32, row0: u32, col0: u32, li: u32) {
  let nt = (BM / TM) * (BN / TN);
  let k4 = p.K / 4u;
  let bk4 = BK / 4u;
  for (var e = li; e < BM * bk4; e += nt) {
    let am = e / bk4;
    let ak = (e % bk4) * 4u;
    let gm = row0 + am;
    let gk = k0 + ak;
    var a = vec4(0.0);
    if (gm < p.M && gk < p.K) { a = inp[gm * k4 + gk / 4u]; }
    for (var c = 0u; c < 4u; c++) { As[(ak + c) * BM + am] = a[c]; }
  }
  if (TRANS_B) {
    for (var e = li; e < BN * bk4; e += nt) {
      let bn = e / bk4;
      let bk = (e % bk4) * 4u;
      let gn = col0 + bn;
      let gk = k0 + bk;
      var b = vec4(0.0);
      if (gn < p.N && gk < p.K) { b = w[gn * k4 + gk / 4u]; }
      for (var c = 0u; c < 4u; c++) { Bs[(bk + c) * BN + bn] = b[c]; }
    }
  } else {
    let bn4 = BN / 4u;
    for (var e = li; e < BK * bn4; e += nt) {
      let bk = e / bn4;
      let bn = (e % bn4) * 4u;
      let gk = k0 + bk;
      let gn = col0 + bn;
      var b = vec4(0.0);
      if (gn < p.N && gk < p.K) { b = w[(gk * p.N + gn) / 4u]; }
      for (var c = 0u; c < 4u; c++) { Bs[bk * BN + bn + c] = b[c]; }
    }
  }
}

@compute @workgroup_size(BN / TN, BM / TM)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  tiled(wg, lid, li);
}
