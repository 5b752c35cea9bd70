// stash: copies this chunk's rows of one activation (or of its gradient) into a pair's point store, where the path
// sums of this and of later, finer passes read them (adaptive m evaluates each point once: src/ig/engine.ts).
//   dst((base + b) · R + r) = src((rowOff + b) · R + r),   b < count, r < R
// A plain copy: the same bits. vec4 loads and stores, so R % 4 == 0 and 16-byte aligned views (the host checks).
// Bindings: src (P, R/4), dst (capacity, R/4), Params. One invocation per 4 elements of a row, the rows in a loop.
struct Params { R: u32, count: u32, rowOff: u32, base: u32 }

@group(0) @binding(0) var<storage, read_write> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let R4 = p.R / 4u;
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= R4) { return; }
  for (var b = 0u; b < p.count; b++) {
    dst[(p.base + b) * R4 + r] = src[(p.rowOff + b) * R4 + r];
  }
}
