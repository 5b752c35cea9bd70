/**
 * The page's kernel benchmarks in headless Chromium (the launcher and flags of test/browser.test.ts: WebGPU on
 * SwiftShader without a GPU, and WebGL2 on SwiftShader for gpu.js). Fixture-free: builds web-dist, serves it, picks
 * the sizes, clicks "Run kernel benchmarks", waits for the table, and checks that every size has a validated WGSL
 * row and a validated gpu.js row with positive rates, and that the backend gpu.js really used is reported. Prints
 * the table. The sizes are the page's 'quick' set (matmul 128³, 256³; GELU 256K, 1M: about 20 s here): on
 * SwiftShader under a 2-core box's load the standard set (up to 1024³) takes minutes. IR_NEURONS_BENCH_SIZES=standard
 * runs that one instead (10 minutes allowed).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensureChromium, launchChromium, serve, type Browser, type Server } from './helpers/browser.ts';
import { REPO } from './helpers/shared.ts';

const S = suite('browser-bench');
const PRESET = process.env.IR_NEURONS_BENCH_SIZES ?? 'quick';
const EXPECTED: Record<string, string[]> = {
  quick: ['matmul 128x128x128', 'matmul 256x256x256', 'gelu 256K', 'gelu 1M'],
  standard: ['matmul 256x256x256', 'matmul 512x512x512', 'matmul 1024x1024x1024', 'gelu 1M', 'gelu 4M'],
};
const WEB_DIST = join(REPO, 'web-dist');
let env: { server: Server; browser: Browser } | null = null;

S.after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

S('kernel benchmarks in the page: matmul and GELU through WebGPU and gpu.js, validated, with rates and the gpu.js backend', async () => {
  const b = spawnSync(process.execPath, [join(REPO, 'scripts/build-web.mjs')], { encoding: 'utf8' });
  assert.is(b.status, 0, `npm run build:web failed:\n${b.stderr}`);
  const exe = ensureChromium();
  if (!exe) {
    if (process.env.CI === 'true') assert.unreachable('Chromium is missing and could not be installed (CI=true)');
    console.log('note: skipping the page benchmarks: no Chromium');
    return;
  }
  env = { server: await serve([{ prefix: '/', dir: WEB_DIST }]), browser: await launchChromium(exe) };
  const { page, logs } = env.browser;
  try {
    await page.goto(`${env.server.origin}/index.html`);
    await page.waitForFunction(() => (globalThis as any).irNeurons?.state?.webgpu !== 'checking', undefined, { timeout: 30_000 });
    assert.is(await page.evaluate(() => (globalThis as any).irNeurons.state.webgpu), 'ok', `Chromium gave no WebGPU device: ${await page.textContent('#gpu-status')}`);

    assert.ok(EXPECTED[PRESET], `IR_NEURONS_BENCH_SIZES=${PRESET}: the page's sizes are ${Object.keys(EXPECTED).join(', ')}`);
    const t0 = Date.now();
    await page.selectOption('#bench-sizes', PRESET);
    await page.click('#bench-run');
    await page.waitForFunction(() => ['done', 'error'].includes((globalThis as any).irNeuronsBench?.status), undefined,
      { timeout: PRESET === 'quick' ? 75_000 : 600_000, polling: 200 });
    const st = await page.evaluate(() => { const s = (globalThis as any).irNeuronsBench; return { status: s.status, error: s.error, gpujsBackend: s.gpujsBackend, adapter: s.adapter, webgl: s.webglRenderer }; });
    assert.is(st.status, 'done', `the benchmarks stopped: ${st.error}`);
    console.log(`page benchmarks: ${((Date.now() - t0) / 1000).toFixed(1)} s; WebGPU adapter '${st.adapter}'; gpu.js backend '${st.gpujsBackend}'; WebGL2 renderer '${st.webgl}'`);

    const rows = await page.$$eval('#bench-table tbody tr', (trs) => trs.map((tr) => {
      const cells = Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [(td as HTMLElement).dataset.col, td.textContent ?? '']));
      return { ...(tr as HTMLElement).dataset, cells } as { kernel: string; size: string; wgsl: string; gpujs: string; cells: Record<string, string> };
    }));
    const head = await page.$$eval('#bench-table thead th', (ths) => ths.map((t) => t.textContent));
    console.log(`| ${head.join(' | ')} |\n${rows.map((r) => `| ${Object.values(r.cells).join(' | ')} |`).join('\n')}`);
    assert.equal(rows.map((r) => `${r.kernel} ${r.size}`), EXPECTED[PRESET]);
    assert.ok(await page.isVisible('#bench-table'), 'the table is shown');
    assert.match(await page.textContent('#bench-device') ?? '', /WebGPU: .+ · WebGL2: /);
    for (const r of rows) {
      const what = `${r.kernel} ${r.size}`;
      assert.is(r.wgsl, 'validated', `${what}: WGSL not validated (${r.cells.note})`);
      assert.is(r.gpujs, 'validated', `${what}: gpu.js not validated (${r.cells.note})`);
      for (const col of ['wgsl-kernel', 'wgsl-e2e', 'gpujs']) assert.ok(Number(r.cells[col]) > 0, `${what}: ${col} = '${r.cells[col]}', not a positive rate`);
      assert.match(r.cells.ratio, /^\d+(\.\d+)?×$/, `${what}: ratio`);
      // gpu.js's mode and kernel class: its GL kernels all say mode 'gpu', the class says which GL
      assert.match(r.cells['gpujs-backend'], /^(gpu|webgpu|webasm|cpu) \((WebGL2|WebGL|WebGPU|WebAssembly|CPU)Kernel\)/, `${what}: gpu.js backend '${r.cells['gpujs-backend']}'`);
      if (st.webgl) assert.match(r.cells['gpujs-backend'], /WebGL2Kernel/, `${what}: this Chromium has WebGL2 (${st.webgl}), but gpu.js ran '${r.cells['gpujs-backend']}'`);
      assert.is(r.cells.unit, r.kernel === 'matmul' ? 'GFLOP/s' : 'GB/s');
    }
    // the native WebGPU interface is still window.GPU after gpu.js's script claimed the name
    assert.ok(await page.evaluate(() => typeof (globalThis as any).GPU === 'function' && !('createKernel' in (globalThis as any).GPU.prototype)), 'window.GPU is restored');
  } catch (err) {
    console.log(`browser log:\n${logs.slice(-30).join('\n')}`);
    throw err;
  }
});

S.run();
