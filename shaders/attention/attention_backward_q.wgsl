// attention_backward_q: first half of the attention backward, one workgroup per (query i, head h, seq b):
//   dp(i, j) = dout_i · v_j,  ds(i, j) = p(i, j) · (dp(i, j) − Σ_j' p(i, j') dp(i, j'))   (softmax backward)
//   dq_i = scale · Σ_j ds(i, j) k_j
// Writes ds (B, NH, T, T) for attention_backward_kv and the q part of dqkv (B·T, 3C).
// Bindings: dout (B·T, C), probs (B, NH, T, T) saved by the forward, qkv (B·T, 3C), dS (B, NH, T, T),
// dqkv (B·T, 3C), Params. Padded keys have p = 0, so ds = 0 there.
#include "common/reduce.wgsl"

struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> dS: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override MAX_T: u32 = 512u;
var<workgroup> sc: array<f32, MAX_T>;
var<workgroup> dos: array<f32, 128>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = wg.x;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  for (var d = lid; d < p.HS; d += WG) { dos[d] = dout[(b * p.T + i) * p.C + h * p.HS + d]; }
  workgroupBarrier();
  let prow = ((b * p.NH + h) * p.T + i) * p.T;
  var acc = 0.0;
  for (var j = lid; j < p.T; j += WG) {
    let pj = probs[prow + j];
    var dp = 0.0;
    if (pj != 0.0) {
      let vrow = (b * p.T + j) * C3 + 2u * p.C + h * p.HS;
      for (var d = 0u; d < p.HS; d++) { dp = fma(dos[d], qkv[vrow + d], dp); }
    }
    sc[j] = dp;
    acc += pj * dp;
  }
  let pdp = wg_sum(acc, lid);
  for (var j = lid; j < p.T; j += WG) {
    let v = probs[prow + j] * (sc[j] - pdp);
    sc[j] = v;
    dS[prow + j] = v;
  }
  workgroupBarrier();
  for (var d = lid; d < p.HS; d += WG) {
    var a = 0.0;
    for (var j = 0u; j < p.T; j++) {
      a = fma(sc[j], qkv[(b * p.T + j) * C3 + p.C + h * p.HS + d], a);
    }
    dqkv[(b * p.T + i) * C3 + h * p.HS + d] = a * p.scale;
  }
}
