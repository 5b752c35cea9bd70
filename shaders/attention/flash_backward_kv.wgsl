// flash_backward_kv: second half of the fused attention backward (FlashAttention-2's split), one workgroup per (tile of
// BC keys, head, sequence), queries in tiles of BR (Q, dout, lse and D of a tile in workgroup memory):
//   p(i, j) = exp(s(i, j) − lse_i), ds(i, j) = p(i, j) (dout_i · v_j − D_i) recomputed as flash_backward_q.wgsl does,
//   dv_j = Σ_i p(i, j) dout_i,   dk_j = scale · Σ_i ds(i, j) q_i      (queries i < TQ; padded keys: 0 exactly).
// Invocation (jj, c) = (lid / HS4, lid % HS4) owns vec4 c of dk and dv of key j0 + jj (BC = WG / HS4), summed over the
// queries in order: no atomics, bit-reproducible. Runs after flash_backward_q (which writes D).
// Bindings: dout (B·TQ, C), lse (B, NH, TQ), qkv (B·T, 3C), mask (B·T), D (B, NH, TQ), dqkv (B·T, 3C) (k and v
// parts written), Params.
struct Params { B: u32, T: u32, TQ: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> lse: array<f32>;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<storage, read_write> D: array<f32>;
@group(0) @binding(5) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

override WG: u32 = 256u;
override HS4: u32 = 16u;  // ceil(HS / 4)
override BR: u32 = 32u;   // queries per tile
override BC: u32 = 16u;   // keys per workgroup, ≤ WG / HS4

var<workgroup> ks: array<vec4f, BC * HS4>;
var<workgroup> vs: array<vec4f, BC * HS4>;
var<workgroup> qs: array<vec4f, BR * HS4>;
var<workgroup> dos: array<vec4f, BR * HS4>;
var<workgroup> pss: array<f32, BR * BC>;
var<workgroup> dss: array<f32, BR * BC>;
var<workgroup> lrow: array<f32, BR>;
var<workgroup> drow: array<f32, BR>;

#include "attention/flash_tiles.wgsl"
#include "attention/flash_backward_tiles.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j0 = wg.x * BC;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  loadKV(lid, b, h, j0);
  let jj = lid / HS4;
  let c = lid % HS4;
  var dk = vec4f(0.0);
  var dv = vec4f(0.0);
  for (var i0 = 0u; i0 < p.TQ; i0 += BR) {
    workgroupBarrier(); // the previous tile is read out (and the K, V tile written)
    loadQdO(lid, b, h, i0);
    if (lid < BR) {
      let ok = i0 + lid < p.TQ;
      let at = (b * p.NH + h) * p.TQ + i0 + lid;
      lrow[lid] = select(0.0, lse[at], ok);
      drow[lid] = select(0.0, D[at], ok);
    }
    workgroupBarrier();
    for (var e = lid; e < BR * BC; e += WG) {
      let rr = e / BC;
      let kk = e % BC;
      let pd = probGrad(b, i0, rr, j0, kk);
      pss[e] = pd.x;
      dss[e] = pd.y;
    }
    workgroupBarrier();
    if (jj < BC) {
      for (var rr = 0u; rr < BR; rr++) {
        dv = fma(vec4f(pss[rr * BC + jj]), dos[rr * HS4 + c], dv);
        dk = fma(vec4f(dss[rr * BC + jj]), qs[rr * HS4 + c], dk);
      }
    }
  }
  let j = j0 + jj;
  if (jj < BC && j < p.T) {
    let base = (b * p.T + j) * C3 + h * p.HS + 4u * c;
    for (var k = 0u; k < 4u; k++) {
      if (4u * c + k < p.HS) {
        dqkv[base + p.C + k] = dk[k] * p.scale;
        dqkv[base + 2u * p.C + k] = dv[k];
      }
    }
  }
}
