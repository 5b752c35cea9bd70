// select_mask: the prune mask of the top-k set found by analysis/select.wgsl, under the tie rule of
// src/analysis/rankings.ts: a unit is selected (mask 0) when key > T, or when key == T and fewer than `rest`
// units with key T come before it in index order; every other unit keeps mask 1. Exactly k zeros.
// Entries, dispatched in order over blocks of BLOCK = 1024 units (256 lanes × 4 consecutive units):
//   count_eq:    blocks[b] = number of units of block b with key == T.
//   scan_blocks: blocks[b] = exclusive prefix sum of those counts (1 workgroup; any number of blocks).
//   write_mask:  in-block exclusive prefix of the "equal" flags (workgroup scan over lanes), plus blocks[b],
//                is each tied unit's rank among the ties.
// Bindings: scores (N) f32 read as u32 bits, sel (SEL_WORDS) u32 (state of select.wgsl: T = sel[256],
// rest = sel[258]), blocks (nb) u32, mask (N) f32, Params.
#include "analysis/keys.wgsl"

struct Params { N: u32, nb: u32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read_write> scores: array<u32>;
@group(0) @binding(1) var<storage, read_write> sel: array<u32>;
@group(0) @binding(2) var<storage, read_write> blocks: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const PER = 4u;                                  // consecutive units per lane; BLOCK = 256 · PER
var<workgroup> part: array<u32, 256>;

/** Inclusive prefix sum of v over the 256 lanes (Hillis–Steele). Call in uniform control flow. */
fn wg_inclusive(v: u32, lid: u32) -> u32 {
  part[lid] = v;
  workgroupBarrier();
  for (var off = 1u; off < 256u; off <<= 1u) {
    var t = 0u;
    if (lid >= off) { t = part[lid - off]; }
    workgroupBarrier();
    part[lid] += t;
    workgroupBarrier();
  }
  let r = part[lid];
  workgroupBarrier();
  return r;
}

fn equal_count(b: u32, lid: u32, t: u32) -> u32 {
  var c = 0u;
  for (var j = 0u; j < PER; j++) {
    let u = (b * 256u + lid) * PER + j;
    if (u < p.N && rank_key(scores[u]) == t) { c += 1u; }
  }
  return c;
}

@compute @workgroup_size(256)
fn count_eq(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = wg.x + wg.y * nwg.x;
  let total = wg_inclusive(equal_count(b, lid, sel[256]), lid);
  if (lid == 255u && b < p.nb) { blocks[b] = total; }
}

@compute @workgroup_size(256)
fn scan_blocks(@builtin(local_invocation_index) lid: u32) {
  let per = (p.nb + 255u) / 256u;                // lane lid owns blocks [lid · per, (lid + 1) · per)
  let lo = min(lid * per, p.nb);
  let hi = min(lo + per, p.nb);
  var s = 0u;
  for (var b = lo; b < hi; b++) { s += blocks[b]; }
  var run = wg_inclusive(s, lid) - s;            // exclusive: ties in the lanes before this one
  for (var b = lo; b < hi; b++) {
    let c = blocks[b];
    blocks[b] = run;
    run += c;
  }
}

@compute @workgroup_size(256)
fn write_mask(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = wg.x + wg.y * nwg.x;
  let t = sel[256];
  let rest = sel[258];
  let c = equal_count(b, lid, t);
  if (b >= p.nb) { return; }                     // workgroup-uniform, so the barriers below stay uniform
  var rank = blocks[b] + wg_inclusive(c, lid) - c;
  for (var j = 0u; j < PER; j++) {
    let u = (b * 256u + lid) * PER + j;
    if (u >= p.N) { break; }
    let key = rank_key(scores[u]);
    var keep = 1.0;
    if (key > t) { keep = 0.0; }
    else if (key == t) {
      if (rank < rest) { keep = 0.0; }
      rank += 1u;
    }
    mask[u] = keep;
  }
}
