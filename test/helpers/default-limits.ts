/**
 * Run by test/limits.test.ts in a child process (the device is opened once per process) with
 * IR_NEURONS_LIMITS=default and a kernel class: a BERT-base shape at 512 tokens on a device with the WebGPU
 * specification's default limits. Prints one JSON line: the device's limits, the chunk plan of the full 12-layer
 * BERT-base (bytes of one point, points per chunk at m = 50, the budget), and one NIG (m = 1, 2 points) of a pair of
 * T tokens (argv[2], default 512) through 2 layers of the BERT-base shape (random weights, a small vocabulary: the
 * same buffers per layer, less to compute), with F at both ends and the logit of a plain forward.
 */
import { requestGpu } from '../../src/gpu/node.ts';
import { BertGpu } from '../../src/model/forward.ts';
import { NigEngine } from '../../src/ig/engine.ts';
import { uniformArray } from '../../src/util/rng.ts';
import type { BertConfig, BertWeights, LayerWeights, Tensor } from '../../src/model/types.ts';

const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const base = (layers: number, vocabSize: number): BertConfig => ({
  vocabSize, hidden: 768, layers, heads: 12, intermediate: 3072, maxPositions: 512, typeVocab: 2, eps: 1e-12, numLabels: 1, padTokenId: 0,
});

let seed = 1;
const t = (shape: number[], scale: number, offset = 0): Tensor => {
  const data = uniformArray(shape.reduce((a, b) => a * b, 1), seed++, scale);
  if (offset) for (let i = 0; i < data.length; i++) data[i] += offset;
  return { shape, data };
};

function randomWeights(cfg: BertConfig): BertWeights {
  const { hidden: C, intermediate: F } = cfg;
  const s = 1 / Math.sqrt(C);
  const layer = (): LayerWeights => ({
    qW: t([C, C], s), qB: t([C], 0.02), kW: t([C, C], s), kB: t([C], 0.02), vW: t([C, C], s), vB: t([C], 0.02),
    aoW: t([C, C], s), aoB: t([C], 0.02), ln1G: t([C], 0.1, 1), ln1B: t([C], 0.02),
    iW: t([F, C], s), iB: t([F], 0.02), oW: t([C, F], 1 / Math.sqrt(F)), oB: t([C], 0.02), ln2G: t([C], 0.1, 1), ln2B: t([C], 0.02),
  });
  return {
    config: cfg, wordEmb: t([cfg.vocabSize, C], 0.5), posEmb: t([cfg.maxPositions, C], 0.1), typeEmb: t([cfg.typeVocab, C], 0.1),
    embLnG: t([C], 0.1, 1), embLnB: t([C], 0.02), layers: Array.from({ length: cfg.layers }, layer),
    poolW: t([C, C], s), poolB: t([C], 0.02), clsW: t([1, C], s), clsB: t([1], 0.02),
  };
}

const g = await requestGpu();
// the full BERT-base: the chunk planner alone (no weights uploaded)
const full = new NigEngine({ cfg: base(12, 30522), g } as unknown as BertGpu, SPECIAL);
const one = full.chunkMemory(512, 1);
const points = full.chunkSize(512, 51);

const w = randomWeights(base(2, 200));
const model = await BertGpu.create(g, w);
const eng = new NigEngine(model, SPECIAL);
const T = Number(process.argv[2] ?? 512), q = Math.floor(T / 2) - 2;
const ids = [101, ...Array.from({ length: q }, (_, i) => 104 + (i * 7) % 96), 102, ...Array.from({ length: T - q - 3 }, (_, i) => 104 + (i * 13) % 96), 102];
const pair = { ids, typeIds: ids.map((_, i) => (i > q + 1 ? 1 : 0)), sep1: q + 1 };
const t0 = performance.now();
const r = await eng.attribute(pair, { steps: 1, rule: 'right' });
const ms = performance.now() - t0;
const [logit] = await model.score([pair]);
console.log(JSON.stringify({
  limits: g.limits, kernels: g.kernels, budget: eng.budget(),
  bertBase: { oneBytes: one.bytes, largestBinding: one.largestBinding, pointsPerChunk: points },
  nig: { T: r.T, F: Array.from(r.F), logit, igDelta: r.igDelta, finite: [...r.nigPre, ...r.nigPost].every(Number.isFinite), ms },
}));
process.exit(0);
