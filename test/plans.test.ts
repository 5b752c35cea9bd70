/**
 * src/gpu/plans.ts, the one owner of built plans: least recently used plans go first, and only while the kept bytes
 * plus the next plan's pass the budget; a plan in use is never evicted; a plan built on others holds them. Then the
 * NIG engine and the model through it: how many plans a sequence of calls builds (alternating lengths reuse, an
 * adaptive run builds each forward plan and sums once, scoring in batches reuses), and a budget too small to keep
 * two plans evicts and still gives the same bits.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { resolve } from 'node:path';
import { PlanKeeper, type Built } from '../src/gpu/plans.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { scoreEncoded } from '../src/model/score.ts';
import { NigEngine, type NigResult } from '../src/ig/engine.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { FIXTURES, fixtureRef, needsShared } from './helpers/shared.ts';

const S = suite('plans');
const SPECIAL = { clsId: 101, sepId: 102, padId: 0, maskId: 103, unkId: 100 };

/** A fake plan of `bytes` that records its destruction in `gone`. */
const fake = (name: string, bytes: number, gone: string[], also?: () => void) => async (): Promise<Built<string>> => ({ value: name, bytes, destroy: () => { gone.push(name); also?.(); } });

S('least recently used first, only as far as the next plan needs; a plan in use stays; keep: false goes on release', async () => {
  const k = new PlanKeeper(100);
  const gone: string[] = [];
  for (const n of ['a', 'b', 'c']) (await k.lease(n, { kind: 'x', bytes: 30 }, fake(n, 30, gone))).release();
  assert.equal(k.keys(), ['a', 'b', 'c']);
  (await k.lease('a', { kind: 'x', bytes: 30 }, fake('a2', 30, gone))).release(); // a hit: 'a' becomes the most recent
  assert.is(k.built('x'), 3);
  assert.equal(k.keys(), ['b', 'c', 'a']);
  const d = await k.lease('d', { kind: 'x', bytes: 20 }, fake('d', 20, gone)); // 90 + 20 > 100: 'b' goes, 60 + 20 fits
  assert.equal(gone, ['b']);
  assert.equal(k.keys(), ['c', 'a', 'd']);
  assert.is(k.bytes, 80);
  // 'd' in use: a plan of 90 evicts 'c' and 'a' but not 'd' (over the budget then: the caller's plan is built anyway)
  const e = await k.lease('e', { kind: 'x', bytes: 90 }, fake('e', 90, gone));
  assert.equal(gone, ['b', 'c', 'a']);
  assert.equal(k.keys(), ['d', 'e']);
  d.release();
  e.release();
  // bytes held elsewhere count: with 50 reserved, a plan of 40 leaves room for nothing else
  (await k.lease('f', { kind: 'x', bytes: 40, reserved: 50 }, fake('f', 40, gone))).release();
  assert.equal(k.keys(), ['f']);
  assert.is(k.evictions.get('x'), 5);
  const once = await k.lease('g', { kind: 'y', bytes: 1, keep: false }, fake('g', 1, gone));
  assert.equal(k.keys(), ['f', 'g']);
  once.release();
  once.release(); // (twice: once)
  assert.equal(k.keys(), ['f']);
  assert.is(gone.filter((x) => x === 'g').length, 1);
});

S('a plan built on another holds it while kept; evicting the parent lets the child go; a failed build leaves nothing', async () => {
  const k = new PlanKeeper(100);
  const gone: string[] = [];
  const parent = await k.lease('parent', { kind: 'chunk', bytes: 0 }, async () => {
    const child = await k.lease('child', { kind: 'forward', bytes: 60 }, fake('child', 60, gone));
    return { value: 'parent', bytes: 0, destroy: () => { gone.push('parent'); child.release(); } };
  });
  parent.release();
  assert.equal(k.keys(), ['child', 'parent']);
  // the child is the least recently used but held by the parent: the parent goes first, then the child
  (await k.lease('big', { kind: 'forward', bytes: 50 }, fake('big', 50, gone))).release();
  assert.equal(gone, ['parent', 'child']);
  assert.equal(k.keys(), ['big']);
  try {
    await k.lease('bad', { kind: 'x', bytes: 10 }, async () => { throw new Error('no memory'); });
    assert.unreachable('the build failed');
  } catch (err) {
    assert.is((err as Error).message, 'no memory');
  }
  assert.equal(k.keys(), ['big']);
});

async function engineFor(maxMemory?: number): Promise<{ eng: NigEngine; pairs: EncodedPair[] }> {
  const g = await requestGpu();
  const model = await BertGpu.create(g, loadCheckpoint(resolve(FIXTURES, 'tiny-minilm')));
  const R = fixtureRef('tiny-minilm');
  const pairs = [0, 1, 2, 3, 4, 5].map((i) => {
    const ids = Array.from(R(`p${i}.input_ids`));
    return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
  });
  return { eng: new NigEngine(model, SPECIAL, maxMemory), pairs };
}

const bits = (r: NigResult) => [r.F, r.nigPre, r.nigPost, r.igEmbed, r.nigPreSegments].map((a) => Array.from(a));
const counts = (eng: NigEngine) => ({ forward: eng.model.plans.built('forward'), sums: eng.model.plans.built('sums'), chunk: eng.model.plans.built('chunk') });

needsShared(S, 'alternating lengths reuse their plans within the budget; a budget for one plan evicts and gives the same bits', async () => {
  const { eng, pairs } = await engineFor();
  const [a, b] = [pairs[0], pairs[2]];
  assert.is.not(eng.paddedLength(a.ids.length), eng.paddedLength(b.ids.length));
  const o = { steps: 8 };
  const first = [await eng.attribute(a, o), await eng.attribute(b, o)];
  assert.equal(counts(eng), { forward: 2, sums: 2, chunk: 2 });
  const again = [await eng.attribute(a, o), await eng.attribute(b, o), await eng.attribute(a, o)];
  assert.equal(counts(eng), { forward: 2, sums: 2, chunk: 2 }, 'no plan rebuilt');
  assert.equal(bits(again[0]), bits(first[0]));
  assert.equal(bits(again[1]), bits(first[1]));
  // a budget that holds the larger of the two plans and not both: each call evicts the other's
  const need = (e: NigEngine, p: EncodedPair) => e.chunkMemory(e.paddedLength(p.ids.length), 9).bytes;
  const one = Math.max(need(eng, a), need(eng, b));
  assert.ok(need(eng, a) + need(eng, b) > one + 1024);
  const tight = (await engineFor(one + 1024)).eng;
  const seq = [a, b, a, b];
  for (const [j, p] of seq.entries()) {
    const r = await tight.attribute(p, o);
    assert.is(r.chunk, 9, 'all points in one chunk, as with the default budget');
    assert.equal(bits(r), bits(first[j % 2]), `call ${j}: the same bits`);
    assert.ok(tight.model.plans.bytes <= one + 1024, `call ${j}: ${tight.model.plans.bytes} bytes kept`);
  }
  assert.equal(counts(tight), { forward: 4, sums: 4, chunk: 4 });
  assert.is(tight.model.plans.evictions.get('chunk'), 3);
});

needsShared(S, 'adaptive runs build each forward plan (T, P) and sums once; a pass with point stores rebuilds only its dispatches', async () => {
  const { eng, pairs } = await engineFor();
  // (tol never met: each run goes to maxSteps; a pass at m' runs the points m did not: 5 at m = 4, then 4 at 8, 12 at 16)
  const o = (maxSteps: number) => ({ steps: 4, tol: 1e-9, maxSteps });
  const r2 = await eng.attribute(pairs[2], o(8));
  assert.equal(r2.adaptive!.passes.map((p) => p.steps), [4, 8]);
  assert.equal(counts(eng), { forward: 2, sums: 1, chunk: 2 });
  const r4 = await eng.attribute(pairs[4], o(8)); // the same padded length
  assert.equal(counts(eng), { forward: 2, sums: 1, chunk: 4 }, 'the second pair builds its passes\' dispatches only');
  assert.equal(eng.model.plans.keys().filter((k) => k.startsWith('chunk')), [], 'a pass\'s plan binds its stores: not kept');
  const r16 = await eng.attribute(pairs[4], o(16));
  assert.equal(r16.adaptive!.passes.map((p) => p.steps), [4, 16]);
  assert.equal(counts(eng), { forward: 3, sums: 1, chunk: 6 }, 'only the pass of 12 points is a new shape');
  // the same bits as a fresh engine's runs of that pair alone
  const fresh = (await engineFor()).eng;
  assert.equal(bits(r4), bits(await fresh.attribute(pairs[4], o(8))));
  assert.equal(bits(r16), bits(await fresh.attribute(pairs[4], o(16))));
});

needsShared(S, 'the engine decides packing alone: a budget for one pair\'s points runs two pairs of a length one by one, same bits', async () => {
  const { eng, pairs } = await engineFor();
  const two = await eng.attributeMany([pairs[2], pairs[4]], { steps: 8 });
  assert.ok(eng.model.plans.keys().some((k) => k.startsWith('chunk 24x18/2')), 'packed by default');
  const one = eng.chunkMemory(24, 9).bytes;
  assert.ok(eng.chunkMemory(24, 18, 2).bytes > one + 1024);
  const tight = (await engineFor(one + 1024)).eng;
  assert.is(tight.packable(24, 8, 2), 1);
  const got = await tight.attributeMany([pairs[2], pairs[4]], { steps: 8 });
  assert.equal(tight.model.plans.keys().filter((k) => k.startsWith('chunk')), ['chunk 24x9/1:logit:0']);
  assert.equal(got.map(bits), two.map(bits));
});

needsShared(S, 'scoring in batches reuses the forward plan of each (batch, length); the engine\'s plans stay beside them', async () => {
  const { eng, pairs } = await engineFor();
  await eng.attribute(pairs[2], { steps: 4 });
  const before = counts(eng);
  const s1 = await scoreEncoded(eng.model, pairs, 4); // batches of 4 and 2, by length
  const built = eng.model.plans.built('forward') - before.forward;
  assert.is(built, 2, "batches of 4 and of 2");
  const s2 = await scoreEncoded(eng.model, pairs, 4);
  assert.is(eng.model.plans.built('forward') - before.forward, built, 'the second scoring builds none');
  assert.equal(s2.map((x) => Array.from(x)), s1.map((x) => Array.from(x)));
  await eng.attribute(pairs[2], { steps: 4 });
  assert.is(eng.model.plans.built('chunk'), before.chunk, 'the chunk plan was kept through the scoring');
});

S.run();
