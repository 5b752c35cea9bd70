/**
 * `ir-neurons demo [--out DIR] [--steps M]`: the main job on the embedded default, end to end — a bundled
 * tiny model whose FFN neurons have planted, known roles (tools/make-planted-bert.ts: relevance neurons shared
 * by every domain, OOD neurons, non-relevance neurons, neurons that do nothing) and three toy collections
 * (tools/make-toy-collection.ts: one in-domain, two out-of-domain): NIG over every dataset and label, rankings,
 * schemes, pruning against random sets, and the report, which shows every known-answer check beside its section
 * (Fig. 3 also with the in-domain dataset left out). Exits 1 if a check fails. Re-running reuses what is there.
 */
import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { REPO_ROOT, runDatasets } from '../run/datasets.ts';
import { makePlantedBert } from '../toy/planted-bert.ts';
import { makeToyCollection } from '../toy/collection.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { modelHash } from '../formats/hash.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu } from '../model/forward.ts';
import { NigEngine } from '../ig/engine.ts';
import { loadDataset, loadDatasetConfig } from '../data/datasets.ts';
import { readRunDir } from '../run/run-dir.ts';
import { runPruning } from '../pipeline/prune.ts';
import { GpuMasks, gpuMasksFromRun } from '../pipeline/gpu-masks.ts';
import { makeReport } from './report.ts';
import { buildSchemes } from '../analysis/schemes.ts';
import { knownAnswerChecks, orientCells, unitName } from '../analysis/figures.ts';
import { STANDARD_PERCENTS } from '../analysis/rankings.ts';
import { DEFAULT_RULE } from '../ig/path.ts';
import { UserError } from '../util/errors.ts';
import { prepareOutDir, readJsonFile } from '../util/out-path.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import { setWriteAdvice } from '../util/write-error.ts';

export const command: CommandSpec = {
  name: 'demo',
  usage: '[--out DIR] [--steps M]',
  summary: 'The main job end to end on a bundled tiny model with planted neurons and two toy collections: NIG, rankings,\npruning against random sets, and the report. Re-running reuses (or resumes) what is already there.',
  options: {
    out: { kind: 'string', arg: 'DIR', default: 'out/demo', help: 'output folder' },
    steps: { kind: 'int', arg: 'M', min: 1, default: '20', help: 'NIG steps' },
  },
  examples: ['ir-neurons demo --out /tmp/demo'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('demo', argv, command);
  if (a.positionals.length) throw new UserError(`unexpected argument '${a.positionals[0]}' (see ir-neurons demo --help)`);
  const out = resolve((a.opts.out as string | undefined) ?? join(REPO_ROOT, 'out/demo'));
  const steps = (a.opts.steps as number | undefined) ?? 20;
  const log = (s: string) => process.stderr.write(`demo: ${s}\n`);
  setWriteAdvice({ then: 'run the demo again (it continues from its checkpoint)' });
  prepareOutDir(out);
  const modelDir = join(out, 'model');
  const planted = makePlantedBert({ out: modelDir, seed: 1 });
  const entries = [['toy-in', 'in-domain', 1, 'in'], ['toy-ood-a', 'out-of-domain', 2, 'ood'], ['toy-ood-b', 'out-of-domain', 3, 'ood']] as const;
  for (const [name, , seed, domain] of entries) makeToyCollection({ out: join(out, name), seed, domain });
  const configFile = join(out, 'datasets.json');
  writeJsonAtomic(configFile, {
    version: 1,
    notes: 'Toy collections of the demo (tools/make-toy-collection.ts): grade 2 = the query topic\'s evidence words, 1 = one of them, 0 = none; out-of-domain ones add OOD evidence words to relevant passages; half the non-relevant passages hold non-relevance cues.',
    datasets: entries.map(([name, group]) => ({
      name, group, format: 'tsv', relThreshold: 2, unlisted: 'unjudged',
      files: { docs: `${name}/corpus.tsv`, queries: `${name}/queries.tsv`, qrels: `${name}/qrels.txt`, run: `${name}/run.txt` },
    })),
  });
  const w = loadCheckpoint(modelDir);
  const dff = w.config.intermediate;
  const names = (us: number[]) => us.map((u) => unitName(u, dff)).join(' ');
  log(`model ${modelDir}: planted relevance ${names(planted.roles.relevance)}; OOD ${names(planted.roles.ood)}; non-relevance ${names(planted.roles.nonrel)}; do-nothing ${names(planted.roles.dead)}`);
  const tok = loadTokenizer(modelDir);
  const hash = modelHash(modelDir);
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  const engine = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId });
  const runDir = join(out, 'run');
  const spec = entries.map((e) => e[0]).join(',');
  const args = {
    spec, configFile, selection: { seed: 0, perQuery: 2 }, nig: { steps, rule: DEFAULT_RULE, target: 'relevant' as const, baseline: 'pad-keep-special' as const },
    units: 'ffn-pre' as const, maxLength: 128, checkpointEvery: 20, resume: false, keepPairs: true, outDir: runDir, modelDir, modelHash: hash,
  };
  type Manifest = { options?: { nig?: { steps?: number } }; model?: { hash?: string }; datasets?: { name: string }[] };
  const prev = existsSync(join(runDir, 'aggregate.safetensors')) ? readJsonFile<Manifest>(join(runDir, 'manifest.json'), `delete ${runDir}; the demo builds it again`) : null;
  const finished = prev?.options?.nig?.steps === steps && prev?.model?.hash === hash && prev?.datasets?.map((d) => d.name).join(',') === spec;
  if (prev && !finished) {
    log(`the run in ${runDir} was made with other steps, model or datasets: starting it over`);
    rmSync(runDir, { recursive: true, force: true });
  }
  let gpuMasks: GpuMasks | undefined;
  let rd;
  if (finished) {
    log(`reusing the finished NIG run in ${runDir}`);
    rd = readRunDir(runDir);
    gpuMasks = gpuMasksFromRun(g, model, rd);
  } else {
    log(`NIG of all ${w.config.layers * w.config.intermediate} FFN units over ${spec} (m = ${steps}) -> ${runDir}`);
    const res = await runDatasets({ ...args, resume: existsSync(join(runDir, 'checkpoint.safetensors')) }, engine, tok);
    rd = readRunDir(runDir);
    // the accumulators stay on the GPU: ranking and masks are computed where the attribution left them
    gpuMasks = new GpuMasks(g, model, res.accumulators, new Map(rd.cells.map((c) => [`${c.dataset}/${c.label}`, c.count])));
  }
  const P = 5;
  const top = buildSchemes(rd.cells, P, { groups: rd.groups, kinds: ['fusion'], labels: ['rel'] }).find((s) => s.name === 'fusion/all/rel')!;
  const plantedSet = new Set(planted.flatUnits);
  const found = [...top.units].filter((u) => plantedSet.has(u)).length;
  log(`top ${P}% relevance neurons (fusion of all datasets): ${[...top.units].map((u) => `${unitName(u, dff)}${plantedSet.has(u) ? '*' : ''}`).join(' ')} (* planted: ${found}/${plantedSet.size} found)`);
  const checks = knownAnswerChecks(orientCells(rd.cells, args.nig.target), rd.groups, planted.roles, P);
  for (const c of checks) log(`known answer ${c.role}: ${c.found}/${c.total} found at ${c.p}% (${c.rule})${c.passed ? '' : ` — FAILED, missing ${c.missing.join(' ')}`}`);
  const headline = `${found}/${plantedSet.size} planted neurons found in the top ${P}% relevance neurons; known-answer checks: ${checks.map((c) => `${c.role} ${c.found}/${c.total}`).join(', ')}${checks.every((c) => c.passed) ? ' — all pass' : ' — SOME FAIL'}.`;
  const cfg = loadDatasetConfig(configFile, { shared: out });
  const datasets = cfg.datasets.map((e) => ({ name: e.name, collection: loadDataset(e), relevanceLevel: e.relThreshold }));
  const pruneDir = join(out, 'prune');
  log(`pruning ${STANDARD_PERCENTS.join(', ')}% of units per scheme, against 5 random sets each -> ${pruneDir}`);
  const res = await runPruning(model, tok, datasets, rd.cells, rd.groups, {
    schemes: ['fusion/all/rel', 'fusion/in-domain/rel', 'fusion/out-of-domain/rel'],
    percents: [...STANDARD_PERCENTS], seeds: 5, depth: 100, maxLength: 128, batch: 64, outDir: pruneDir,
    inputs: { modelDir, datasets: cfg.datasets, files: { aggregate: join(runDir, 'aggregate.safetensors') } },
  }, gpuMasks);
  for (const b of res.table.baselines) log(`${b.dataset}: unpruned nDCG@10 ${b.ndcg10.toFixed(3)}`);
  for (const r of res.table.rows.filter((x) => x.scheme === 'fusion/all/rel')) {
    log(`  ${r.dataset} prune ${r.scheme} ${r.p}% (${r.units} units): nDCG@10 ${r.ndcg10.value.toFixed(3)} vs random ${r.ndcg10.random.mean.toFixed(3)} ± ${r.ndcg10.random.std.toFixed(3)}`);
  }
  const page = makeReport(runDir, join(pruneDir, 'pruning.json'), join(out, 'report.html'), 'ir-neurons demo: planted neurons of known roles in a tiny cross-encoder', P,
    { exclude: [['toy-in']], knownAnswers: { headline, checks } });
  process.stdout.write(`\n${headline}\nReport: ${page}\n(also ${join(out, 'report.json')} and ${join(out, 'report.md')}; TREC runs in ${join(pruneDir, 'runs')})\n`);
  return checks.every((c) => c.passed) ? 0 : 1;
}
