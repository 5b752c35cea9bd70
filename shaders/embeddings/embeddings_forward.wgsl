// embeddings_forward: s(b, t) = x(b, t) + pos(posId(b, t)) + type(typeId(b, t)), where the word vector moves
// along the integrated-gradients path: x = E[base] + alpha(b) · (E[id] − E[base]). Scoring uses alpha = 1,
// base = id. base = 0xffffffff means the zero vector. Position ids come from the host (BERT t; RoBERTa
// padding_idx + 1 + t, pads at padding_idx), so every family shares this kernel. C is the embedding width
// (ELECTRA's embedding_size). The embedding LayerNorm follows (layernorm_forward).
// Bindings: tok (B·T, 4) u32 = (id, baseId, typeId, posId), alpha (B), wordEmb (V, C), posEmb (P, C),
// typeEmb (TV, C), s (B·T, C), Params.
// Saves for backward: nothing (s is saved as the LayerNorm's input). ∂s/∂x = I, so dx = ds.
struct Params { rows: u32, T: u32, C: u32, _p: u32 }

@group(0) @binding(0) var<storage, read_write> tok: array<u32>;
@group(0) @binding(1) var<storage, read_write> alpha: array<f32>;
@group(0) @binding(2) var<storage, read_write> wordEmb: array<f32>;
@group(0) @binding(3) var<storage, read_write> posEmb: array<f32>;
@group(0) @binding(4) var<storage, read_write> typeEmb: array<f32>;
@group(0) @binding(5) var<storage, read_write> s: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

override WG: u32 = 64u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wg.x + wg.y * nwg.x;
  if (row >= p.rows) { return; }
  let id = tok[row * 4u];
  let baseId = tok[row * 4u + 1u];
  let typeId = tok[row * 4u + 2u];
  let t = tok[row * 4u + 3u];
  let a = alpha[row / p.T];
  for (var c = lid; c < p.C; c += WG) {
    let xi = wordEmb[id * p.C + c];
    var xb = 0.0;
    if (baseId != 0xffffffffu) { xb = wordEmb[baseId * p.C + c]; }
    let x = xb + a * (xi - xb);
    s[row * p.C + c] = x + posEmb[t * p.C + c] + typeEmb[typeId * p.C + c];
  }
}
