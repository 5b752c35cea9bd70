// conductance: accumulates the integrated-gradients sum of one activation along the path, per element:
//   out(t, u) += Σ_{k in chunk, k ≥ 1} (y_k − y_{k−1}) · (WR · g_k + WL · g_{k−1})
// (right rule WR=1, WL=0 — the fixtures' rule; left 0, 1; trapezoid ½, ½). The points k0 .. k0+count−1
// of this chunk are the batch dimension; the last point's (y, g) of the previous chunk is carried in
// `carry`, and this chunk's last point is written back there, so the sum is the same at any chunk size.
// Y_GELU: y = gelu(saved pre-activation), for FFN units after the activation.
// Several pairs may share the batch: this pair's points are rows rowOff .. rowOff+count−1.
// STRIDE > 1: the same sum over the points k ≡ 0 (mod STRIDE) only, steps y_k − y_{k−STRIDE} (the rule at m/STRIDE
// from the same points: the error estimate and Richardson extrapolation); the carry then holds the last such point.
// STRIDE = 1 (the default) is the plain sum, unchanged.
// Bindings: y (P, R) with R = T·U, g (P, R), out (outOff + R), carry (2, R), Params. One thread per element.
#include "common/gelu.wgsl"

struct Params { R: u32, k0: u32, count: u32, outOff: u32, rowOff: u32, wr: f32, wl: f32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> carry: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override Y_GELU: bool = false;
override STRIDE: u32 = 1u;

fn yv(i: u32) -> f32 {
  if (Y_GELU) { return gelu(y[i]); }
  return y[i];
}

// a weight of 0 never reads its gradient: the point may have had no backward (src/ig/engine.ts skips it)
fn wg(x: f32, w: f32) -> f32 {
  if (w == 0.0) { return 0.0; }
  return w * x;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 256u;
  if (r >= p.R) { return; }
  var py = carry[r];
  var pg = carry[p.R + r];
  var acc = 0.0;
  for (var b = 0u; b < p.count; b++) {
    if (STRIDE > 1u && (p.k0 + b) % STRIDE != 0u) { continue; }
    let yb = yv((p.rowOff + b) * p.R + r);
    let gb = g[(p.rowOff + b) * p.R + r];
    if (p.k0 + b >= STRIDE) { acc += (yb - py) * (wg(gb, p.wr) + wg(pg, p.wl)); }
    py = yb;
    pg = gb;
  }
  out[p.outOff + r] += acc;
  carry[r] = py;
  carry[p.R + r] = pg;
}
