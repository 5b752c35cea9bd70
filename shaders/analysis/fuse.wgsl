// fuse: the fusion vector of several per-dataset mean vectors, out[u] = (m_0[u] + … + m_{D−1}[u]) / D
// (src/analysis/schemes.ts fuseMeans: each dataset weighs the same whatever its pair count).
// One dispatch adds up to 6 inputs; more datasets chain dispatches: a later one starts from out (`carry` = 1)
// instead of 0, and only the last divides (`D` > 0; D = 0 leaves the running sum).
// Bindings: out (R) f32, in0 .. in5 (R) f32 (unused ones bound to dummies), Params. One thread per unit.
// Numeric note: f32 sums in dataset order, then one division: |out − exact| ≤ (D − 1 + 2.5) · 2^-24 · Σ_d |m_d| / D
// (WGSL allows 2.5 ulp for a division), i.e. relative to the terms' magnitude, not to a cancelled result.
struct Params { R: u32, n: u32, carry: u32, D: u32 }

@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read_write> in0: array<f32>;
@group(0) @binding(2) var<storage, read_write> in1: array<f32>;
@group(0) @binding(3) var<storage, read_write> in2: array<f32>;
@group(0) @binding(4) var<storage, read_write> in3: array<f32>;
@group(0) @binding(5) var<storage, read_write> in4: array<f32>;
@group(0) @binding(6) var<storage, read_write> in5: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = gid.x + gid.y * nwg.x * 256u;
  if (u >= p.R) { return; }
  var s = 0.0;
  if (p.carry == 1u) { s = out[u]; }
  s += in0[u];                                   // n ≥ 1 always
  if (p.n > 1u) { s += in1[u]; }
  if (p.n > 2u) { s += in2[u]; }
  if (p.n > 3u) { s += in3[u]; }
  if (p.n > 4u) { s += in4[u]; }
  if (p.n > 5u) { s += in5[u]; }
  if (p.D > 0u) { s = s / f32(p.D); }
  out[u] = s;
}
