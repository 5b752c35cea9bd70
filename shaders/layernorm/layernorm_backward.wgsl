// layernorm_backward: gradient w.r.t. the LayerNorm input s (activation gradient only, no weight grads):
//   x̂ = (s − mean) · rstd, g = gamma · dout,
//   ds = rstd · (g − mean(g) − x̂ · mean(g · x̂))
// With the forward s = a + b (residual), ds is the gradient of both branches.
// One workgroup per row. Bindings: dout (rows, C), s (rows, C), gamma (C), stats (rows, 2) = (mean, rstd)
// saved by layernorm_forward, ds (rows, C), Params.
#include "common/reduce.wgsl"

struct Params { rows: u32, C: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> ds: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.C;
  let mean = stats[row * 2u];
  let rstd = stats[row * 2u + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let g = gamma[c] * dout[base + c];
    sg += g;
    sgx += g * (s[base + c] - mean) * rstd;
  }
  let mg = wg_sum(sg, lid) / f32(p.C);
  let mgx = wg_sum(sgx, lid) / f32(p.C);
  for (var c = lid; c < p.C; c += WG) {
    let g = gamma[c] * dout[base + c];
    let xh = (s[base + c] - mean) * rstd;
    ds[base + c] = rstd * (g - mg - xh * mgx);
  }
}
