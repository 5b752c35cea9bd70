// attention_backward_kv: second half of the attention backward, one workgroup per (key j, head h, seq b):
//   dk_j = scale · Σ_i ds(i, j) q_i,   dv_j = Σ_i p(i, j) dout_i
// Writes the k and v parts of dqkv (B·T, 3C). Bindings: dout (B·T, C), probs (B, NH, T, T),
// qkv (B·T, 3C), dS (B, NH, T, T) from attention_backward_q, dqkv (B·T, 3C), Params.
struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> dout: array<f32>;
@group(0) @binding(1) var<storage, read_write> probs: array<f32>;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(3) var<storage, read_write> dS: array<f32>;
@group(0) @binding(4) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

override WG: u32 = 64u;
override MAX_T: u32 = 512u;
var<workgroup> pcol: array<f32, MAX_T>;
var<workgroup> dcol: array<f32, MAX_T>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = wg.x;
  let h = wg.y;
  let b = wg.z;
  let C3 = 3u * p.C;
  let hb = (b * p.NH + h) * p.T;
  for (var i = lid; i < p.T; i += WG) {
    pcol[i] = probs[(hb + i) * p.T + j];
    dcol[i] = dS[(hb + i) * p.T + j];
  }
  workgroupBarrier();
  for (var d = lid; d < p.HS; d += WG) {
    var dk = 0.0;
    var dv = 0.0;
    for (var i = 0u; i < p.T; i++) {
      dk = fma(dcol[i], qkv[(b * p.T + i) * C3 + h * p.HS + d], dk);
      dv = fma(pcol[i], dout[(b * p.T + i) * p.C + h * p.HS + d], dv);
    }
    let o = (b * p.T + j) * C3 + h * p.HS + d;
    dqkv[o + p.C] = dk * p.scale;
    dqkv[o + 2u * p.C] = dv;
  }
}
