/**
 * `ir-neurons attribute --model DIR --pairs FILE.jsonl --steps M ... --out DIR` writes DIR/attributions.safetensors
 * (float32, per pair id: .nig, .nig_segments, .ig_embed, .F, .delta, .delta_hidden) and DIR/manifest.json;
 * `attribute --dataset NAMES ...` runs the dataset mode (src/run/datasets.ts). The options are in `command`
 * below (the same table prints `--help`); an option of the other mode is an error, never silently ignored.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type CommandSpec, type Opt } from './args.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { readPairsJsonl } from '../data/pairs-jsonl.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu } from '../model/forward.ts';
import { NigEngine, type NigResult } from '../ig/engine.ts';
import { BASELINES, DEFAULT_BASELINE, type Baseline } from '../ig/baselines.ts';
import { ADAPTIVE_START, DEFAULT_MAX_STEPS, DEFAULT_RULE, IG_RULES, NIG_RULES, TOL_RANGE, type IgRule, type NigRule } from '../ig/path.ts';
import { IgEngine } from '../ig/ig.ts';
import { attributionsSafetensors, pairTensors, parseUnits, UNIT_CHOICES } from '../ig/export.ts';
export { pairTensors };
import { modelHash } from '../formats/hash.ts';
import { UserError } from '../util/errors.ts';
import { defaultTarget, TARGETS, type Target } from '../model/types.ts';
import { Progress } from '../util/progress.ts';
import { runDatasets } from '../run/datasets.ts';
import { DEFAULT_CHECKPOINT_EVERY, DEFAULT_PACK } from '../run/scheduler.ts';
import { runManifest } from '../run/manifest.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { checkOutDir, prepareOutDir, removeCreated } from '../util/out-path.ts';
import { setWriteAdvice } from '../util/write-error.ts';
import { lockDir } from '../run/lock.ts';
import { encodeNamedPairs } from '../pipeline/encode.ts';
import { displayName } from '../util/stdio.ts';

/** Options of both modes (the NIG options also make the `attribute` section of an experiment file). */
export const COMMON: Record<string, Opt> = {
  model: { kind: 'string', arg: 'DIR', required: true, help: 'checkpoint folder (config.json, weights, tokenizer)' },
  tokenizer: { kind: 'string', arg: 'FILE', help: "tokenizer.json or vocab.txt to use instead of the model folder's" },
  steps: { kind: 'int', arg: 'M', min: 1, help: `NIG steps m (the path has m + 1 points); required unless --tol, where it is the first m tried (default ${ADAPTIVE_START})` },
  rule: { kind: 'string', arg: 'RULE', default: DEFAULT_RULE, choices: NIG_RULES, help: `quadrature of the NIG path: ${NIG_RULES.join(', ')} ((4·T_m − T_{m/2})/3, order 4; m a multiple of 4)` },
  tol: { kind: 'number', arg: 'EPS', ...TOL_RANGE, help: 'adaptive m per pair: double m until the estimated relative L2 error of the NIG vector is ≤ EPS (e.g. 1e-3)' },
  'max-steps': { kind: 'int', arg: 'M', min: 1, default: DEFAULT_MAX_STEPS, help: 'the cap on the adaptive m of --tol (a pair that reaches it is reported)' },
  units: { kind: 'string', arg: 'UNITS', default: 'ffn-pre', choices: UNIT_CHOICES, list: true, help: 'units attributed, a comma-separated list: FFN units ffn-pre (before GELU) or ffn-post, and heads (head conductance and the head-gate gradient, e.g. ffn-pre,heads)' },
  target: { kind: 'string', arg: 'T', derived: 'relevant (logit for 1-label models)', choices: TARGETS, help: `what is differentiated: ${TARGETS.join(', ')}` },
  baseline: { kind: 'string', arg: 'B', default: DEFAULT_BASELINE, choices: BASELINES, help: `baseline input: ${BASELINES.join(', ')}` },
  'max-length': { kind: 'int', arg: 'N', min: 1, derived: "the model's max_position_embeddings (≤ 512)", help: 'tokens per pair (passage truncated)' },
  'max-memory': { kind: 'number', arg: 'MiB', min: 0, exclusiveMin: true, help: 'GPU memory budget of the chunk plan' },
  chunk: { kind: 'int', arg: 'P', min: 1, help: 'path points per forward/backward (default: as many as memory allows)' },
  out: { kind: 'string', arg: 'DIR', required: true, help: 'output folder (created if missing; locked while the run writes it)' },
};
/** Options of `--pairs FILE` runs only. */
export const PAIRS_ONLY: Record<string, Opt> = {
  pairs: { kind: 'string', arg: 'FILE.jsonl', help: '[pairs mode] {"id","query","passage"} lines (- for standard input)' },
  'per-token': { kind: 'boolean', help: '[pairs mode] also write the per-token NIG [layers, T, d_ff] (the last layer is 0 off [CLS]: computed at [CLS] only)' },
  'ig-rule': { kind: 'string', arg: 'RULE', derived: 'conductance along the NIG path', choices: IG_RULES, help: `[pairs mode] IG on the embeddings with its own quadrature: ${IG_RULES.join(', ')}` },
  'ig-steps': { kind: 'int', arg: 'N', min: 1, derived: '--steps', help: '[pairs mode] steps (or nodes) of --ig-rule' },
};
/** Options of `--dataset NAMES` runs only. */
export const DATASET_ONLY: Record<string, Opt> = {
  dataset: { kind: 'string', arg: 'NAMES', help: '[dataset mode] comma-separated datasets or groups (in-domain, out-of-domain, all)' },
  'datasets-config': { kind: 'string', arg: 'FILE', derived: 'data/datasets.json', help: '[dataset mode] the dataset list' },
  shared: { kind: 'string', arg: 'DIR', derived: '$IR_NEURONS_SHARED or ../shared', help: '[dataset mode] root of the dataset files' },
  'per-query': { kind: 'int', arg: 'N', min: 1, help: '[dataset mode] at most N pairs per query and label' },
  'per-dataset': { kind: 'int', arg: 'N', min: 1, help: '[dataset mode] at most N pairs per dataset and label' },
  seed: { kind: 'int', arg: 'S', min: 0, default: 0, help: '[dataset mode] seed of the pair selection' },
  'allow-unjudged': { kind: 'boolean', help: '[dataset mode] count unjudged candidates as non-relevant' },
  'correct-only': { kind: 'boolean', help: '[dataset mode] keep only pairs the model classifies correctly' },
  shard: { kind: 'string', arg: 'i/n', help: '[dataset mode] run shard i of n (auto/n: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)' },
  resume: { kind: 'boolean', help: "[dataset mode] continue from the folder's checkpoint (verified against this run)" },
  'checkpoint-every': { kind: 'int', arg: 'N', min: 1, default: DEFAULT_CHECKPOINT_EVERY, help: '[dataset mode] pairs between checkpoints' },
  'stop-after': { kind: 'int', arg: 'N', min: 0, help: '[dataset mode] stop after N pairs (then --resume)' },
  'keep-pairs': { kind: 'boolean', help: "[dataset mode] also keep every pair's NIG vector (pairs.safetensors)" },
  pack: { kind: 'int', arg: 'N', min: 1, default: DEFAULT_PACK, help: '[dataset mode] most pairs of one length per batch (changes no number)' },
};

export const command: CommandSpec = {
  name: 'attribute',
  usage: '--model DIR (--pairs FILE.jsonl | --dataset NAMES) --steps M [options] --out DIR',
  summary: 'NIG of every FFN neuron (and IG on the embeddings) for the pairs of a JSONL file (per pair), or aggregated over\nthe selected pairs of IR datasets (per dataset and label; sharded, resumable, mergeable).',
  options: { ...COMMON, ...PAIRS_ONLY, ...DATASET_ONLY },
  notes: ['[pairs mode] options are refused with --dataset and [dataset mode] options with --pairs (none is ignored).'],
  examples: [
    'ir-neurons attribute --model weights/minilm-l6 --pairs pairs.jsonl --steps 50 --out out/attr',
    'ir-neurons attribute --model weights/minilm-l6 --dataset dl19,scifact --per-dataset 500 --steps 50 --shard 0/4 --out runs/shard-0',
  ],
};

/** Refuses options of the other mode (they would be ignored). */
function checkMode(opts: Set<string>, dataset: boolean): void {
  const other = dataset ? PAIRS_ONLY : DATASET_ONLY;
  const given = Object.keys(other).filter((k) => opts.has(k) && k !== 'pairs' && k !== 'dataset');
  if (!given.length) return;
  const list = given.map((k) => `--${k}`).join(', ');
  throw new UserError(dataset
    ? `${list} ${given.length > 1 ? 'apply' : 'applies'} to --pairs runs only; a --dataset run computes its completeness deltas by IG along the NIG path (--rule, --steps) and aggregates over tokens — drop ${list}`
    : `${list} ${given.length > 1 ? 'apply' : 'applies'} to --dataset runs only; a --pairs run attributes every pair of the file, once, in one go — drop ${list}, or use --dataset`);
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('attribute', argv, command);
  if (a.positionals.length) throw new UserError(`unexpected argument '${a.positionals[0]}'; every input is an option (see ir-neurons attribute --help)`);
  const modelDir = a.opts.model as string;
  const datasetSpec = a.opts.dataset as string | undefined;
  if (datasetSpec && a.opts.pairs) throw new UserError('give either --pairs FILE or --dataset NAMES, not both');
  if (!datasetSpec && !a.opts.pairs) throw new UserError('give the pairs: --pairs FILE.jsonl, or --dataset NAMES (see ir-neurons attribute --help)');
  checkMode(a.given, !!datasetSpec);
  if (a.given.has('ig-steps') && !a.given.has('ig-rule')) throw new UserError('--ig-steps sets the steps of --ig-rule; give --ig-rule too (without it, IG on the embeddings is the conductance along the NIG path with --steps)');
  const pairsFile = datasetSpec ? '' : (a.opts.pairs as string);
  const outDir = a.opts.out as string;
  // the output folder, before any long work (it is created and locked later, when the run starts writing)
  checkOutDir(outDir);
  if (datasetSpec) {
    // a failed write leaves the last checkpoint sound: free space (or move the folder) and resume from it
    setWriteAdvice({
      elsewhere: `move ${outDir} to another disk and give that as --out`,
      then: () => existsSync(join(outDir, 'checkpoint.safetensors')) ? 'rerun with --resume to continue' : 'run the command again',
    });
    if (existsSync(join(outDir, 'attributions.safetensors'))) throw new UserError(`${outDir}: holds the output of an 'attribute --pairs' run; give the dataset run its own --out folder`);
  } else if (['aggregate.safetensors', 'checkpoint.safetensors'].some((f) => existsSync(join(outDir, f)))) {
    throw new UserError(`${outDir}: holds a dataset run; give the --pairs run its own --out folder`);
  }
  // --tol: an adaptive m per pair, from --steps (default 4) doubling up to --max-steps (NigEngine.attributeMany)
  const tol = a.opts.tol as number | undefined;
  if (tol === undefined && a.given.has('max-steps')) throw new UserError('--max-steps caps the adaptive m of --tol; give --tol too, or drop --max-steps for a fixed --steps');
  const stepsGiven = (a.opts.steps as number | undefined) ?? (tol !== undefined ? ADAPTIVE_START : undefined);
  if (stepsGiven === undefined) throw new UserError('--steps is required (e.g. --steps 50), or --tol for an adaptive m (e.g. --tol 1e-3); see ir-neurons attribute --help');
  const steps: number = stepsGiven;
  const rule = a.opts.rule as NigRule;
  const { ffn: units, heads, label: unitsLabel } = parseUnits(a.opts.units as string);
  if (heads && tol !== undefined) throw new UserError('--units heads: not with --tol yet (adaptive m keeps FFN points alone); use a fixed --steps');
  // only with --tol or richardson (so a plain run's options, and its run key, stay as they were)
  const maxSteps = tol !== undefined ? a.opts['max-steps'] as number : undefined;
  const adaptive = tol !== undefined || rule === 'richardson' ? { ...(tol !== undefined ? { tol, maxSteps } : {}), estimateOf: units } : {};
  const baseline = a.opts.baseline as Baseline;
  const w = loadCheckpoint(modelDir);
  const target = (a.opts.target as Target | undefined) ?? defaultTarget(w.config.numLabels);
  const maxMemory = a.opts['max-memory'] as number | undefined;
  const igRule = a.opts['ig-rule'] as IgRule | undefined;
  const tok = loadTokenizer(modelDir, { tokenizerFile: a.opts.tokenizer as string | undefined });
  const maxLength = effectiveMaxLength(a.opts['max-length'] as number | undefined, w.config.maxPositions);
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  const engine = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId }, maxMemory && maxMemory * 2 ** 20);
  engine.heads = heads;
  const chunk = a.opts.chunk as number | undefined;
  if (datasetSpec) {
    return (await runDatasets({
      spec: datasetSpec, configFile: a.opts['datasets-config'] as string | undefined, shared: a.opts.shared as string | undefined,
      selection: {
        seed: a.opts.seed as number, perQuery: a.opts['per-query'] as number | undefined, perDataset: a.opts['per-dataset'] as number | undefined,
        allowUnjudged: !!a.opts['allow-unjudged'], correctOnly: !!a.opts['correct-only'],
      },
      nig: { steps, rule, target, baseline, chunk, ...adaptive }, units, ...(heads ? { heads } : {}), maxLength, checkpointEvery: a.opts['checkpoint-every'] as number, shardSpec: a.opts.shard as string | undefined,
      resume: !!a.opts.resume, stopAfter: a.opts['stop-after'] as number | undefined, keepPairs: !!a.opts['keep-pairs'], pack: a.opts.pack as number, maxMemoryMiB: maxMemory, outDir, modelDir, modelHash: modelHash(modelDir),
    }, engine, tok)).code;
  }
  const ig = igRule ? new IgEngine(engine) : null;
  const pairs = readPairsJsonl(pairsFile);
  const enc = await encodeNamedPairs(tok, pairs, maxLength, displayName(pairsFile));
  const created = prepareOutDir(outDir);
  let lock;
  try {
    lock = lockDir(outDir, `attribute --pairs ${pairsFile}`);
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  try {
    return await attributePairs();
  } finally {
    lock.release();
  }

  async function attributePairs(): Promise<number> {
    const { hidden: C, intermediate: F, layers: L } = w.config;
    const results: { id: string; result: NigResult }[] = [];
    const timings: number[] = [];
    const progress = new Progress('attribute', pairs.length, 'pairs');
    const deltas: number[] = [];
    const t0 = performance.now();
    for (let i = 0; i < pairs.length; i++) {
      const t = performance.now();
      const r = await engine.attribute(enc[i], { steps, rule, target, baseline, perToken: !!a.opts['per-token'], chunk, ...adaptive });
      if (ig) {
        // IG on the embeddings with its own quadrature (the NIG path stays on the uniform grid)
        const q = await ig.attribute(enc[i], { rule: igRule!, steps: (a.opts['ig-steps'] as number | undefined) ?? r.steps, target, baseline, chunk });
        r.igEmbed = q.igEmbed;
        r.igDelta = q.delta;
      }
      timings.push(performance.now() - t);
      deltas.push(r.igDelta);
      results.push({ id: pairs[i].id, result: r });
      progress.tick(i + 1);
    }
    progress.done();
    const capped = results.filter((p) => p.result.adaptive?.capped);
    if (capped.length) {
      process.stderr.write(`attribute: ${capped.length} of ${pairs.length} pairs reached --max-steps ${maxSteps} with the estimated error still above --tol ${tol}: ` +
        `${capped.slice(0, 5).map((p) => `${p.id} (${p.result.errorEstimate!.toExponential(1)})`).join(', ')}${capped.length > 5 ? ', …' : ''}; their NIG is the m = ${maxSteps} result (manifest.json: "capped"). Raise --max-steps, or loosen --tol (below ~1e-6 the estimate meets float32 rounding)\n`);
    }
    writeFileAtomic(join(outDir, 'attributions.safetensors'), attributionsSafetensors(results, units, { L, F, C }, unitsLabel));
    const timing = { totalMs: Math.round(performance.now() - t0), msPerPair: Math.round((timings.reduce((s, x) => s + x, 0) / timings.length) * 10) / 10 };
    writeJsonAtomic(join(outDir, 'manifest.json'), runManifest({ model: { dir: modelDir, hash: modelHash(modelDir), config: w.config }, tokenizer: tok, g, inputs: { files: { pairs: pairsFile } } }, {
      options: { steps, rule, units: unitsLabel, target, baseline, perToken: !!a.opts['per-token'], maxLength, maxMemoryMiB: maxMemory ?? null, chunk: a.opts.chunk ?? null, igRule: igRule ?? `conductance (${rule})`, igSteps: igRule ? (a.opts['ig-steps'] ?? steps) : steps, ...(tol !== undefined ? { tol, maxSteps } : {}) },
      pairs: pairs.map((p, i) => ({ id: p.id, tokens: enc[i].ids.length, ms: Math.round(timings[i] * 10) / 10, delta: deltas[i], ...adaptiveRecord(results[i].result) })),
      timings: timing,
      layout: `see README "Output format": <id>.nig [layers, d_ff] (or [layers, T, d_ff] with perToken), <id>.nig_segments [5, layers, d_ff], <id>.ig_embed [T, hidden], <id>.F [steps+1], <id>.delta [1], <id>.delta_hidden [layers+1]${heads ? ', <id>.head_cond [layers, heads], <id>.head_cond_segments [5, layers, heads], <id>.head_gate [layers, heads]' : ''}`,
    }));
    const ms = results.map((p) => p.result.steps);
    process.stderr.write(`attributed ${pairs.length} pairs (m = ${tol === undefined ? steps : `${Math.min(...ms)}…${Math.max(...ms)} for --tol ${tol}`}, ${rule} rule, ${unitsLabel}) in ${(timing.totalMs / 1000).toFixed(1)} s -> ${outDir}/attributions.safetensors\n`);
    return 0;
  }
}

/** A pair's m and error estimate for manifest.json (with --tol also its passes, points and whether the cap stopped it). */
function adaptiveRecord(r: NigResult): Record<string, unknown> {
  if (r.errorEstimate === undefined) return {};
  return { steps: r.steps, errorEstimate: r.errorEstimate, ...(r.adaptive ? { capped: r.adaptive.capped, points: r.adaptive.points, passes: r.adaptive.passes } : {}) };
}
