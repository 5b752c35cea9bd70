// matmul: out(M, N) = inp(M, K) · B(K, N) [+ bias(N)], register-tiled; the family's default variant.
//   TRANS_B = true : B is a Linear weight stored (N, K), i.e. out = inp · Wᵀ   (forward of nn.Linear)
//   TRANS_B = false: B is stored (K, N), i.e. dinp = dout · W                  (activation backward)
// Tile BM×BN×BK and per-invocation block TM×TN are override constants (default 64×64×16, 4×4: 256
// invocations, 8 KiB of workgroup memory); the loop is tiled.wgsl, the epilogues (EPI) epilogue.wgsl.
// This kernel loads the tiles one f32 at a time, so any M, N, K work; matmul_vec4.wgsl loads vec4s.
// All storage bindings are read_write (see src/gpu/pipelines.ts: arena views share buffers).
// Bindings: inp (M,K), w, bias (N), mask (N), aux (M,N), out (M,N), out2 (M,N), Params.
// Numerics: f32 fma in K order; sizes need not be multiples of the tile.
#include "matmul/epilogue.wgsl"
#include "matmul/tiled.wgsl"

@group(0) @binding(0) var<storage, read_write> inp: array<f32>; // (M, K)
@group(0) @binding(1) var<storage, read_write> w: array<f32>;   // (N, K) when TRANS_B, else (K, N)

/** As[k][m] = inp[row0 + m, k0 + k], Bs[k][n] = B[k0 + k, col0 + n]; zeros outside. Reads run along K (along N
 * for B when !TRANS_B), the contiguous direction. */
fn load_tiles(k0: u32, row0: u32, col0: u32, li: u32) {
  let nt = (BM / TM) * (BN / TN);
  for (var e = li; e < BM * BK; e += nt) {
    let am = e / BK;
    let gm = row0 + am;
    let gk = k0 + e % BK;
    var a = 0.0;
    if (gm < p.M && gk < p.K) { a = inp[gm * p.K + gk]; }
    As[(e % BK) * BM + am] = a;
  }
  for (var e = li; e < BN * BK; e += nt) {
    var b = 0.0;
    if (TRANS_B) {
      let bn = e / BK;
      let gn = col0 + bn;
      let gk = k0 + e % BK;
      if (gn < p.N && gk < p.K) { b = w[gn * p.K + gk]; }
      Bs[(e % BK) * BN + bn] = b;
    } else {
      let bk = e / BN;
      let gk = k0 + bk;
      let gn = col0 + e % BN;
      if (gn < p.N && gk < p.K) { b = w[gk * p.N + gn]; }
      Bs[bk * BN + e % BN] = b;
    }
  }
}

@compute @workgroup_size(BN / TN, BM / TM)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  tiled(wg, lid, li);
}
