/**
 * src/gpu/pool.ts: the buffers an arena frees are kept for the next arena of the device — taken only when at least
 * the size needed and at most twice it, zeroed like a new buffer, and never beyond the pool's limit. And
 * src/gpu/queue.ts's staging buffers, kept between read-backs.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Arena, writeView } from '../src/gpu/arena.ts';
import { drainPool } from '../src/gpu/pool.ts';
import { readView } from '../src/gpu/queue.ts';
import { requestGpu } from '../src/gpu/node.ts';

test('a freed buffer serves the next arena of a size it fits (within 2x), zeroed; others are created', async () => {
  const g = await requestGpu();
  drainPool(g);
  const created: number[] = []; // storage buffers created (read-backs make staging buffers of their own)
  const createBuffer = g.device.createBuffer.bind(g.device);
  g.device.createBuffer = ((d: GPUBufferDescriptor) => { if (d.usage & GPUBufferUsage.STORAGE) created.push(d.size); return createBuffer(d); }) as typeof g.device.createBuffer;
  try {
    const a = new Arena(g, 'a');
    a.reserve('x', 4096);
    a.build();
    writeView(g, a.view('x'), new Float32Array(1024).fill(7));
    assert.equal(Array.from((await readView(g, a.view('x'))).slice(0, 2)), [7, 7]);
    const buf = a.view('x').buffer;
    a.destroy();
    const b = new Arena(g, 'b');
    b.reserve('y', 3000); // 3000 ≤ 4096 ≤ 6000: the kept buffer
    b.build();
    assert.is(b.view('y').buffer, buf);
    assert.equal(created, [4096]);
    const back = await readView(g, b.view('y'));
    assert.ok(back.every((v) => v === 0), 'a reused buffer reads as zeros');
    b.destroy();
    const c = new Arena(g, 'c');
    c.reserve('z', 1024); // 4096 > 2 × 1024: too big to waste on it, a new buffer
    c.reserve('w', 8192);  // larger than anything kept: a new buffer
    c.build();
    assert.is(c.buffers.length, 1);
    assert.is.not(c.view('z').buffer, buf);
    assert.is(created.length, 2);
    c.destroy();
  } finally {
    g.device.createBuffer = createBuffer;
    drainPool(g);
  }
});

test('read-backs keep their staging buffers: reads in a row share one, reads at once each get their own, all correct', async () => {
  const g = await requestGpu();
  const a = new Arena(g, 'reads');
  a.reserve('x', 4000);
  a.reserve('y', 6000);
  a.build();
  writeView(g, a.view('x'), Float32Array.from({ length: 1000 }, (_, i) => i));
  writeView(g, a.view('y'), Float32Array.from({ length: 1500 }, (_, i) => -i));
  const staging: number[] = [];
  const createBuffer = g.device.createBuffer.bind(g.device);
  g.device.createBuffer = ((d: GPUBufferDescriptor) => { if (d.usage & GPUBufferUsage.MAP_READ) staging.push(d.size); return createBuffer(d); }) as typeof g.device.createBuffer;
  try {
    await readView(g, a.view('x')); // (a staging buffer of the first size may be kept from earlier reads)
    const before = staging.length;
    for (let i = 0; i < 5; i++) assert.is((await readView(g, a.view('x'), 10, 990))[9], 999);
    assert.is(staging.length, before, 'reads in a row make no staging buffer');
    const [x, y] = await Promise.all([readView(g, a.view('x')), readView(g, a.view('y'))]);
    assert.is(x[999], 999);
    assert.is(y[1499], -1499);
  } finally {
    g.device.createBuffer = createBuffer;
    a.destroy();
    drainPool(g);
  }
});

test.run();
