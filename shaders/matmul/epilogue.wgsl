// Shared by the matmul family (#included, never compiled alone): the Params uniform, every binding after the
// two inputs (inp at 0 and w at 1 are declared by each kernel: f32 or vec4<f32>), the epilogue constants, and
// `store`, which finishes one dot product. Numerics: bias is added to the finished f32 sum, then the epilogue.
//   EPI 0: out = acc (+ bias when HAS_BIAS)
//   EPI 1: FFN up: pre = (acc + bias) · mask[n]; out = pre, out2 = gelu(pre)   (mask: 1 keep, 0 prune)
//   EPI 2: FFN down backward: out = acc · gelu'(aux) · mask[n] (dpre), out2 = acc (dpost); aux = saved pre (M, N)
//   EPI 3: residual backward: out = acc + aux (the residual stream's gradient is added, llm.c's `+=` rule)
// Each output element is read (aux) and written (out, out2) by exactly one invocation, so aux may alias out.
#include "common/gelu.wgsl"

struct Params { M: u32, N: u32, K: u32, _pad: u32 }

@group(0) @binding(2) var<storage, read_write> bias: array<f32>; // (N)
@group(0) @binding(3) var<storage, read_write> mask: array<f32>; // (N)
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;  // (M, N)
@group(0) @binding(5) var<storage, read_write> out: array<f32>;  // (M, N)
@group(0) @binding(6) var<storage, read_write> out2: array<f32>; // (M, N)
@group(0) @binding(7) var<uniform> p: Params;

override TRANS_B: bool = true; // w is (N, K) (nn.Linear forward) when true, (K, N) when false
override HAS_BIAS: bool = true;
override EPI: u32 = 0u;

/** Writes output (m, n) from its finished sum; the caller has checked m < M and n < N. */
fn store(m: u32, n: u32, acc: f32) {
  var v = acc;
  if (HAS_BIAS) { v += bias[n]; }
  let idx = m * p.N + n;
  if (EPI == 1u) {
    v *= mask[n];
    out[idx] = v;
    out2[idx] = gelu(v);
  } else if (EPI == 2u) {
    out[idx] = v * gelu_grad(aux[idx]) * mask[n];
    out2[idx] = v;
  } else if (EPI == 3u) {
    out[idx] = v + aux[idx];
  } else {
    out[idx] = v;
  }
}
