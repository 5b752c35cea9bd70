/**
 * The engine as an ES module for browsers (web-dist/ir-neurons.js). A page opens the GPU, loads a checkpoint from
 * bytes, tokenises a pair, scores it and attributes it:
 *
 *   const g = await openBrowserGpu();
 *   const m = await loadModel(await sourcesFromFolderUrl('models/monobert/'));
 *   const model = await BertGpu.create(g, m.weights);
 *   const pair = m.tokenizer.encodePair(query, passage, 512);
 *   const logits = await model.score([pair]);
 *   const r = await new NigEngine(model, m.special).attribute(pair, { steps: 50 });
 *
 * and reads a dataset run (no GPU needed): `const run = await loadRun(runSourcesFromFolderUrl('runs/msmarco/'))`.
 */
export { openBrowserGpu, registerBundledShaders, webgpuSupport, type WebGpuSupport } from './gpu.ts';
export { loadModel, readSource, sourcesFromFiles, sourcesFromFolderUrl, filesFromDrop, tokenizerFromBytes, looksLikeJson, type LoadedModel, type ModelSources, type Source, type LoadProgress } from './load.ts';
export { loadRun, parseRun, runSourcesFromFiles, runSourcesFromFolderUrl, type LoadedRun, type RunCell, type RunSources } from './run-load.ts';
export { attributionsSafetensors, pairTensors, type Units } from '../ig/export.ts';
export { drawHeatmap, cellAt, topNeurons, type HeatmapGeometry, type RankedNeuron } from './heatmap.ts';
export { describeGpu, type Gpu } from '../gpu/device.ts';
export { BertGpu, relevance } from '../model/forward.ts';
export { NigEngine, type NigOptions, type NigResult } from '../ig/engine.ts';
export { BASELINES, type Baseline } from '../ig/baselines.ts';
export { RULES, type Rule } from '../ig/path.ts';
export { WordPieceTokenizer } from '../tokenizer/wordpiece.ts';
export { JsonPairTokenizer, jsTokenizerFromJson, type SyncPairTokenizer } from '../tokenizer/json.ts';
export { parseConfig } from '../model/config.ts';
export { parseSafetensors, serializeSafetensors, toFloat } from '../formats/safetensors.ts';
export { weightsFromStateDict } from '../model/weights.ts';
export { MAX_T } from '../kernels/attention.ts';
export { UserError } from '../util/errors.ts';
