/**
 * src/gpu/wait.ts on a fake queue whose work takes a known time: the first wait of a kind measures, later ones
 * sleep most of the prediction and await the rest; kinds fold digits; an overshooting prediction shrinks;
 * IR_NEURONS_WAIT=spin never sleeps. `quietly` blocks in growing slices (a count of them, not a timing, is checked)
 * until the promise settles, passes its value and its rejection through, and is a plain await under spin.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GpuContext } from '../src/gpu/context.ts';
import { noteSubmit, predictions, quietly, settle, SLEEP_FRACTION, waitStats } from '../src/gpu/wait.ts';
import { isSoftwareAdapter } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';

/** A device whose queue finishes `workMs` after each submit noted. */
function fakeGpu(workMs: () => number): { g: GpuContext; submit: (label: string) => void } {
  let doneAt = 0;
  const device = { queue: { onSubmittedWorkDone: () => new Promise<void>((r) => setTimeout(r, Math.max(0, doneAt - performance.now()))) } };
  const g = { device, features: [], limits: {} } as unknown as GpuContext;
  return { g, submit: (label) => { doneAt = Math.max(doneAt, performance.now()) + workMs(); noteSubmit(g, label); } };
}

test('settle learns per kind (digits folded), sleeps most of the prediction, shrinks an overshoot', async () => {
  const before = process.env.IR_NEURONS_WAIT;
  delete process.env.IR_NEURONS_WAIT;
  try {
    let work = 200;
    const { g, submit } = fakeGpu(() => work);
    submit('NIG points 0..19');
    submit('read F');
    await settle(g);
    const key = 'NIG points #..# | read F';
    const p0 = predictions(g).get(key);
    assert.ok(p0 !== undefined && p0 >= 395 && p0 < 2000, `first wait measured ${p0} ms for two 200 ms submits`);
    const slept0 = waitStats.sleptMs;
    const t0 = performance.now();
    submit('NIG points 21..40');
    submit('read F');
    await settle(g);
    const took = performance.now() - t0;
    const slept = waitStats.sleptMs - slept0;
    // a loaded machine fires timers late: the upper bound only says the sleep is of the prediction's order, not longer
    assert.ok(slept >= 0.5 * SLEEP_FRACTION * 400 && slept <= 2 * p0! + 100, `slept ${slept.toFixed(1)} ms of a ${p0!.toFixed(1)} ms prediction`);
    assert.ok(took >= 398, `the wait returned after ${took.toFixed(1)} ms, before the 400 ms of work finished`);
    assert.equal([...predictions(g).keys()], [key], 'one kind: the digits are folded');
    // a bracketed grid size is kept: a chunk of another size is another kind
    submit('NIG points 42..50 [3 dispatches, 120 workgroups]');
    await settle(g);
    submit('NIG points 0..20 [3 dispatches, 280 workgroups]');
    await settle(g);
    assert.ok(predictions(g).has('NIG points #..# [3 dispatches, 120 workgroups]') && predictions(g).has('NIG points #..# [3 dispatches, 280 workgroups]'), [...predictions(g).keys()].join('; '));
    // the work gets much shorter: the sleep overshoots and the prediction shrinks
    work = 1;
    const p1 = predictions(g).get(key)!;
    for (let i = 0; i < 6; i++) { submit('NIG points 0..19'); submit('read F'); await settle(g); }
    assert.ok(predictions(g).get(key)! < 0.8 * p1, `after overshooting, the prediction went from ${p1.toFixed(1)} to ${predictions(g).get(key)!.toFixed(1)} ms`);
    // spin: no sleeping
    process.env.IR_NEURONS_WAIT = 'spin';
    work = 20;
    const s0 = waitStats.sleptMs;
    submit('NIG points 0..19'); submit('read F');
    await settle(g);
    assert.is(waitStats.sleptMs, s0, 'IR_NEURONS_WAIT=spin does not sleep');
  } finally {
    if (before === undefined) delete process.env.IR_NEURONS_WAIT; else process.env.IR_NEURONS_WAIT = before;
  }
});

test('quietly: waits in growing slices until the promise settles; value and rejection pass through; spin = plain await', async () => {
  const before = process.env.IR_NEURONS_WAIT;
  delete process.env.IR_NEURONS_WAIT;
  try {
    const s0 = waitStats.slices;
    const t0 = performance.now();
    const v = await quietly(new Promise<number>((r) => setTimeout(() => r(42), 150)));
    const took = performance.now() - t0;
    const slices = waitStats.slices - s0;
    assert.is(v, 42);
    assert.ok(took >= 149, `returned after ${took.toFixed(1)} ms, before the promise settled`);
    // slices grow to 8 ms: a 150 ms wait takes a few dozen, where a busy poll would turn the loop thousands of times
    assert.ok(slices >= 5 && slices <= 150, `${slices} slices for a 150 ms wait`);
    // a promise that settles before the first slice costs none
    const s1 = waitStats.slices;
    assert.is(await quietly(Promise.resolve('now')), 'now');
    assert.is(waitStats.slices, s1, 'an already settled promise is returned without blocking');
    // a rejection reaches the caller
    let caught: unknown;
    try { await quietly(new Promise((_, j) => setTimeout(() => j(new Error('device lost')), 20))); } catch (e) { caught = e; }
    assert.ok(caught instanceof Error && caught.message === 'device lost', String(caught));
    // given a device: quiet only where the adapter runs on the host's cores (lavapipe, SwiftShader), plain on a GPU
    const gpuDevice = { device: {}, features: [], limits: {} } as unknown as GpuContext;
    const softDevice = { ...gpuDevice, sharesHostCores: true } as GpuContext;
    const s3 = waitStats.slices;
    assert.is(await quietly(new Promise<number>((r) => setTimeout(() => r(1), 60)), gpuDevice), 1);
    assert.is(waitStats.slices, s3, 'a real GPU: a plain await (polling costs nothing the device needs; slices only add latency)');
    assert.is(await quietly(new Promise<number>((r) => setTimeout(() => r(2), 60)), softDevice), 2);
    assert.ok(waitStats.slices > s3, 'a software adapter: quiet slices');
    // spin: a plain await, no slices
    process.env.IR_NEURONS_WAIT = 'spin';
    const s2 = waitStats.slices;
    assert.is(await quietly(new Promise<number>((r) => setTimeout(() => r(7), 30))), 7);
    assert.is(waitStats.slices, s2, 'IR_NEURONS_WAIT=spin: no blocking slices');
  } finally {
    if (before === undefined) delete process.env.IR_NEURONS_WAIT; else process.env.IR_NEURONS_WAIT = before;
  }
});

test('software adapters are recognised from the adapter info (the device flag the waits read)', async () => {
  const info = (s: string) => ({ vendor: '', architecture: '', device: '', description: s });
  for (const d of ['llvmpipe (LLVM 15.0.6, 256 bits)', 'SwiftShader Device (Subzero)', 'Microsoft Basic Render Driver']) assert.ok(isSoftwareAdapter(info(d)), d);
  for (const d of ['NVIDIA H200', 'AMD Radeon Pro', 'Intel(R) Arc(tm) A770', 'Apple M2']) assert.not.ok(isSoftwareAdapter(info(d)), d);
  assert.ok(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', device: '', description: '' }), 'Chromium\'s SwiftShader (architecture only)');
  const g = await requestGpu();
  assert.is(g.sharesHostCores, isSoftwareAdapter(g.adapterInfo), `the opened device (${g.adapterInfo.description}) carries the flag`);
});

test.run();
