/**
 * The package's Node entry (`import … from 'ir-neurons'`): what docs/api.md calls the stable API. Everything here is a
 * re-export; the modules behind it may move, these names may not (until a major version). Anything not exported
 * here is internal.
 *
 *   const w = loadCheckpoint('weights/minilm-l6');
 *   const tok = loadTokenizer('weights/minilm-l6');
 *   const model = await BertGpu.create(await requestGpu(), w);
 *   const [pair] = await tok.encodePairs([['query', 'passage']], 512);
 *   const [logits] = await scoreEncoded(model, [pair], 32);
 *   const r = await new NigEngine(model, tok).attribute(pair, { steps: 50 });
 */
// the GPU (Dawn in Node) and the engine
export { requestGpu } from '../gpu/node.ts';
export { describeGpu, type Gpu, type GpuOptions } from '../gpu/device.ts';
export { BertGpu, relevance } from '../model/forward.ts';
export { scoreEncoded } from '../model/score.ts';
export { NigEngine, type NigOptions, type NigResult } from '../ig/engine.ts';
export { IgEngine, type IgOptions, type IgResult } from '../ig/ig.ts';
export { BASELINES, type Baseline, type SpecialIds } from '../ig/baselines.ts';
export { RULES, DEFAULT_RULE, IG_RULES, type Rule, type IgRule } from '../ig/path.ts';
export { attributionsSafetensors, pairTensors, type Units } from '../ig/export.ts';
export { MAX_T } from '../kernels/attention.ts';
export type { BertConfig, BertWeights, EncodedPair, Family, Target } from '../model/types.ts';
export { FAMILIES } from '../model/types.ts';

// loaders: checkpoints, tokenisers, safetensors, prune masks, and the hub
export { loadCheckpoint } from '../model/checkpoint.ts';
export { parseConfig, positionIds } from '../model/config.ts';
export { weightsFromStateDict } from '../model/weights.ts';
export { readPruneMask } from '../model/prune-mask.ts';
export { parseSafetensors, serializeSafetensors, toFloat, type RawTensor } from '../formats/safetensors.ts';
export { modelHash } from '../formats/hash.ts';
export { loadTokenizer, effectiveMaxLength, DEFAULT_MAX_LENGTH, type PairTokenizer, type LoadTokenizerOptions, type TokenizerBackend } from '../tokenizer/tokenizer.ts';
export { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
export { downloadModel, type DownloadOptions, type DownloadResult } from '../hub/download.ts';

// data: pairs, collections, TREC files
export { readPairsJsonl, parsePairsJsonl, type PairInput } from '../data/pairs-jsonl.ts';
export { loadDatasetConfig, loadDataset, parseDatasetConfig, type DatasetConfig, type DatasetEntry } from '../data/datasets.ts';
export { readQrels, readRun, parseQrels, parseRun, type Qrels, type Run } from '../data/trec.ts';

// dataset runs and pruning runs (what `attribute --dataset` and `prune` do)
export { runDatasets, selectDatasetPairs, pickDatasets, type DatasetRunArgs } from '../run/datasets.ts';
export { readRunDir, type RunDir } from '../run/run-dir.ts';
export { runPruning, type PruneOptions, type PruneResult } from '../pipeline/prune.ts';

// analysis on plain arrays, and the report
export { buildSchemes, type Scheme, type SchemeOptions } from '../analysis/schemes.ts';
export { topUnits, topK, STANDARD_PERCENTS } from '../analysis/rankings.ts';
export { evaluate, parseMeasures, formatTrecEval, type Evaluation } from '../analysis/metrics.ts';
export { pruningTable, type PruningTable } from '../analysis/pruning.ts';
export { buildReport, type ReportInput, type ReportJson } from '../report/report.ts';
export { writeReport } from '../report/write.ts';

export { UserError } from '../util/errors.ts';
