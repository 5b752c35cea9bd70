/**
 * `ir-neurons prune --model DIR [--tokenizer FILE] --run RUN_DIR [--dataset NAMES] [--schemes LIST]
 *  [--percents 0.1,0.5,1,5,10] [--seeds 5] [--depth 100] [--max-length N] [--batch 32] [--absolute] [--units ffn|heads|ffn,heads] --out DIR`
 * Re-ranks every candidate with the units of each scheme pruned, against random sets of the same size.
 * `--units heads` prunes attention heads (the run's head cells; see src/pipeline/prune.ts): pruning-heads.json and
 * runs-heads/ beside the FFN table's pruning.json and runs/.
 */
import { join } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { checkOutDir } from '../util/out-path.ts';
import { UserError } from '../util/errors.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { modelHash } from '../formats/hash.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu } from '../model/forward.ts';
import { loadDataset, loadDatasetConfig } from '../data/datasets.ts';
import { readRunDir } from '../run/run-dir.ts';
import { MIN_SEEDS, PRUNE_UNITS, pruneFiles, runPruning, type PruneDataset, type PruneUnits } from '../pipeline/prune.ts';
import type { Cell, DatasetGroups } from '../analysis/schemes.ts';
import type { RunDir } from '../run/run-dir.ts';
import { gpuMasksFromRun } from '../pipeline/gpu-masks.ts';
import { defaultShared, pickDatasets, REPO_ROOT } from '../run/datasets.ts';
import { STANDARD_PERCENTS } from '../analysis/rankings.ts';
import { NDCG10 } from '../analysis/pruning.ts';
import { DEFAULT_SCORE_BATCH } from '../model/score.ts';

export const DEFAULT_SCHEMES = ['fusion/all/rel', 'fusion/in-domain/rel', 'fusion/out-of-domain/rel', 'fusion/all/nonrel'];

export function parseList(name: string, v: unknown): number[] {
  const xs = String(v).split(',').map((s) => Number(s.trim()));
  if (!xs.length || xs.some((x) => !(x > 0 && x <= 100))) throw new UserError(`--${name} '${v}' must be comma-separated percents in (0, 100]`);
  return xs;
}

export const command: CommandSpec = {
  name: 'prune',
  usage: '--model DIR --run RUN_DIR [options] --out DIR',
  summary: 'Prunes the top units of attribution schemes and re-ranks every candidate, against random sets of the same size.',
  options: {
    model: { kind: 'string', arg: 'DIR', required: true, help: 'the checkpoint that was attributed' },
    tokenizer: { kind: 'string', arg: 'FILE', help: "tokenizer.json or vocab.txt to use instead of the model folder's" },
    run: { kind: 'string', arg: 'RUN_DIR', required: true, help: "a finished (or merged) 'attribute --dataset' folder" },
    dataset: { kind: 'string', arg: 'NAMES', derived: "the run's datasets", help: 'datasets to re-rank' },
    'datasets-config': { kind: 'string', arg: 'FILE', derived: 'data/datasets.json', help: 'the dataset list' },
    shared: { kind: 'string', arg: 'DIR', derived: '$IR_NEURONS_SHARED or ../shared', help: 'root of the dataset files' },
    schemes: { kind: 'string', arg: 'LIST', derived: `${DEFAULT_SCHEMES.join(',')} (those the run has)`, help: 'comma-separated schemes (kind/group/label)' },
    percents: { kind: 'string', arg: 'LIST', default: STANDARD_PERCENTS.join(','), help: 'percents of units pruned' },
    seeds: { kind: 'int', arg: 'N', min: MIN_SEEDS, default: MIN_SEEDS, help: 'random sets per scheme and percent' },
    depth: { kind: 'int', arg: 'N', min: 1, default: 100, help: 'candidates re-ranked per query' },
    'max-length': { kind: 'int', arg: 'N', min: 1, derived: "the run's", help: 'tokens per pair' },
    batch: { kind: 'int', arg: 'N', min: 1, default: DEFAULT_SCORE_BATCH, help: 'pairs per forward pass (changes no number)' },
    units: { kind: 'string', arg: 'UNITS', default: 'ffn', choices: PRUNE_UNITS, list: true, help: "what is pruned: ffn (FFN neurons: pruning.json, runs/), heads (attention heads, a head's context output zeroed; the run must be attributed with --units ffn-pre,heads: pruning-heads.json, runs-heads/), or ffn,heads" },
    absolute: { kind: 'boolean', help: 'rank units by |mean NIG| instead of mean NIG' },
    out: { kind: 'string', arg: 'DIR', required: true, help: 'output folder (pruning.json and runs/)' },
  },
  examples: ['ir-neurons prune --model weights/minilm-l6 --run runs/merged --out runs/prune', 'ir-neurons prune --model weights/minilm-l6 --run runs/merged --units heads --percents 5,10,25 --out runs/prune'],
};

/** The default schemes that the cells have (labels present; in/out-of-domain only with both groups). */
export function defaultSchemes(cells: readonly Cell[], groups: DatasetGroups): string[] {
  return DEFAULT_SCHEMES.filter((s) => cells.some((c) => s.endsWith(`/${c.label}`)) && (!s.includes('-domain') || (groups.inDomain.length > 0 && groups.outOfDomain.length > 0)));
}

/** The cells that `units` prunes: the FFN cells, or the head cells (a run without them: a one-line error). */
export function pruneCells(run: RunDir, units: PruneUnits): Cell[] {
  if (units === 'ffn') return run.cells;
  if (!run.headCells?.length) throw new UserError(`${run.dir}: has no head cells (attributed with --units ${run.manifest.options.units}); to prune heads, attribute with --units ffn-pre,heads`);
  return run.headCells;
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('prune', argv, command);
  if (a.positionals.length) throw new UserError(`unexpected argument '${a.positionals[0]}'; every input is an option (see ir-neurons prune --help)`);
  const modelDir = a.opts.model as string;
  const outDir = a.opts.out as string;
  checkOutDir(outDir);
  const runDir = readRunDir(a.opts.run as string);
  const hash = modelHash(modelDir);
  if (runDir.manifest.model.hash !== hash) throw new UserError(`${runDir.dir}: its attributions come from model ${runDir.manifest.model.hash}, not ${modelDir} (${hash}); prune the model that was attributed`);
  const w = loadCheckpoint(modelDir);
  const tok = loadTokenizer(modelDir, { tokenizerFile: a.opts.tokenizer as string | undefined });
  const maxLength = effectiveMaxLength((a.opts['max-length'] as number | undefined) ?? runDir.manifest.options.maxLength, w.config.maxPositions);
  const configFile = (a.opts['datasets-config'] as string | undefined) ?? join(REPO_ROOT, 'data/datasets.json');
  const cfg = loadDatasetConfig(configFile, { shared: (a.opts.shared as string | undefined) ?? defaultShared() });
  const names = (a.opts.dataset as string | undefined) ?? runDir.manifest.datasets.map((d) => d.name).join(',');
  const entries = pickDatasets(names, cfg.datasets, configFile);
  const datasets: PruneDataset[] = entries.map((e) => ({ name: e.name, collection: loadDataset(e), relevanceLevel: e.relThreshold }));
  const kinds = [...new Set(String(a.opts.units).split(',').map((u) => u.trim()))] as PruneUnits[];
  const cellsOf = new Map(kinds.map((u) => [u, pruneCells(runDir, u)]));
  const percents = parseList('percents', a.opts.percents);
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  for (const units of kinds) {
    const cells = cellsOf.get(units)!;
    const res = await runPruning(model, tok, datasets, cells, runDir.groups, {
      schemes: a.opts.schemes ? String(a.opts.schemes).split(',').map((s) => s.trim()) : defaultSchemes(cells, runDir.groups),
      percents, units,
      seeds: a.opts.seeds as number,
      depth: a.opts.depth as number,
      maxLength, batch: a.opts.batch as number, absolute: !!a.opts.absolute, outDir,
      inputs: { modelDir, datasets: entries, files: { aggregate: join(runDir.dir, 'aggregate.safetensors') } },
    }, units === 'ffn' ? gpuMasksFromRun(g, model, runDir, !!a.opts.absolute) : undefined);
    for (const b of res.table.baselines) process.stdout.write(`${b.dataset}: unpruned nDCG@10 ${b.ndcg10.toFixed(4)}, MRR@10 ${b.mrr10.toFixed(4)} (${b.queries} queries)\n`);
    for (const r of res.table.rows) {
      process.stdout.write(`${r.dataset.padEnd(12)} ${r.scheme.padEnd(26)} ${String(r.p).padStart(4)}% ${String(r.units).padStart(6)} ${units === 'heads' ? 'heads' : 'units'}  nDCG@10 ${r.ndcg10.value.toFixed(4)} (Δ ${r.ndcg10.delta >= 0 ? '+' : ''}${r.ndcg10.delta.toFixed(4)})  random ${r.ndcg10.random.mean.toFixed(4)} ± ${r.ndcg10.random.std.toFixed(4)}\n`);
    }
    const f = pruneFiles(units);
    process.stderr.write(`${units === 'heads' ? 'head ' : ''}pruning table -> ${join(outDir, f.table)} (${NDCG10}); ${res.runs.length} TREC run files in ${join(outDir, f.runs)}\n`);
  }
  return 0;
}
