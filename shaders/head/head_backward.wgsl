// head_backward: from logits to the gradient of the relevance F w.r.t. the last hidden states.
//   F = softmax(logits)[1] (TARGET 0, relevant), softmax(logits)[0] (TARGET 1, non-relevant) with 2 labels,
//   or logits[NL-1] (TARGET 2, raw logit; the relevant target of a 1-label model), or −logits[0]
//   (TARGET 3, the non-relevant target of a 1-label model).
//   dlogits = ∂F/∂logits; da = Wcᵀ dlogits; dz = da · act'(z) (ACT as head_forward: tanh 1 − tanh(z)², GELU,
//   ReLU [z > 0]); dh(b, 0) = Wpᵀ dz; dh(b, t > 0) = 0. Also writes F(b).
// One workgroup per sequence. Bindings: logits (B, NL), pooled (B, C) = z, poolW (C, C), clsW (NL, C),
// dh (B·T, C), F (B), Params. Limits: C ≤ 1024.
#include "common/reduce.wgsl"
#include "common/gelu.wgsl"

struct Params { B: u32, T: u32, C: u32, NL: u32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>;
@group(0) @binding(1) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(2) var<storage, read_write> poolW: array<f32>;
@group(0) @binding(3) var<storage, read_write> clsW: array<f32>;
@group(0) @binding(4) var<storage, read_write> dh: array<f32>;
@group(0) @binding(5) var<storage, read_write> F: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

override TARGET: u32 = 0u;
override ACT: u32 = 0u;

fn head_act_grad(z: f32) -> f32 {
  if (ACT == 1u) { return gelu_grad(z); }
  if (ACT == 2u) { return select(0.0, 1.0, z > 0.0); }
  let t = tanh(clamp(z, -15.0, 15.0));
  return 1.0 - t * t;
}
var<workgroup> dpre: array<f32, 1024>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  var dl0 = 0.0;
  var dl1 = 0.0;
  var f = 0.0;
  if (TARGET == 2u) {
    f = logits[b * p.NL + p.NL - 1u];
    if (p.NL == 1u) { dl0 = 1.0; } else { dl1 = 1.0; }
  } else if (TARGET == 3u) {
    f = -logits[b * p.NL];
    dl0 = -1.0;
  } else {
    let l0 = logits[b * 2u];
    let l1 = logits[b * 2u + 1u];
    let mx = max(l0, l1);
    let e0 = exp(l0 - mx);
    let e1 = exp(l1 - mx);
    let p0 = e0 / (e0 + e1);
    let p1 = e1 / (e0 + e1);
    if (TARGET == 0u) { f = p1; dl0 = -p0 * p1; dl1 = p1 * (1.0 - p1); }
    else { f = p0; dl0 = p0 * (1.0 - p0); dl1 = -p0 * p1; }
  }
  for (var c = lid; c < p.C; c += WG) {
    var dp = dl0 * clsW[c];
    if (p.NL == 2u) { dp += dl1 * clsW[p.C + c]; }
    dpre[c] = dp * head_act_grad(pooled[b * p.C + c]);
  }
  workgroupBarrier();
  let row = b * p.T * p.C;
  for (var k = lid; k < p.C; k += WG) {
    var acc = 0.0;
    for (var c = 0u; c < p.C; c++) { acc = fma(poolW[c * p.C + k], dpre[c], acc); }
    dh[row + k] = acc;
  }
  for (var i = p.C + lid; i < p.T * p.C; i += WG) { dh[row + i] = 0.0; }
  if (lid == 0u) { F[b] = f; }
}
