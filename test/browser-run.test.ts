/**
 * The page as a viewer of dataset runs, in headless Chromium: a real run is made here (the demo's planted model and
 * two toy collections, `ir-neurons attribute --dataset` at m = 4, about two seconds), served from 127.0.0.1 and
 * loaded by `?run=URL`, the file picker and drag and drop. The page must list the run's cells, rank each cell's
 * neurons as src/analysis/rankings.ts does on the means decoded here in Node, draw every layer × neuron cell of the
 * heatmap in the colour of its mean, and show the per-segment split (seg_sum / count) of each top neuron.
 * The same model then loads with its tokenizer under an arbitrary file name (vocab.txt content, and tokenizer.json
 * content with the fixtures), picking a neuron brings the token view into sight, and a list of pairs is attributed
 * and stepped through.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureChromium, launchChromium, serve, type Browser, type Server } from './helpers/browser.ts';
import { REPO, FIXTURES, TOKENIZER_JSON, fixtureRef, fixturePairs, needsShared, relL2 } from './helpers/shared.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { parseSafetensors, serializeSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { parseRun, runSourcesFromFiles } from '../src/browser/run-load.ts';
import { rankPositions } from '../src/analysis/rankings.ts';
import { diverging, fmt } from '../src/browser/heatmap.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';

const S = suite('browser-run');
const WEB_DIST = join(REPO, 'web-dist');
const tmp = mkdtempSync(join(tmpdir(), 'browser-run-'));
const RUN = join(tmp, 'run');
const MODEL = join(tmp, 'model');

type Env = { server: Server; browser: Browser };
let env: Promise<Env | null> | null = null;

/** The planted model, two toy collections of 4 queries, and a dataset run over both at m = 4. */
function makeRun(): void {
  makePlantedBert({ out: MODEL, seed: 1 });
  const entries = [['toy-in', 'in-domain', 1], ['toy-ood', 'out-of-domain', 2]] as const;
  for (const [name, , seed] of entries) makeToyCollection({ out: join(tmp, name), seed, queries: 4 });
  writeFileSync(join(tmp, 'datasets.json'), JSON.stringify({
    version: 1,
    datasets: entries.map(([name, group]) => ({
      name, group, format: 'tsv', relThreshold: 2, unlisted: 'unjudged',
      files: { docs: `${name}/corpus.tsv`, queries: `${name}/queries.tsv`, qrels: `${name}/qrels.txt`, run: `${name}/run.txt` },
    })),
  }));
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', MODEL, '--dataset', 'toy-in,toy-ood',
    '--datasets-config', join(tmp, 'datasets.json'), '--shared', tmp, '--per-query', '1', '--steps', '4', '--max-length', '64', '--out', RUN],
  { encoding: 'utf8', timeout: 300_000 });
  assert.is(r.status, 0, `attribute --dataset failed:\n${r.stderr}`);
}

function setup(): Promise<Env | null> {
  env ??= (async () => {
    const b = spawnSync(process.execPath, [join(REPO, 'scripts/build-web.mjs')], { encoding: 'utf8' });
    assert.is(b.status, 0, `npm run build:web failed:\n${b.stderr}`);
    const exe = ensureChromium();
    if (!exe) {
      if (process.env.CI === 'true') assert.unreachable('Chromium is missing and could not be installed (CI=true)');
      return null;
    }
    makeRun();
    const server = await serve([
      { prefix: '/run/', dir: RUN },
      { path: '/pmodel/wordpiece.vocab', file: join(MODEL, 'vocab.txt') }, // the tokenizer under another name
      { prefix: '/pmodel/', dir: MODEL },
      { prefix: '/', dir: WEB_DIST },
    ]);
    return { server, browser: await launchChromium(exe) };
  })();
  return env;
}

function browserTest(name: string, fn: (e: Env) => Promise<void>, needsFixtures = false): void {
  const body = async () => {
    const e = await setup();
    if (!e) { console.log(`note: skipping '${name}': no Chromium`); return; }
    try {
      await fn(e);
    } catch (err) {
      console.log(`browser log:\n${e.browser.logs.slice(-30).join('\n')}`);
      throw err;
    }
  };
  if (needsFixtures) needsShared(S, name, body);
  else S(name, body);
}

type Page = Env['browser']['page'];
const js = (page: Page, f: string) => page.evaluate(f) as Promise<any>;

async function waitRun(page: Page, want = 'loaded'): Promise<void> {
  await page.waitForFunction((w) => ['error', w].includes((globalThis as any).irNeurons?.state?.run?.status), want, { timeout: 60_000, polling: 50 });
  const st = await js(page, 'irNeurons.state.run');
  if (st.status === 'error' && want !== 'error') assert.unreachable(`run viewer error: ${st.error}`);
}

async function waitStatus(page: Page, want: string[], timeout = 120_000): Promise<void> {
  await page.waitForFunction((w) => { const s = (globalThis as any).irNeurons?.state?.status; return w.includes(s) || s === 'error'; }, want, { timeout, polling: 50 });
  if (await js(page, 'irNeurons.state.status') === 'error') assert.unreachable(`page error: ${await js(page, 'irNeurons.state.error')}`);
}

/** The aggregate as Node reads it: per cell count, mean, seg_sum. */
function nodeCells(): { names: string[]; L: number; F: number; cell: Map<string, { count: number; mean: Float64Array; seg: Float64Array }> } {
  const manifest = JSON.parse(readFileSync(join(RUN, 'manifest.json'), 'utf8'));
  const st = parseSafetensors(readFileSync(join(RUN, 'aggregate.safetensors')), 'aggregate.safetensors');
  const f64 = (n: string) => toFloat(st.get(n)!, Float64Array);
  const cell = new Map<string, { count: number; mean: Float64Array; seg: Float64Array }>();
  for (const c of manifest.cells as string[]) cell.set(c, { count: f64(`${c}.count`)[0], mean: f64(`${c}.mean`), seg: f64(`${c}.seg_sum`) });
  return { names: manifest.cells, L: manifest.model.config.layers, F: manifest.model.config.intermediate, cell };
}

/** The first k units in the analyses' order (rankings.ts rankPositions). */
function nodeTop(mean: Float64Array, k: number, absolute = false): number[] {
  const rank = rankPositions(mean, { absolute });
  const order = new Array<number>(mean.length);
  rank.forEach((r, u) => { order[r - 1] = u; });
  return order.slice(0, k);
}

/** Checks the shown cell against Node: top-k ids, table text (mean, per-segment means), heatmap colours. */
async function checkCell(page: Page, name: string, absolute = false): Promise<void> {
  const t0 = Date.now();
  const { L, F, cell } = nodeCells();
  const c = cell.get(name)!;
  const st = await js(page, 'irNeurons.state.run');
  assert.is(st.selected, name);
  const want = nodeTop(c.mean, 20, absolute);
  assert.equal(st.top.map((t: { unit: number }) => t.unit), want, `${name}: top 20 units (${absolute ? '|mean|' : 'mean'})`);
  assert.match(await page.textContent('#run-top-title') ?? '', new RegExp(`Top 20 neurons of ${name.replace('/', '\\/')} by ${absolute ? '\\|mean\\|' : 'mean'}`));
  const rows = await page.$$eval('#run-top tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.is(rows.length, 20);
  const n = L * F;
  rows.forEach((r, i) => {
    const u = want[i];
    const segs = [0, 1, 2, 3, 4].map((s) => c.seg[s * n + u] / c.count);
    assert.equal(r.slice(0, 3), [String(i + 1), `L${Math.floor(u / F)}.${u % F}`, fmt(c.mean[u])], `${name} row ${i + 1}`);
    assert.equal(r.slice(4), segs.map(fmt), `${name} row ${i + 1}: per-segment means`);
    const total = segs.reduce((a, b) => a + b, 0);
    // (each pair's total and segments are float32 sums of the same terms, so they agree to float32 rounding)
    assert.ok(Math.abs(total - c.mean[u]) <= 1e-6 * Math.max(1e-3, Math.abs(c.mean[u])), `${name} ${u}: segments add up to ${total}, mean ${c.mean[u]}`);
  });
  // every layer × neuron cell of the large heatmap in the colour of its mean (one column per neuron)
  const px = await page.evaluate(() => {
    const s = (globalThis as any).irNeurons.state.run;
    const g = s.heatmap;
    const cv = document.getElementById('run-heatmap') as HTMLCanvasElement;
    const dpr = cv.width / cv.clientWidth;
    const img = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height);
    const out: number[][] = [];
    for (let l = 0; l < g.L; l++) {
      for (let j = 0; j < g.bins; j++) {
        const x = Math.floor((g.left + ((j + 0.5) * g.width) / g.bins) * dpr), y = Math.floor((g.top + (l + 0.5) * g.rowH) * dpr);
        const i = (y * img.width + x) * 4;
        out.push([img.data[i], img.data[i + 1], img.data[i + 2]]);
      }
    }
    return { bins: g.bins, L: g.L, maxAbs: g.maxAbs, out };
  });
  assert.ok(F <= 400, `d_ff ${F}: this check reads one column per neuron, so the planted model must stay narrower than the plot`);
  assert.is(px.bins, F, 'one column per neuron');
  assert.is(px.out.length, L * F);
  let maxAbs = 0;
  for (const v of c.mean) maxAbs = Math.max(maxAbs, Math.abs(v));
  assert.ok(Math.abs(px.maxAbs - maxAbs) <= 1e-12 * maxAbs, `heatmap scale ${px.maxAbs} vs max |mean| ${maxAbs}`);
  let coloured = 0;
  px.out.forEach((rgb: number[], u: number) => {
    const v = c.mean[u];
    const exp = diverging(Math.sign(v) * Math.sqrt(Math.abs(v) / maxAbs));
    const off = Math.max(...rgb.map((x, i) => Math.abs(x - exp[i])));
    assert.ok(off <= 2, `${name} heatmap L${Math.floor(u / F)}.${u % F}: rgb ${rgb} vs ${exp} for mean ${v}`);
    if (exp.some((x) => x < 250)) coloured++;
  });
  assert.ok(coloured >= 5, `${name}: only ${coloured} visibly coloured cells`);
  if (process.env.IR_NEURONS_BROWSER_LOG === '1') console.log(`checkCell ${name}: ${Date.now() - t0} ms`);
}

browserTest('a dataset run by URL: cells listed, top neurons as rankings.ts, per-segment split, heatmaps drawn, cell and neuron picking', async ({ server, browser }) => {
  const { page } = browser;
  const { names, L, F, cell } = nodeCells();
  await page.goto(`${server.origin}/index.html?run=/run/`);
  await waitRun(page);
  assert.equal(names, ['toy-in/rel', 'toy-in/nonrel', 'toy-ood/rel', 'toy-ood/nonrel']);
  const figs = await page.$$eval('#run-cells figure', (fs) => fs.map((f) => ({ cell: (f as HTMLElement).dataset.cell, caption: f.querySelector('figcaption')!.textContent })));
  assert.equal(figs.map((f) => f.cell), names, 'one small heatmap per cell, in the manifest order');
  figs.forEach((f) => assert.match(f.caption!, new RegExp(`^${f.cell} · ${cell.get(f.cell!)!.count} pairs · (in|out-of)-domain$`)));
  assert.match(await page.textContent('#run-info') ?? '', new RegExp(`4 cells, ${L} layers × ${F} neurons · m = 4 · trapezoid · target relevant`));
  assert.match(await page.textContent('#run-info') ?? '', /\nran on: .*\(software\) · (cpu|gpu)-class kernels · ir-neurons \d+\.\d+\.\d+/, 'the run\'s environment');
  // the small multiples: drawn, and not all alike
  const inks = await page.$$eval('#run-cells canvas', (cs) => cs.map((c) => {
    const d = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
    let n = 0, h = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 240 || d[i + 2] < 240) { n++; h = (h * 31 + d[i] * 7 + d[i + 2]) % 1e9; }
    return [n, h];
  }));
  for (const [n] of inks) assert.ok(n > 200, `a cell's small heatmap has only ${n} coloured pixels`);
  assert.is(new Set(inks.map(([, h]) => h)).size, 4, 'the four small heatmaps differ');

  await checkCell(page, 'toy-in/rel');
  await page.click('#run-cells figure[data-cell="toy-ood/nonrel"]');
  await checkCell(page, 'toy-ood/nonrel');
  await page.selectOption('#run-rank', 'abs');
  await checkCell(page, 'toy-ood/nonrel', true);
  await page.selectOption('#run-rank', 'mean');

  // pick the third neuron: it is shown in every cell, with its mean and rank there, and scrolled into sight
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.click('#run-top tbody tr:nth-child(3)');
  const u = (await js(page, 'irNeurons.state.run')).top[2].unit as number;
  assert.is(await js(page, 'irNeurons.state.run.picked'), u);
  assert.match(await page.textContent('#run-neuron-title') ?? '', new RegExp(`^Neuron L${Math.floor(u / F)}\\.${u % F} `));
  const rows = await page.$$eval('#run-neuron-table tr[data-cell]', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.equal(rows.map((r) => r[0]), names);
  rows.forEach((r) => {
    const c = cell.get(r[0]!)!;
    const rank = nodeTop(c.mean, L * F).indexOf(u) + 1;
    assert.equal([r[1], r[2], r[4]], [String(c.count), fmt(c.mean[u]), `${rank} of ${L * F}`], `${r[0]}: neuron ${u}`);
  });
  assert.is(rows.find((r) => r[0] === 'toy-ood/nonrel')![4], `3 of ${L * F}`);
  await page.waitForFunction(() => {
    const b = document.getElementById('run-neuron')!.getBoundingClientRect();
    return b.top >= -1 && b.bottom <= window.innerHeight + 1;
  }, undefined, { timeout: 5000 });
  await page.locator('#run-panel').screenshot({ path: join(WEB_DIST, 'run-panel.png') });
});

browserTest('a dataset run by the file picker and by drag and drop; a folder without the aggregate is refused with the reason', async ({ server, browser }) => {
  const { page } = browser;
  await page.goto(`${server.origin}/index.html`);
  await page.setInputFiles('#run-files', [
    { name: 'manifest.json', mimeType: 'application/json', buffer: readFileSync(join(RUN, 'manifest.json')) },
    { name: 'aggregate.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(join(RUN, 'aggregate.safetensors')) },
  ]);
  await waitRun(page);
  await checkCell(page, 'toy-in/rel');

  await page.goto(`${server.origin}/index.html`);
  await page.evaluate(async () => {
    const dt = new DataTransfer();
    for (const name of ['manifest.json', 'aggregate.safetensors', 'checkpoint.safetensors']) dt.items.add(new File([await (await fetch(`/run/${name}`)).arrayBuffer()], name));
    document.getElementById('run-drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await waitRun(page);
  await page.click('#run-cells figure[data-cell="toy-in/nonrel"]');
  await checkCell(page, 'toy-in/nonrel');

  await page.setInputFiles('#run-files', [{ name: 'manifest.json', mimeType: 'application/json', buffer: readFileSync(join(RUN, 'manifest.json')) }]);
  await waitRun(page, 'error');
  assert.match(await page.textContent('#run-status') ?? '', /^missing aggregate\.safetensors among the 1 files given \(manifest\.json\); select or drop the --out folder/);
});

/** Loads the planted model through the file picker, its vocab under an arbitrary name; waits for 'loaded'. */
async function loadPlanted(page: Page, tokenizerName: string): Promise<void> {
  await page.setInputFiles('#files', [
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(MODEL, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(join(MODEL, 'model.safetensors')) },
    { name: tokenizerName, mimeType: 'application/octet-stream', buffer: readFileSync(join(MODEL, 'vocab.txt')) },
    { name: 'tokenizer_config.json', mimeType: 'application/json', buffer: readFileSync(join(MODEL, 'tokenizer_config.json')) },
  ]);
  await waitStatus(page, ['loaded']);
}

browserTest('a tokenizer under any file name (vocab.txt content; by picker and by ?tokenizer=), the token view brought into sight, a list of pairs attributed and stepped through', async ({ server, browser }) => {
  const { page } = browser;
  const tok = loadTokenizer(MODEL);
  const pairs = [
    { id: 'a', query: 'first query words', passage: 'a passage about nothing in particular, with several words in it' },
    { id: 'b', query: 'second query', passage: 'another passage' },
    { id: 'c', query: 'third and last query of the list', passage: 'the third passage is the longest of the three passages here, by a few words' },
  ];
  const want = await tok.encodePairs(pairs.map((p) => [p.query, p.passage] as [string, string]), 128);

  await page.goto(`${server.origin}/index.html`);
  await waitStatus(page, ['ready']);
  assert.is(await js(page, 'irNeurons.state.webgpu'), 'ok', `no WebGPU in Chromium: ${await page.textContent('#gpu-status')}`);
  await loadPlanted(page, 'planted-wordpiece.list');
  const cfg = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
  const [L, F] = [cfg.num_hidden_layers, cfg.intermediate_size];
  assert.match(await page.textContent('#model-info') ?? '', new RegExp(`\\+ planted-wordpiece\\.list: ${L} layers, hidden ${cfg.hidden_size}, d_ff ${F}`));
  // by URL: ?model= with ?tokenizer= naming the file in that folder
  const p2 = await browser.context.newPage();
  await p2.goto(`${server.origin}/index.html?model=/pmodel/&tokenizer=wordpiece.vocab`);
  await waitStatus(p2, ['loaded']);
  assert.match(await p2.textContent('#model-info') ?? '', new RegExp(`\\+ wordpiece\\.vocab: ${L} layers`));
  await p2.close();

  // three pairs from a JSONL file, attributed in one go (per token, m = 4)
  await page.setInputFiles('#pairs-file', { name: 'pairs.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(pairs.map((p) => JSON.stringify(p)).join('\n')) });
  await page.waitForFunction(() => (globalThis as any).irNeurons.state.list.pairs.length === 3);
  assert.equal(await page.$$eval('#pair-list li', (li) => li.map((x) => x.textContent)), pairs.map((p) => `${p.id}: ${p.query}`));
  await page.fill('#steps', '4');
  await page.check('#per-token');
  await page.click('#attribute-all');
  await waitStatus(page, ['done']);
  assert.match(await page.textContent('#nig-status') ?? '', /^NIG of 3 pairs in /);
  const got = await page.evaluate(() => (globalThis as any).irNeurons.state.list.pairs.map((p: any) => ({ id: p.id, ids: p.encoded?.ids, F: p.result && Array.from(p.result.F), nig: p.result && Array.from(p.result.nigPre) })));
  got.forEach((g: any, i: number) => {
    assert.is(g.id, pairs[i].id);
    assert.equal(g.ids, want[i].ids, `pair ${g.id}: the page's ids are those of the Node tokenizer`);
    assert.is(g.F.length, 5);
  });
  assert.ok(got[0].nig.some((x: number, u: number) => x !== got[1].nig[u]), 'pairs a and b have different NIG');
  // the same pairs through the CLI: the page's NIG per pair (≤ 1e-3 relative L2)
  const jsonl = join(tmp, 'pairs.jsonl');
  writeFileSync(jsonl, pairs.map((p) => JSON.stringify(p)).join('\n'));
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'attribute', '--model', MODEL, '--pairs', jsonl, '--steps', '4', '--max-length', '128', '--out', join(tmp, 'attr')], { encoding: 'utf8', timeout: 300_000 });
  assert.is(r.status, 0, r.stderr);
  const cli = parseSafetensors(readFileSync(join(tmp, 'attr', 'attributions.safetensors')), 'attributions.safetensors');
  got.forEach((g: any) => {
    const e = relL2(g.nig, toFloat(cli.get(`${g.id}.nig`)!, Float64Array));
    assert.ok(e <= 1e-3, `pair ${g.id}: page NIG vs CLI relative L2 ${e}`);
  });

  // stepping: the form, the token view and the results follow the list
  await page.click('#pair-next');
  assert.is(await js(page, 'irNeurons.state.list.current'), 1);
  assert.is(await page.inputValue('#query'), pairs[1].query);
  assert.is(await page.textContent('#pair-pos'), 'pair 2 of 3');
  assert.is(await page.locator('#tokens .tok').count(), want[1].ids.length);
  assert.equal(await page.evaluate(() => Array.from((globalThis as any).irNeurons.state.result.F)), got[1].F);
  await page.click('#pair-list li[data-index="2"]');
  assert.is(await page.inputValue('#pair-id'), 'c');
  assert.equal(await page.evaluate(() => Array.from((globalThis as any).irNeurons.state.result.F)), got[2].F);

  // picking the last neuron of the table, with the table's end at the top of the window: the tokens come into sight
  await page.evaluate(() => document.querySelector('#top tbody tr:last-child')!.scrollIntoView({ block: 'start' }));
  const before = await page.evaluate(() => window.scrollY);
  await page.click('#top tbody tr:last-child');
  await page.waitForFunction(() => {
    const b = document.getElementById('neuron-tokens')!.getBoundingClientRect();
    return b.height > 0 && b.top >= -1 && b.bottom <= window.innerHeight + 1; // (±1: sub-pixel layout)
  }, undefined, { timeout: 5000 });
  assert.ok(await page.evaluate(() => window.scrollY) < before, 'the page scrolled up to the tokens');
  assert.is(await page.locator('#neuron-tokens .tok').count(), want[2].ids.length);
  assert.ok(await page.locator('#neuron-tokens .tok[style*="background"]').count() === want[2].ids.length, 'every token coloured');
  assert.ok(await page.locator('#top tbody tr.sel').isVisible());
  await page.screenshot({ path: join(WEB_DIST, 'page-pairs.png') });

  // the export holds every attributed pair
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  const exp = parseSafetensors(readFileSync((await download.path())!), 'export');
  assert.equal(pairs.map((p) => exp.get(`${p.id}.nig`)?.shape), want.map((w) => [L, w.ids.length, F]));
});

browserTest('a tokenizer.json under an arbitrary name (the fixture tokenizer as bert-uncased.tok) gives the transformers ids', async ({ server, browser }) => {
  const { page } = browser;
  const p0 = fixturePairs('tiny-monobert')[0];
  const R = fixtureRef('tiny-monobert');
  await page.goto(`${server.origin}/index.html`);
  await waitStatus(page, ['ready']);
  await page.setInputFiles('#files', [
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(FIXTURES, 'tiny-monobert', 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(join(FIXTURES, 'tiny-monobert', 'model.safetensors')) },
    { name: 'bert-uncased.tok', mimeType: 'application/octet-stream', buffer: readFileSync(TOKENIZER_JSON) },
  ]);
  await waitStatus(page, ['loaded']);
  assert.match(await page.textContent('#model-info') ?? '', /\+ bert-uncased\.tok: 2 layers, hidden 64, d_ff 256.*Tokenizer: WordPiece \(JS\) with 30522 tokens/);
  await page.fill('#query', p0.query);
  await page.fill('#passage', p0.passage);
  assert.equal(await page.evaluate(() => (globalThis as any).irNeurons.state.pair.ids), Array.from(R('p0.input_ids')));
  // two files that could each be the tokenizer: refused, naming both
  await page.setInputFiles('#files', [
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(FIXTURES, 'tiny-monobert', 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16) },
    { name: 'one.tok', mimeType: 'application/octet-stream', buffer: Buffer.from('{}') },
    { name: 'two.tok', mimeType: 'application/octet-stream', buffer: Buffer.from('{}') },
  ]);
  await page.waitForFunction(() => (globalThis as any).irNeurons.state.status === 'error', undefined, { timeout: 30_000 });
  assert.match(await page.textContent('#load-status') ?? '', /^2 files could be the tokenizer \(one\.tok, two\.tok\); give only one/);
}, true);

S('parseRun (no browser): mean from sum / count when mean is absent, shape from the tensors when the manifest has none, other tensors ignored, wrong shapes and kinds refused', () => {
  const f64 = (a: number[], shape: number[]) => ({ dtype: 'F64' as const, shape, data: Float64Array.from(a) });
  const agg = serializeSafetensors({
    'd1/rel.count': f64([2], [1]), 'd1/rel.sum': f64([2, -4, 6, 0, 1, 3], [2, 3]), 'd1/rel.sumsq': f64([2, 8, 18, 0, 1, 5], [2, 3]),
    'd1/rel.seg_sum': f64(Array.from({ length: 30 }, (_, i) => i), [5, 2, 3]), 'd1/rel.future_tensor': f64([1], [1]),
  }, { cells: JSON.stringify(['d1/rel']) });
  const run = parseRun(new TextEncoder().encode(JSON.stringify({ kind: 'dataset-run' })), agg, 'r');
  assert.equal([run.layers, run.dff, run.cells.map((c) => c.name)], [2, 3, ['d1/rel']]);
  const c = run.cells[0];
  assert.equal(Array.from(c.mean), [1, -2, 3, 0, 0.5, 1.5]);
  assert.equal(Array.from(c.sd!), [0, 0, 0, 0, 0.5, Math.sqrt(2.5 - 2.25)]);
  assert.equal(Array.from(c.segMean!).slice(0, 4), [0, 0.5, 1, 1.5]);
  assert.throws(() => parseRun(new TextEncoder().encode('{"kind":"dataset-run","model":{"config":{"layers":3,"intermediate":3}}}'), agg, 'r'),
    (e: Error) => e.name === 'UserError' && /r\/aggregate\.safetensors: d1\/rel\.sum has shape \[2, 3\], expected 9 values for 3 layers × 3 neurons/.test(e.message));
  assert.throws(() => parseRun(new TextEncoder().encode('{"kind":"pairs-run"}'), agg, 'r'), (e: Error) => /kind is 'pairs-run', not 'dataset-run'/.test(e.message));
  // the environment of the run, in one line
  assert.is(run.environment, '');
  const env = { package: { name: 'ir-neurons', version: '0.1.0', git: { commit: '0123456789abcdef', dirty: true } }, webgpu: { version: '0.6.2' }, node: 'v20.1.0', os: { platform: 'linux', arch: 'x64' },
    adapter: { vendor: 'mesa', description: 'llvmpipe: Mesa 25.0.7', software: true }, kernels: { class: 'cpu' } };
  assert.is(parseRun(new TextEncoder().encode(JSON.stringify({ kind: 'dataset-run', environment: env })), agg, 'r').environment,
    'llvmpipe: Mesa 25.0.7 (software) · cpu-class kernels · ir-neurons 0.1.0 @ 0123456789+ · webgpu 0.6.2 · Node v20.1.0 · linux x64');
  // an experiment folder: its run/ is the run, not a shard's or a dataset's manifest
  const file = (path: string, body = '{}') => Object.assign(new File([body], path.split('/').pop()!), { webkitRelativePath: path });
  const picked = runSourcesFromFiles([file('exp/shards/0-of-2/manifest.json'), file('exp/shards/0-of-2/aggregate.safetensors'), file('exp/run/datasets/manifest.json'),
    file('exp/run/manifest.json'), file('exp/run/aggregate.safetensors'), file('exp/experiment.json')]);
  assert.is((picked.manifest as File & { webkitRelativePath: string }).webkitRelativePath, 'exp/run/manifest.json');
  assert.is((picked.aggregate as File & { webkitRelativePath: string }).webkitRelativePath, 'exp/run/aggregate.safetensors');
  assert.is(picked.where, 'exp/run');
  assert.throws(() => parseRun(new TextEncoder().encode('{}'), serializeSafetensors({ deltas: { dtype: 'F32', shape: [1], data: Float32Array.of(0) } }), 'r'),
    (e: Error) => /no cells/.test(e.message));
});

S.after(async () => {
  const e = await env;
  if (e) {
    await e.browser.close();
    await e.server.close();
  }
  rmSync(tmp, { recursive: true, force: true });
});

S.run();
