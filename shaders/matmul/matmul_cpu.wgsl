// matmul, CPU class: out(M, N) = inp(M, K) · B [+ bias(N)], then the epilogue (EPI, as shaders/matmul/epilogue.wgsl).
//   TRANS_B = true : B is W stored (N, K) (nn.Linear forward); false: B stored (K, N) (activation backward).
// A template (src/gpu/template.ts); its variants are src/kernels/matmul-cpu.ts `MATMUL_CPU` (L lanes, R rows,
// SUBGROUPS). This one: L = {{L}}, R = {{R}}, SUBGROUPS = {{SUBGROUPS}}.
// A workgroup of {{L}} invocations computes {{R}} rows × {{4 * L}} columns; invocation c owns columns 4c..4c+3 of the
// tile in {{R}} vec4 accumulators (acc<t> = row t). Per K step of 4:
//#if SUBGROUPS
// lane l reads rows l, l+{{L}}, … ({{R / L}} rows) of A as vec4 and subgroupBroadcast hands each to all {{L}} lanes;
//#else
// each lane reads all {{R}} rows of A as vec4 (no subgroups: {{L}}× the A loads of the subgroup variants);
//#end
// B is read as 4 vec4 (a mat4x4f). No workgroup memory, no barriers. Rows and columns past M, N are clamped for
// loading and not stored. Needs K % 4 == 0, N % 4 == 0, 16-byte aligned views (src/kernels/matmul-cpu.ts checks).
//#if SUBGROUPS
// Needs subgroups of at least {{L}} lanes, so that the workgroup is one subgroup (the host checks the adapter).
//#end
// Bindings: inp (M,K/4), w (N,K/4) or (K,N/4), bias (N/4), mask (N/4), aux (M,N/4), out (M,N/4), out2 (M,N/4), Params.
// Numerics: per output, K/4 dot products of 4 terms added in K order: within f32 rounding of matmul.wgsl.
//#if SUBGROUPS
enable subgroups;
//#end
#include "common/gelu.wgsl"

struct Params { M: u32, N: u32, K: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read_write> inp: array<vec4<f32>>;  // (M, K/4)
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;    // (N, K/4) when TRANS_B, else (K, N/4)
@group(0) @binding(2) var<storage, read_write> bias: array<vec4<f32>>; // (N/4)
@group(0) @binding(3) var<storage, read_write> mask: array<vec4<f32>>; // (N/4)
@group(0) @binding(4) var<storage, read_write> aux: array<vec4<f32>>;  // (M, N/4)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>;  // (M, N/4)
@group(0) @binding(6) var<storage, read_write> out2: array<vec4<f32>>; // (M, N/4)
@group(0) @binding(7) var<uniform> p: Params;

override TRANS_B: bool = true;
override HAS_BIAS: bool = true;
override EPI: u32 = 0u;

fn gelu4(x: vec4f) -> vec4f { return vec4f(gelu(x.x), gelu(x.y), gelu(x.z), gelu(x.w)); }
fn gelu_grad4(x: vec4f) -> vec4f { return vec4f(gelu_grad(x.x), gelu_grad(x.y), gelu_grad(x.z), gelu_grad(x.w)); }

/** Writes out[m, 4·c4 .. 4·c4+3] from the finished sums, as epilogue.wgsl's `store` does per element. */
fn store4(m: u32, c4: u32, acc: vec4f) {
  var v = acc;
  if (HAS_BIAS) { v += bias[c4]; }
  let idx = m * (p.N / 4u) + c4;
  if (EPI == 1u) {
    v *= mask[c4];
    out[idx] = v;
    out2[idx] = gelu4(v);
  } else if (EPI == 2u) {
    out[idx] = v * gelu_grad4(aux[idx]) * mask[c4];
    out2[idx] = v;
  } else if (EPI == 3u) {
    out[idx] = v + aux[idx];
  } else {
    out[idx] = v;
  }
}

@compute @workgroup_size({{L}})
//#if SUBGROUPS
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32, @builtin(subgroup_invocation_id) lane: u32) {
//#else
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
//#end
  let k4n = p.K / 4u;
  let n4 = p.N / 4u;
  let r0 = wg.y * {{R}}u;
  let c4s = wg.x * {{L}}u + li;     // this invocation's column group (stored when < n4)
  let c4 = min(c4s, n4 - 1u);      // clamped for loading
  let last = p.M - 1u;
  //#if SUBGROUPS
  //#for i < R / L
  let ra{{i}} = min(r0 + lane + {{i * L}}u, last) * k4n; // A row r0 + lane + {{i * L}}
  //#end
  //#else
  //#for t < R
  let ra{{t}} = min(r0 + {{t}}u, last) * k4n;
  //#end
  //#end
  let wstride = select(n4, k4n, TRANS_B);
  let wbase = select(c4, 4u * c4 * k4n, TRANS_B);
  let wstep = select(4u * n4, 1u, TRANS_B);
  //#for t < R
  var acc{{t}} = vec4f(0.0);
  //#end
  for (var k = 0u; k < k4n; k++) {
    let o = wbase + k * wstep;
    // columns of b: B[k + j, 4c4 ..] (B stored (K, N)); TRANS_B reads W rows 4c4 + j along K and transposes
    let bm = mat4x4f(w[o], w[o + wstride], w[o + 2u * wstride], w[o + 3u * wstride]);
    var b = bm;
    if (TRANS_B) { b = transpose(bm); }
    //#if SUBGROUPS
    //#for i < R / L
    let a{{i}} = inp[ra{{i}} + k];
    //#end
    //#for t < R
    acc{{t}} += b * subgroupBroadcast(a{{t / L}}, {{t % L}}u);
    //#end
    //#else
    //#for t < R
    acc{{t}} += b * inp[ra{{t}} + k];
    //#end
    //#end
  }
  if (c4s >= n4) { return; }
  // The epilogue in a loop the compiler cannot unroll: one copy of store4 instead of one per row. On lavapipe each
  // storage access is a per-lane load with its own bounds branch and GELU ~40 instructions a lane, so R copies made
  // its first-use (LLVM) compile 2-17x longer (bench/RESULTS.md); the loop costs nothing measurable at run time.
  let accs = array<vec4f, {{R}}>(
    //#for t < R
    acc{{t}},
    //#end
  );
  // (a loop from r0, not from 0: with a constant start, Mesa's NIR finds the bound R and unrolls it again)
  let m1 = min(r0 + {{R}}u, p.M);
  for (var m = r0; m < m1; m++) { store4(m, c4, accs[m - r0]); }
}
