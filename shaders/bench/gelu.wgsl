// gelu (bench): out[i] = gelu(inp[i]), the exact-erf GELU of common/gelu.wgsl applied elementwise over N floats.
// The memory-bound kernel of bench/gelu.ts and of the page's kernel benchmarks: 8 bytes move per element (read
// 4, write 4), 1 erf per element. The model itself applies GELU fused into the FFN-up matmul (epilogue.wgsl).
// Bindings: inp (N) f32, out (N) f32, Params { N }. One thread per element; the host spreads the workgroups over
// a 2-D grid (src/gpu/pipelines.ts grid), as 16M elements need more than 65535 workgroups along x.
// All storage bindings are read_write (see src/gpu/pipelines.ts: arena views share buffers).
// Numerics: f32; erf by the Chebyshev fit of common/gelu.wgsl (fractional error < 1.2e-7).
#include "common/gelu.wgsl"

struct Params { N: u32, _p0: u32, _p1: u32, _p2: u32 }

override WG: u32 = 256;

@group(0) @binding(0) var<storage, read_write> inp: array<f32>; // (N)
@group(0) @binding(1) var<storage, read_write> out: array<f32>; // (N)
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < p.N) { out[i] = gelu(inp[i]); }
}
