/**
 * `ir-neurons attribute --model DIR [--tokenizer FILE] --pairs FILE.jsonl --steps M [--rule right|left|trapezoid]
 *  [--units ffn-pre|ffn-post] [--target relevant|nonrelevant|logit] [--baseline ...] [--per-token]
 *  [--max-length N] [--max-memory MiB] [--chunk P] --out DIR`
 * writes DIR/attributions.safetensors (float32, per pair id: .nig, .nig_segments, .ig_embed, .F, .delta,
 * .delta_hidden) and DIR/manifest.json.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, required } from './args.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { readPairsJsonl } from '../data/pairs-jsonl.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu } from '../model/forward.ts';
import { NigEngine, type NigResult } from '../ig/engine.ts';
import { BASELINES, type Baseline } from '../ig/baselines.ts';
import { DEFAULT_RULE, IG_RULES, RULES, type IgRule, type Rule } from '../ig/path.ts';
import { IgEngine } from '../ig/ig.ts';
import { attributionsSafetensors, pairTensors } from '../ig/export.ts';
export { pairTensors };
import { modelHash } from '../formats/hash.ts';
import { UserError } from '../util/errors.ts';
import type { Target } from '../model/types.ts';
import { Progress } from '../util/progress.ts';
import { runDatasets } from '../run/datasets.ts';
import { runManifest } from '../run/manifest.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';

const TARGETS: Target[] = ['relevant', 'nonrelevant', 'logit'];

function oneOf<T extends string>(name: string, v: unknown, allowed: T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!allowed.includes(v as T)) throw new UserError(`--${name} '${v}' is not one of: ${allowed.join(', ')}`);
  return v as T;
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('attribute', argv, {
    model: 'string', tokenizer: 'string', pairs: 'string', steps: 'number', rule: 'string', units: 'string', target: 'string',
    baseline: 'string', 'per-token': 'boolean', 'max-length': 'number', 'max-memory': 'number', chunk: 'number', out: 'string',
    dataset: 'string', 'datasets-config': 'string', shared: 'string', 'per-query': 'number', 'per-dataset': 'number', seed: 'number',
    'allow-unjudged': 'boolean', 'correct-only': 'boolean', shard: 'string', resume: 'boolean', 'checkpoint-every': 'number', 'stop-after': 'number', 'keep-pairs': 'boolean', pack: 'number', 'ig-rule': 'string', 'ig-steps': 'number',
  });
  const modelDir = required('attribute', a, 'model');
  const datasetSpec = a.opts.dataset as string | undefined;
  if (datasetSpec && a.opts.pairs) throw new UserError('give either --pairs FILE or --dataset NAMES, not both');
  const pairsFile = datasetSpec ? '' : required('attribute', a, 'pairs');
  const outDir = required('attribute', a, 'out');
  const steps = a.opts.steps as number | undefined;
  if (steps === undefined) throw new UserError('--steps is required (e.g. --steps 50)');
  const rule = oneOf<Rule>('rule', a.opts.rule, RULES, DEFAULT_RULE);
  const units = oneOf<'ffn-pre' | 'ffn-post'>('units', a.opts.units, ['ffn-pre', 'ffn-post'], 'ffn-pre');
  const baseline = oneOf<Baseline>('baseline', a.opts.baseline, BASELINES, 'pad-keep-special');
  const w = loadCheckpoint(modelDir);
  const target = oneOf<Target>('target', a.opts.target, TARGETS, w.config.numLabels === 1 ? 'logit' : 'relevant');
  const maxMemory = a.opts['max-memory'] as number | undefined;
  if (maxMemory !== undefined && !(maxMemory > 0)) throw new UserError(`--max-memory takes MiB > 0, got ${maxMemory}`);
  const tok = loadTokenizer(modelDir, { tokenizerFile: a.opts.tokenizer as string | undefined });
  const maxLength = effectiveMaxLength(a.opts['max-length'] as number | undefined, w.config.maxPositions);
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  const engine = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId }, maxMemory && maxMemory * 2 ** 20);
  const chunk = a.opts.chunk as number | undefined;
  if (datasetSpec) {
    const every = (a.opts['checkpoint-every'] as number | undefined) ?? 25;
    if (!Number.isInteger(every) || every < 1) throw new UserError(`--checkpoint-every must be a positive integer, got ${every}`);
    if (a.opts['per-token']) throw new UserError('--per-token is for --pairs runs; dataset runs aggregate over tokens');
    return (await runDatasets({
      spec: datasetSpec, configFile: a.opts['datasets-config'] as string | undefined, shared: a.opts.shared as string | undefined,
      selection: {
        seed: (a.opts.seed as number | undefined) ?? 0, perQuery: a.opts['per-query'] as number | undefined, perDataset: a.opts['per-dataset'] as number | undefined,
        allowUnjudged: !!a.opts['allow-unjudged'], correctOnly: !!a.opts['correct-only'],
      },
      nig: { steps, rule, target, baseline, chunk }, units, maxLength, checkpointEvery: every, shardSpec: a.opts.shard as string | undefined,
      resume: !!a.opts.resume, stopAfter: a.opts['stop-after'] as number | undefined, keepPairs: !!a.opts['keep-pairs'], pack: a.opts.pack as number | undefined, outDir, modelDir, modelHash: modelHash(modelDir),
    }, engine, tok)).code;
  }
  const igRule = a.opts['ig-rule'] === undefined ? undefined : oneOf<IgRule>('ig-rule', a.opts['ig-rule'], IG_RULES, 'riemann-right');
  const ig = igRule ? new IgEngine(engine) : null;
  const pairs = readPairsJsonl(pairsFile);
  const enc = await tok.encodePairs(pairs.map((p) => [p.query, p.passage] as const), maxLength);
  mkdirSync(outDir, { recursive: true });
  const { hidden: C, intermediate: F, layers: L } = w.config;
  const results: { id: string; result: NigResult }[] = [];
  const timings: number[] = [];
  const progress = new Progress('attribute', pairs.length, 'pairs');
  const deltas: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < pairs.length; i++) {
    const t = performance.now();
    const r = await engine.attribute(enc[i], { steps, rule, target, baseline, perToken: !!a.opts['per-token'], chunk });
    if (ig) {
      // IG on the embeddings with its own quadrature (the NIG path stays on the uniform grid)
      const q = await ig.attribute(enc[i], { rule: igRule!, steps: (a.opts['ig-steps'] as number | undefined) ?? steps, target, baseline, chunk });
      r.igEmbed = q.igEmbed;
      r.igDelta = q.delta;
    }
    timings.push(performance.now() - t);
    deltas.push(r.igDelta);
    results.push({ id: pairs[i].id, result: r });
    progress.tick(i + 1);
  }
  progress.done();
  writeFileAtomic(join(outDir, 'attributions.safetensors'), attributionsSafetensors(results, units, { L, F, C }));
  const timing = { totalMs: Math.round(performance.now() - t0), msPerPair: Math.round((timings.reduce((s, x) => s + x, 0) / timings.length) * 10) / 10 };
  writeJsonAtomic(join(outDir, 'manifest.json'), runManifest({ model: { dir: modelDir, hash: modelHash(modelDir), config: w.config }, tokenizer: tok, g }, {
    options: { steps, rule, units, target, baseline, perToken: !!a.opts['per-token'], maxLength, maxMemoryMiB: maxMemory ?? null, chunk: a.opts.chunk ?? null, igRule: igRule ?? `conductance (${rule})`, igSteps: igRule ? (a.opts['ig-steps'] ?? steps) : steps },
    pairs: pairs.map((p, i) => ({ id: p.id, tokens: enc[i].ids.length, ms: Math.round(timings[i] * 10) / 10, delta: deltas[i] })),
    timings: timing,
    layout: 'see README "Output format": <id>.nig [layers, d_ff] (or [layers, T, d_ff] with perToken), <id>.nig_segments [5, layers, d_ff], <id>.ig_embed [T, hidden], <id>.F [steps+1], <id>.delta [1], <id>.delta_hidden [layers+1]',
  }));
  process.stderr.write(`attributed ${pairs.length} pairs (m = ${steps}, ${rule} rule, ${units}) in ${(timing.totalMs / 1000).toFixed(1)} s -> ${outDir}/attributions.safetensors\n`);
  return 0;
}
