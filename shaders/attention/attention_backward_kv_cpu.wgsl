// attention backward, kv half, CPU class (see the header of src/kernels/attention-cpu.ts): a workgroup of {{L}} lanes
// = one subgroup, vec4 loads, subgroupBroadcast, no workgroup memory or barriers. Needs T % 4 == 0, HS % 4 == 0,
// 16-byte aligned views and subgroups of at least {{L}} lanes (the host checks). All buffers are read as vec4.
// A template (src/gpu/template.ts); its variants are src/kernels/attention-cpu.ts `ATTENTION_BACKWARD_KV_CPU` (L
// lanes). This one: L = {{L}}.
enable subgroups;

struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> dout: array<vec4<f32>>;   // (B·T, C/4)
@group(0) @binding(1) var<storage, read_write> probs: array<vec4<f32>>;  // (B, NH, T, T/4) from the forward
@group(0) @binding(2) var<storage, read_write> qkv: array<vec4<f32>>;    // (B·T, 3C/4)
@group(0) @binding(3) var<storage, read_write> dS: array<vec4<f32>>;     // (B, NH, T, T/4) from attention_backward_q_cpu
@group(0) @binding(4) var<storage, read_write> dqkv: array<vec4<f32>>;   // (B·T, 3C/4): the k and v parts are written
@group(0) @binding(5) var<uniform> p: Params;

// One workgroup per ({{4 * L}} keys × one group of {{4 * L}} head dimensions, head h, sequence b): workgroup x
// = key block · G + column group, G = ceil(HS / {{4 * L}}). dk_j = scale·Σ_i ds(i, j) q_i, dv_j = Σ_i p(i, j) dout_i.
// Per 4 queries, lane l reads ds and p of its keys 4l..4l+3 (4×4 blocks, transposed) and broadcasts them; lane c owns
// columns 4c..4c+3 of its group for all {{4 * L}} keys. Padded keys have p = ds = 0, so dk = dv = 0 there.

@compute @workgroup_size({{L}})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let T = p.T;
  let T4 = T / 4u;
  let C4 = p.C / 4u;
  let C34 = 3u * C4;
  let HS4 = p.HS / 4u;
  let G = (HS4 + {{L - 1}}u) / {{L}}u;
  let h = wg.y;
  let b = wg.z;
  let j0 = (wg.x / G) * {{4 * L}}u;
  let cg = (wg.x % G) * {{L}}u + lane;   // this lane's column group (stored when < HS4)
  let c = min(cg, HS4 - 1u);
  let tok0 = b * T;
  let hoff = h * HS4;
  let pbase = (b * p.NH + h) * T * T4;
  let kj = min(j0 + 4u * lane, T - 4u) / 4u;   // this lane's 4 keys, as a vec4 index within a row
  let kok = j0 + 4u * lane < T;
  //#for t < 4 * L
  var dk{{t}} = vec4f(0.0);
  var dv{{t}} = vec4f(0.0);
  //#end
  for (var i = 0u; i < T; i += 4u) {
    let pr = pbase + i * T4 + kj;
    var ds = transpose(mat4x4f(dS[pr], dS[pr + T4], dS[pr + 2u * T4], dS[pr + 3u * T4]));
    var pp = transpose(mat4x4f(probs[pr], probs[pr + T4], probs[pr + 2u * T4], probs[pr + 3u * T4]));
    if (!kok) { ds = mat4x4f(); pp = mat4x4f(); }
    let qr = (tok0 + i) * C34 + hoff + c;
    let qm = mat4x4f(qkv[qr], qkv[qr + C34], qkv[qr + 2u * C34], qkv[qr + 3u * C34]);
    let dr = (tok0 + i) * C4 + hoff + c;
    let om = mat4x4f(dout[dr], dout[dr + C4], dout[dr + 2u * C4], dout[dr + 3u * C4]);
    // key 4l + k (k < 4) of lane l, broadcast to every lane
    //#for t < 4 * L
    dk{{t}} += qm * subgroupBroadcast(ds[{{t % 4}}], {{t / 4}}u);
    dv{{t}} += om * subgroupBroadcast(pp[{{t % 4}}], {{t / 4}}u);
    //#end
  }
  if (cg >= HS4) { return; }
  // stored in a loop from j0 (Mesa's NIR cannot unroll it): {{4 * L}} inlined pairs of stores made the compile slower
  let dks = array<vec4f, {{4 * L}}>(
    //#for t < 4 * L
    dk{{t}},
    //#end
  );
  let dvs = array<vec4f, {{4 * L}}>(
    //#for t < 4 * L
    dv{{t}},
    //#end
  );
  for (var j = j0; j < min(j0 + {{4 * L}}u, T); j++) {
    let o = (tok0 + j) * C34 + hoff + c;
    dqkv[o + C4] = dks[j - j0] * p.scale;
    dqkv[o + 2u * C4] = dvs[j - j0];
  }
}
