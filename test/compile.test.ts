/**
 * src/gpu/compile.ts on the test's device (lavapipe): pipelines used for the first time are compiled before their
 * submit, each once per device, shared out over helper devices when the context has them, with progress told; a
 * kernel compiled on a helper runs correctly on the engine's device. And the CLI's progress line's format.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { requestGpu } from '../src/gpu/node.ts';
import { compileStats, ensureCompiled } from '../src/gpu/compile.ts';
import { createParams, dispatch, grid } from '../src/gpu/pipelines.ts';
import { submit } from '../src/gpu/queue.ts';
import { GELU } from '../src/kernels/bench.ts';
import { upload } from '../src/bench/buffers.ts';
import { progressLine, setUpCompiling } from '../src/gpu/node-compile.ts';
import type { Gpu } from '../src/gpu/device.ts';

const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));
function erf(x: number): number { // Abramowitz–Stegun 7.1.26 is too coarse; a series and a continued fraction
  const t = 1 / (1 + 0.5 * Math.abs(x));
  const r = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

test('first use compiles ahead, once per device, over a helper device; the helper-compiled kernels run right here', async () => {
  const g = await requestGpu();
  if (!g.sharesHostCores) return; // a real GPU compiles at createComputePipeline: nothing ahead to check
  const saved = { helpers: g.compileHelpers, onCompile: g.onCompile };
  const told: [number, number][] = [];
  try {
    // workgroup sizes no other test uses, so these pipelines are new to this process
    const wgs = [40, 56, 72, 88];
    const ks = await Promise.all(wgs.map((WG) => g.pipelines.get(GELU, { constants: { WG } })));
    let opened = 0;
    g.compileHelpers = { max: 1, afterMs: 0, open: async () => { opened++; return saved.helpers ? saved.helpers.open() : g.device; } };
    g.onCompile = (done, total) => { told.push([done, total]); };
    const s0 = compileStats(g);
    const N = 1000;
    const x = Float32Array.from({ length: N }, (_, i) => (i - N / 2) / 97);
    const b = upload(g, 'compile test', { inp: x, ...Object.fromEntries(wgs.map((WG) => [`out${WG}`, N])) });
    const ds = ks.map((k, i) => dispatch(g, k, `gelu WG=${wgs[i]}`, { inp: b.v('inp'), out: b.v(`out${wgs[i]}`), p: createParams(g, GELU, 'p', { N }) }, grid(g, Math.ceil(N / wgs[i]))));
    await submit(g, ds, 'compile test');
    const s1 = compileStats(g);
    assert.is(s1.kernels - s0.kernels, 4, 'the four new pipelines compiled ahead');
    assert.ok(opened <= 1 && (opened === 1 || s0.helpers > 0), `helper devices opened: ${opened}`);
    assert.ok(s1.onHelpers - s0.onHelpers >= 1, `some compiled on the helper (${s1.onHelpers - s0.onHelpers})`);
    assert.equal(told[told.length - 1], [4, 4], JSON.stringify(told));
    assert.equal(told.map((t) => t[0]), [1, 2, 3, 4], 'progress counts up by kernel');
    for (const WG of wgs) {
      const y = await b.read(`out${WG}`);
      let worst = 0;
      for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(y[i] - gelu(x[i])));
      assert.ok(worst < 1e-5, `WG=${WG}: max error ${worst}`);
    }
    // again: nothing new to compile, nothing told
    told.length = 0;
    await submit(g, ds, 'compile test again');
    await ensureCompiled(g, ks);
    assert.is(compileStats(g).kernels, s1.kernels, 'compiled once per device');
    assert.is(told.length, 0);
    b.destroy();
  } finally {
    g.compileHelpers = saved.helpers;
    g.onCompile = saved.onCompile;
  }
});

test('the progress line: quiet for a round under a second, then "compiling kernels i/n" and a final line', () => {
  const lines: string[] = [];
  const show = progressLine((s) => lines.push(s), false);
  show(1, 3, 200); show(2, 3, 400); show(3, 3, 600);
  assert.equal(lines, [], 'a warm cache: nothing printed');
  const slow = progressLine((s) => lines.push(s), false);
  slow(1, 3, 1200); slow(2, 3, 1900); slow(3, 3, 5200);
  assert.is(lines.length, 2, lines.join(''));
  assert.match(lines[0], /^compiling kernels 1\/3 · 1\.2 s/);
  assert.match(lines[1], /^compiling kernels 3\/3 · 5\.2 s/);
  const tty: string[] = [];
  const redraw = progressLine((s) => tty.push(s), true);
  redraw(1, 2, 1500); redraw(2, 2, 1600);
  assert.match(tty[0], /^\rcompiling kernels 1\/2/);
  assert.match(tty[1], /^\rcompiling kernels 2\/2 .*\n$/);
});

test('IR_NEURONS_COMPILE_HELPERS: a number sets the helpers, 0 none, anything else is refused in one line', () => {
  const before = process.env.IR_NEURONS_COMPILE_HELPERS;
  const fake = () => ({ adapterInfo: { vendor: 'mesa', architecture: '', device: 'llvmpipe', description: '' }, pipelines: { compiled: 0 } }) as unknown as Gpu;
  const noInstance = async () => { throw new Error('not opened in this test'); };
  try {
    process.env.IR_NEURONS_COMPILE_HELPERS = '2';
    let g = fake(); setUpCompiling(g, noInstance);
    assert.is(g.compileHelpers?.max, 2);
    process.env.IR_NEURONS_COMPILE_HELPERS = '0';
    g = fake(); setUpCompiling(g, noInstance);
    assert.is(g.compileHelpers, undefined);
    process.env.IR_NEURONS_COMPILE_HELPERS = 'two';
    assert.throws(() => setUpCompiling(fake(), noInstance), /IR_NEURONS_COMPILE_HELPERS is 'two'; it must be a whole number/);
  } finally {
    if (before === undefined) delete process.env.IR_NEURONS_COMPILE_HELPERS; else process.env.IR_NEURONS_COMPILE_HELPERS = before;
  }
});

test.run();
