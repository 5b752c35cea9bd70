/**
 * Tokenisation in the browser: src/tokenizer/wordpiece.ts bundled by esbuild for the browser platform, built in headless
 * Chromium from the tokenizer.json the page fetches, must give the ids of the native Hugging Face `tokenizers` (run in
 * Node through src/tokenizer/tokenizer.ts) on the 6 fixture pairs and on every pair of the TREC DL19 BM25 top-100
 * (43 queries × 100 MS MARCO passages), at max length 512 and 128 (truncation of the passage).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ensureChromium, launchChromium, serve } from './helpers/browser.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { FIXTURE_MODELS, REPO, SHARED, TOKENIZER_JSON, fixturePairs, fixtureRef, needsShared } from './helpers/shared.ts';

const DL19 = join(SHARED, 'data/trec-dl/rank_llm-bm25-top100/retrieve_results_dl19.json');
type Pair = [string, string];

/** wordpiece.ts as a browser ES module (fails, like build:web, if it reaches a Node built-in). */
async function bundleWordpiece(): Promise<string> {
  const r = await esbuild.build({
    absWorkingDir: REPO,
    stdin: { contents: "export { WordPieceTokenizer } from './src/tokenizer/wordpiece.ts';", resolveDir: REPO, sourcefile: 'wordpiece-entry.ts', loader: 'ts' },
    bundle: true, format: 'esm', platform: 'browser', target: ['es2022'], write: false, logLevel: 'silent',
  });
  return r.outputFiles[0].text;
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>wordpiece</title><link rel="icon" href="data:,">
<script type="module">
import { WordPieceTokenizer } from './wordpiece.js';
const json = await (await fetch('./tokenizer.json')).json();
globalThis.tok = WordPieceTokenizer.fromTokenizerJson(json, 'tokenizer.json');
document.title = 'ready';
</script>`;

needsShared(test, 'browser WordPiece (Chromium) == native tokenizers (Node) on the fixture pairs and 4,300 DL19 pairs', async () => {
  const exe = ensureChromium();
  if (!exe) {
    if (process.env.CI === 'true') assert.unreachable('Chromium is missing and could not be installed (CI=true)');
    console.log('note: skipping the browser tokenizer test: no Chromium');
    return;
  }
  const dl19 = JSON.parse(readFileSync(DL19, 'utf8')) as { query: string; hits: { content: string }[] }[];
  const dlPairs: Pair[] = dl19.flatMap((q) => q.hits.map((h): Pair => [q.query, h.content]));
  const fixtures = FIXTURE_MODELS.map((m) => ({ model: m, pairs: fixturePairs(m).map((p): Pair => [p.query, p.passage]) }));
  assert.ok(dlPairs.length >= 2000, `only ${dlPairs.length} DL19 pairs`);

  const native = loadTokenizer(REPO, { tokenizerFile: TOKENIZER_JSON, backend: 'tokenizers' });
  assert.is(native.backend, 'tokenizers');
  const sets: { name: string; pairs: Pair[]; maxLength: number; want: EncodedPair[] }[] = [];
  for (const f of fixtures) sets.push({ name: `${f.model} fixture`, pairs: f.pairs, maxLength: 512, want: await native.encodePairs(f.pairs, 512) });
  sets.push({ name: 'DL19 @512', pairs: dlPairs, maxLength: 512, want: await native.encodePairs(dlPairs, 512) });
  sets.push({ name: 'DL19 @128', pairs: dlPairs, maxLength: 128, want: await native.encodePairs(dlPairs, 128) });
  // the native ids are those of the transformers fixtures
  for (const f of fixtures) {
    const R = fixtureRef(f.model);
    sets.find((s) => s.name === `${f.model} fixture`)!.want.forEach((e, i) => assert.equal(e.ids, Array.from(R(`p${i}.input_ids`)), `${f.model} p${i}`));
  }

  const server = await serve([
    { path: '/index.html', body: PAGE },
    { path: '/wordpiece.js', body: await bundleWordpiece() },
    { path: '/tokenizer.json', file: TOKENIZER_JSON },
  ]);
  const browser = await launchChromium(exe);
  try {
    const { page } = browser;
    await page.goto(`${server.origin}/index.html`);
    await page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 60_000 });
    let compared = 0, truncated = 0;
    for (const s of sets) {
      const got = await page.evaluate(({ pairs, maxLength }) => {
        const tok = (globalThis as any).tok;
        return pairs.map(([q, p]: [string, string]) => tok.encodePair(q, p, maxLength));
      }, { pairs: s.pairs, maxLength: s.maxLength }) as EncodedPair[];
      assert.is(got.length, s.want.length);
      got.forEach((g, i) => {
        const w = s.want[i];
        if (g.ids.length !== w.ids.length || g.ids.some((id, t) => id !== w.ids[t])) {
          assert.unreachable(`${s.name} pair ${i}: browser ids differ from tokenizers\n  query: ${s.pairs[i][0]}\n  passage: ${s.pairs[i][1].slice(0, 300)}\n` +
            `  browser: ${g.ids.join(' ')}\n  native:  ${w.ids.join(' ')}`);
        }
        assert.equal(g.typeIds, w.typeIds, `${s.name} pair ${i} type ids`);
        assert.is(g.sep1, w.sep1, `${s.name} pair ${i} sep1`);
        if (w.ids.length === s.maxLength) truncated++;
      });
      compared += got.length;
    }
    assert.ok(truncated > 100, `only ${truncated} pairs reached the max length; truncation is barely tested`);
    console.log(`browser tokenizer: ${compared} pairs identical to tokenizers (${truncated} truncated)`);
  } catch (e) {
    console.log(`browser log:\n${browser.logs.slice(-20).join('\n')}`);
    throw e;
  } finally {
    await browser.close();
    await server.close();
  }
});

test.run();
