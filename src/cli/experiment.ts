/**
 * `ir-neurons experiment FILE.json --out DIR [--shard i/n]`: one file (src/cli/experiment-file.ts) describes the
 * experiment; this runs its steps into DIR — model (a folder, a hub download, or the bundled planted model),
 * attribute (DIR/run), prune (DIR/prune), report (DIR/report.*) — each skipped when its output is there under the
 * same key (a hash of the fields that step reads and of the steps before it), resumed when it was interrupted, and
 * redone (with every step after it) when a field it reads changed. DIR keeps a copy of the file
 * (DIR/experiment.json) and DIR/experiment-state.json (the file's hash, each step's key, the exit code).
 * `--shard i/n` runs shard i of the attribute step into DIR/shards/i-of-n and stops; merge them into DIR/run
 * (`ir-neurons merge --out DIR/run DIR/shards/*-of-n`) and run the command again for the rest.
 * `ir-neurons demo` is `experiment` on the bundled experiments/demo.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { experimentSchema, readExperiment, UNKEYED, type Experiment, type Section, type Values } from './experiment-file.ts';
import { makeReport } from './report.ts';
import { parseList, defaultSchemes, pruneCells } from './prune.ts';
import { REPO_ROOT, defaultShared, pickDatasets, runDatasets } from '../run/datasets.ts';
import { parseShard } from '../run/scheduler.ts';
import { readRunDir } from '../run/run-dir.ts';
import { lockDir } from '../run/lock.ts';
import { makePlantedBert, type PlantedRoles } from '../toy/planted-bert.ts';
import { makeToyCollection } from '../toy/collection.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { defaultTarget, type Target } from '../model/types.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { modelHash } from '../formats/hash.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu } from '../model/forward.ts';
import { NigEngine } from '../ig/engine.ts';
import { loadDataset, loadDatasetConfig } from '../data/datasets.ts';
import { pruneFiles, runPruning, type PruneUnits } from '../pipeline/prune.ts';
import { GpuMasks, gpuMasksFromRun } from '../pipeline/gpu-masks.ts';
import { buildSchemes } from '../analysis/schemes.ts';
import { knownAnswerChecks, orientCells, unitName } from '../analysis/figures.ts';
import { downloadModel } from '../hub/download.ts';
import { UserError } from '../util/errors.ts';
import { parseUnits } from '../ig/export.ts';
import { prepareOutDir, readJsonFile } from '../util/out-path.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { setWriteAdvice } from '../util/write-error.ts';
import type { Baseline } from '../ig/baselines.ts';
import { ADAPTIVE_START, type NigRule } from '../ig/path.ts';

export const command: CommandSpec = {
  name: 'experiment',
  usage: 'FILE.json --out DIR [--shard i/n]',
  summary: 'Runs the experiment a file describes (model, datasets, NIG, pruning, report) into DIR. Each step is skipped when its\noutput is there under the same key, resumed when interrupted, and redone when a field it reads changed.',
  options: {
    out: { kind: 'string', arg: 'DIR', help: 'the experiment folder (run/, prune/, report.html; a copy of the file) (required)' },
    shard: { kind: 'string', arg: 'i/n', help: 'run shard i of n of the attribute step only (auto/n: from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX), into DIR/shards/i-of-n' },
    schema: { kind: 'boolean', help: 'print the JSON Schema of experiment files (for editors) and exit' },
  },
  notes: [
    'FILE.json: see experiments/demo.json and docs/experiments.md; - reads it from standard input (relative paths then resolve against the current folder).',
    'Exit codes: 0 done, 1 a known-answer check failed (the bundled planted model), 2 bad input.',
  ],
  examples: [
    'ir-neurons experiment experiments/demo.json --out out/demo',
    'ir-neurons experiment experiments/minilm-l6.json --out runs/minilm-l6 --shard auto/4',
  ],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('experiment', argv, command);
  if (a.opts.schema) {
    process.stdout.write(`${JSON.stringify(experimentSchema(), null, 2)}\n`);
    return 0;
  }
  if (!a.opts.out) throw new UserError('--out is required (--out DIR); see ir-neurons experiment --help');
  if (a.positionals.length !== 1) throw new UserError(`give one experiment file, got ${a.positionals.length ? a.positionals.join(' ') : 'none'} (e.g. ir-neurons experiment experiments/demo.json --out out/demo)`);
  return runExperiment(readExperiment(a.positionals[0]), { out: a.opts.out as string, shard: a.opts.shard as string | undefined });
}

interface StepState { key: string; /** a hub download: the commit fetched */ commit?: string }
interface State {
  version: 1;
  file: string;
  hash: string;
  steps: Partial<Record<'model' | 'attribute' | 'prune' | 'report', StepState>>;
  /** the key of the attribute step whose shards ran here (a merged DIR/run of that key is adopted) */
  shards?: { key: string; count: number };
  /** the experiment's exit code when its last step ran (a failed known-answer check: 1) */
  code?: number;
  headline?: string;
}

const STATE = 'experiment-state.json';

const hashOf = (x: unknown): string => createHash('sha256').update(JSON.stringify(x)).digest('hex').slice(0, 16);

/** A section's values without the options that change no number. */
const keyed = (s: Section, v: Values | null): Values | null => (v ? Object.fromEntries(Object.entries(v).filter(([k]) => !UNKEYED[s].includes(k))) : null);

/** A cheap fingerprint of a folder's or file's bytes (names, sizes, modification times): for step keys, not manifests. */
function fingerprint(path: string | undefined): unknown {
  if (!path || !existsSync(path)) return null;
  const st = statSync(path);
  if (!st.isDirectory()) return [st.size, st.mtimeMs];
  return readdirSync(path).sort().map((f) => {
    const s = statSync(join(path, f));
    return s.isFile() ? [f, s.size, s.mtimeMs] : [f];
  });
}

export interface ExperimentRun {
  out: string;
  shard?: string;
  /** the prefix of progress lines (`demo` for `ir-neurons demo`) */
  log?: string;
}

export async function runExperiment(exp: Experiment, o: ExperimentRun): Promise<number> {
  const out = resolve(o.out);
  const say = (s: string) => process.stderr.write(`${o.log ?? 'experiment'}: ${s}\n`);
  setWriteAdvice({ then: 'run the experiment again (every finished step is kept, an interrupted one resumes)' });
  prepareOutDir(out);
  const lock = lockDir(out, `experiment ${exp.file}`);
  try {
    return await locked();
  } finally {
    lock.release();
  }

  async function locked(): Promise<number> {
    const stateFile = join(out, STATE);
    const old = existsSync(stateFile) ? readJsonFile<State>(stateFile, `delete ${stateFile} (the steps are then redone)`) : null;
    const state: State = { version: 1, file: exp.file, hash: exp.hash, steps: { ...(old?.steps ?? {}) }, ...(old?.shards ? { shards: old.shards } : {}) };
    if (!existsSync(join(out, 'experiment.json')) || readFileSync(join(out, 'experiment.json'), 'utf8') !== exp.text) writeFileAtomic(join(out, 'experiment.json'), exp.text);
    const save = () => writeJsonAtomic(stateFile, state);

    // ---- the step keys: each hashes the fields its step reads and the keys of the steps before it
    const modelDir = exp.model.kind === 'dir' ? exp.model.dir : exp.model.kind === 'hub' ? exp.model.dir ?? join(out, 'model') : join(out, 'model');
    const modelConfig = join(modelDir, 'config.json');
    const modelKey = hashOf({ source: exp.model.kind === 'dir' ? { dir: exp.model.dir, files: fingerprint(exp.model.dir) } : exp.model, tokenizer: exp.tokenizer ? [exp.tokenizer, fingerprint(exp.tokenizer)] : null });
    const configFile = exp.datasets.kind === 'toy' ? join(out, 'datasets.json') : exp.datasets.config ?? join(REPO_ROOT, 'data/datasets.json');
    const shared = exp.datasets.kind === 'toy' ? out : exp.datasets.shared ?? defaultShared();
    const spec = exp.datasets.kind === 'toy' ? exp.datasets.toy.map((t) => t.name).join(',') : exp.datasets.names;
    const dataKey = exp.datasets.kind === 'toy' ? exp.datasets.toy : { spec, config: configFile, configFile: fingerprint(configFile), shared };
    const attrKey = hashOf({ model: modelKey, data: dataKey, attribute: keyed('attribute', exp.attribute) });
    const pruneKey = exp.prune && hashOf({ attribute: attrKey, prune: keyed('prune', exp.prune) });
    const reportKey = exp.report && hashOf({ attribute: attrKey, prune: pruneKey, report: exp.report });
    const runDir = join(out, 'run'), pruneDir = join(out, 'prune'), reportFile = join(out, 'report.html');
    // prune.units: ffn (default), heads or both (pruning.json, pruning-heads.json); the step is done when its key is kept and the first kind's table is there
    const pruneUnits = exp.prune ? [...new Set(String(exp.prune.units ?? 'ffn').split(',').map((u) => u.trim()))] as PruneUnits[] : [];
    const pruningFile = join(pruneDir, pruneFiles('ffn').table);
    const pruneDone = join(pruneDir, pruneFiles(pruneUnits[0]).table);
    const done = (step: keyof State['steps'], key: string | null, file: string) => key !== null && state.steps[step]?.key === key && existsSync(file);

    // ---- a merged run of shards made here is this step's output
    if (!o.shard && state.shards?.key === attrKey && state.steps.attribute?.key !== attrKey && existsSync(join(runDir, 'aggregate.safetensors'))) {
      readRunDir(runDir); // verified: keys, checksums, counts
      say(`adopting the merged run of ${state.shards.count} shards in ${runDir}`);
      state.steps.attribute = { key: attrKey };
      save();
    }
    const upToDate = !o.shard && done('model', modelKey, modelConfig) && done('attribute', attrKey, join(runDir, 'aggregate.safetensors')) &&
      (!exp.prune || done('prune', pruneKey, pruneDone)) && (!exp.report || done('report', reportKey, reportFile));
    if (upToDate) {
      const code = old?.code ?? 0;
      process.stdout.write(`${o.log ?? "experiment"}: ${exp.name} is up to date in ${out} (nothing to do)${exp.report ? ` — report ${reportFile}` : ''}${code ? `; exit ${code}: ${old?.headline ?? 'a known-answer check failed'}` : ''}\n`);
      return code;
    }

    // ---- model (and the bundled toy collections)
    let roles: PlantedRoles | null = null;
    if (exp.model.kind === 'toy' || exp.datasets.kind === 'toy') {
      if (exp.model.kind === 'toy') {
        roles = makePlantedBert({ out: modelDir, seed: exp.model.seed }).roles;
      }
      if (exp.datasets.kind === 'toy') {
        for (const t of exp.datasets.toy) makeToyCollection({ out: join(out, t.name), seed: t.seed, domain: t.domain });
        writeJsonAtomic(configFile, {
          version: 1,
          notes: 'Toy collections of the demo (tools/make-toy-collection.ts): grade 2 = the query topic\'s evidence words, 1 = one of them, 0 = none; out-of-domain ones add OOD evidence words to relevant passages; half the non-relevant passages hold non-relevance cues.',
          datasets: exp.datasets.toy.map((t) => ({
            name: t.name, group: t.group, format: 'tsv', relThreshold: 2, unlisted: 'unjudged',
            files: { docs: `${t.name}/corpus.tsv`, queries: `${t.name}/queries.tsv`, qrels: `${t.name}/qrels.txt`, run: `${t.name}/run.txt` },
          })),
        });
      }
    }
    if (exp.model.kind === 'hub' && !done('model', modelKey, modelConfig)) {
      if (existsSync(modelConfig)) say(`using the checkpoint already in ${modelDir} (from 'ir-neurons download'; delete the folder to fetch ${exp.model.repo}@${exp.model.revision} again)`);
      else {
        say(`downloading ${exp.model.repo}@${exp.model.revision} -> ${modelDir}`);
        const r = await downloadModel({ repo: exp.model.repo, revision: exp.model.revision, dir: modelDir, onNote: (line) => say(`download: ${line}`) });
        say(`downloaded ${exp.model.repo}@${r.commit.slice(0, 12)}: ${r.files.length} files`);
        state.steps.model = { key: modelKey, commit: r.commit };
      }
    }
    if (!existsSync(modelConfig)) throw new UserError(`${exp.file}: model.dir: ${modelDir} holds no config.json; give a checkpoint folder (or "hub" to download one)`);
    state.steps.model = { ...state.steps.model, key: modelKey };
    save();

    // ---- attribute
    const A = exp.attribute;
    const w = loadCheckpoint(modelDir);
    if (roles) {
      const names = (us: number[]) => us.map((u) => unitName(u, w.config.intermediate)).join(' ');
      say(`model ${modelDir}: planted relevance ${names(roles.relevance)}; OOD ${names(roles.ood)}; non-relevance ${names(roles.nonrel)}; do-nothing ${names(roles.dead)}`);
    }
    const tok = loadTokenizer(modelDir, { tokenizerFile: exp.tokenizer });
    const hash = modelHash(modelDir);
    const g = await requestGpu();
    const model = await BertGpu.create(g, w);
    const maxMemory = A['max-memory'] as number | undefined;
    const engine = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId }, maxMemory && maxMemory * 2 ** 20);
    const tol = A.tol as number | undefined;
    const target = (A.target as Target | undefined) ?? defaultTarget(w.config.numLabels);
    const rule = A.rule as NigRule;
    const { ffn: units, heads } = parseUnits(A.units as string, 'experiment file: attribute.units');
    if (heads && tol !== undefined) throw new UserError('experiment file: attribute.units heads: not with attribute.tol yet; use a fixed attribute.steps');
    engine.heads = heads;
    const adaptive = tol !== undefined || rule === 'richardson' ? { ...(tol !== undefined ? { tol, maxSteps: A['max-steps'] as number } : {}), estimateOf: units } : {};
    const maxLength = effectiveMaxLength(A['max-length'] as number | undefined, w.config.maxPositions);
    const args = {
      spec, configFile, shared,
      selection: { seed: A.seed as number, perQuery: A['per-query'] as number | undefined, perDataset: A['per-dataset'] as number | undefined, allowUnjudged: !!A['allow-unjudged'], correctOnly: !!A['correct-only'] },
      nig: { steps: (A.steps as number | undefined) ?? ADAPTIVE_START, rule, target, baseline: A.baseline as Baseline, chunk: A.chunk as number | undefined, ...adaptive },
      units, ...(heads ? { heads } : {}), maxLength, checkpointEvery: A['checkpoint-every'] as number, keepPairs: !!A['keep-pairs'], pack: A.pack as number, maxMemoryMiB: maxMemory, modelDir, modelHash: hash,
      experiment: { file: exp.file, hash: exp.hash },
    };
    if (o.shard) {
      const sh = parseShard(o.shard);
      const dir = join(out, 'shards', `${sh.index}-of-${sh.count}`);
      if (state.shards && (state.shards.key !== attrKey || state.shards.count !== sh.count)) {
        say(`the shards in ${join(out, 'shards')} were made with other fields or another count: starting them over`);
        rmSync(join(out, 'shards'), { recursive: true, force: true });
      }
      state.shards = { key: attrKey, count: sh.count };
      save();
      const r = await runDatasets({ ...args, shardSpec: `${sh.index}/${sh.count}`, resume: existsSync(join(dir, 'checkpoint.safetensors')), outDir: dir }, engine, tok);
      process.stdout.write(`${o.log ?? 'experiment'} ${exp.name}: shard ${sh.index}/${sh.count} ${r.complete ? 'done' : 'stopped'} -> ${dir}\n` +
        `when all ${sh.count} are done: ir-neurons merge --out ${runDir} ${join(out, 'shards', `*-of-${sh.count}`)}; then run this command again without --shard\n`);
      return r.code;
    }
    let gpuMasks: GpuMasks | undefined;
    let rd;
    if (done('attribute', attrKey, join(runDir, 'aggregate.safetensors'))) {
      say(`reusing the finished NIG run in ${runDir}`);
      rd = readRunDir(runDir);
      gpuMasks = gpuMasksFromRun(g, model, rd);
    } else {
      if (existsSync(runDir) && state.steps.attribute?.key !== attrKey) {
        say(old ? `the run in ${runDir} was made with other fields, model or datasets: starting it over`
          : `${runDir} holds a run this folder's state does not record (no ${STATE}: an older 'demo', or another command's): starting it over`);
        rmSync(runDir, { recursive: true, force: true });
      }
      state.steps.attribute = { key: attrKey };
      delete state.steps.prune;
      delete state.steps.report;
      save();
      say(`NIG of all ${w.config.layers * w.config.intermediate} FFN units over ${spec} (${tol !== undefined ? `tol ${tol}` : `m = ${args.nig.steps}`}) -> ${runDir}`);
      const res = await runDatasets({ ...args, resume: existsSync(join(runDir, 'checkpoint.safetensors')), outDir: runDir }, engine, tok);
      if (!res.complete) return res.code;
      rd = readRunDir(runDir);
      // the accumulators stay on the GPU: ranking and masks are computed where the attribution left them
      gpuMasks = new GpuMasks(g, model, res.accumulators, new Map(rd.cells.map((c) => [`${c.dataset}/${c.label}`, c.count])));
    }

    // ---- the known answers of the planted model
    const P = (exp.report?.p as number | undefined) ?? 5;
    let knownAnswers;
    let code = 0;
    if (roles) {
      const dff = w.config.intermediate;
      const flat = new Set(roles.relevance);
      const top = buildSchemes(rd.cells, P, { groups: rd.groups, kinds: ['fusion'], labels: ['rel'] }).find((s) => s.name === 'fusion/all/rel')!;
      const found = [...top.units].filter((u) => flat.has(u)).length;
      say(`top ${P}% relevance neurons (fusion of all datasets): ${[...top.units].map((u) => `${unitName(u, dff)}${flat.has(u) ? '*' : ''}`).join(' ')} (* planted: ${found}/${flat.size} found)`);
      const checks = knownAnswerChecks(orientCells(rd.cells, target), rd.groups, roles, P);
      for (const c of checks) say(`known answer ${c.role}: ${c.found}/${c.total} found at ${c.p}% (${c.rule})${c.passed ? '' : ` — FAILED, missing ${c.missing.join(' ')}`}`);
      const headline = `${found}/${flat.size} planted neurons found in the top ${P}% relevance neurons; known-answer checks: ${checks.map((c) => `${c.role} ${c.found}/${c.total}`).join(', ')}${checks.every((c) => c.passed) ? ' — all pass' : ' — SOME FAIL'}.`;
      knownAnswers = { headline, checks };
      code = checks.every((c) => c.passed) ? 0 : 1;
      state.headline = headline;
    }

    // ---- prune
    if (exp.prune && !done('prune', pruneKey, pruneDone)) {
      const Pr = exp.prune;
      const cellsOf = new Map(pruneUnits.map((u) => [u, pruneCells(rd, u)])); // a run without head cells: refused before anything is pruned
      const cfg = loadDatasetConfig(configFile, { shared });
      const names = (Pr.dataset as string | undefined) ?? rd.manifest.datasets.map((d) => d.name).join(',');
      const entries = pickDatasets(names, cfg.datasets, configFile);
      const datasets = entries.map((e) => ({ name: e.name, collection: loadDataset(e), relevanceLevel: e.relThreshold }));
      const percents = parseList('percents', Pr.percents);
      delete state.steps.prune;
      save();
      rmSync(pruneDir, { recursive: true, force: true }); // (runs of other schemes, percents or seeds go with it)
      for (const units of pruneUnits) {
        const cells = cellsOf.get(units)!;
        const schemes = Pr.schemes ? String(Pr.schemes).split(',').map((s) => s.trim()) : defaultSchemes(cells, rd.groups);
        say(`pruning ${percents.join(', ')}% of ${units === 'heads' ? 'heads' : 'units'} per scheme, against ${Pr.seeds} random sets each -> ${pruneDir}`);
        const res = await runPruning(model, tok, datasets, cells, rd.groups, {
          schemes, percents, units, seeds: Pr.seeds as number, depth: Pr.depth as number,
          maxLength: effectiveMaxLength((Pr['max-length'] as number | undefined) ?? rd.manifest.options.maxLength, w.config.maxPositions),
          batch: Pr.batch as number, absolute: !!Pr.absolute, outDir: pruneDir,
          inputs: { modelDir, datasets: entries, files: { aggregate: join(runDir, 'aggregate.safetensors') }, experiment: { file: exp.file, hash: exp.hash } },
        }, units === 'ffn' ? gpuMasks : undefined);
        for (const b of res.table.baselines) say(`${b.dataset}: unpruned nDCG@10 ${b.ndcg10.toFixed(3)}`);
        for (const r of res.table.rows.filter((x) => x.scheme === schemes[0])) {
          say(`  ${r.dataset} prune ${r.scheme} ${r.p}% (${r.units} ${units === 'heads' ? 'heads' : 'units'}): nDCG@10 ${r.ndcg10.value.toFixed(3)} vs random ${r.ndcg10.random.mean.toFixed(3)} ± ${r.ndcg10.random.std.toFixed(3)}`);
        }
      }
      state.steps.prune = { key: pruneKey! };
      delete state.steps.report;
      save();
    }

    // ---- report
    if (exp.report && !done('report', reportKey, reportFile)) {
      const R = exp.report;
      const exclude = (R.exclude as string | undefined)?.split('/').map((x) => x.split(',').map((d) => d.trim()).filter(Boolean)).filter((x) => x.length);
      const page = makeReport(runDir, pruneUnits.includes('ffn') ? pruningFile : undefined, reportFile, (R.title as string | undefined) ?? `ir-neurons experiment ${exp.name}`, R.p as number, { exclude, ...(knownAnswers ? { knownAnswers } : {}) },
        pruneUnits.includes('heads') ? join(pruneDir, pruneFiles('heads').table) : undefined);
      state.steps.report = { key: reportKey! };
      process.stdout.write(`\n${knownAnswers ? `${knownAnswers.headline}\n` : ''}Report: ${page}\n(also ${join(out, 'report.json')} and ${join(out, 'report.md')}${exp.prune ? `; TREC runs in ${pruneUnits.map((u) => join(pruneDir, pruneFiles(u).runs)).join(' and ')}` : ''})\n`);
    }
    state.code = code;
    save();
    return code;
  }
}
