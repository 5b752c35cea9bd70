// layernorm_backward_cpu: the CPU class of layernorm_backward.wgsl (same bindings, params, results within f32
// rounding): x̂ = (s − mean) · rstd, g = gamma · dout, ds = rstd · (g − mean(g) − x̂ · mean(g · x̂)).
// Shaped for software WebGPU: one workgroup of {{L}} lanes (one subgroup) per row, each lane reading every
// {{L}}th vec4 of the row; the sums by subgroupAdd (no workgroup memory, no barriers).
// Needs C % 4 == 0, 16-byte aligned dout, s, gamma, ds and subgroups of at least {{L}} lanes (the host checks).
// A template (src/gpu/template.ts): L = 8 (variant sg8, lavapipe) or 4 (sg4, SwiftShader's 4-lane subgroups);
// src/kernels/layernorm.ts `LAYERNORM_BACKWARD_CPU`.
// Bindings: dout (rows, C/4), s (rows, C/4), gamma (C/4), stats (rows, 2) = (mean, rstd), ds (rows, C/4), Params.
enable subgroups;

struct Params { rows: u32, C: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> dout: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> s: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> gamma: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> ds: array<vec4<f32>>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size({{L}})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; } // uniform per workgroup
  let C4 = p.C / 4u;
  let base = row * C4;
  let mean = stats[row * 2u];
  let rstd = stats[row * 2u + 1u];
  var sg = vec4f(0.0);
  var sgx = vec4f(0.0);
  for (var c = lane; c < C4; c += {{L}}u) {
    let g = gamma[c] * dout[base + c];
    sg += g;
    sgx += g * (s[base + c] - vec4f(mean)) * rstd;
  }
  let mg = subgroupAdd((sg.x + sg.y) + (sg.z + sg.w)) / f32(p.C);
  let mgx = subgroupAdd((sgx.x + sgx.y) + (sgx.z + sgx.w)) / f32(p.C);
  for (var c = lane; c < C4; c += {{L}}u) {
    let g = gamma[c] * dout[base + c];
    let xh = (s[base + c] - vec4f(mean)) * rstd;
    ds[base + c] = rstd * (g - vec4f(mg) - xh * mgx);
  }
}
