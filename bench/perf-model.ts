/**
 * bench/perf-model.ts: the predicted speed of one NIG pass on an H100 and an H200 (src/bench/perf-model.ts: the
 * engine's own dispatch list of one chunk, FLOPs and bytes per dispatch, a roofline with stated efficiencies), as the
 * Markdown table bench/RESULTS.md keeps ("Issue 24: predicted speed"), beside the measured PyTorch peer. No GPU needed.
 *
 *   node --import tsx bench/perf-model.ts [--shape base] [--tokens 256] [--steps 50] [--chunk P] [--peer-ms 134]
 *
 * Defaults: BERT-base, 256 tokens, m = 50 (51 points, all in one chunk, as bench/gpu-run.sh runs it with
 * --max-memory 40000); --peer-ms is the peer's H200 figure (../shared/README.md: 134 ms/pair).
 */
import { benchConfig, BENCH_SHAPES, type BenchShape } from '../src/bench/chunk-walk.ts';
import { DEFAULT_ASSUMPTIONS, markdown, predict } from '../src/bench/perf-model.ts';
import { walkChunk } from '../src/bench/chunk-walk.ts';

const argv = process.argv.slice(2);
const arg = (name: string, d: string) => { const i = argv.indexOf(name); return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : d; };
const shape = arg('--shape', 'base') as BenchShape;
if (!(shape in BENCH_SHAPES)) { console.error(`perf-model: --shape '${shape}' is not one of ${Object.keys(BENCH_SHAPES).join(', ')}`); process.exit(2); }
const T = Number(arg('--tokens', '256')), m = Number(arg('--steps', '50')), peer = Number(arg('--peer-ms', '134'));
const P = Number(arg('--chunk', String(m + 1)));
for (const [n, v] of [['--tokens', T], ['--steps', m], ['--chunk', P]] as const) {
  if (!Number.isInteger(v) || v < 1) { console.error(`perf-model: ${n} must be a positive integer, got ${v}`); process.exit(2); }
}

const walk = await walkChunk(benchConfig(shape), T, P);
const p = { walk, ...predict(walk, m + 1) };
for (const l of markdown(p, Number.isFinite(peer) ? { H200: peer } : {})) console.log(l);

// what the tuner could buy: every product at the 8×8-per-invocation efficiency (the walk records the default variant)
const eff8 = DEFAULT_ASSUMPTIONS.matmulEff[64];
const tuned = predict(p.walk, m + 1, undefined, { ...DEFAULT_ASSUMPTIONS, matmulEff: { 1: eff8 } });
console.log(`\nIf every product ran at the 8×8 variants' assumed ${eff8} of peak (the tuner's best case): ${tuned.hw.map((h) => `${h.name} ${tuned.total[h.name].toFixed(1)} ms`).join('; ')}${Number.isFinite(peer) ? `; ${(tuned.total.H200 / peer).toFixed(2)}× the peer (H200)` : ''}.`);
