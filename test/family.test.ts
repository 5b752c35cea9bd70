/**
 * Other checkpoints of the family, made by tools/make-tiny-bert.ts (no ../shared needed): odd shapes, 1 and 2
 * labels, F16 and BF16 weights, a vocab.txt tokenizer, through `ir-neurons score` and the NIG engine, against the
 * float64 reference of src/ref.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeTinyBert } from '../src/toy/tiny-bert.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { requestGpu } from '../src/gpu/node.ts';
import { BertGpu } from '../src/model/forward.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { bertForward, gatherWordVecs } from '../src/ref/bert.ts';
import { nigReference } from '../src/ref/nig.ts';
import { REPO, relL2 } from './helpers/shared.ts';

const S = suite('family');
const tmp = mkdtempSync(join(tmpdir(), 'family-'));
const PAIRS = [
  ['what is the capital of the country', 'the capital city is a large place where people live and work'],
  ['how do plants grow', 'plants need water light and soil to grow tall and strong over time in the garden'],
  ['retrieval of documents', 'a search engine ranks documents for a query'],
] as const;

const SHAPES = [
  { name: 'h48-l3-nh3-ff80-2labels-f32', hidden: 48, layers: 3, heads: 3, intermediate: 80, labels: 2, dtype: 'F32' as const },
  { name: 'h40-l2-nh5-ff72-1label-f16', hidden: 40, layers: 2, heads: 5, intermediate: 72, labels: 1, dtype: 'F16' as const },
  { name: 'h36-l1-nh2-ff64-2labels-bf16', hidden: 36, layers: 1, heads: 2, intermediate: 64, labels: 2, dtype: 'BF16' as const },
];

for (const shape of SHAPES) {
  S(`${shape.name}: score (CLI, padded batch) and NIG match the float64 reference`, async () => {
    const dir = join(tmp, shape.name);
    makeTinyBert({ out: dir, seed: 11, maxPositions: 64, ...shape });
    const w = loadCheckpoint(dir);
    const tok = loadTokenizer(dir);
    assert.is(tok.backend, 'js', 'vocab.txt folders use the JS WordPiece');
    const enc = await tok.encodePairs(PAIRS, 64);
    // float64 reference logits, one pair at a time
    const ref = enc.map((e) => {
      const T = e.ids.length;
      return Array.from(bertForward(w, { wordVecs: gatherWordVecs(w, e.ids), typeIds: Int32Array.from(e.typeIds), attnMask: new Int32Array(T).fill(1), B: 1, T }).logits);
    });
    const jsonl = join(dir, 'pairs.jsonl');
    writeFileSync(jsonl, PAIRS.map(([q, p], i) => JSON.stringify({ id: String(i), query: q, passage: p })).join('\n') + '\n');
    const out = join(dir, 'scores.json');
    const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'score', '--model', dir, '--pairs', jsonl, '--out', out], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    const rows = JSON.parse(readFileSync(out, 'utf8'));
    rows.forEach((row: { logits: number[] }, i: number) => {
      assert.is(row.logits.length, shape.labels);
      row.logits.forEach((l, j) => assert.ok(Math.abs(l - ref[i][j]) <= 1e-4 * Math.max(1, Math.abs(ref[i][j])), `pair ${i} logit ${j}: ${l} vs ${ref[i][j]}`));
    });
    const model = await BertGpu.create(await requestGpu(), w);
    const eng = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId });
    const got = await eng.attribute(enc[1], { steps: 16, rule: 'right', perToken: true, chunk: 5 });
    const want = nigReference(w, enc[1].ids, enc[1].typeIds, 16, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId, target: shape.labels === 1 ? 'logit' : 'relevant' });
    assert.ok(relL2(got.nigPreTokens!, want.nigPre) <= 1e-3, `nig_pre ${relL2(got.nigPreTokens!, want.nigPre)}`);
    assert.ok(relL2(got.nigPostTokens!, want.nigPost) <= 1e-3);
    assert.ok(relL2(got.igEmbed, want.igEmbed) <= 1e-3);
    assert.ok(Math.abs(got.igDelta - want.igDelta) <= 1e-4 + 1e-2 * Math.abs(want.igDelta), `delta ${got.igDelta} vs ${want.igDelta}`);
  });
}

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
