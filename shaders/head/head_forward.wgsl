// head_forward: z(b) = Wp · h(b, 0) + bp over the first token ([CLS], <s>), logits(b) = Wc · act(z(b)) + bc, with
// act (override ACT) tanh (0: BERT's pooler, RoBERTa's classifier.dense), exact GELU (1: ELECTRA's head) or ReLU
// (2: DistilBERT's pre_classifier). One workgroup per sequence. Bindings: h (B·T, C), poolW (C, C), poolB (C),
// clsW (NL, C), clsB (NL), pooled (B, C), logits (B, NL), Params. Saves for backward: pooled = z, the activation's
// input. Limits: C ≤ 1024 (workgroup memory).
#include "common/reduce.wgsl"
#include "common/gelu.wgsl"

struct Params { B: u32, T: u32, C: u32, NL: u32 }

@group(0) @binding(0) var<storage, read_write> h: array<f32>;
@group(0) @binding(1) var<storage, read_write> poolW: array<f32>;
@group(0) @binding(2) var<storage, read_write> poolB: array<f32>;
@group(0) @binding(3) var<storage, read_write> clsW: array<f32>;
@group(0) @binding(4) var<storage, read_write> clsB: array<f32>;
@group(0) @binding(5) var<storage, read_write> pooled: array<f32>;
@group(0) @binding(6) var<storage, read_write> logits: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override ACT: u32 = 0u;
var<workgroup> pl: array<f32, 1024>;

fn head_act(z: f32) -> f32 {
  if (ACT == 1u) { return gelu(z); }
  if (ACT == 2u) { return max(z, 0.0); }
  return tanh(clamp(z, -15.0, 15.0)); // clamped: some backends overflow exp in tanh
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let b = wg.x;
  let cls = b * p.T * p.C;
  for (var c = lid; c < p.C; c += WG) {
    var acc = poolB[c];
    for (var k = 0u; k < p.C; k++) { acc = fma(poolW[c * p.C + k], h[cls + k], acc); }
    pl[c] = head_act(acc);
    pooled[b * p.C + c] = acc;
  }
  workgroupBarrier();
  for (var n = 0u; n < p.NL; n++) {
    var acc = 0.0;
    for (var c = lid; c < p.C; c += WG) { acc = fma(clsW[n * p.C + c], pl[c], acc); }
    let s = wg_sum(acc, lid);
    if (lid == 0u) { logits[b * p.NL + n] = s + clsB[n]; }
  }
}
