// head_mask: x(r, c) ← ξ[c / HS] · x(r, c), in place — the head gates ξ (1 keep, 0 prune) on the attention context
// before the output projection (forward), and on its gradient before the attention backward (∂F/∂c_unmasked = ξ·∂F/∂c).
// Only plans built while the model has a head mask carry it (src/model/forward.ts).
// Bindings: x (rows, C) read-write, mask (NH), Params. One thread per element.
struct Params { rows: u32, C: u32, HS: u32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.rows * p.C) { return; }
  x[i] = mask[(i % p.C) / p.HS] * x[i];
}
