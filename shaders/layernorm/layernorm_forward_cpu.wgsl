// layernorm_forward_cpu: the CPU class of layernorm_forward.wgsl (same bindings, params, results within f32 rounding):
// out = (s − mean) · rstd · gamma + beta, with s = a + b (HAS_RES) or s = a; saves s (HAS_RES) and stats = (mean, rstd).
// Shaped for software WebGPU: one workgroup of {{L}} lanes (one subgroup) per row, each lane reading every
// {{L}}th vec4 of the row; the sums by subgroupAdd (no workgroup memory, no barriers). Two-pass statistics.
// Needs C % 4 == 0, 16-byte aligned a, b, gamma, beta, out, s and subgroups of at least {{L}} lanes (the host checks).
// A template (src/gpu/template.ts): L = 8 (variant sg8, lavapipe) or 4 (sg4, SwiftShader's 4-lane subgroups);
// src/kernels/layernorm.ts `LAYERNORM_FORWARD_CPU`.
// Bindings: a (rows, C/4), b (rows, C/4), gamma (C/4), beta (C/4), out (rows, C/4), s (rows, C/4), stats (rows, 2), Params.
enable subgroups;

struct Params { rows: u32, C: u32, eps: f32 }

@group(0) @binding(0) var<storage, read_write> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> gamma: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> beta: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> s: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

override HAS_RES: bool = true;

fn inp(i: u32) -> vec4f {
  if (HAS_RES) { return a[i] + b[i]; }
  return a[i];
}

@compute @workgroup_size({{L}})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let C4 = p.C / 4u;
  let base = row * C4;
  var acc = vec4f(0.0);
  for (var c = lane; c < C4; c += {{L}}u) {
    let v = inp(base + c);
    if (HAS_RES) { s[base + c] = v; }
    acc += v;
  }
  let mean = subgroupAdd((acc.x + acc.y) + (acc.z + acc.w)) / f32(p.C);
  var acc2 = vec4f(0.0);
  for (var c = lane; c < C4; c += {{L}}u) {
    let d = inp(base + c) - vec4f(mean);
    acc2 += d * d;
  }
  let rstd = inverseSqrt(subgroupAdd((acc2.x + acc2.y) + (acc2.z + acc2.w)) / f32(p.C) + p.eps);
  for (var c = lane; c < C4; c += {{L}}u) {
    out[base + c] = (inp(base + c) - vec4f(mean)) * rstd * gamma[c] + beta[c];
  }
  if (lane == 0u) {
    stats[row * 2u] = mean;
    stats[row * 2u + 1u] = rstd;
  }
}
