// conductance_cpu: the CPU class of conductance.wgsl (same bindings, params, override constants and the same
// arithmetic per element, so the same bits): out(t, u) += Σ_{k in chunk, k ≥ 1} (y_k − y_{k−1}) · (WR · g_k + WL · g_{k−1}),
// the previous chunk's last (y, g) carried in `carry`; Y_GELU: y = gelu(saved pre-activation); STRIDE > 1: every
// STRIDE-th point only (see conductance.wgsl). Shaped for software WebGPU (lavapipe), where every storage load costs
// a masked load per lane: each invocation handles 4 consecutive elements with vec4 loads (4× fewer loads).
// Needs R % 4 == 0, outOff % 4 == 0 and 16-byte aligned views (the host checks).
// Bindings: y (P, R/4), g (P, R/4), out ((outOff + R)/4), carry (2, R/4), Params.
#include "common/gelu.wgsl"

struct Params { R: u32, k0: u32, count: u32, outOff: u32, rowOff: u32, wr: f32, wl: f32 }

@group(0) @binding(0) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> carry: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> p: Params;

override Y_GELU: bool = false;
override STRIDE: u32 = 1u;

fn yv(i: u32) -> vec4f {
  let v = y[i];
  if (Y_GELU) { return vec4f(gelu(v.x), gelu(v.y), gelu(v.z), gelu(v.w)); }
  return v;
}

// a weight of 0 never reads its gradient: the point may have had no backward (src/ig/engine.ts skips it)
fn wg(x: vec4f, w: f32) -> vec4f {
  if (w == 0.0) { return vec4f(0.0); }
  return w * x;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let R4 = p.R / 4u;
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= R4) { return; }
  var py = carry[r];
  var pg = carry[R4 + r];
  var acc = vec4f(0.0);
  for (var b = 0u; b < p.count; b++) {
    if (STRIDE > 1u && (p.k0 + b) % STRIDE != 0u) { continue; }
    let yb = yv((p.rowOff + b) * R4 + r);
    let gb = g[(p.rowOff + b) * R4 + r];
    if (p.k0 + b >= STRIDE) { acc += (yb - py) * (wg(gb, p.wr) + wg(pg, p.wl)); }
    py = yb;
    pg = gb;
  }
  out[p.outOff / 4u + r] += acc;
  carry[r] = py;
  carry[R4 + r] = pg;
}
