// matmul, GPU class: out(M, N) = inp(M, K) · B [+ bias(N)], then the epilogue (EPI: shaders/matmul/epilogue.wgsl).
//   TRANS_B = true : B is a Linear weight stored (N, K), i.e. out = inp · Wᵀ   (forward of nn.Linear)
//   TRANS_B = false: B is stored (K, N), i.e. dinp = dout · W                  (activation backward)
// A template (src/gpu/template.ts); its variants are src/kernels/matmul.ts `MATMUL` (the table the autotuner tries).
// This one: tile BM×BN×BK = {{BM}}×{{BN}}×{{BK}}, TM×TN = {{TM}}×{{TN}} outputs per invocation, {{(BM / TM) * (BN / TN)}} invocations,
// VEC4 = {{VEC4}}, DB = {{DB}} shared buffer(s), PAD = {{PAD}}, SUBGROUPS = {{SUBGROUPS}}.
//
// Layout. Shared tiles are k-major, as vec4 quads: row k of As holds A[row0 .. row0+BM, k0+k] (BM + PAD floats),
// row k of Bs holds B[k0+k, col0 .. col0+BN] (BN + PAD floats). Per k an invocation reads TM/4 quads of A and TN/4
// quads of B and does TM·TN/4 vec4 fmas (an outer product). Invocation (tx, ty), tx < BN/TN, owns the column quads
// tx, tx + BN/TN, … (TN/4 of them) and, without subgroups, the row quads ty, ty + BM/TM, … (TM/4): consecutive
// invocations read consecutive quads of Bs (no bank conflict) and store consecutive columns of out.
// Loads. The next tile's global loads are issued into registers before the current tile is computed, and put into
// shared memory after it (DB = 2: into the other buffer, one barrier per tile; DB = 1: after a barrier, two).
// A (and B when TRANS_B) is read along K, where it is contiguous, and transposed into the k-major tile by scalar
// stores; PAD = 4 puts the rows of a tile 4 banks apart, so that the stores of one warp (BK/4 invocations per
// row of A, 32·4/BK rows) hit distinct banks at BK = 8 (2-way at BK = 16; PAD = 0: 2-way at BK = 8). B stored
// (K, N) is read along N and stored as whole quads.
//#if VEC4
// VEC4: global loads are vec4 along K (along N for B when !TRANS_B): needs K % 4 == 0 (and N % 4 == 0 when
// !TRANS_B) and 16-byte aligned views; a vec4 is then wholly inside the matrix or wholly outside (zeros).
//#else
// Scalar global loads: any M, N, K (the form every product can run: src/kernels/matmul.ts falls back to it).
//#end
//#if SUBGROUPS
// SUBGROUPS: A is never staged in shared memory. A subgroup's lanes come in groups of TM = {{TM}} that share a row
// group; lane p of a group reads row p of the group's TM rows as vec4 along K straight from global memory (the
// next tile's, into registers) and subgroupShuffle hands each row's quad to the group. Invocation (tx, ty) is
// (slot · subgroup_size + lane) with the subgroup's slot claimed from a workgroup counter, so nothing assumes
// how invocations map to subgroups; the host checks every subgroup has the same size S, S % TM == 0 and
// {{(BM / TM) * (BN / TN)}} % S == 0 (src/kernels/matmul.ts). This invocation's TM rows are ty·TM .. ty·TM + TM − 1.
//#end
// Numerics: every output is one f32 fma per k in K order (padded k add fma(0, 0, acc) = acc), in every variant:
// all variants of this template give the same bits; the epilogue as epilogue.wgsl's `store`.
// Bindings: inp (M,K), w (N,K) or (K,N), bias (N), mask (N), aux (M,N), out (M,N), out2 (M,N), Params.
//#if SUBGROUPS
enable subgroups;
//#end
#include "matmul/epilogue.wgsl"

//#if VEC4
@group(0) @binding(0) var<storage, read_write> inp: array<vec4<f32>>; // (M, K/4)
@group(0) @binding(1) var<storage, read_write> w: array<vec4<f32>>;   // (N, K/4) when TRANS_B, else (K, N/4)
//#else
@group(0) @binding(0) var<storage, read_write> inp: array<f32>; // (M, K)
@group(0) @binding(1) var<storage, read_write> w: array<f32>;   // (N, K) when TRANS_B, else (K, N)
//#end

const SA = {{(BM + PAD) / 4}}u; // quads per k-row of As
const SB = {{(BN + PAD) / 4}}u; // quads per k-row of Bs
//#if !SUBGROUPS
var<workgroup> As: array<vec4<f32>, {{DB * BK * (BM + PAD) / 4}}>; // [DB][BK][SA]
//#end
var<workgroup> Bs: array<vec4<f32>, {{DB * BK * (BN + PAD) / 4}}>; // [DB][BK][SB]
//#if SUBGROUPS
var<workgroup> next_slot: atomic<u32>; // zero-initialised, as all workgroup memory
//#end

//#if VEC4
alias Word = vec4<f32>;
const LOAD_A = {{BM * BK / 4}}u; // vec4s of one A tile
const LOAD_B = {{BN * BK / 4}}u;
//#else
alias Word = f32;
const LOAD_A = {{BM * BK}}u;
const LOAD_B = {{BN * BK}}u;
//#end

/** inp[m, k] (VEC4: inp[m, k .. k+3]), zeros outside. */
fn read_a(m: u32, k: u32) -> Word {
  //#if VEC4
  if (m < p.M && k < p.K) { return inp[(m * p.K + k) / 4u]; }
  //#else
  if (m < p.M && k < p.K) { return inp[m * p.K + k]; }
  //#end
  return Word();
}

//#if !SUBGROUPS
/** Load e of the A tile at (row0, k0): along K (VEC4: BK/4 vec4s per row, else BK scalars). */
fn fetch_a(e: u32, k0: u32, row0: u32) -> Word {
  if (e >= LOAD_A) { return Word(); }
  //#if VEC4
  return read_a(row0 + e / {{BK / 4}}u, k0 + 4u * (e % {{BK / 4}}u));
  //#else
  return read_a(row0 + e / {{BK}}u, k0 + e % {{BK}}u);
  //#end
}

/** Stores load e of the A tile into buffer `base` of As, transposed to k-major. */
fn put_a(base: u32, e: u32, v: Word) {
  if (e >= LOAD_A) { return; }
  //#if VEC4
  let m = e / {{BK / 4}}u;
  let k = 4u * (e % {{BK / 4}}u);
  for (var c = 0u; c < 4u; c++) { As[base + (k + c) * SA + m / 4u][m % 4u] = v[c]; }
  //#else
  let m = e / {{BK}}u;
  As[base + (e % {{BK}}u) * SA + m / 4u][m % 4u] = v;
  //#end
}
//#end

/** Load e of the B tile at (k0, col0): along K when TRANS_B (as A), along N otherwise. */
fn fetch_b(e: u32, k0: u32, col0: u32) -> Word {
  if (e >= LOAD_B) { return Word(); }
  //#if VEC4
  if (TRANS_B) {
    let n = col0 + e / {{BK / 4}}u;
    let k = k0 + 4u * (e % {{BK / 4}}u);
    if (n < p.N && k < p.K) { return w[(n * p.K + k) / 4u]; }
  } else {
    let k = k0 + e / {{BN / 4}}u;
    let n = col0 + 4u * (e % {{BN / 4}}u);
    if (n < p.N && k < p.K) { return w[(k * p.N + n) / 4u]; }
  }
  //#else
  if (TRANS_B) {
    let n = col0 + e / {{BK}}u;
    let k = k0 + e % {{BK}}u;
    if (n < p.N && k < p.K) { return w[n * p.K + k]; }
  } else {
    let k = k0 + e / {{BN}}u;
    let n = col0 + e % {{BN}}u;
    if (n < p.N && k < p.K) { return w[k * p.N + n]; }
  }
  //#end
  return Word();
}

/** Stores load e of the B tile into buffer `base` of Bs (k-major). */
fn put_b(base: u32, e: u32, v: Word) {
  if (e >= LOAD_B) { return; }
  //#if VEC4
  if (TRANS_B) {
    let n = e / {{BK / 4}}u;
    let k = 4u * (e % {{BK / 4}}u);
    for (var c = 0u; c < 4u; c++) { Bs[base + (k + c) * SB + n / 4u][n % 4u] = v[c]; }
  } else {
    Bs[base + (e / {{BN / 4}}u) * SB + e % {{BN / 4}}u] = v;
  }
  //#else
  if (TRANS_B) {
    let n = e / {{BK}}u;
    Bs[base + (e % {{BK}}u) * SB + n / 4u][n % 4u] = v;
  } else {
    let n = e % {{BN}}u;
    Bs[base + (e / {{BN}}u) * SB + n / 4u][n % 4u] = v;
  }
  //#end
}

@compute @workgroup_size({{(BM / TM) * (BN / TN)}})
//#if SUBGROUPS
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) lane: u32, @builtin(subgroup_size) sg: u32) {
  var slot = 0u;
  if (subgroupElect()) { slot = atomicAdd(&next_slot, 1u); }
  slot = subgroupBroadcastFirst(slot);
  let flat = slot * sg + lane;
  let group = lane - lane % {{TM}}u; // the first lane of this lane's row group
//#else
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let flat = li;
//#end
  let tx = flat % {{BN / TN}}u;
  let ty = flat / {{BN / TN}}u;
  let row0 = wg.y * {{BM}}u;
  let col0 = wg.x * {{BN}}u;
  let tiles = (p.K + {{BK - 1}}u) / {{BK}}u;

  //#for i < TM
  //#for j < TN / 4
  var acc{{i}}_{{j}} = vec4f(0.0);
  //#end
  //#end

  // tile 0 into registers, then into buffer 0
  //#if SUBGROUPS
  let arow = row0 + ty * {{TM}}u + lane % {{TM}}u; // the A row this lane reads for its group
  //#for q < BK / 4
  var ra{{q}} = read_a(arow, {{4 * q}}u);
  //#end
  //#else
  //#for r < (BM * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
  put_a(0u, li + {{r * (BM / TM) * (BN / TN)}}u, fetch_a(li + {{r * (BM / TM) * (BN / TN)}}u, 0u, row0));
  //#end
  //#end
  //#for r < (BN * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
  put_b(0u, li + {{r * (BM / TM) * (BN / TN)}}u, fetch_b(li + {{r * (BM / TM) * (BN / TN)}}u, 0u, col0));
  //#end
  workgroupBarrier();

  for (var t = 0u; t < tiles; t++) {
    //#if DB == 2
    let cur = t % 2u;
    let nxt = 1u - cur;
    //#else
    let cur = 0u;
    let nxt = 0u;
    //#end
    let more = t + 1u < tiles;
    let k1 = (t + 1u) * {{BK}}u;
    // the next tile's global loads, issued before this tile's arithmetic
    //#if SUBGROUPS
    //#for q < BK / 4
    var na{{q}} = vec4f(0.0);
    if (more) { na{{q}} = read_a(arow, k1 + {{4 * q}}u); }
    //#end
    //#else
    //#for r < (BM * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
    var sa{{r}} = Word();
    if (more) { sa{{r}} = fetch_a(li + {{r * (BM / TM) * (BN / TN)}}u, k1, row0); }
    //#end
    //#end
    //#for r < (BN * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
    var sb{{r}} = Word();
    if (more) { sb{{r}} = fetch_b(li + {{r * (BM / TM) * (BN / TN)}}u, k1, col0); }
    //#end

    let bb = cur * {{BK}}u * SB + tx;
    //#if SUBGROUPS
    //#for q < BK / 4
    {
      // the group's TM rows, quad q of this tile
      //#for i < TM
      let a{{i}} = subgroupShuffle(ra{{q}}, group + {{i}}u);
      //#end
      //#for c < 4
      {
        let bo = bb + {{4 * q + c}}u * SB;
        //#for j < TN / 4
        let b{{j}} = Bs[bo + {{j * (BN / TN)}}u];
        //#end
        //#for i < TM
        //#for j < TN / 4
        acc{{i}}_{{j}} = fma(vec4f(a{{i}}[{{c}}]), b{{j}}, acc{{i}}_{{j}});
        //#end
        //#end
      }
      //#end
    }
    //#end
    //#for q < BK / 4
    ra{{q}} = na{{q}};
    //#end
    //#else
    let ab = cur * {{BK}}u * SA + ty;
    for (var k = 0u; k < {{BK}}u; k++) {
      //#for i < TM / 4
      let a{{i}} = As[ab + k * SA + {{i * (BM / TM)}}u];
      //#end
      //#for j < TN / 4
      let b{{j}} = Bs[bb + k * SB + {{j * (BN / TN)}}u];
      //#end
      //#for i < TM
      //#for j < TN / 4
      acc{{i}}_{{j}} = fma(vec4f(a{{i / 4}}[{{i % 4}}]), b{{j}}, acc{{i}}_{{j}});
      //#end
      //#end
    }
    //#end

    //#if DB == 1
    workgroupBarrier(); // every invocation is done reading the one buffer
    //#end
    if (more) {
      //#if !SUBGROUPS
      //#for r < (BM * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
      put_a(nxt * {{BK}}u * SA, li + {{r * (BM / TM) * (BN / TN)}}u, sa{{r}});
      //#end
      //#end
      //#for r < (BN * BK / (1 + 3 * VEC4) + (BM / TM) * (BN / TN) - 1) / ((BM / TM) * (BN / TN))
      put_b(nxt * {{BK}}u * SB, li + {{r * (BM / TM) * (BN / TN)}}u, sb{{r}});
      //#end
    }
    workgroupBarrier();
  }

  // The epilogue in loops over an array: one copy of `store` (each copy is ~40 instructions of GELU a lane; unrolled
  // TM·TN times it multiplied lavapipe's first-use compile, as in matmul_cpu.wgsl).
  let accs = array<vec4f, {{TM * TN / 4}}>(
    //#for i < TM
    //#for j < TN / 4
    acc{{i}}_{{j}},
    //#end
    //#end
  );
  // (loops from row0 and col0, not from 0: with constant bounds Mesa unrolls them, TM·TN copies of `store` again)
  for (var r = row0; r < row0 + {{TM}}u; r++) {
    let i = r - row0;
    //#if SUBGROUPS
    let m = row0 + ty * {{TM}}u + i;
    //#else
    let m = row0 + 4u * (ty + (i / 4u) * {{BM / TM}}u) + i % 4u;
    //#end
    if (m >= p.M) { break; } // rows ascend with i
    for (var c = col0; c < col0 + {{TN}}u; c++) {
      let j = c - col0;
      let n = col0 + 4u * (tx + (j / 4u) * {{BN / TN}}u) + j % 4u;
      if (n < p.N) { store(m, n, accs[i * {{TN / 4}}u + j / 4u][j % 4u]); }
    }
  }
}
