// mask: prune masks from a unit list the host chose (the random baselines: src/analysis/pruning.ts
// randomUnits), as src/analysis/pruning.ts maskFromUnits builds them, flat over layers (u = layer · d_ff + n).
//   fill:    mask[u] = 1 for every u < N (keep all).
//   scatter: mask[units[i]] = 0 for i < n (prune the listed units; units ≥ N are ignored, the host checks).
// Bindings: mask (N) f32, units (n) u32, Params. One thread per element.
struct Params { N: u32, n: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> mask: array<f32>;
@group(0) @binding(1) var<storage, read_write> units: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = gid.x + gid.y * nwg.x * 256u;
  if (u < p.N) { mask[u] = 1.0; }
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.n) { return; }
  let u = units[i];
  if (u < p.N) { mask[u] = 0.0; }
}
