/**
 * The page's kernel benchmarks in headless Chromium (the launcher and flags of test/browser.test.ts: WebGPU on
 * SwiftShader without a GPU, and WebGL2 on SwiftShader for gpu.js). Fixture-free: builds web-dist, serves it, picks
 * the sizes, clicks "Run kernel benchmarks", waits for the table, and checks that every size has a validated WGSL
 * (GPU-class) row and a validated gpu.js row with positive rates, that every matmul has the CPU-class kernel
 * validated with positive rates in each form the adapter can run ('nosg' always; 'sg8' exactly where the adapter has
 * subgroups of ≥ 8 lanes, 'sg4' where ≥ 4 — SwiftShader's are 4, so there 'sg4' is validated and 'sg8' marked n/a),
 * that the page names the form its CPU-class runs use (sg8, else sg4, else nosg) and takes the ratio CPU / GPU class
 * from it, that
 * the page reports the kernel class its device got (the one `kernelClass` gives for this adapter: 'cpu' on
 * SwiftShader), and that the backend gpu.js really used is reported. Prints the table. The sizes are the page's
 * 'quick' set (matmul 128³, 256³; GELU 256K, 1M: about half a minute here): on SwiftShader under a 2-core box's load
 * the standard set (up to 1024³) takes minutes. IR_NEURONS_BENCH_SIZES=standard or bert (256³, 512³ and the BERT-base
 * FFN product 512×3072×768) runs that one instead (20 minutes allowed).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kernelClass } from '../src/gpu/device.ts';
import { ensureChromium, launchChromium, serve, type Browser, type Server } from './helpers/browser.ts';
import { REPO } from './helpers/shared.ts';

const S = suite('browser-bench');
const PRESET = process.env.IR_NEURONS_BENCH_SIZES ?? 'quick';
const EXPECTED: Record<string, string[]> = {
  quick: ['matmul 128x128x128', 'matmul 256x256x256', 'gelu 256K', 'gelu 1M'],
  standard: ['matmul 256x256x256', 'matmul 512x512x512', 'matmul 1024x1024x1024', 'gelu 1M', 'gelu 4M'],
  bert: ['matmul 256x256x256', 'matmul 512x512x512', 'matmul 512x3072x768', 'gelu 1M'],
};
/** The CPU-class forms' columns (src/browser/bench.ts CPU_FORMS): 8- and 4-lane subgroup broadcasts, none. */
const CPU_COLS = ['cpu-sg8', 'cpu-sg4', 'cpu-nosg'] as const;
const WEB_DIST = join(REPO, 'web-dist');
let env: { server: Server; browser: Browser } | null = null;

S.after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

S('kernel benchmarks in the page: matmul (GPU and CPU class) and GELU through WebGPU and gpu.js, validated, with rates, the kernel class and the gpu.js backend', async () => {
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
      { timeout: PRESET === 'quick' ? 150_000 : 1_200_000, polling: 200 });
    const st = await page.evaluate(() => {
      const s = (globalThis as any).irNeuronsBench, g = (globalThis as any).irNeurons.state.gpu;
      return { status: s.status, error: s.error, gpujsBackend: s.gpujsBackend, adapter: s.adapter, webgl: s.webglRenderer, kernelClass: s.kernelClass, subgroups: s.subgroups, cpuForm: s.cpuForm,
        info: g.adapterInfo, pageClass: g.kernels, features: g.features as string[] };
    });
    assert.is(st.status, 'done', `the benchmarks stopped: ${st.error}`);
    console.log(`page benchmarks: ${((Date.now() - t0) / 1000).toFixed(1)} s; WebGPU adapter '${st.adapter}', ${st.subgroups}, kernel class '${st.kernelClass}'; gpu.js backend '${st.gpujsBackend}'; WebGL2 renderer '${st.webgl}'`);
    // the class the page's device (and so its NIG runs) got is the one selection point's choice for this adapter
    assert.is(st.pageClass, kernelClass(st.info), `the page's device has kernel class '${st.pageClass}', kernelClass() says '${kernelClass(st.info)}' for ${JSON.stringify(st.info)}`);
    assert.is(st.kernelClass, st.pageClass, 'the benchmarks report the page device\'s kernel class');
    if (/swiftshader/i.test(st.adapter)) assert.is(st.kernelClass, 'cpu', 'SwiftShader is a software adapter: CPU class');
    // the CPU-class forms this adapter can run (a subgroup form's workgroup must be one subgroup), and the one it runs
    const lanes = st.features.includes('subgroups') ? st.info.subgroupMinSize ?? 0 : 0;
    const runs = { 'cpu-sg8': lanes >= 8, 'cpu-sg4': lanes >= 4, 'cpu-nosg': true };
    assert.is(st.cpuForm, lanes >= 8 ? 'sg8' : lanes >= 4 ? 'sg4' : 'nosg', `the page's CPU-class form with ${st.subgroups}`);
    if (/swiftshader/i.test(st.adapter) && lanes === 4) assert.is(st.cpuForm, 'sg4', 'SwiftShader with 4-lane subgroups runs the 4-lane form');

    const rows = await page.$$eval('#bench-table tbody tr', (trs) => trs.map((tr) => {
      const cells = Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [(td as HTMLElement).dataset.col, td.textContent ?? '']));
      const d = (tr as HTMLElement).dataset;
      return { ...d, 'cpu-sg8': d.cpuSg8, 'cpu-sg4': d.cpuSg4, 'cpu-nosg': d.cpuNosg, cells } as
        { kernel: string; size: string; wgsl: string; gpujs: string; 'cpu-sg8'?: string; 'cpu-sg4'?: string; 'cpu-nosg'?: string; cells: Record<string, string> };
    }));
    const head = await page.$$eval('#bench-table thead th', (ths) => ths.map((t) => t.textContent));
    assert.ok(head.includes(`CPU-class ${st.cpuForm} (runs here)`), `the column of the form that runs is marked: ${head.join(', ')}`);
    console.log(`| ${head.join(' | ')} |\n${rows.map((r) => `| ${Object.values(r.cells).join(' | ')} |`).join('\n')}`);
    assert.equal(rows.map((r) => `${r.kernel} ${r.size}`), EXPECTED[PRESET]);
    assert.ok(await page.isVisible('#bench-table'), 'the table is shown');
    assert.match(await page.textContent('#bench-device') ?? '', new RegExp(`WebGPU: .+ · kernel class: ${st.kernelClass} .+; CPU-class matmul form ${st.cpuForm}\\) · WebGL2: `));
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
      if (r.kernel !== 'matmul') {
        for (const col of [...CPU_COLS, 'cpu-ratio']) assert.is(r.cells[col], '—', `${what}: no CPU-class ${col}`);
        continue;
      }
      // the CPU-class matmul: validated with a positive rate in every form the adapter can run, n/a (and why) in the others
      for (const col of CPU_COLS) {
        assert.is(r[col], runs[col] ? 'validated' : 'n/a', `${what}: CPU-class ${col} is '${r[col]}' (${r.cells.note})`);
        if (runs[col]) assert.ok(Number(r.cells[col]) > 0, `${what}: ${col} = '${r.cells[col]}', not a positive rate`);
        else assert.is(r.cells[col], '—');
      }
      if (!runs['cpu-sg8']) assert.match(r.cells.note, /CPU-class sg8: n\/a: the CPU-class matmul's sg8 form needs subgroups of ≥ 8 lanes/, `${what}: why the 8-lane form did not run`);
      if (!runs['cpu-sg4']) assert.match(r.cells.note, /CPU-class sg4: n\/a: the CPU-class matmul's sg4 form needs subgroups of ≥ 4 lanes/, `${what}: why the 4-lane form did not run`);
      assert.match(r.cells['cpu-ratio'], /^\d+(\.\d+)?×$/, `${what}: ratio CPU / GPU class`);
      const [, cpuErr] = r.cells.error.split(' / ').map(Number);
      assert.ok(cpuErr >= 0 && cpuErr <= 1e-5, `${what}: CPU-class relative L2 error '${r.cells.error}'`);
    }
    // the native WebGPU interface is still window.GPU after gpu.js's script claimed the name
    assert.ok(await page.evaluate(() => typeof (globalThis as any).GPU === 'function' && !('createKernel' in (globalThis as any).GPU.prototype)), 'window.GPU is restored');
  } catch (err) {
    console.log(`browser log:\n${logs.slice(-30).join('\n')}`);
    throw err;
  }
});

S.run();
