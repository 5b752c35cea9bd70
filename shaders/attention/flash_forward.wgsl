// flash_forward: fused attention forward for the GPU class (flash attention's scheme). For query i < TQ of head h in
// sequence b (query token i; TQ = T, or 1 for the last layer, which needs its [CLS] rows alone):
//   s(i, j) = q_i · k_j · scale over keys j < T with mask(b, j) = 1 (padded keys get p = 0 exactly, as
//   attention_forward.wgsl and transformers' additive finfo.min mask give), out_i = Σ_j softmax_j(s) v_j,
//   lse_i = m_i + log Σ_j exp(s(i, j) − m_i), m_i = max_j s(i, j).
// One workgroup per (tile of BR query rows, head, sequence); keys in tiles of BC: K and V of a tile in workgroup memory
// (read from memory once per BR queries), scores into `ps`, then the online softmax (one invocation per row: running
// max m, running sum l, the accumulator rescaled by exp(m_old − m_new)); invocation (r, c) = (lid / HS4, lid % HS4)
// owns output vec4 c of row r (BR = WG / HS4). Head rows are padded with zeros to HS4 vec4s in workgroup memory.
// Bindings: qkv (B·T, 3C) = [q | k | v] per token, mask (B·T) 1 = token, out (B·TQ, C), lse (B, NH, TQ), Params.
// Saves for backward: out and lse (and qkv, kept by the caller) — not the (B, NH, T, T) probabilities.
// Numerics: fixed summation order (dot products as 4 lanes of vec4 partial sums, keys in order): bit-reproducible.
// Limits: HS ≤ 4·WG (≤ 128 by the builder); workgroup memory 16·HS4·(BR + 2·BC) + 4·BR·BC + 12·BR bytes.
struct Params { B: u32, T: u32, TQ: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256u;
override HS4: u32 = 16u;  // ceil(HS / 4)
override BR: u32 = 16u;   // query rows per workgroup, ≤ WG / HS4
override BC: u32 = 32u;   // keys per tile
const NEG = -3.0e38;      // a masked score (and the running max before any key)

#include "attention/flash_tiles.wgsl"

var<workgroup> qs: array<vec4f, BR * HS4>;
var<workgroup> ks: array<vec4f, BC * HS4>;
var<workgroup> vs: array<vec4f, BC * HS4>;
var<workgroup> ps: array<f32, BR * BC>;
var<workgroup> mrow: array<f32, BR>;
var<workgroup> lrow: array<f32, BR>;
var<workgroup> arow: array<f32, BR>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = wg.x * BR;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  let HSP = 4u * HS4;
  // the Q tile (rows past TQ and columns past HS are zeros); coalesced scalar loads
  for (var e = lid; e < BR * HSP; e += WG) {
    let r = e / HSP;
    let d = e % HSP;
    var x = 0.0;
    if (i0 + r < p.TQ && d < p.HS) { x = qkv[(b * p.T + i0 + r) * C3 + h * p.HS + d]; }
    qs[r * HS4 + d / 4u][d % 4u] = x;
  }
  if (lid < BR) { mrow[lid] = NEG; lrow[lid] = 0.0; }
  let r = lid / HS4;
  let c = lid % HS4;
  var o = vec4f(0.0);
  for (var j0 = 0u; j0 < p.T; j0 += BC) {
    workgroupBarrier(); // the previous tile is read out (and the Q tile written)
    loadKV(lid, b, h, j0);
    workgroupBarrier();
    for (var e = lid; e < BR * BC; e += WG) {
      let rr = e / BC;
      let jj = e % BC;
      var s = NEG;
      if (j0 + jj < p.T && mask[b * p.T + j0 + jj] != 0.0) {
        var acc = vec4f(0.0);
        for (var d = 0u; d < HS4; d++) { acc = fma(qs[rr * HS4 + d], ks[jj * HS4 + d], acc); }
        s = (acc.x + acc.y + acc.z + acc.w) * p.scale;
      }
      ps[e] = s;
    }
    workgroupBarrier();
    if (lid < BR) { // online softmax of row lid over this tile
      let m0 = mrow[lid];
      var mx = m0;
      for (var jj = 0u; jj < BC; jj++) { mx = max(mx, ps[lid * BC + jj]); }
      var sum = 0.0;
      for (var jj = 0u; jj < BC; jj++) {
        let s = ps[lid * BC + jj];
        var e = 0.0;
        if (s != NEG) { e = exp(s - mx); }
        ps[lid * BC + jj] = e;
        sum += e;
      }
      let a = exp(m0 - mx); // 0 when this tile holds the row's first key; 1 while the row has none
      arow[lid] = a;
      lrow[lid] = lrow[lid] * a + sum;
      mrow[lid] = mx;
    }
    workgroupBarrier();
    if (r < BR) {
      var acc = vec4f(0.0);
      for (var jj = 0u; jj < BC; jj++) { acc = fma(vec4f(ps[r * BC + jj]), vs[jj * HS4 + c], acc); }
      o = o * arow[r] + acc;
    }
  }
  let i = i0 + r;
  if (r < BR && i < p.TQ) {
    let l = lrow[r];
    let inv = select(0.0, 1.0 / l, l > 0.0);
    let base = (b * p.TQ + i) * p.C + h * p.HS + 4u * c;
    for (var k = 0u; k < 4u; k++) { if (4u * c + k < p.HS) { out[base + k] = o[k] * inv; } }
    if (c == 0u) { lse[(b * p.NH + h) * p.TQ + i] = mrow[r] + log(l); }
  }
}
