// attention forward, CPU class (see the header of src/kernels/attention-cpu.ts): a workgroup of {{L}} lanes = one
// subgroup, vec4 loads, subgroupBroadcast, no workgroup memory or barriers. Needs T % 4 == 0, HS % 4 == 0, 16-byte
// aligned views and subgroups of at least {{L}} lanes (the host checks). All buffers are read as vec4.
// A template (src/gpu/template.ts); its variants are src/kernels/attention-cpu.ts `ATTENTION_FORWARD_CPU` (L lanes,
// G column groups, R query rows). This one: L = {{L}}, G = {{G}}, R = {{R}}.
enable subgroups;

struct Params { B: u32, T: u32, C: u32, NH: u32, HS: u32, scale: f32 }

@group(0) @binding(0) var<storage, read_write> qkv: array<vec4<f32>>;    // (B·T, 3C/4): [q | k | v] per token
@group(0) @binding(1) var<storage, read_write> mask: array<vec4<f32>>;   // (B·T/4) 1 = token, 0 = padding
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;    // (B·T, C/4)
@group(0) @binding(3) var<storage, read_write> probs: array<vec4<f32>>;  // (B, NH, T, T/4) saved for backward
@group(0) @binding(4) var<uniform> p: Params;

// One workgroup per ({{R}} query rows, head h, sequence b). p(i, j) = softmax_j(q_i·k_j·scale) over keys with
// mask 1 (others p = 0), out_i = Σ_j p(i, j) v_j. Scores go to probs first (scratch), with an online max / sum per
// lane; then p is written over them and out accumulated.
// Lane l: keys 4l..4l+3 of each tile of {{4 * L}} keys; output columns 4(l + {{L}}g)..+3, g < {{G}}.

@compute @workgroup_size({{L}})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let T = p.T;
  let T4 = T / 4u;
  let C4 = p.C / 4u;
  let C34 = 3u * C4;
  let HS4 = p.HS / 4u;
  let h = wg.y;
  let b = wg.z;
  let i0 = wg.x * {{R}}u;
  let tok0 = b * T;
  let hoff = h * HS4;
  //#for r < R / L
  let ar{{r}} = (tok0 + min(i0 + lane + {{r * L}}u, T - 1u)) * C34 + hoff; // q rows i0 + lane + {{r * L}}
  //#end
  let kbase = tok0 * C34 + C4 + hoff;      // key-side rows of the scores: k
  let xbase = tok0 * C34 + 2u * C4 + hoff; // rows of the weighted sum: v
  let pbase = (b * p.NH + h) * T * T4;
  //#for g < G
  let c{{g}} = min(lane + {{g * L}}u, HS4 - 1u);
  //#end
  let ntiles = (T + {{4 * L - 1}}u) / {{4 * L}}u;
  // The per-row softmax steps between the two tile products run in loops over the rows, counting from i0 so that
  // Mesa's NIR cannot unroll them, on arrays: {{R}} inlined copies made lavapipe's first-use compile seconds longer.
  var ss = array<f32, {{R}}>();
  var ms = array<f32, {{R}}>();
  for (var t = 0u; t < {{R}}u; t++) { ms[t] = -3.0e38; }
  for (var kt = 0u; kt < ntiles; kt++) {
    let j0 = kt * {{4 * L}}u + 4u * lane;
    let jc = min(j0, T - 4u);
    let jok = j0 < T;
    let mk = select(vec4f(0.0), mask[(tok0 + jc) / 4u], jok) != vec4f(0.0);
    // scores of the {{R}} rows against this lane's 4 keys: q rows broadcast from the lane that read them
    //#for t < R
    var acc{{t}} = vec4f(0.0);
    //#end
    let kr = kbase + jc * C34;
    for (var d = 0u; d < HS4; d++) {
      let km = transpose(mat4x4f(qkv[kr + d], qkv[kr + C34 + d], qkv[kr + 2u * C34 + d], qkv[kr + 3u * C34 + d]));
      //#for r < R / L
      let a{{r}} = qkv[ar{{r}} + d];
      //#end
      //#for t < R
      acc{{t}} += km * subgroupBroadcast(a{{t / L}}, {{t % L}}u);
      //#end
    }
    let accs = array<vec4f, {{R}}>(
      //#for t < R
      acc{{t}},
      //#end
    );
    for (var i = i0; i < min(i0 + {{R}}u, T); i++) {
      if (!jok) { break; }
      let t = i - i0;
      let pi = pbase + i * T4 + j0 / 4u; // row i's vec4 of this lane's keys
      let sc = select(vec4f(-3.0e38), accs[t] * p.scale, mk);
      probs[pi] = sc;
      let mn = max(ms[t], max(max(sc.x, sc.y), max(sc.z, sc.w)));
      ss[t] = ss[t] * exp(ms[t] - mn) + dot(select(vec4f(0.0), exp(sc - vec4f(mn)), mk), vec4f(1.0));
      ms[t] = mn;
    }
  }
  var mxs = array<f32, {{R}}>();
  var invs = array<f32, {{R}}>();
  for (var i = i0; i < i0 + {{R}}u; i++) {
    let t = i - i0;
    mxs[t] = subgroupMax(ms[t]);
    invs[t] = 1.0 / subgroupAdd(ss[t] * exp(ms[t] - mxs[t]));
  }
  //#for t < R
  //#for g < G
  var o{{t}}_{{g}} = vec4f(0.0);
  //#end
  //#end
  for (var kt = 0u; kt < ntiles; kt++) {
    let j0 = kt * {{4 * L}}u + 4u * lane;
    let jok = j0 < T;
    let mk = select(vec4f(0.0), mask[(tok0 + min(j0, T - 4u)) / 4u], jok) != vec4f(0.0);
    var pts = array<vec4f, {{R}}>();
    for (var i = i0; i < min(i0 + {{R}}u, T); i++) {
      if (!jok) { break; }
      let t = i - i0;
      let pi = pbase + i * T4 + j0 / 4u;
      pts[t] = select(vec4f(0.0), exp(probs[pi] - vec4f(mxs[t])) * invs[t], mk);
      probs[pi] = pts[t];
    }
    //#for t < R
    let pt{{t}} = pts[{{t}}];
    //#end
    // out += P·V for this tile: lane l's weights handed to every lane by subgroupShuffle (the loop counts from kt·L,
    // not 0: with a constant start Mesa's NIR unrolls it, and L copies of R shuffles made the compile seconds longer)
    for (var kl = kt * {{L}}u; kl < kt * {{L}}u + {{L}}u; kl++) { // keys 4l..4l+3 of the tile, weights from lane l
      let l = kl - kt * {{L}}u;
      let xr = xbase + min(kt * {{4 * L}}u + 4u * l, T - 4u) * C34;
      //#for g < G
      let xm{{g}} = mat4x4f(qkv[xr + c{{g}}], qkv[xr + C34 + c{{g}}], qkv[xr + 2u * C34 + c{{g}}], qkv[xr + 3u * C34 + c{{g}}]);
      //#end
      //#for t < R
      let w{{t}} = subgroupShuffle(pt{{t}}, l);
      //#for g < G
      o{{t}}_{{g}} += xm{{g}} * w{{t}};
      //#end
      //#end
    }
  }
  //#for g < G
  if (lane + {{g * L}}u < HS4) {
    //#for t < R
    if (i0 + {{t}}u < T) { out[(tok0 + i0 + {{t}}u) * C4 + hoff + c{{g}}] = o{{t}}_{{g}}; }
    //#end
  }
  //#end
}
