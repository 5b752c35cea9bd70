/**
 * The engine in a web page, in headless Chromium (Debian's /usr/bin/chromium through playwright-core), on Chromium's
 * own WebGPU (SwiftShader when there is no GPU). The page (web-dist/, built by scripts/build-web.mjs) is served from
 * 127.0.0.1 with the tiny-monobert fixture as a model folder; the test drives the page as a person would (URL form,
 * file picker, buttons) and checks logits (≤ 1e-4 relative) and per-token NIG of one pair at m = 20 (≤ 1e-3 relative
 * L2) against the PyTorch float64 reference, the export against the CLI's pairTensors, and the page without WebGPU.
 * It leaves a screenshot of the heatmap in web-dist/screenshot.png (and the whole page in web-dist/page.png).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureChromium, launchChromium, serve, type Browser, type Server } from './helpers/browser.ts';
import { pairTensors as cliPairTensors } from '../src/cli/attribute.ts';
import type { NigResult } from '../src/ig/engine.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { FIXTURES, REPO, TOKENIZER_JSON, fixturePairs, fixtureRef, needsShared, relL2 } from './helpers/shared.ts';

const S = suite('browser');
const WEB_DIST = join(REPO, 'web-dist');
const MODEL = resolve(FIXTURES, 'tiny-monobert');

let env: Promise<{ server: Server; browser: Browser; adapter?: string } | null> | null = null;

/** Builds web-dist, finds (or installs) Chromium, serves the page and the fixture, opens a browser; null = skip. */
function setup(): Promise<{ server: Server; browser: Browser } | null> {
  env ??= (async () => {
    const b = spawnSync(process.execPath, [join(REPO, 'scripts/build-web.mjs')], { encoding: 'utf8' });
    assert.is(b.status, 0, `npm run build:web failed:\n${b.stderr}`);
    const exe = ensureChromium();
    if (!exe) {
      if (process.env.CI === 'true') assert.unreachable('Chromium is missing and could not be installed (CI=true)');
      return null;
    }
    const server = await serve([
      // the fixture as a model folder: its config and weights, the bert-base-uncased tokenizer beside them
      { path: '/model/config.json', file: join(MODEL, 'config.json') },
      { path: '/model/model.safetensors', file: join(MODEL, 'model.safetensors') },
      { path: '/model/tokenizer.json', file: TOKENIZER_JSON },
      { prefix: '/', dir: WEB_DIST },
    ]);
    const browser = await launchChromium(exe);
    return { server, browser };
  })();
  return env;
}

/** Registers a test that needs Chromium (skipped with a note when it is missing and cannot be installed). */
function browserTest(name: string, fn: (e: { server: Server; browser: Browser }) => Promise<void>, needsFixtures = false): void {
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

type Page = Browser['page'];
const status = (page: Page) => page.evaluate(() => (globalThis as any).irNeurons?.state?.status as string | undefined);

/** Waits until the page's status is one of `want` (or 'error', which fails with the page's message). */
async function waitStatus(page: Page, want: string[], timeout = 120_000): Promise<void> {
  await page.waitForFunction((w) => {
    const s = (globalThis as any).irNeurons?.state?.status;
    return w.includes(s) || s === 'error';
  }, want, { timeout, polling: 50 });
  const s = await status(page);
  if (s === 'error') assert.unreachable(`page error: ${await page.evaluate(() => (globalThis as any).irNeurons.state.error)}`);
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-3));
  return m;
};

browserTest('without WebGPU the page says so and why, still tokenises (?model= loads at start), and keeps Score and Attribute off', async ({ server, browser }) => {
  const page = await browser.context.newPage();
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await page.goto(`${server.origin}/index.html?model=/model/`);
  await waitStatus(page, ['loaded']);
  const banner = await page.textContent('#gpu-status');
  assert.match(banner ?? '', /No WebGPU: this browser has no WebGPU \(navigator\.gpu is undefined\)/);
  assert.match(banner ?? '', /Chrome and Edge 113\+/);
  assert.match(await page.textContent('#load-status') ?? '', /no WebGPU: tokenising only/);
  assert.ok((await page.locator('#tokens .tok').count()) > 10, 'the pair is shown as word pieces');
  assert.ok(await page.isDisabled('#score'));
  assert.ok(await page.isDisabled('#attribute'));
  await page.close();
}, true);

browserTest('tiny-monobert in the page: logits, NIG per token at m = 20, heatmap, export', async ({ server, browser }) => {
  const { page } = browser;
  const R = fixtureRef('tiny-monobert');
  const p0 = fixturePairs('tiny-monobert')[0];
  await page.goto(`${server.origin}/index.html`);
  await waitStatus(page, ['ready']);
  const gpu = await page.evaluate(() => ({ webgpu: (globalThis as any).irNeurons.state.webgpu, adapter: (globalThis as any).irNeurons.state.adapter }));
  assert.is(gpu.webgpu, 'ok', `Chromium gave no WebGPU device: ${await page.textContent('#gpu-status')}`);
  console.log(`browser: WebGPU adapter '${gpu.adapter}'`);

  // load the model folder by URL, as a person would type it
  await page.fill('#model-url', '/model/');
  await page.click('#load-url');
  await waitStatus(page, ['loaded']);
  assert.match(await page.textContent('#model-info') ?? '', /2 layers, hidden 64, d_ff 256/);

  await page.fill('#query', p0.query);
  await page.fill('#passage', p0.passage);
  await page.fill('#steps', '20');
  await page.selectOption('#rule', 'right'); // the fixtures' rule (the page defaults to trapezoid)
  await page.check('#per-token');
  await page.click('#score');
  await waitStatus(page, ['scored']);
  const scored = await page.evaluate(() => { const s = (globalThis as any).irNeurons.state; return { ids: s.pair.ids as number[], logits: s.logits as number[] }; });
  assert.equal(scored.ids, Array.from(R('p0.input_ids')), 'the page tokenises p0 as transformers does');
  const logitErr = maxRel(scored.logits, R('p0.m20.logits_input'));
  assert.ok(logitErr <= 1e-4, `logits ${scored.logits} vs ${Array.from(R('p0.m20.logits_input'))}: ${logitErr.toExponential(2)} > 1e-4`);

  await page.click('#attribute');
  await waitStatus(page, ['done']);
  assert.match(await page.textContent('#nig-status') ?? '', /NIG of 512 neurons, 34 tokens, m = 20/);
  const r = await page.evaluate(() => {
    const x = (globalThis as any).irNeurons.state.result;
    const arr = (a?: Float32Array) => (a ? Array.from(a) : undefined);
    return {
      T: x.T, steps: x.steps, rule: x.rule, target: x.target, chunk: x.chunk, igDelta: x.igDelta, hiddenDeltas: x.hiddenDeltas,
      F: arr(x.F), nigPre: arr(x.nigPre), nigPost: arr(x.nigPost), nigPreSegments: arr(x.nigPreSegments), nigPostSegments: arr(x.nigPostSegments),
      nigPreTokens: arr(x.nigPreTokens), nigPostTokens: arr(x.nigPostTokens), igEmbed: arr(x.igEmbed), gradEmbedInput: arr(x.gradEmbedInput),
    };
  });
  const errs = {
    nig_pre: relL2(r.nigPreTokens!, R('p0.m20.nig_pre')),
    nig_post: relL2(r.nigPostTokens!, R('p0.m20.nig_post')),
    F_path: relL2(r.F!, R('p0.m20.F_path')),
    ig_embed: relL2(r.igEmbed!, R('p0.m20.ig_embed')),
  };
  console.log(`browser: logits max rel ${logitErr.toExponential(2)}; rel L2 ${Object.entries(errs).map(([k, v]) => `${k} ${v.toExponential(2)}`).join(', ')}; ` +
    `completeness delta ${r.igDelta.toExponential(2)}`);
  for (const [k, e] of Object.entries(errs)) assert.ok(e <= 1e-3, `p0.m20.${k}: relative L2 ${e.toExponential(2)} > 1e-3`);

  // the views: heatmap drawn, top neurons listed with five segments, completeness rows for every cut
  assert.is(await page.locator('#top tbody tr').count(), 20);
  assert.is(await page.locator('#top thead th').count(), 9);
  assert.is(await page.locator('#completeness tr').count(), 5 + 3);
  await page.click('#top tbody tr:first-child');
  assert.match(await page.textContent('#hover') ?? '', /tokens coloured by NIG of layer \d, neuron \d+/);
  const box = (await page.locator('#heatmap').boundingBox())!;
  await page.locator('#heatmap').hover({ position: { x: box.width / 2, y: 40 } });
  assert.match(await page.textContent('#hover') ?? '', /^layer 0, neuron \d+.*: NIG .* = \[CLS\] /);
  const shot = join(WEB_DIST, 'screenshot.png');
  await page.locator('#heatmap').screenshot({ path: shot });
  await page.screenshot({ path: join(WEB_DIST, 'page.png'), fullPage: true });
  assert.ok(readFileSync(shot).byteLength > 2000, 'the heatmap screenshot is (nearly) empty');

  // export: the same tensors, names and shapes as the CLI's pairTensors
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.is(download.suggestedFilename(), 'attributions.safetensors');
  const bytes = readFileSync((await download.path())!);
  const got = parseSafetensors(bytes, 'exported attributions.safetensors');
  const f32 = (a?: number[]) => (a ? Float32Array.from(a) : undefined);
  const result = { ...r, F: f32(r.F)!, nigPre: f32(r.nigPre)!, nigPost: f32(r.nigPost)!, nigPreSegments: f32(r.nigPreSegments)!, nigPostSegments: f32(r.nigPostSegments)!,
    nigPreTokens: f32(r.nigPreTokens), nigPostTokens: f32(r.nigPostTokens), igEmbed: f32(r.igEmbed)!, gradEmbedInput: f32(r.gradEmbedInput)! } as NigResult;
  const want = cliPairTensors('pair0', result, 'ffn-pre', 2, 256, 64);
  assert.equal([...got.keys()], want.map(([k]) => k));
  for (const [k, t] of want) {
    assert.equal(got.get(k)!.shape, t.shape, `${k} shape`);
    assert.equal(Array.from(toFloat(got.get(k)!, Float32Array)), Array.from(t.data), `${k} values`);
  }
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))));
  assert.equal(header.__metadata__, { format: 'ir-neurons', units: 'ffn-pre', rule: 'right' });

  // the file picker path: the same three files chosen by hand give the same logits
  await page.setInputFiles('#files', [
    { name: 'config.json', mimeType: 'application/json', buffer: readFileSync(join(MODEL, 'config.json')) },
    { name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: readFileSync(join(MODEL, 'model.safetensors')) },
    { name: 'tokenizer.json', mimeType: 'application/json', buffer: readFileSync(TOKENIZER_JSON) },
  ]);
  await waitStatus(page, ['loaded']);
  await page.click('#score');
  await waitStatus(page, ['scored']);
  const again = await page.evaluate(() => (globalThis as any).irNeurons.state.logits as number[]);
  assert.ok(maxRel(again, R('p0.m20.logits_input')) <= 1e-4, 'logits after loading through the file picker');

  // drag and drop of the three files onto the drop zone
  await page.evaluate(async () => {
    const dt = new DataTransfer();
    for (const [url, name] of [['/model/config.json', 'config.json'], ['/model/model.safetensors', 'model.safetensors'], ['/model/tokenizer.json', 'tokenizer.json']]) {
      dt.items.add(new File([await (await fetch(url)).arrayBuffer()], name));
    }
    document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  await waitStatus(page, ['loaded']);
  await page.click('#score');
  await waitStatus(page, ['scored']);
  const dropped = await page.evaluate(() => (globalThis as any).irNeurons.state.logits as number[]);
  assert.ok(maxRel(dropped, R('p0.m20.logits_input')) <= 1e-4, 'logits after loading by drag and drop');
}, true);

browserTest('an XLM-R cross-encoder in the page: its Unigram-style tokenizer.json (in JS) gives the reference ids, and the logits match', async ({ server, browser }) => {
  const { page } = browser;
  const dir = resolve(FIXTURES, 'families', 'xlmr');
  const R = fixtureRef('families/xlmr');
  const first = JSON.parse(readFileSync(join(dir, 'pairs.jsonl'), 'utf8').split('\n')[0]) as { query: string; passage: string };
  await page.goto(`${server.origin}/index.html`);
  await waitStatus(page, ['ready']);
  await page.setInputFiles('#files', ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => ({ name: f, mimeType: 'application/octet-stream', buffer: readFileSync(join(dir, f)) })));
  await waitStatus(page, ['loaded']);
  await page.fill('#query', first.query);
  await page.fill('#passage', first.passage);
  await page.click('#score');
  await waitStatus(page, ['scored']);
  const got = await page.evaluate(() => ({ ids: (globalThis as any).irNeurons.state.pair.ids as number[], logits: (globalThis as any).irNeurons.state.logits as number[] }));
  assert.equal(got.ids, Array.from(R('p0.input_ids')), 'the page tokenizes the pair as transformers did');
  assert.ok(maxRel(got.logits, R('p0.logits')) <= 1e-4, `logits ${got.logits} vs ${Array.from(R('p0.logits'))}`);
}, true);

S.after(async () => {
  const e = await env;
  if (!e) return;
  await e.browser.close();
  await e.server.close();
});

S.run();
