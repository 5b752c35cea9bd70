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
// Bindings: y (P, R) with R = T·U, g (P, R), out (outOff + R), carry (2, R), Params. One invocation per W elements.
// A template (src/gpu/template.ts); its variants are src/kernels/ig.ts `CONDUCTANCE`: 'gpu' (W = 1: one element per
// invocation, 256 per workgroup) and 'cpu', the CPU class, shaped for software WebGPU (lavapipe), where every
// storage load costs a masked load per lane: W = 4 consecutive elements per invocation as one vec4 (4× fewer loads),
// 64 per workgroup, the same arithmetic per element, so the same bits. W = 4 needs R % 4 == 0, outOff % 4 == 0 and
// 16-byte aligned views (the host checks); its bindings hold vec4s (y (P, R/4), …). This one: W = {{W}}.
#include "common/gelu.wgsl"

struct Params { R: u32, k0: u32, count: u32, outOff: u32, rowOff: u32, wr: f32, wl: f32 }

//#if W == 4
alias V = vec4f;
fn gelu_v(x: V) -> V { return vec4f(gelu(x.x), gelu(x.y), gelu(x.z), gelu(x.w)); }
//#else
alias V = f32;
fn gelu_v(x: V) -> V { return gelu(x); }
//#end

@group(0) @binding(0) var<storage, read_write> y: array<V>;
@group(0) @binding(1) var<storage, read_write> g: array<V>;
@group(0) @binding(2) var<storage, read_write> out: array<V>;
@group(0) @binding(3) var<storage, read_write> carry: array<V>;
@group(0) @binding(4) var<uniform> p: Params;

override Y_GELU: bool = false;
override STRIDE: u32 = 1u;

fn yv(i: u32) -> V {
  if (Y_GELU) { return gelu_v(y[i]); }
  return y[i];
}

// a weight of 0 never reads its gradient: the point may have had no backward (src/ig/engine.ts skips it)
fn wg(x: V, w: f32) -> V {
  if (w == 0.0) { return V(0.0); }
  return w * x;
}

@compute @workgroup_size({{256 / W}})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let RW = p.R / {{W}}u; // the row length in Vs
  let r = gid.x + gid.y * nwg.x * {{256 / W}}u;
  if (r >= RW) { return; }
  var py = carry[r];
  var pg = carry[RW + r];
  var acc = V(0.0);
  for (var b = 0u; b < p.count; b++) {
    if (STRIDE > 1u && (p.k0 + b) % STRIDE != 0u) { continue; }
    let yb = yv((p.rowOff + b) * RW + r);
    let gb = g[(p.rowOff + b) * RW + r];
    if (p.k0 + b >= STRIDE) { acc += (yb - py) * (wg(gb, p.wr) + wg(pg, p.wl)); }
    py = yb;
    pg = gb;
  }
  out[p.outOff / {{W}}u + r] += acc;
  carry[r] = py;
  carry[RW + r] = pg;
}
