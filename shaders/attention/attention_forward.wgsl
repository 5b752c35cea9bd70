// attention_forward: for query i of head h in sequence b,
//   p(i, j) = softmax_j( q_i · k_j / sqrt(HS) ) over keys j with mask(b, j) = 1 (padded keys get p = 0,
//   as transformers' additive finfo.min mask gives), out_i = Σ_j p(i, j) v_j.
// One workgroup per (i, h, b). Bindings: qkv (B·T, 3C) = [q | k | v] per token, mask (B·T) 1 = token,
// out (B·T, C), probs (B, NH, T, T), Params. Saves for backward: probs (and qkv, kept by the caller).
// Limits: T ≤ MAX_T, HS ≤ 128 (workgroup memory 4·(MAX_T + 128 + WG) bytes).
#include "common/reduce.wgsl"

struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> probs: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override MAX_T: u32 = 512u;
var<workgroup> sc: array<f32, MAX_T>;
var<workgroup> qs: array<f32, 128>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wg.x;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  let qrow = (b * p.T + i) * C3 + h * p.HS;
  for (var d = lid; d < p.HS; d += WG) { qs[d] = qkv[qrow + d]; }
  workgroupBarrier();
  var mx = -3.0e38;
  for (var j = lid; j < p.T; j += WG) {
    var sj = -3.0e38;
    if (mask[b * p.T + j] != 0.0) {
      let krow = (b * p.T + j) * C3 + p.C + h * p.HS;
      var acc = 0.0;
      for (var d = 0u; d < p.HS; d++) { acc = fma(qs[d], qkv[krow + d], acc); }
      sj = acc * p.scale;
    }
    sc[j] = sj;
    mx = max(mx, sj);
  }
  let m = wg_max(mx, lid);
  var sum = 0.0;
  for (var j = lid; j < p.T; j += WG) {
    var e = 0.0;
    if (mask[b * p.T + j] != 0.0) { e = exp(sc[j] - m); }
    sc[j] = e;
    sum += e;
  }
  let inv = 1.0 / wg_sum(sum, lid);
  let prow = ((b * p.NH + h) * p.T + i) * p.T;
  for (var j = lid; j < p.T; j += WG) {
    let pj = sc[j] * inv;
    sc[j] = pj;
    probs[prow + j] = pj;
  }
  workgroupBarrier();
  for (var d = lid; d < p.HS; d += WG) {
    var acc = 0.0;
    for (var j = 0u; j < p.T; j++) {
      acc = fma(sc[j], qkv[(b * p.T + j) * C3 + 2u * p.C + h * p.HS + d], acc);
    }
    out[(b * p.T + i) * p.C + h * p.HS + d] = acc;
  }
}
