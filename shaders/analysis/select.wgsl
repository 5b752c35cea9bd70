// select: the k-th largest ranking key of N scores (the threshold of the top-k set) by an MSB-first radix
// select, 4 passes of 8 bits over the u32 keys of analysis/keys.wgsl — the scheme of src/analysis/rankings.ts
// `thresholdValue`, on f32 keys. Entries, dispatched in order: `init` once, then (`hist`, `scan`) per pass
// with Params.shift = 24, 16, 8, 0. No host round trip: every pass reads the state the previous one wrote.
//   init: zeroes the histogram, prefix = 0, fixed = 0, rest = k, nan = 0.                        (1 workgroup)
//   hist: workgroup-local 256-bin histogram (workgroup atomics) of the digit (key >> shift) & 0xff over the
//         candidates (key & fixed) == prefix, TILE = 256 · ITEMS scores per workgroup, flushed with one
//         global atomicAdd per non-empty bin. The first pass also counts NaN scores.
//   scan: suffix sums of the histogram; the digit d with above(d) < rest ≤ above(d) + hist[d] is the
//         threshold's digit: prefix |= d << shift, rest −= above(d); the histogram is zeroed.  (1 workgroup)
// After the last pass, prefix is the threshold key T and rest the number of units with key T to take (lowest
// index first, the tie rule of rankings.ts): exactly k units are then key > T or among those.
// Bindings: scores (N) f32 read as u32 bits, sel (SEL_WORDS) u32 = (hist[256], prefix, fixed, rest, nan),
// Params. Requires 1 ≤ k ≤ N.
#include "analysis/keys.wgsl"

struct Params { N: u32, k: u32, shift: u32, _p: u32 }

@group(0) @binding(0) var<storage, read_write> scores: array<u32>;
@group(0) @binding(1) var<storage, read_write> sel: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: Params;

const PREFIX = 256u;
const FIXED = 257u;
const REST = 258u;
const NAN = 259u;
override ITEMS: u32 = 16u;

var<workgroup> lh: array<atomic<u32>, 256>;
var<workgroup> suf: array<u32, 256>;
var<workgroup> restShared: u32;

@compute @workgroup_size(256)
fn init(@builtin(local_invocation_index) lid: u32) {
  atomicStore(&sel[lid], 0u);
  if (lid == 0u) {
    atomicStore(&sel[PREFIX], 0u);
    atomicStore(&sel[FIXED], 0u);
    atomicStore(&sel[REST], p.k);
    atomicStore(&sel[NAN], 0u);
  }
}

@compute @workgroup_size(256)
fn hist(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  atomicStore(&lh[lid], 0u);
  workgroupBarrier();
  let prefix = atomicLoad(&sel[PREFIX]);
  let fixed = atomicLoad(&sel[FIXED]);
  let base = (wg.x + wg.y * nwg.x) * 256u * ITEMS;
  var nans = 0u;
  for (var j = 0u; j < ITEMS; j++) {
    let u = base + j * 256u + lid;               // coalesced: consecutive lanes, consecutive scores
    if (u < p.N) {
      let raw = scores[u];
      let key = rank_key(raw);
      if ((key & fixed) == prefix) { atomicAdd(&lh[(key >> p.shift) & 0xffu], 1u); }
      if (p.shift == 24u && is_nan_bits(raw)) { nans += 1u; }
    }
  }
  if (nans > 0u) { atomicAdd(&sel[NAN], nans); }
  workgroupBarrier();
  let c = atomicLoad(&lh[lid]);
  if (c > 0u) { atomicAdd(&sel[lid], c); }
}

@compute @workgroup_size(256)
fn scan(@builtin(local_invocation_index) lid: u32) {
  suf[lid] = atomicLoad(&sel[lid]);
  if (lid == 0u) { restShared = atomicLoad(&sel[REST]); }
  workgroupBarrier();
  for (var off = 1u; off < 256u; off <<= 1u) {   // Hillis–Steele suffix sums: suf[d] = Σ_{e ≥ d} hist[e]
    var t = 0u;
    if (lid + off < 256u) { t = suf[lid + off]; }
    workgroupBarrier();
    suf[lid] += t;
    workgroupBarrier();
  }
  let rest = restShared;
  var above = 0u;
  if (lid < 255u) { above = suf[lid + 1u]; }
  // suf is non-increasing and suf[0] (the candidates) ≥ rest, so exactly one digit matches.
  if (suf[lid] >= rest && above < rest) {
    atomicStore(&sel[PREFIX], atomicLoad(&sel[PREFIX]) | (lid << p.shift));
    atomicStore(&sel[FIXED], atomicLoad(&sel[FIXED]) | (0xffu << p.shift));
    atomicStore(&sel[REST], rest - above);
  }
  atomicStore(&sel[lid], 0u);                    // this lane's bin was read before the first barrier
}
