/**
 * The fuzz suite's fast slice (tools/fuzz.ts; `npm run fuzz` runs 20000 cases per class): 400 mutated inputs
 * per class from seed 1, each ending in a correct result or a one-line UserError, each case time-boxed (5 s)
 * and memory-bounded (1 GiB over the start). Prints how many cases each class ran.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mutate, runFuzz, CLASSES } from '../tools/fuzz.ts';
import { mulberry32 } from '../src/util/rng.ts';

test('mutations are deterministic from the seed and change the input', () => {
  const base = new Uint8Array(64).map((_, i) => i);
  const a = mutate(base, mulberry32(9)), b = mutate(base, mulberry32(9));
  assert.equal(a, b);
  let changed = 0;
  for (let s = 0; s < 50; s++) { const m = mutate(base, mulberry32(s)).bytes; if (m.length !== 64 || m.some((x, i) => x !== base[i])) changed++; }
  assert.ok(changed >= 45, `${changed} of 50 mutations changed the input`);
});

test('fuzz, fast slice: every class ends in a result or a one-line UserError, never another exception, a hang or a memory blow-up', async () => {
  const counts = await runFuzz({ seed: 1, cases: 400, log: (s) => console.log(`  ${s}`) });
  assert.equal(counts.map((c) => c.name), CLASSES);
  for (const c of counts) {
    assert.is(c.cases, 400, c.name);
    assert.ok(c.refused > 0 && c.parsed > 0, `${c.name}: ${c.parsed} parsed, ${c.refused} refused (both outcomes should occur)`);
  }
  const failures = counts.flatMap((c) => c.failures);
  assert.equal(failures, [], failures.slice(0, 5).join('\n'));
});

test.run();
