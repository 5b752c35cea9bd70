/**
 * bench/plans.ts: what keeping plans saves, scenario by scenario, on the tiny-minilm fixture (small: the plan
 * building is a large part of each call, which is what this isolates). Uses only `NigEngine.attribute` and
 * `scoreEncoded`, so the same file runs on any commit (copy it into an older checkout for an A/B). Per scenario:
 * wall time (after one untimed warm-up round of the whole script's calls, so pipelines are compiled) and the
 * arenas built (activations, attribution sums, point stores) and bind groups created — the figure of bench/RESULTS.md "Issue 22: plans kept by a memory
 * budget".
 *   node --import tsx bench/plans.ts [--rounds 3]
 */
import { resolve } from 'node:path';
import { Arena } from '../src/gpu/arena.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { scoreEncoded } from '../src/model/score.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { readFileSync } from 'node:fs';
import { loadAverage } from './preamble.ts';

const FIXTURES = process.env.FIXTURES ?? resolve(import.meta.dirname, '../../shared/fixtures'); // (FIXTURES=…: a checkout elsewhere)
const ri = process.argv.indexOf('--rounds');
const rounds = ri > 0 ? Number(process.argv[ri + 1]) : 3;

const g = await requestGpu();
const built = new Map<string, number>(); // arenas built, by kind: activations, attribution, point store
const build = Arena.prototype.build;
Arena.prototype.build = function (this: Arena) { const k = this.label.replace(/ \d.*$/, ''); built.set(k, (built.get(k) ?? 0) + 1); build.call(this); };
let bindGroups = 0;
const createBindGroup = g.device.createBindGroup.bind(g.device);
g.device.createBindGroup = ((d: GPUBindGroupDescriptor) => { bindGroups++; return createBindGroup(d); }) as typeof g.device.createBindGroup;
const snap = () => new Map([...built, ['bind groups', bindGroups]]);
const diff = (a: Map<string, number>) => ['activations', 'attribution', 'point store'].map((k) => `${k} ${(built.get(k) ?? 0) - (a.get(k) ?? 0)}`).join(', ') + `; bind groups ${bindGroups - a.get('bind groups')!}`;

const dir = resolve(FIXTURES, 'tiny-minilm');
const model = await BertGpu.create(g, loadCheckpoint(dir));
const ref = parseSafetensors(readFileSync(resolve(dir, 'reference.safetensors')), 'reference');
const get = (n: string) => Array.from(toFloat(ref.get(n)!, Float64Array));
const pairs = [0, 1, 2, 3, 4, 5].map((i) => { const ids = get(`p${i}.input_ids`); return { ids, typeIds: get(`p${i}.token_type_ids`), sep1: ids.indexOf(102) }; });
const eng = new NigEngine(model, { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 });

const scenarios: [string, () => Promise<void>][] = [
  ['alternating lengths (6 pairs of 3 lengths, m = 8, twice)', async () => { for (let k = 0; k < 2; k++) for (const p of pairs) await eng.attribute(p, { steps: 8 }); }],
  ['adaptive --tol 1e-3 (6 pairs one by one, from m = 4)', async () => { for (const p of pairs) await eng.attribute(p, { steps: 4, tol: 1e-3 }); }],
  ['score in batches of 4, a NIG pair, score again', async () => { await scoreEncoded(model, pairs, 4); await eng.attribute(pairs[0], { steps: 4 }); await scoreEncoded(model, pairs, 4); }],
];
for (const [, f] of scenarios) await f(); // warm-up: pipelines compiled, plans of every shape met once
console.log(`bench/plans: tiny-minilm fixture, ${rounds} rounds after a warm-up round; load average ${loadAverage()}`);
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of scenarios) {
    const a0 = snap(), t0 = performance.now();
    await f();
    console.log(`BENCH plans round ${r + 1} | ${name} | ${(performance.now() - t0).toFixed(0)} ms | arenas built: ${diff(a0)} | load ${loadAverage()}`);
  }
}
