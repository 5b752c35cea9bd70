// segments: sums per-token attributions over tokens, in total and per segment of `[CLS] q [SEP] p [SEP]`:
//   seg 0 = [CLS] (t = 0), 1 = query (0 < t < sep1), 2 = the separators sep1 ≤ t < passage (BERT one [SEP]; XLM-R
//   `</s></s>`), 3 = passage, 4 = last [SEP].
// A unit may span `cols` consecutive columns (attention heads: HS columns of the context each), summed too; FFN
// units are one column each (cols = 1: the same sums, bit for bit).
// Bindings: inp (L, T, U·cols) per-token values, total (L, U), seg (5, L, U), Params. One thread per (l, u).
struct Params { L: u32, T: u32, U: u32, sep1: u32, len: u32, passage: u32, cols: u32 }

@group(0) @binding(0) var<storage, read_write> inp: array<f32>;
@group(0) @binding(1) var<storage, read_write> total: array<f32>;
@group(0) @binding(2) var<storage, read_write> seg: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.L * p.U) { return; }
  let l = i / p.U;
  let u = i % p.U;
  var s = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var t = 0u; t < p.len; t++) {
    let row = ((l * p.T + t) * p.U + u) * p.cols;
    var v = 0.0;
    for (var c = 0u; c < p.cols; c++) { v += inp[row + c]; }
    var k = 3u;
    if (t == 0u) { k = 0u; } else if (t < p.sep1) { k = 1u; } else if (t < p.passage) { k = 2u; } else if (t == p.len - 1u) { k = 4u; }
    s[k] += v;
  }
  total[i] = s[0] + s[1] + s[2] + s[3] + s[4];
  for (var k = 0u; k < 5u; k++) { seg[k * p.L * p.U + i] = s[k]; }
}
