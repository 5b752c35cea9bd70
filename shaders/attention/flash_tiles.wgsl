// flash_tiles: the tile loads and the recomputed probabilities the fused attention kernels share (#included by
// flash_forward, flash_backward_q, flash_backward_kv). They use the including kernel's module-scope names: the qkv
// (B·T, 3C) binding, Params p, the overrides WG and HS4 (head rows padded with zeros to HS4 vec4s), and its workgroup
// tiles ks, vs (BC keys); the backward halves' helpers also dout, mask, qs, dos (BR queries), lrow and drow.

// K and V rows j0 .. j0 + BC − 1 of head h in sequence b into ks, vs (rows past T and columns past HS: zeros);
// coalesced scalar loads
fn loadKV(lid: u32, b: u32, h: u32, j0: u32) {
  let HSP = 4u * HS4;
  for (var e = lid; e < BC * HSP; e += WG) {
    let jj = e / HSP;
    let d = e % HSP;
    var k = 0.0;
    var v = 0.0;
    if (j0 + jj < p.T && d < p.HS) {
      let row = (b * p.T + j0 + jj) * 3u * p.C + h * p.HS + d;
      k = qkv[row + p.C];
      v = qkv[row + 2u * p.C];
    }
    ks[jj * HS4 + d / 4u][d % 4u] = k;
    vs[jj * HS4 + d / 4u][d % 4u] = v;
  }
}
