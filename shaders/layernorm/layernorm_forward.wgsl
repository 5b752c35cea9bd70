// layernorm_forward: out = (s - mean) · rstd · gamma + beta, with s = a + b (HAS_RES) or s = a.
// One workgroup per row. Two-pass statistics: mean first, then Σ (s - mean)².
// Bindings: a (rows, C), b (rows, C), gamma (C), beta (C), out (rows, C), s (rows, C), stats (rows, 2), Params.
// Saves for backward: s (the normalised input; written only when HAS_RES, else it is `a` itself) and
// stats = (mean, rstd) per row.
#include "common/reduce.wgsl"

struct Params { rows: u32, C: u32, eps: f32 }

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> s: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override HAS_RES: bool = true;

fn inp(i: u32) -> f32 {
  if (HAS_RES) { return a[i] + b[i]; }
  return a[i];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let base = row * p.C;
  var acc = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let v = inp(base + c);
    if (HAS_RES) { s[base + c] = v; }
    acc += v;
  }
  let mean = wg_sum(acc, lid) / f32(p.C);
  var acc2 = 0.0;
  for (var c = lid; c < p.C; c += WG) {
    let d = inp(base + c) - mean;
    acc2 += d * d;
  }
  let rstd = inverseSqrt(wg_sum(acc2, lid) / f32(p.C) + p.eps);
  for (var c = lid; c < p.C; c += WG) {
    out[base + c] = (inp(base + c) - mean) * rstd * gamma[c] + beta[c];
  }
  if (lid == 0u) {
    stats[row * 2u] = mean;
    stats[row * 2u + 1u] = rstd;
  }
}
