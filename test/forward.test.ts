/**
 * The whole WGSL forward pass against the transformers fixtures (float64): logits of each pair alone, of the
 * padded batch, and of the pruned batch; and `ir-neurons score` end to end, including its errors (one run and one
 * error spawned as a user runs them, the rest through the CLI's `main` in this process: test/helpers/cli.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { serializeSafetensors } from '../src/formats/safetensors.ts';
import { randomMask, writeLayerMasks } from '../src/analysis-gpu/select.ts';
import { FIXTURE_MODELS, FIXTURES, REPO, TOKENIZER_JSON, fixturePairs, fixtureRef, needsShared } from './helpers/shared.ts';
import { runCli } from './helpers/cli.ts';

const S = suite('forward');
/**
 * Relative difference, with a floor of 0.01 on the scale: a logit near 0 is a difference of O(1) activations, so float32
 * rounding leaves ~1e-7 absolute on it whatever its size (the GPU class's fused attention: 1.5e-7 on a logit of 1.4e-3).
 * 1e-4 of that floor is still 1e-6 absolute.
 */
const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-2));
  return m;
};

for (const name of FIXTURE_MODELS) {
  needsShared(S, `${name}: per-pair, padded-batch and pruned logits match transformers (≤ 1e-4 relative)`, async () => {
    const g = await requestGpu();
    const w = loadCheckpoint(resolve(FIXTURES, name));
    const R = fixtureRef(name);
    const model = await BertGpu.create(g, w);
    const NL = w.config.numLabels;
    const pairs = [0, 1, 2, 3, 4, 5].map((i) => {
      const ids = Array.from(R(`p${i}.input_ids`));
      return { ids, typeIds: Array.from(R(`p${i}.token_type_ids`)), sep1: ids.indexOf(102) };
    });
    for (let i = 0; i < 6; i++) {
      const got = await model.score([pairs[i]]);
      const want = R(`p${i}.m20.logits_input`);
      assert.ok(maxRel(got, want) <= 1e-4, `pair ${i}: ${Array.from(got)} vs ${Array.from(want)}`);
    }
    const batch = await model.score(pairs);
    const want = R('batch.logits');
    assert.is(batch.length, 6 * NL);
    assert.ok(maxRel(batch, want) <= 1e-4, `batch ${Array.from(batch)} vs ${Array.from(want)}`);
    const mask = R('batch.pruned_mask');
    const F = w.config.intermediate;
    for (let l = 0; l < w.config.layers; l++) model.setMask(l, Float32Array.from(mask.subarray(l * F, (l + 1) * F)));
    const pruned = await model.score(pairs);
    const wantP = R('batch.pruned_logits');
    assert.ok(maxRel(pruned, wantP) <= 1e-4, `pruned ${Array.from(pruned)} vs ${Array.from(wantP)}`);
    // pruning really changed the scores (so the comparison above is not the unpruned one again)
    assert.ok(maxRel(wantP, want) > 1e-3, 'fixture pruning should change logits');
    model.resetMasks();
    const again = await model.score(pairs);
    assert.ok(maxRel(again, want) <= 1e-4, 'masks reset');
    // an all-ones mask reproduces the unpruned scores exactly (so the unpruned ranking too)
    for (let l = 0; l < w.config.layers; l++) model.setMask(l, new Float32Array(F).fill(1));
    assert.equal(Array.from(await model.score(pairs)), Array.from(again));
    // the fixture's mask written by the GPU mask kernels (the pruning path) gives the fixture's pruned logits
    const units = Uint32Array.from(Array.from(mask.keys()).filter((u) => mask[u] === 0));
    const m = await randomMask(g, units, w.config.layers * F);
    writeLayerMasks(g, model, m);
    assert.ok(maxRel(await model.score(pairs), wantP) <= 1e-4, 'GPU-written fixture mask');
    assert.equal(Array.from(await model.score(pairs)), Array.from(pruned), 'same as host-written masks, bit for bit');
    model.resetMasks();
  });
}

/** `ir-neurons ARGS`: spawned (`spawned`: the process boundary, once per test) or in this process (test/helpers/cli.ts). */
async function cli(args: string[], spawned = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const quiet = (e: string) => e.split('\n').filter((l) => !l.startsWith('Warning: max')).join('\n');
  if (!spawned) { const r = await runCli(args); return { ...r, stderr: quiet(r.stderr) }; }
  const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: quiet(r.stderr) };
}

needsShared(S, 'ir-neurons score reproduces the reference logits, pruned too, in input order', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'score-'));
  try {
    for (const name of FIXTURE_MODELS) {
      const pairs = fixturePairs(name);
      const jsonl = join(dir, 'pairs.jsonl');
      writeFileSync(jsonl, pairs.map((p, i) => JSON.stringify({ id: `q${5 - i}`, query: p.query, passage: p.passage })).join('\n') + '\n');
      const out = join(dir, `${name}.json`);
      const r = await cli(['score', '--model', resolve(FIXTURES, name), '--tokenizer', TOKENIZER_JSON, '--pairs', jsonl, '--out', out, '--batch', '4'], name === FIXTURE_MODELS[0]);
      assert.is(r.code, 0, r.stderr);
      const rows = JSON.parse(readFileSync(out, 'utf8'));
      const R = fixtureRef(name);
      const NL = name === 'tiny-monobert' ? 2 : 1;
      assert.equal(rows.map((x: { id: string }) => x.id), ['q5', 'q4', 'q3', 'q2', 'q1', 'q0']);
      const want = R('batch.logits');
      rows.forEach((row: { logits: number[]; relevance: number }, i: number) => {
        assert.ok(maxRel(row.logits, want.subarray(i * NL, (i + 1) * NL)) <= 1e-4, `${name} pair ${i}`);
        const rel = NL === 2 ? 1 / (1 + Math.exp(want[i * 2] - want[i * 2 + 1])) : want[i];
        assert.ok(Math.abs(row.relevance - rel) <= 1e-4 * Math.max(1, Math.abs(rel)));
      });
      const mask = R('batch.pruned_mask');
      const F = mask.length / (NL === 2 ? 2 : 3);
      const tensors: Record<string, { dtype: 'F32'; shape: number[]; data: Float32Array }> = {};
      for (let l = 0; l < mask.length / F; l++) tensors[`layer.${l}`] = { dtype: 'F32', shape: [F], data: Float32Array.from(mask.subarray(l * F, (l + 1) * F)) };
      const maskFile = join(dir, 'mask.safetensors');
      writeFileSync(maskFile, serializeSafetensors(tensors));
      const r2 = await cli(['score', '--model', resolve(FIXTURES, name), '--tokenizer', TOKENIZER_JSON, '--pairs', jsonl, '--prune-mask', maskFile, '--out', out]);
      assert.is(r2.code, 0, r2.stderr);
      const pruned = JSON.parse(readFileSync(out, 'utf8'));
      const wantP = R('batch.pruned_logits');
      pruned.forEach((row: { logits: number[] }, i: number) => assert.ok(maxRel(row.logits, wantP.subarray(i * NL, (i + 1) * NL)) <= 1e-4, `${name} pruned pair ${i}`));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

needsShared(S, 'ir-neurons score: bad input gives one line, exit 2, no stack', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'score-bad-'));
  try {
    const model = resolve(FIXTURES, 'tiny-monobert');
    const good = join(dir, 'good.jsonl');
    writeFileSync(good, '{"id":"a","query":"q","passage":"p"}\n');
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"id":"a","query":"q","passage":"p"}\n{"id":"b","query":"q"\n');
    const wrongMask = join(dir, 'mask.safetensors');
    writeFileSync(wrongMask, serializeSafetensors({ 'layer.0': { dtype: 'F32', shape: [3], data: new Float32Array(3) } }));
    const cases: [string[], RegExp][] = [
      [['score', '--model', join(dir, 'nope'), '--pairs', good, '--out', join(dir, 'o.json')], /no such model folder/],
      [['score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', bad, '--out', join(dir, 'o.json')], /bad\.jsonl:2: not valid JSON/],
      [['score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', join(dir, 'missing.jsonl'), '--out', join(dir, 'o.json')], /missing\.jsonl: no such file/],
      [['score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', good, '--prune-mask', wrongMask, '--out', join(dir, 'o.json')], /layer\.0' has shape \[3\], expected \[256\]/],
      [['score', '--model', model, '--pairs', good, '--out', join(dir, 'o.json')], /tokenizer/i],
      [['score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', good, '--out', join(dir, 'o.json'), '--bogus', '1'], /unknown option --bogus/],
    ];
    for (const [args, re] of cases) {
      const r = await cli(args, args === cases[0][0]);
      assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      const lines = r.stderr.trim().split('\n');
      assert.is(lines.length, 1, `one line expected: ${r.stderr}`);
      assert.match(lines[0], re);
      assert.not.match(r.stderr, /\n\s+at /);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

S.run();
