/**
 * The performance model on paper (src/bench/perf-model.ts) and the chunk walk it prices (src/bench/chunk-walk.ts):
 * the walked dispatches carry the engine's real products (matmul FLOPs equal a count by hand of what one NIG chunk
 * runs: every layer's forward and input-gradient products, the last layer after its attention on [CLS] rows only),
 * attention FLOPs and bytes, the roofline arithmetic, the efficiency table, the flash-attention alternative (no
 * T×T bytes, backward 2.5× forward) and the totals. No GPU: a recording device.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { benchConfig, isMatmul, matmulShapes, walkChunk, type WalkedDispatch } from '../src/bench/chunk-walk.ts';
import {
  DEFAULT_ASSUMPTIONS as A, dispatchBytes, dispatchFlops, dispatchMs, H100, H200, markdown, matmulEfficiency, predict,
} from '../src/bench/perf-model.ts';

const close = (a: number, b: number, rel = 1e-9) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));

/** Matmul FLOPs of one chunk by hand: qkv forward and backward at all M rows in every layer; attention out, FFN up and
 * down, forward and backward, at M rows in layers 0..L−2 and at P ([CLS]) rows in the last. */
function matmulFlopsByHand(L: number, C: number, F: number, T: number, P: number): number {
  const M = T * P;
  return 2 * (2 * L * M * 3 * C * C + 2 * ((L - 1) * M + P) * (C * C + 2 * C * F));
}

for (const [shape, T, P] of [['tiny', 32, 4], ['base', 256, 51]] as const) {
  test(`walk ${shape}, ${T} tokens, ${P} points: matmul and attention FLOPs equal the count by hand`, async () => {
    const cfg = benchConfig(shape);
    const { layers: L, hidden: C, intermediate: F, heads: NH } = cfg, HS = C / NH;
    const w = await walkChunk(cfg, T, P);
    const mm = w.chunk.filter((d) => isMatmul(d.kernel));
    assert.is(mm.length, 8 * L, 'eight products a layer');
    assert.is(mm.reduce((s, d) => s + dispatchFlops(d), 0), matmulFlopsByHand(L, C, F, T, P));
    // the GPU class's fused attention: forward 4·HS, backward 6·HS + 8·HS per (sequence, head, query, key); the
    // last layer's queries are the [CLS] rows (one per sequence)
    const att = w.chunk.filter((d) => d.kernel.startsWith('attention/'));
    assert.equal([...new Set(att.map((d) => d.kernel))].sort(), ['attention/flash_backward_kv', 'attention/flash_backward_q', 'attention/flash_forward']);
    assert.is(att.filter((d) => d.kernel === 'attention/flash_forward').length, L);
    assert.is(att.reduce((s, d) => s + dispatchFlops(d), 0), 18 * P * NH * HS * T * ((L - 1) * T + 1));
    // no T×T matrix is bound: every attention binding is linear in T
    for (const d of att) for (const [name, b] of Object.entries(d.bytes)) assert.ok(b < 4 * P * NH * T * T || b <= 4 * P * T * 3 * C, `${d.kernel} ${name}: ${b} bytes`);
    // every layer's conductance dispatches (pre, post; hidden states) and nothing that costs FLOPs besides
    assert.ok(w.chunk.every((d) => dispatchFlops(d) === 0 || isMatmul(d.kernel) || d.kernel.startsWith('attention/')));
    assert.ok(w.chunk.filter((d) => d.kernel.startsWith('ig/conductance')).length >= 2 * L);
    // the tuner's view: distinct products, the default variant everywhere (the recording device never tunes)
    const shapes = matmulShapes(w.chunk);
    assert.is(shapes.length, 14, 'qkv, attention out, FFN up and down forward and backward, at M and at [CLS] rows (qkv at M only)');
    assert.ok(mm.every((d) => d.constants.TM === 4 && d.constants.TN === 4 && d.constants.BM === 64));
  });
}

test('the walk never tunes, even with IR_NEURONS_TUNE=1 (which forces tuning on software adapters), and leaves the variable as it was', async () => {
  const before = process.env.IR_NEURONS_TUNE;
  process.env.IR_NEURONS_TUNE = '1';
  try {
    const w = await walkChunk(benchConfig('tiny'), 16, 2);
    assert.ok(w.chunk.filter((d) => isMatmul(d.kernel)).every((d) => d.kernel === 'matmul/matmul[v4_64x64x8_4x4]' && d.constants.TM === 4 && d.constants.BM === 64), 'the default variant');
    assert.is(process.env.IR_NEURONS_TUNE, '1');
  } finally {
    if (before === undefined) delete process.env.IR_NEURONS_TUNE; else process.env.IR_NEURONS_TUNE = before;
  }
});

test('bytes of a dispatch: its storage bindings; the qkv forward binds inp, W, bias, out and three 16-byte placeholders', async () => {
  const cfg = benchConfig('tiny');
  const w = await walkChunk(cfg, 32, 4);
  const qkv = w.chunk.find((d) => isMatmul(d.kernel) && d.params.N === 3 * cfg.hidden && d.constants.TRANS_B)!;
  const { M, N, K } = qkv.params as Record<string, number>;
  assert.is(M, 32 * 4);
  assert.is(dispatchBytes(qkv), 4 * (M * K + N * K + N + M * N) + 3 * 16);
});

const fake = (kernel: string, params: Record<string, number>, bytes: number, workgroups: [number, number, number] = [1000, 1, 1], constants: Record<string, number | boolean> = { TM: 4, TN: 4 }): WalkedDispatch =>
  ({ label: kernel, kernel, constants, workgroups, params, bytes: { all: bytes }, access: { all: 'rw' } });

test('the roofline: compute-bound matmul, memory-bound elementwise, launch-bound tiny dispatches; efficiencies by tile', () => {
  assert.is(matmulEfficiency(A, { TM: 4, TN: 4 }), 0.15);
  assert.is(matmulEfficiency(A, { TM: 8, TN: 8 }), 0.30);
  assert.is(matmulEfficiency(A, { TM: 8, TN: 4 }), 0.22);
  assert.is(matmulEfficiency(A, { TM: 2, TN: 2 }), 0.08);
  assert.is(matmulEfficiency(A, { TM: 2, TN: 4 }), 0.08, 'between entries: the lower');
  const big = fake('matmul/matmul[v4_64x64x8_4x4]', { M: 4096, N: 4096, K: 4096 }, 3 * 4 * 4096 * 4096);
  const t = dispatchMs(big, H100, A);
  assert.is(t.bound, 'compute');
  assert.ok(close(t.ms, (2 * 4096 ** 3 / (0.15 * 67e12) + 4e-6) * 1e3));
  // a grid of 66 workgroups on 132 SMs (wavesFull 2): a quarter of the efficiency
  const small = fake('matmul/matmul[v4_64x64x8_4x4]', { M: 64, N: 4096, K: 4096 }, 0, [66, 1, 1]);
  assert.ok(close(dispatchMs(small, H100, A).ms, (2 * 64 * 4096 * 4096 / (0.15 * 0.25 * 67e12) + 4e-6) * 1e3));
  const ew = fake('ig/conductance', { R: 1 }, 1e9);
  const m100 = dispatchMs(ew, H100, A), m200 = dispatchMs(ew, H200, A);
  assert.is(m100.bound, 'memory');
  assert.ok(close(m100.ms, (1e9 / (0.6 * 3.35e12) + 4e-6) * 1e3));
  assert.ok(close(m200.ms, (1e9 / (0.6 * 4.8e12) + 4e-6) * 1e3), 'the H200 only differs in bandwidth');
  assert.is(dispatchMs(fake('head/head_forward', {}, 64), H200, A).bound, 'launch');
});

test('predict: totals are the rows plus the chunks\' fixed cost; chunks = ⌈points / P⌉; the table', async () => {
  const cfg = benchConfig('tiny');
  const w = await walkChunk(cfg, 32, 4);
  const p = predict(w, 9);
  assert.is(p.chunks, 3);
  for (const h of [H100, H200]) {
    const rows = p.rows.reduce((s, r) => s + r.ms[h.name], 0);
    assert.ok(close(p.total[h.name], rows + (3 * A.chunkUs) / 1e3));
    assert.ok(p.rows.filter((r) => r.name.startsWith('attention/flash_')).reduce((s, r) => s + r.ms[h.name], 0) > 0, 'the flash attention is priced');
  }
  assert.is(p.dispatches, 3 * w.chunk.length + w.pair.length);
  assert.is(p.flops, 3 * w.chunk.reduce((s, d) => s + dispatchFlops(d), 0));
  assert.ok(p.total.H100 >= p.total.H200, 'more bandwidth never predicts slower');
  const md = markdown(p, { H200: 134 });
  assert.ok(md.some((l) => l.startsWith('| **total** |')));
  const ratio = md.find((l) => l.startsWith('| ratio predicted / peer (H200)'))!;
  assert.match(ratio, new RegExp(`${(p.total.H200 / 134).toFixed(2)}×`));
});

test.run();
