// flash_backward_q: first half of the fused attention backward (FlashAttention-2's split), one workgroup per (tile of
// BR query rows, head, sequence), keys in tiles of BC (K and V of a tile in workgroup memory):
//   D_i = dout_i · out_i (= Σ_j p(i, j) dp(i, j)), written to D for flash_backward_kv,
//   p(i, j) = exp(s(i, j) − lse_i) recomputed (s as flash_forward.wgsl, padded keys p = 0), dp(i, j) = dout_i · v_j,
//   ds(i, j) = p(i, j) (dp(i, j) − D_i),  dq_i = scale · Σ_j ds(i, j) k_j.
// Queries i < TQ (TQ = T, or 1: the last layer's [CLS] rows); the q part of dqkv is written for every token i < T, 0
// for i ≥ TQ (the qkv backward reads all of it). Invocation (r, c) = (lid / HS4, lid % HS4) owns dq vec4 c of row r.
// Bindings: dout (B·TQ, C), out (B·TQ, C) and lse (B, NH, TQ) saved by the forward, qkv (B·T, 3C), mask (B·T),
// D (B, NH, TQ) written, dqkv (B·T, 3C) (q part written), Params.
// Numerics: no atomics; every sum in a fixed order (bit-reproducible). D sums the row's vec4 partials in order.
struct Params { B: u32, T: u32, TQ: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> D: array<f32>;
@group(0) @binding(6) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override WG: u32 = 256u;
override HS4: u32 = 16u;  // ceil(HS / 4)
override BR: u32 = 16u;   // query rows per workgroup, ≤ WG / HS4
override BC: u32 = 32u;   // keys per tile

var<workgroup> qs: array<vec4f, BR * HS4>;
var<workgroup> dos: array<vec4f, BR * HS4>;
var<workgroup> ks: array<vec4f, BC * HS4>;
var<workgroup> vs: array<vec4f, BC * HS4>;
var<workgroup> dss: array<f32, BR * BC>;
var<workgroup> dpart: array<f32, BR * HS4>;
var<workgroup> lrow: array<f32, BR>;
var<workgroup> drow: array<f32, BR>;

#include "attention/flash_tiles.wgsl"
#include "attention/flash_backward_tiles.wgsl"

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = wg.x * BR;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  let r = lid / HS4;
  let c = lid % HS4;
  var dq = vec4f(0.0);
  if (i0 < p.TQ) { // uniform: a tile of queries (else rows TQ..T−1 of the [CLS]-only layer: dq = 0)
    loadQdO(lid, b, h, i0);
    if (lid < BR) { lrow[lid] = select(0.0, lse[(b * p.NH + h) * p.TQ + i0 + lid], i0 + lid < p.TQ); }
    workgroupBarrier();
    if (r < BR) {
      var o = vec4f(0.0);
      let base = (b * p.TQ + i0 + r) * p.C + h * p.HS + 4u * c;
      if (i0 + r < p.TQ) { for (var k = 0u; k < 4u; k++) { if (4u * c + k < p.HS) { o[k] = out[base + k]; } } }
      let t = dos[r * HS4 + c] * o;
      dpart[r * HS4 + c] = (t.x + t.y) + (t.z + t.w);
    }
    workgroupBarrier();
    if (lid < BR) {
      var s = 0.0;
      for (var cc = 0u; cc < HS4; cc++) { s += dpart[lid * HS4 + cc]; }
      drow[lid] = s;
      if (i0 + lid < p.TQ) { D[(b * p.NH + h) * p.TQ + i0 + lid] = s; }
    }
    for (var j0 = 0u; j0 < p.T; j0 += BC) {
      workgroupBarrier(); // the previous tile is read out (and drow written)
      loadKV(lid, b, h, j0);
      workgroupBarrier();
      for (var e = lid; e < BR * BC; e += WG) {
        let rr = e / BC;
        let jj = e % BC;
        dss[e] = probGrad(b, i0, rr, j0, jj).y;
      }
      workgroupBarrier();
      if (r < BR) {
        var acc = vec4f(0.0);
        for (var jj = 0u; jj < BC; jj++) { acc = fma(vec4f(dss[r * BC + jj]), ks[jj * HS4 + c], acc); }
        dq += acc;
      }
    }
  }
  let i = i0 + r;
  if (r < BR && i < p.T) {
    let base = (b * p.T + i) * C3 + h * p.HS + 4u * c;
    for (var k = 0u; k < 4u; k++) { if (4u * c + k < p.HS) { dqkv[base + k] = dq[k] * p.scale; } }
  }
}
