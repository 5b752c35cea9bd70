/**
 * src/gpu/wait.ts: the quiet wait on a fake clock (a 10 s first wait, then 100 waits of 10 ms of work, oversleep
 * less than 1.5 s in all, on a software adapter and on a GPU), and on real timers: growing slices until the promise
 * settles, its value and rejection passed through, a plain await on a GPU and under IR_NEURONS_WAIT=spin.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { GpuContext } from '../src/gpu/context.ts';
import { QUIET, quietly, waitStats, type WaitClock } from '../src/gpu/wait.ts';
import { isSoftwareAdapter } from '../src/gpu/device.ts';
import { requestGpu } from '../src/gpu/node.ts';

/** A fake world: time moves only when the waiter blocks (or, for a plain await, as the work ends). */
function fakeClock() {
  let now = 0;
  const pending: { end: number; resolve: () => void }[] = [];
  const clock: WaitClock = {
    now: () => now,
    block: (ms) => { now += ms; },
    turn: async () => {
      for (const w of pending.splice(0)) if (now >= w.end) w.resolve(); else pending.push(w);
      await new Promise<void>((r) => setImmediate(r));
    },
  };
  /** Work of `ms` starting now; returns how long after its end the wait returned. */
  const waitFor = async (g: GpuContext, ms: number): Promise<number> => {
    const end = now + ms;
    // a waiter that polls sees the work done at its next turn; one that awaits plainly is woken as the work ends
    const done = g.sharesHostCores
      ? new Promise<void>((resolve) => pending.push({ end, resolve }))
      : new Promise<void>((resolve) => setImmediate(() => { now = Math.max(now, end); resolve(); }));
    await quietly(done, g, clock);
    return now - end;
  };
  return { clock, waitFor, now: () => now };
}

test('a slow first wait teaches nothing: a 10 s wait, then 100 waits of 10 ms, oversleep < 1.5 s in all (software adapter and GPU)', async () => {
  const before = process.env.IR_NEURONS_WAIT;
  delete process.env.IR_NEURONS_WAIT;
  try {
    for (const sharesHostCores of [true, false]) {
      const g = { device: {}, features: [], limits: {}, sharesHostCores } as unknown as GpuContext;
      const f = fakeClock();
      const s0 = waitStats.slices;
      let over = await f.waitFor(g, 10_000);
      const first = over;
      let worst = 0;
      for (let i = 0; i < 100; i++) {
        const o = await f.waitFor(g, 10);
        worst = Math.max(worst, o);
        over += o;
      }
      const what = sharesHostCores ? 'software adapter' : 'GPU';
      assert.ok(over < 1500, `${what}: overslept ${over.toFixed(1)} ms in all`);
      if (sharesHostCores) {
        // the bound itself: a wait ends within max(share × its length, maxMs) of its work
        assert.ok(first <= QUIET.maxMs + 1e-9, `first wait overslept ${first} ms`);
        assert.ok(worst <= QUIET.share * 10 + QUIET.minMs + 1e-9, `a 10 ms wait overslept ${worst} ms`);
        // and it is quiet: far fewer polls than a busy loop (one per slice)
        const slices = waitStats.slices - s0;
        assert.ok(slices > 100 && slices < 100 * 60 + 1400, `${slices} slices`);
      } else {
        assert.is(over, 0, 'a GPU: a plain await returns as the work ends');
        assert.is(waitStats.slices, s0, 'a GPU: no slices');
      }
    }
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
