// weighted_sum: out(r) += Σ_{b < count} w(b) · g(rowOff + b, r) — the quadrature sum of plain IG,
// Σ_k w_k ∇F(α_k), over the points of this chunk (any nodes and weights: Riemann rules, Gauss-Legendre).
// Bindings: g (P, R), w (P) per-row weights, out (R), Params. One thread per element.
struct Params { R: u32, count: u32, rowOff: u32, _p: u32 }

@group(0) @binding(0) var<storage, read_write> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 256u;
  if (r >= p.R) { return; }
  var acc = 0.0;
  for (var b = 0u; b < p.count; b++) { acc = fma(w[p.rowOff + b], g[(p.rowOff + b) * p.R + r], acc); }
  out[r] += acc;
}
