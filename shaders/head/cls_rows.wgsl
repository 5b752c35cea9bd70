// cls_rows: moves the [CLS] rows (token 0 of each sequence) between a full (B·T, C) buffer and a compact (B, C) one.
// The classifier reads the last layer's output at [CLS] alone, so the last encoder layer computes its attention
// output projection, LayerNorms and FFN on the [CLS] rows only (src/model/forward.ts, backward.ts):
//   gather:  out(b, c) = inp(b·T, c)                                   (the attention output, the residual)
//   scatter: out(b·T + t, c) = inp(b, c) if t == 0, else 0             (their gradients; every row written)
// A copy: the same bits. Bindings: inp, out, Params. One thread per output element.
struct Params { B: u32, T: u32, C: u32 }

@group(0) @binding(0) var<storage, read_write> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.B * p.C) { return; }
  out[i] = inp[(i / p.C) * p.T * p.C + i % p.C];
}

@compute @workgroup_size(256)
fn scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.B * p.T * p.C) { return; }
  let row = i / p.C;
  out[i] = select(0.0, inp[(row / p.T) * p.C + i % p.C], row % p.T == 0u);
}
