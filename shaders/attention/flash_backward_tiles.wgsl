// flash_backward_tiles: what the two halves of the fused attention backward share (#included by flash_backward_q and
// flash_backward_kv, after flash_tiles): the Q and dout tile, and p(i, j), ds(i, j) recomputed from it.

// Q and dout rows i0 .. i0 + BR − 1 (queries < TQ) of head h in sequence b into qs, dos
fn loadQdO(lid: u32, b: u32, h: u32, i0: u32) {
  let HSP = 4u * HS4;
  for (var e = lid; e < BR * HSP; e += WG) {
    let rr = e / HSP;
    let d = e % HSP;
    var x = 0.0;
    var y = 0.0;
    if (i0 + rr < p.TQ && d < p.HS) {
      x = qkv[(b * p.T + i0 + rr) * 3u * p.C + h * p.HS + d];
      y = dout[(b * p.TQ + i0 + rr) * p.C + h * p.HS + d];
    }
    qs[rr * HS4 + d / 4u][d % 4u] = x;
    dos[rr * HS4 + d / 4u][d % 4u] = y;
  }
}

// (p(i, j), ds(i, j)) for query i0 + rr and key j0 + kk of the tiles in qs, dos, ks, vs, lrow (lse) and drow (D):
// p = exp(s − lse), ds = p (dout_i · v_j − D_i); both 0 for a query past TQ, a key past T or a padded key
fn probGrad(b: u32, i0: u32, rr: u32, j0: u32, kk: u32) -> vec2f {
  if (i0 + rr < p.TQ && j0 + kk < p.T && mask[b * p.T + j0 + kk] != 0.0) {
    var a = vec4f(0.0);
    var g = vec4f(0.0);
    for (var d = 0u; d < HS4; d++) {
      a = fma(qs[rr * HS4 + d], ks[kk * HS4 + d], a);
      g = fma(dos[rr * HS4 + d], vs[kk * HS4 + d], g);
    }
    let pv = exp((a.x + a.y + a.z + a.w) * p.scale - lrow[rr]);
    return vec2f(pv, pv * ((g.x + g.y + g.z + g.w) - drow[rr]));
  }
  return vec2f(0.0);
}
