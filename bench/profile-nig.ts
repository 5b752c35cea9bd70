/**
 * bench/profile-nig.ts: where one chunk of a NIG pass spends its time, by kernel kind.
 *
 *   node --import tsx bench/profile-nig.ts [--shape minilm|tiny|base] [--tokens 128] [--steps 20] [--reps 3]
 *
 * Builds the engine's chunk plan exactly as `NigEngine.attribute` does (one untimed pair first: it builds the plan,
 * compiles the pipelines and leaves realistic activations in the buffers), then submits the plan's dispatches
 * grouped by kind (the label with layer numbers, pair numbers and halves folded: 'L# attention backward (q)' →
 * 'attention backward (q)'; matmuls by their role) — each group alone, `--reps` times, in the plan's order — and
 * waits for each through src/gpu/wait.ts (so the host sleeps, as in the real pass). Prints ms per chunk per kind
 * (the best of the reps), its share of the sum, and the whole chunk submitted at once for comparison. Re-running a
 * group alone re-reads the buffers the full pass left and only adds to path sums, so the times are those of the pass.
 * The kernel class is the device's (IR_NEURONS_KERNELS=cpu|gpu to force one).
 */
import { benchPreamble, loadAverage } from './preamble.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import type { Dispatch } from '../src/gpu/pipelines.ts';
import { settle, submit } from '../src/gpu/queue.ts';
import type { BertConfig, BertWeights, EncodedPair, LayerWeights, Tensor } from '../src/model/types.ts';
import { mulberry32 } from '../src/util/rng.ts';

const SHAPES: Record<string, [number, number, number, number]> = { tiny: [2, 128, 2, 512], minilm: [6, 384, 12, 1536], base: [12, 768, 12, 3072] };
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };
const argv = process.argv.slice(2);
const arg = (n: string, d: string) => { const i = argv.indexOf(n); return i >= 0 ? argv[i + 1] : d; };
const shape = arg('--shape', 'minilm');
if (!(shape in SHAPES)) throw new Error(`bench:profile-nig: --shape '${shape}' is not one of ${Object.keys(SHAPES).join(', ')}`);
const T = Number(arg('--tokens', '128')), steps = Number(arg('--steps', '20')), reps = Number(arg('--reps', '3'));

/** A random BERT of the shape (as bench/nig.ts builds it: the timing does not depend on the values). */
function randomBert(V = 1000, maxPositions = 512): BertWeights {
  const [L, C, NH, F] = SHAPES[shape];
  const u = mulberry32(1);
  const randn = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const t = (shp: number[], f: () => number): Tensor => ({ shape: shp, data: Float32Array.from({ length: shp.reduce((a, b) => a * b, 1) }, f) });
  const lin = (o: number, i: number): [Tensor, Tensor] => [t([o, i], () => randn() / Math.sqrt(i)), t([o], () => 0.02 * randn())];
  const ln = (): [Tensor, Tensor] => [t([C], () => 1 + 0.05 * randn()), t([C], () => 0.05 * randn())];
  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    const [qW, qB] = lin(C, C), [kW, kB] = lin(C, C), [vW, vB] = lin(C, C), [aoW, aoB] = lin(C, C);
    const [ln1G, ln1B] = ln(), [iW, iB] = lin(F, C), [oW, oB] = lin(C, F), [ln2G, ln2B] = ln();
    layers.push({ qW, qB, kW, kB, vW, vB, aoW, aoB, ln1G, ln1B, iW, iB, oW, oB, ln2G, ln2B });
  }
  const [embLnG, embLnB] = ln(), [poolW, poolB] = lin(C, C), [clsW, clsB] = lin(2, C);
  const config: BertConfig = { vocabSize: V, hidden: C, layers: L, heads: NH, intermediate: F, maxPositions, typeVocab: 2, eps: 1e-12, numLabels: 2, padTokenId: 0 };
  return { config, wordEmb: t([V, C], randn), posEmb: t([maxPositions, C], randn), typeEmb: t([2, C], randn), embLnG, embLnB, layers, poolW, poolB, clsW, clsB };
}

function makePair(V = 1000): EncodedPair {
  const u = mulberry32(7919 + T);
  const q = Math.min(32, Math.floor(T / 4));
  const ids = Array.from({ length: T }, () => 104 + Math.floor(u() * (V - 104)));
  ids[0] = SPECIAL.clsId; ids[q] = SPECIAL.sepId; ids[T - 1] = SPECIAL.sepId;
  return { ids, typeIds: ids.map((_, i) => (i > q ? 1 : 0)), sep1: q };
}

/** The kind of a dispatch: its label without layer / pair numbers; matmuls named by role. */
function kindOf(label: string): string {
  return label.replace(/^L\d+ /, '').replace(/ \(pair \d+[^)]*\)/, '').replace(/(NIG (?:hidden|pre|post)) \d+/, '$1').replace(/ \d+$/, '');
}

async function main(): Promise<void> {
  const { g } = await benchPreamble('adapter');
  const model = await BertGpu.create(g, randomBert());
  const engine = new NigEngine(model, SPECIAL);
  const pair = makePair();
  const t0 = performance.now();
  await engine.attribute(pair, { steps, rule: 'right' });
  const t1 = performance.now();
  await engine.attribute(pair, { steps, rule: 'right' });
  const pairMs = performance.now() - t1;
  const at = await [...(engine as unknown as { cache: Map<string, Promise<{ P: number; dispatches: Dispatch[] }>> }).cache.values()][0];
  const chunks = Math.ceil((steps + 1) / at.P);
  console.log(`kernels: ${g.kernels}-class; ${shape}, ${T} tokens, m = ${steps}: chunk of ${at.P} points × ${chunks} chunks, ${at.dispatches.length} dispatches per chunk; first pair ${(t1 - t0).toFixed(0)} ms (plans, pipelines), second ${pairMs.toFixed(0)} ms; load average ${loadAverage()}`);
  const groups = new Map<string, Dispatch[]>();
  for (const d of at.dispatches) {
    const k = kindOf(d.label);
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(d);
  }
  const time = async (ds: Dispatch[], label: string): Promise<number> => {
    let best = Infinity;
    for (let r = 0; r < reps + 1; r++) { // the first rep teaches src/gpu/wait.ts the kind's time (it awaits)
      const s = performance.now();
      await submit(g, ds, label);
      await settle(g);
      if (r > 0 || reps === 0) best = Math.min(best, performance.now() - s);
    }
    return best;
  };
  const rows: [string, number, number][] = [];
  for (const [k, ds] of groups) rows.push([k, ds.length, await time(ds, `profile ${k}`)]);
  const whole = await time(at.dispatches, 'profile whole chunk');
  const sum = rows.reduce((s, r) => s + r[2], 0);
  rows.sort((a, b) => b[2] - a[2]);
  console.log(`\n| kind | dispatches per chunk | ms per chunk | % of the sum |`);
  console.log(`|---|---|---|---|`);
  for (const [k, n, ms] of rows) console.log(`| ${k} | ${n} | ${ms.toFixed(1)} | ${(100 * ms / sum).toFixed(1)} |`);
  console.log(`| **sum of the kinds** | ${at.dispatches.length} | ${sum.toFixed(1)} | 100 |`);
  console.log(`| whole chunk in one submit | ${at.dispatches.length} | ${whole.toFixed(1)} | |`);
  console.log(`\nper pair (× ${chunks} chunks): sum of kinds ≈ ${(sum * chunks / 1000).toFixed(2)} s, whole chunks ≈ ${(whole * chunks / 1000).toFixed(2)} s; the measured pair ${(pairMs / 1000).toFixed(2)} s; load average ${loadAverage()}`);
}

main().then(() => process.exit(0), (e) => { console.error(`bench:profile-nig: ${(e as Error).stack ?? e}`); process.exit(1); });
