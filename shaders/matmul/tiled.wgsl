// Shared by matmul.wgsl and matmul_vec4.wgsl (#included): the register-tiled main loop. A workgroup of
// (BN/TN) × (BM/TM) invocations computes a BM×BN tile of out; invocation (x, y) owns the TM×TN block at rows
// y·TM.., columns x·TN... Per BK-wide slice of K the including kernel's `load_tiles` fills As and Bs (zeros
// outside the matrices), then each invocation accumulates its block from them.
// Numerics: one f32 fma per k in K order, whatever the tile sizes, so every variant of this loop gives the same
// bits (padded k add fma(0, 0, acc) = acc). Limits, checked on the host (src/model/kernels/matmul.ts):
// TM, TN ≤ 8; 4·BK·(BM + BN) bytes of workgroup memory; (BM/TM)·(BN/TN) invocations.

override BM: u32 = 64u;
override BN: u32 = 64u;
override BK: u32 = 16u;
override TM: u32 = 4u;
override TN: u32 = 4u;
// derived (never set by the host): workgroup array lengths must be override identifiers
override A_LEN: u32 = BK * BM;
override B_LEN: u32 = BK * BN;
const T_MAX = 8u; // TM, TN ≤ T_MAX: per-invocation arrays have const sizes; the loops run TM and TN long

var<workgroup> As: array<f32, A_LEN>; // [BK][BM]
var<workgroup> Bs: array<f32, B_LEN>; // [BK][BN]

fn tiled(wg: vec3u, lid: vec3u, li: u32) {
  let row0 = wg.y * BM;
  let col0 = wg.x * BN;
  var acc: array<f32, 64>; // [TM][TN], T_MAX²
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    load_tiles(k0, row0, col0, li);
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      var a: array<f32, T_MAX>;
      var b: array<f32, T_MAX>;
      for (var i = 0u; i < TM; i++) { a[i] = As[k * BM + lid.y * TM + i]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[k * BN + lid.x * TN + j]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    let m = row0 + lid.y * TM + i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < TN; j++) {
      let n = col0 + lid.x * TN + j;
      if (n < p.N) { store(m, n, acc[i * TN + j]); }
    }
  }
}
