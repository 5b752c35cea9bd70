// path_sum: one activation's integrated-gradients sum along the path, from a pair's point store (stash.wgsl),
// the points taken in α order through an index table:
//   out(outOff + r) = Σ_{j=1..n} (y_{k_j} − y_{k_{j−1}}) · (WR · g_{k_j} + WL · g_{k_{j−1}}),   k_j = idx[j · stride]
// where row idx[k] of the store holds the point α = k/m (rows in the order they were evaluated). The same sum as
// conductance.wgsl over all m + 1 points (stride 1) or over every stride-th point (the rule at m/stride: the error
// estimate and Richardson), in one pass; a weight of 0 never reads its gradient (the point may have had no backward).
// Y_GELU: y = gelu(saved pre-activation), for FFN units after the activation.
// vec4 loads: R % 4 == 0, outOff % 4 == 0 and 16-byte aligned views (the host checks).
// Bindings: y (capacity, R/4), g (capacity, R/4), idx (m + 1) u32, out ((outOff + R)/4), Params. One invocation per
// 4 elements.
#include "common/gelu.wgsl"

struct Params { R: u32, n: u32, stride: u32, outOff: u32, wr: f32, wl: f32 }

@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

override Y_GELU: bool = false;

fn yv(i: u32) -> vec4f {
  let v = y[i];
  if (Y_GELU) { return vec4f(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w)); }
  return v;
}

fn gv(i: u32, w: f32) -> vec4f {
  if (w == 0.0) { return vec4f(0.0); }
  return w * g[i];
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let R4 = p.R / 4u;
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= R4) { return; }
  var prev = idx[0] * R4 + r;
  var py = yv(prev);
  var acc = vec4f(0.0);
  for (var j = 1u; j <= p.n; j++) {
    let cur = idx[j * p.stride] * R4 + r;
    let yb = yv(cur);
    acc += (yb - py) * (gv(cur, p.wr) + gv(prev, p.wl));
    py = yb;
    prev = cur;
  }
  out[p.outOff / 4u + r] = acc;
}
