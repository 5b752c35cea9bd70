// matmul_subgroup: the matmul family's subgroup variant (needs the `subgroups` feature). Same bindings, B
// layouts (TRANS_B) and epilogues as matmul.wgsl; a different decomposition: split-K across the lanes of a
// subgroup, no workgroup tiles. A workgroup covers a BM×BN tile of out, cut into TM×TN blocks; each subgroup
// claims blocks from a workgroup counter (so nothing assumes how invocations map to subgroups, or the subgroup
// size), its lanes stride over K (lane l takes k ≡ l mod subgroup_size, contiguous reads across lanes), and
// subgroupAdd finishes each of the TM·TN sums. Loops over K run a subgroup-uniform count (lanes past K add
// nothing), so every subgroup op is reached by the whole subgroup; the block loop's exit is subgroup-uniform
// by construction (a broadcast value), which the uniformity analysis cannot see, hence the diagnostic.
// Best for skinny products (small M or N, long K); on square ones it rereads inputs with no reuse.
// Bindings: inp (M,K), w (N,K) or (K,N), bias (N), mask (N), aux (M,N), out (M,N), out2 (M,N), Params.
// Numerics: per-lane partial sums in K order, then a subgroup tree sum: not bitwise equal to matmul.wgsl, within
// f32 rounding of it (the autotuner validates it against the default before timing). TM·TN ≤ 16.
enable subgroups;
diagnostic(off, subgroup_uniformity);
#include "matmul/epilogue.wgsl"

@group(0) @binding(0) var<storage, read_write> inp: array<f32>; // (M, K)
@group(0) @binding(1) var<storage, read_write> w: array<f32>;   // (N, K) when TRANS_B, else (K, N)

override BM: u32 = 8u;
override BN: u32 = 8u;
override TM: u32 = 2u;
override TN: u32 = 2u;
override WG: u32 = 64u;

var<workgroup> next_block: atomic<u32>; // zero-initialised, as all workgroup memory

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32,
        @builtin(subgroup_size) sg: u32) {
  let bx = BN / TN;
  loop {
    var blk = 0u;
    if (subgroupElect()) { blk = atomicAdd(&next_block, 1u); }
    blk = subgroupBroadcastFirst(blk);
    if (blk >= (BM / TM) * bx) { break; }
    let r0 = wg.y * BM + (blk / bx) * TM;
    let c0 = wg.x * BN + (blk % bx) * TN;
    var acc = array<f32, 16>(); // [TM][TN]; zeroed per block explicitly: Dawn on lavapipe kept the previous block's sums
    for (var k0 = 0u; k0 < p.K; k0 += sg) {
      let k = k0 + lane;
      if (k >= p.K) { continue; }
      var a: array<f32, 16>;
      var b: array<f32, 16>;
      for (var i = 0u; i < TM; i++) {
        a[i] = 0.0;
        if (r0 + i < p.M) { a[i] = inp[(r0 + i) * p.K + k]; }
      }
      for (var j = 0u; j < TN; j++) {
        b[j] = 0.0;
        let n = c0 + j;
        if (n < p.N) {
          if (TRANS_B) { b[j] = w[n * p.K + k]; } else { b[j] = w[k * p.N + n]; }
        }
      }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i * TN + j] = fma(a[i], b[j], acc[i * TN + j]); }
      }
    }
    for (var t = 0u; t < TM * TN; t++) {
      let s = subgroupAdd(acc[t]);
      let m = r0 + t / TN;
      let n = c0 + t % TN;
      if (lane == t % sg && m < p.M && n < p.N) { store(m, n, s); }
    }
  }
}
