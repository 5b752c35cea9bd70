/**
 * The activation memory plan (src/model/layout.ts, src/ig/layout.ts) is what the engine allocates, to the byte:
 * the NIG engine's real allocation path (model plan + attribution sums, the same code a run takes) runs against a
 * recording device at BERT-base and BERT-large shapes, and the bytes it creates must equal the bytes
 * `chunkMemory` plans. The table itself is checked against a count written out by hand.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Gpu } from '../src/gpu/device.ts';
import { BertGpu } from '../src/model/forward.ts';
import { activationLayout, layoutBytes, layoutTable, paddedLength } from '../src/model/layout.ts';
import { attributionLayout } from '../src/ig/layout.ts';
import { memoryDoc } from '../src/ig/layout-doc.ts';
import { readFileSync } from 'node:fs';
import { NigEngine } from '../src/ig/engine.ts';
import type { BertConfig } from '../src/model/types.ts';
import { zeroBert } from '../src/bench/chunk-walk.ts';

// WebGPU's flag constants, when no device was opened in this process
const g0 = globalThis as Record<string, unknown>;
g0.GPUBufferUsage ??= { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 };
g0.GPUShaderStage ??= { VERTEX: 1, FRAGMENT: 2, COMPUTE: 4 };
g0.GPUMapMode ??= { READ: 1, WRITE: 2 };

/** H200-like limits (the default budget then is 2 GiB, bindings up to 4 GiB − 4). */
const LIMITS: Record<string, number> = {
  maxStorageBufferBindingSize: 4294967292, maxBufferSize: 4294967296, minStorageBufferOffsetAlignment: 256, minUniformBufferOffsetAlignment: 256,
  maxComputeWorkgroupsPerDimension: 65535, maxComputeWorkgroupStorageSize: 49152, maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupSizeY: 1024, maxComputeWorkgroupSizeZ: 64, maxStorageBuffersPerShaderStage: 10,
  maxUniformBufferBindingSize: 65536, maxBindGroups: 4,
};

/** A device that compiles nothing and records every buffer it is asked for. */
function recordingGpu(): { g: Gpu; created: { label: string; size: number }[] } {
  const created: { label: string; size: number }[] = [];
  const device = {
    createBuffer: (d: { label?: string; size: number }) => { created.push({ label: d.label ?? '', size: d.size }); return { size: d.size, label: d.label, destroy() {} }; },
    createBindGroup: () => ({}), createBindGroupLayout: () => ({}), createPipelineLayout: () => ({}), createShaderModule: () => ({}), createComputePipeline: () => ({}),
    pushErrorScope() {}, popErrorScope: async () => null,
    queue: { writeBuffer() {}, submit() {}, onSubmittedWorkDone: async () => {} },
    createCommandEncoder: () => ({ clearBuffer() {}, finish: () => ({}) }),
    lost: new Promise(() => {}),
  };
  const pipelines = { compiled: 0, get: async (def: { shader: string }) => ({ key: def.shader, label: def.shader, pipeline: {}, layout: {}, def }) };
  const g = { device, limits: LIMITS, features: [], adapterInfo: { vendor: 'test', architecture: '', device: 'recording', description: '', isFallbackAdapter: true }, pipelines, keepAlive: [] } as unknown as Gpu; // (runs nothing: never tuned, like a software adapter)
  return { g, created };
}

const shape = (layers: number, hidden: number, heads: number, intermediate: number): BertConfig =>
  ({ vocabSize: 64, hidden, layers, heads, intermediate, maxPositions: 512, typeVocab: 2, eps: 1e-12, numLabels: 2, padTokenId: 0 });
const BASE = shape(12, 768, 12, 3072);
const LARGE = shape(24, 1024, 16, 4096);
const SPECIAL = { clsId: 2, sepId: 3, padId: 0, maskId: 4, unkId: 1 };

for (const [name, cfg, cases] of [['BERT-base', BASE, [[128, 51], [256, 13], [512, 5]]], ['BERT-large', LARGE, [[256, 7], [512, 3]]]] as const) {
  test(`${name}: the bytes the engine allocates for a chunk equal the bytes it plans, on either kernel class`, async () => {
    for (const [T, P, kernels] of cases.flatMap(([T, P]) => [[T, P, 'gpu'], [T, P, 'cpu']] as const)) {
      // levels: the coarser sums of the error estimate (1) and of richardson (2)
      for (const [slots, levels] of [[1, 0], [1, 1], [1, 2], ...(P % 2 === 0 ? [[2, 0], [2, 2]] : [])]) {
        // (a device of its own each time: no freed buffer kept for reuse, src/gpu/pool.ts)
        const { g, created } = recordingGpu();
        g.kernels = kernels; // (the recording device has no subgroups: the CPU class runs the per-row attention, keeping probabilities)
        const eng = new NigEngine(await BertGpu.create(g, zeroBert(cfg)), SPECIAL);
        assert.is(eng.model.attention, kernels === 'gpu' ? 'lse' : 'probs');
        const reported = await eng.allocateChunk(T, P, slots, undefined, levels);
        const onDevice = created.filter((c) => /^(activations|attribution) /.test(c.label)).reduce((a, c) => a + c.size, 0);
        const planned = eng.chunkMemory(T, P, slots, levels).bytes;
        assert.is(onDevice, planned, `${name} ${T} tokens, ${P} rows, ${slots} pair(s), ${levels} coarser levels: created ${onDevice} bytes, planned ${planned}`);
        assert.is(reported, planned);
        if (levels) assert.ok(planned > eng.chunkMemory(T, P, slots).bytes, 'the coarser sums take memory');
      }
    }
  });
}

test('the activation table at BERT-base, 128 tokens, against a count by hand', () => {
  const { hidden: C, intermediate: F, heads: NH, layers: L } = BASE;
  const T = 128;
  for (const B of [1, 7]) {
    const N = B * T;
    const layer = (R: number) => N * 3 * C + B * NH * T * T + 3 * R * C + 2 * R * 2 + R * F + R * C; // qkv probs s1 h1 s2, stats, pre, h.l+1
    const saved = (L - 1) * layer(N) + layer(B) + 2 * B * C; // the last layer after its attention at [CLS] (B rows), its gathered rows
    const scratch = 2 * N * C + N * F + N * C;                                              // att ao, post, o
    const io = N * 4 + B + N + N * C + N * 2 + N * C + B * C + B * 2;                        // tok alpha amask s0 stats0 h.0 pooled logits
    const back = 6 * N * C + N * 3 * C + 2 * N * F + B * NH * T * T + B;                    // dh×2 ds dh1 datt ds0, dqkv, dpre dpost, dS, F
    const table = activationLayout(BASE, { B, T, save: true });
    assert.is(table.buffers.reduce((a, b) => a + b.bytes, 0), 4 * (saved + scratch + io + back));
    const scoring = activationLayout(BASE, { B, T, save: false }); // one scratch buffer per kind, two alternating h
    const perLayer = N * 3 * C + B * NH * T * T + 3 * N * C + 2 * N * 2 + N * F;
    assert.is(scoring.buffers.reduce((a, b) => a + b.bytes, 0), 4 * (perLayer + scratch + io + N * C + 2 * B * C));
    // packing adds less than one alignment per buffer
    const packed = layoutBytes(LIMITS, table);
    assert.ok(packed >= 4 * (saved + scratch + io + back) && packed < 4 * (saved + scratch + io + back) + 256 * table.buffers.length);
  }
  const sums = attributionLayout(BASE, T, 1).buffers.reduce((a, b) => a + b.bytes, 0);
  assert.is(sums, 4 * (2 * L * T * F + 4 * L * T * F + 3 * (L + 1) * T * C + 3 * T * C + 12 * L * F));
});

test('the GPU class\'s table (fused attention: out and row log-sum-exp kept, no probabilities) at BERT-base, 256 tokens, against a count by hand', () => {
  const { hidden: C, intermediate: F, heads: NH, layers: L } = BASE;
  const T = 256;
  for (const B of [1, 51]) {
    const N = B * T;
    // qkv, lse (one row per query: T, or 1 at [CLS]), att (the attention output, kept), s1 h1 s2, stats, pre, h.l+1
    const layer = (R: number, TQ: number) => N * 3 * C + B * NH * TQ + R * C + 3 * R * C + 2 * R * 2 + R * F + R * C;
    const saved = (L - 1) * layer(N, T) + layer(B, 1) + 2 * B * C;
    const scratch = N * C + N * F + N * C;                                                  // ao, post, o
    const io = N * 4 + B + N + N * C + N * 2 + N * C + B * C + B * 2;
    const back = 6 * N * C + N * 3 * C + 2 * N * F + B * NH * T + B;                        // …, D (B, NH, T) for dS, F
    const table = activationLayout(BASE, { B, T, save: true, attention: 'lse' });
    assert.is(table.buffers.reduce((a, b) => a + b.bytes, 0), 4 * (saved + scratch + io + back));
    assert.not.ok(table.buffers.some((b) => /^(probs|dS)\b/.test(b.name)), 'no (B, NH, T, T) buffer');
    const probs = activationLayout(BASE, { B, T, save: true, attention: 'probs' }).buffers.reduce((a, b) => a + b.bytes, 0);
    // per layer T² probabilities out, the output (B·T·C, B·C at the last layer) and lse in, the shared scratch of the
    // output out; dS out, D in
    const diff = L * B * NH * T * T - (L - 1) * (N * C + B * NH * T) - (B * C + B * NH) + N * C + B * NH * T * T - B * NH * T;
    assert.is(probs - 4 * (saved + scratch + io + back), 4 * diff);
    const scoring = activationLayout(BASE, { B, T, save: false, attention: 'lse' });
    const perLayer = N * 3 * C + B * NH * T + 3 * N * C + 2 * N * 2 + N * F;
    assert.is(scoring.buffers.reduce((a, b) => a + b.bytes, 0), 4 * (perLayer + N * C + scratch + io + N * C + 2 * B * C));
  }
});

test('a one-byte drift in the table changes the planned bytes', () => {
  const t = activationLayout(BASE, { B: 3, T: 128, save: true });
  const before = layoutBytes(LIMITS, t);
  const drift = { ...t, buffers: t.buffers.map((b, i) => (i === t.buffers.length - 1 ? { ...b, bytes: b.bytes + 1 } : b)) };
  assert.ok(layoutBytes(LIMITS, drift) > before);
});

test('chunk sizes honour the budget exactly: the largest P whose plan fits', async () => {
  const { g } = recordingGpu();
  const model = await BertGpu.create(g, zeroBert(BASE));
  for (const budgetMiB of [1000, 1500, 2048]) {
    const eng = new NigEngine(model, SPECIAL, budgetMiB * 2 ** 20);
    for (const T of [128, 256, 512]) {
      const P = eng.chunkSize(T, 51);
      assert.ok(eng.chunkMemory(T, P).bytes <= budgetMiB * 2 ** 20, `${T} tokens: chunk ${P} over ${budgetMiB} MiB`);
      if (P < 51) assert.ok(eng.chunkMemory(T, P + 1).bytes > budgetMiB * 2 ** 20, `${T} tokens: chunk ${P + 1} would also fit ${budgetMiB} MiB`);
    }
  }
  const tight = new NigEngine(model, SPECIAL, 2 ** 20);
  assert.throws(() => tight.chunkSize(128, 51), /over the memory budget/);
});

test('padded lengths: multiples of 8 capped by the positions, too-long pairs refused', () => {
  assert.is(paddedLength(BASE, 1), 8);
  assert.is(paddedLength(BASE, 33), 40);
  assert.is(paddedLength(BASE, 509), 512);
  assert.is(paddedLength({ ...BASE, maxPositions: 100 }, 97), 100);
  assert.throws(() => paddedLength({ ...BASE, maxPositions: 100 }, 101), /max_position_embeddings 100/);
  assert.throws(() => paddedLength({ ...BASE, maxPositions: 1024 }, 513), /limit of 512/);
});

test('the table prints every buffer', () => {
  const t = activationLayout(shape(2, 32, 2, 64), { B: 2, T: 8, save: true });
  const md = layoutTable(t);
  assert.is(md.split('\n').length, 2 + t.buffers.length);
  assert.match(md, /\| activations 2x8 \| `qkv.1` \| 16 × 96 \| f32 \| 6.0 KiB \| Q, K, V \|/);
});

test('docs/memory.md is the current table (npm run docs:memory)', () => {
  assert.fixture(readFileSync(new URL('../docs/memory.md', import.meta.url), 'utf8'), memoryDoc());
});

test.run();
