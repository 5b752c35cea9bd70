/**
 * The package's browser entry (`import … from 'ir-neurons/browser'`): the engine without Node built-ins, WGSL inlined
 * by the build. The same names as the page's library (src/browser/index.ts); docs/api.md says which are stable.
 *
 *   const g = await openBrowserGpu();
 *   const m = await loadModel(await sourcesFromFolderUrl('models/minilm/'));
 *   const model = await BertGpu.create(g, m.weights);
 *   const pair = m.tokenizer.encodePair(query, passage, 512);
 *   const [logits] = await model.score([pair]);
 *   const r = await new NigEngine(model, m.special).attribute(pair, { steps: 50 });
 */
export * from '../browser/index.ts';
