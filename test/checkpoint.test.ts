/**
 * Checkpoint loading: safetensors and pytorch_model.bin fixtures agree value for value, half-precision and
 * old-style checkpoints load, and every malformed or hostile input is refused with a UserError naming the file.
 * Fixtures: ../shared/fixtures beside the repo (skipped locally when missing, a failure when CI=true).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/util/errors.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { parseSafetensors, serializeSafetensors, toFloat, type RawTensor, type WriteTensor } from '../src/formats/safetensors.ts';
import { parseTorchBin, readZip, zipEntryBytes } from '../src/formats/torchbin.ts';
import type { BertWeights, Tensor } from '../src/model/types.ts';
import { encodeSafetensors, type FloatTensor, makeTinyBert, tinyBertStateDict } from '../src/toy/tiny-bert.ts';
import { toyVocab } from '../src/toy/vocab.ts';
import { needsShared } from './helpers/shared.ts';
import { f32Bytes, makeZip, P, pickle, rawSafetensors, stateDictPickle, torchZip } from './helpers/torch-files.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIX = resolve(repoRoot, '../shared/fixtures');
const haveFixtures = existsSync(join(FIX, 'tiny-monobert', 'config.json')) && existsSync(join(FIX, 'tiny-minilm', 'config.json'));
const MODELS = ['tiny-monobert', 'tiny-minilm'];
/** A test that needs both fixture models (the one rule of test/helpers/shared.ts). */
const fixtureTest = (name: string, fn: () => void): void => needsShared(test, name, fn, haveFixtures ? FIX : join(FIX, 'tiny-minilm', 'config.json'));

const TMP = mkdtempSync(join(tmpdir(), 'ckpt-test-'));
let dirCount = 0;
const newDir = (): string => { const d = join(TMP, `d${dirCount++}`); mkdirSync(d); return d; };
test.after(() => rmSync(TMP, { recursive: true, force: true }));

/** Runs fn, asserting it throws a UserError whose message contains `file` and matches `re`. */
function throwsUser(fn: () => unknown, file: string, re: RegExp): string {
  try { fn(); } catch (e) {
    assert.instance(e, UserError, `expected a UserError, got ${e}`);
    const msg = (e as Error).message;
    assert.ok(msg.includes(file), `message does not name ${file}: ${msg}`);
    assert.match(msg, re);
    assert.not.match(msg, /\n/);
    return msg;
  }
  assert.unreachable(`expected a UserError matching ${re}`);
  return '';
}

function allTensors(w: BertWeights): [string, Tensor][] {
  const out: [string, Tensor][] = [];
  for (const [k, v] of Object.entries(w)) if (k !== 'layers' && k !== 'config') out.push([k, v as Tensor]);
  w.layers.forEach((l, i) => { for (const [k, v] of Object.entries(l)) out.push([`${i}.${k}`, v]); });
  return out;
}
/** Exact equality of every value (bitwise for floats, via Object.is). */
function weightsEqual(a: BertWeights, b: BertWeights, tol = 0, relTol = 0): void {
  assert.equal(a.config, b.config);
  const tb = new Map(allTensors(b));
  for (const [k, t] of allTensors(a)) {
    const u = tb.get(k)!;
    assert.equal(t.shape, u.shape, k);
    for (let i = 0; i < t.data.length; i++) {
      const ok = tol === 0 && relTol === 0 ? Object.is(t.data[i], u.data[i]) : Math.abs(t.data[i] - u.data[i]) <= tol + relTol * Math.abs(u.data[i]);
      if (!ok) assert.unreachable(`${k}[${i}]: ${t.data[i]} vs ${u.data[i]}`);
    }
  }
}

/** A tiny tool-made checkpoint folder (F32, seed 7) to corrupt. */
function tinyDir(dtype: 'F32' | 'F16' | 'BF16' = 'F32', seed = 7): string {
  const d = newDir();
  makeTinyBert({ out: d, seed, hidden: 16, layers: 2, heads: 2, intermediate: 32, labels: 2, maxPositions: 32, dtype });
  return d;
}
const tinyOpts = { seed: 7, hidden: 16, layers: 2, heads: 2, intermediate: 32, labels: 2, maxPositions: 32 };

// ---------------------------------------------------------------- fixtures

fixtureTest('fixtures load from safetensors with their config and known values', () => {
  const mono = loadCheckpoint(join(FIX, 'tiny-monobert'));
  assert.equal([mono.config.hidden, mono.config.layers, mono.config.heads, mono.config.intermediate, mono.config.numLabels, mono.config.vocabSize, mono.config.maxPositions], [64, 2, 4, 256, 2, 30522, 128]);
  assert.is(mono.layers.length, 2);
  assert.equal(mono.wordEmb.shape, [30522, 64]);
  assert.equal([...mono.clsW.data.subarray(0, 3)], [0.045004501938819885, 0.059701647609472275, -0.1366855353116989]);
  assert.equal([...mono.clsB.data], [0, 0]);
  assert.ok(mono.wordEmb.data.subarray(0, 64).every((v) => v === 0), '[PAD] row is zero');
  const sum = (t: Tensor) => t.data.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(sum(mono.clsW) - 0.04616165190236643) < 1e-6);
  assert.ok(Math.abs(sum(mono.wordEmb) - 10.828572928777504) < 1e-3);
  const mini = loadCheckpoint(join(FIX, 'tiny-minilm'));
  assert.equal([mini.config.hidden, mini.config.layers, mini.config.heads, mini.config.intermediate, mini.config.numLabels], [96, 3, 6, 384, 1]);
  assert.equal(mini.clsW.shape, [1, 96]);
  assert.equal([...mini.clsW.data.subarray(0, 3)], [0.051364801824092865, -0.08509036898612976, 0.24247759580612183]);
  assert.ok(Math.abs(sum(mini.clsW) - 1.160350069287233) < 1e-6);
});

fixtureTest('pytorch_model.bin equals model.safetensors tensor for tensor, for both fixtures', () => {
  for (const m of MODELS) {
    const binFile = join(FIX, m, 'pytorch_model.bin');
    const bin = parseTorchBin(readFileSync(binFile), binFile);
    const st = parseSafetensors(readFileSync(join(FIX, m, 'model.safetensors')), 'st');
    assert.equal([...bin.keys()].sort(), [...st.keys()].sort(), m);
    for (const [k, t] of st) {
      const u = bin.get(k)!;
      assert.is(u.dtype, t.dtype, k);
      assert.equal(u.shape, t.shape, k);
      const a = toFloat(u, Float32Array), b = toFloat(t, Float32Array);
      assert.ok(a.length === b.length && a.every((v, i) => Object.is(v, b[i])), `${m} ${k} differs`);
    }
    // Through loadCheckpoint, from a folder holding only config.json and pytorch_model.bin.
    const d = newDir();
    copyFileSync(join(FIX, m, 'config.json'), join(d, 'config.json'));
    copyFileSync(binFile, join(d, 'pytorch_model.bin'));
    weightsEqual(loadCheckpoint(d), loadCheckpoint(join(FIX, m)));
  }
});

fixtureTest('a .bin re-zipped with DEFLATE entries reads the same', () => {
  const binFile = join(FIX, 'tiny-monobert', 'pytorch_model.bin');
  const buf = new Uint8Array(readFileSync(binFile));
  const entries = [...readZip(buf, binFile).values()].map((e): [string, Uint8Array] => [e.name, zipEntryBytes(buf, e, binFile)]);
  const deflated = makeZip(entries, true);
  assert.ok(readZip(deflated, 'x').get('pytorch_model/data.pkl')!.method === 8);
  const a = parseTorchBin(deflated, 'deflated.bin'), b = parseTorchBin(buf, binFile);
  for (const [k, t] of b) assert.equal([...toFloat(a.get(k)!, Float32Array)], [...toFloat(t, Float32Array)], k);
});

fixtureTest('old-style names (gamma/beta, no bert. prefix) load identically', () => {
  const src = join(FIX, 'tiny-monobert');
  const st = parseSafetensors(readFileSync(join(src, 'model.safetensors')), 'st');
  const renamed = new Map<string, WriteTensor>();
  for (const [k, t] of st) {
    const name = k.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    renamed.set(name, { dtype: 'F32', shape: t.shape, data: toFloat(t, Float32Array) });
  }
  assert.ok(renamed.has('encoder.layer.0.output.LayerNorm.gamma') && renamed.has('embeddings.LayerNorm.beta'));
  const d = newDir();
  copyFileSync(join(src, 'config.json'), join(d, 'config.json'));
  writeFileSync(join(d, 'model.safetensors'), serializeSafetensors(renamed));
  weightsEqual(loadCheckpoint(d), loadCheckpoint(src));
});

// ---------------------------------------------------------------- hand-made .bin files

test('storage offsets, non-contiguous strides, shared and half storages are materialised', () => {
  const storage = f32Bytes([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  const half = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x3800]).buffer); // 1, -2, 0.5
  const pkl = stateDictPickle([
    ['a', 'FloatStorage', '0', 12, 2, [2, 3], [3, 1]],    // rows of 3 from offset 2
    ['b', 'FloatStorage', '0', 12, 0, [3, 2], [1, 3]],    // transpose of [[0,1,2],[3,4,5]]
    ['c', 'FloatStorage', '0', 12, 1, [2, 2], [6, 2]],    // strided in both dims
    ['s', 'FloatStorage', '0', 12, 11, [], []],           // scalar
    ['h', 'HalfStorage', '1', 3, 0, [3], [1]],
  ], true);
  const sd = parseTorchBin(torchZip(pkl, [['0', storage], ['1', half]], [['archive/byteorder', Buffer.from('little')]]), 'hand.bin');
  const vals = (k: string) => [...toFloat(sd.get(k)!, Float32Array)];
  assert.equal(vals('a'), [2, 3, 4, 5, 6, 7]);
  assert.equal(sd.get('a')!.shape, [2, 3]);
  assert.equal(vals('b'), [0, 3, 1, 4, 2, 5]);
  assert.equal(vals('c'), [1, 3, 7, 9]);
  assert.equal(vals('s'), [11]);
  assert.equal(sd.get('h')!.dtype, 'F16');
  assert.equal(vals('h'), [1, -2, 0.5]);
});

test('hand-made .bin errors: out-of-bounds view, missing storage, big-endian, unknown opcode, truncated zip', () => {
  const storage = f32Bytes([0, 1, 2, 3]);
  throwsUser(() => parseTorchBin(torchZip(stateDictPickle([['a', 'FloatStorage', '0', 4, 2, [3], [1]]]), [['0', storage]]), 'oob.bin'), 'oob.bin', /reaches past its storage/);
  throwsUser(() => parseTorchBin(torchZip(stateDictPickle([['a', 'FloatStorage', '9', 4, 0, [4], [1]]]), [['0', storage]]), 'nostore.bin'), 'nostore.bin', /storage '9'.*missing/);
  throwsUser(() => parseTorchBin(torchZip(stateDictPickle([['a', 'FloatStorage', '0', 4, 0, [4], [1]]]), [['0', storage]], [['archive/byteorder', Buffer.from('big')]]), 'be.bin'), 'be.bin', /big-endian/);
  throwsUser(() => parseTorchBin(torchZip(pickle(P.proto, [0x81], P.stop)), 'op.bin'), 'op.bin', /opcode 0x81/);
  throwsUser(() => parseTorchBin(torchZip(pickle(P.proto, P.global('torch', 'QInt8Storage'), P.stop)), 'q.bin'), 'q.bin', /forbidden global 'torch.QInt8Storage'/);
  const good = torchZip(stateDictPickle([['a', 'FloatStorage', '0', 4, 0, [4], [1]]]), [['0', storage]]);
  assert.equal([...toFloat(parseTorchBin(good, 'ok.bin').get('a')!, Float32Array)], [0, 1, 2, 3]);
  throwsUser(() => parseTorchBin(good.subarray(0, good.length - 30), 'cut.bin'), 'cut.bin', /zip archive/);
});

for (const [mod, name] of [['os', 'system'], ['posix', 'system'], ['builtins', 'eval'], ['subprocess', 'check_output']]) {
  test(`a hostile pickle naming ${mod}.${name} is refused and nothing runs`, () => {
    const d = tinyDir();
    const marker = join(d, 'pwned');
    const pkl = pickle(P.proto, P.global(mod, name), P.str(`echo pwned > ${marker}`), P.tuple1, P.reduce, P.stop);
    rmSync(join(d, 'model.safetensors'));
    const bin = join(d, 'pytorch_model.bin');
    writeFileSync(bin, torchZip(pkl));
    const msg = throwsUser(() => loadCheckpoint(d), bin, /forbidden global/);
    assert.ok(msg.includes(`'${mod}.${name}'`) && /refused/.test(msg), msg);
    assert.not.ok(existsSync(marker), 'the payload ran');
  });
}

test('a legacy (non-zip) torch.save file is refused with a re-save hint', () => {
  const d = tinyDir();
  rmSync(join(d, 'model.safetensors'));
  const bin = join(d, 'pytorch_model.bin');
  writeFileSync(bin, pickle([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], P.stop));
  throwsUser(() => loadCheckpoint(d), bin, /legacy.*_use_new_zipfile_serialization=True.*safetensors/);
});

// ---------------------------------------------------------------- tool-made checkpoints, half precision

test('make-tiny-bert is deterministic, loads, and writes a usable vocabulary', () => {
  const a = tinyDir('F32', 7), b = tinyDir('F32', 7), c = tinyDir('F32', 8);
  const bytes = (d: string) => readFileSync(join(d, 'model.safetensors'));
  assert.ok(bytes(a).equals(bytes(b)), 'same seed, same bytes');
  assert.not.ok(bytes(a).equals(bytes(c)), 'different seed, different bytes');
  const w = loadCheckpoint(a);
  const vocab = readFileSync(join(a, 'vocab.txt'), 'utf8').trimEnd().split('\n');
  assert.equal(vocab, toyVocab());
  assert.equal(vocab.slice(0, 5), ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  assert.is(new Set(vocab).size, vocab.length);
  for (const l of 'abcdefghijklmnopqrstuvwxyz') assert.ok(vocab.includes(l) && vocab.includes(`##${l}`), l);
  assert.ok(vocab.includes('##ing') && vocab.includes('relevance'));
  assert.equal([w.config.vocabSize, w.config.hidden, w.config.layers, w.config.heads, w.config.intermediate, w.config.numLabels, w.config.maxPositions], [vocab.length, 16, 2, 2, 32, 2, 32]);
  assert.equal(JSON.parse(readFileSync(join(a, 'tokenizer_config.json'), 'utf8')), { do_lower_case: true, model_max_length: 512 });
  assert.ok(w.wordEmb.data.subarray(0, 16).every((v) => v === 0) && w.wordEmb.data[16] !== 0);
  const ln = w.layers[1].ln2G.data, q = w.layers[0].qW.data;
  assert.ok(ln.every((v) => Math.abs(v - 1) < 0.3) && ln.some((v) => v !== 1), 'LayerNorm weight near 1');
  const std = Math.sqrt(q.reduce((s, v) => s + v * v, 0) / q.length);
  assert.ok(std > 0.08 && std < 0.12, `weight std ${std}`);
  weightsEqual(w, loadCheckpoint(b));
});

test('F16 and BF16 checkpoints load with the expected values', () => {
  const f32 = loadCheckpoint(tinyDir('F32'));
  assert.is(parseSafetensors(readFileSync(join(tinyDir('F16'), 'model.safetensors')), 'x').get('classifier.bias')!.dtype, 'F16');
  weightsEqual(loadCheckpoint(tinyDir('F16')), f32, 2 ** -25, 2 ** -11); // half an F16 ulp
  weightsEqual(loadCheckpoint(tinyDir('BF16')), f32, 0, 2 ** -8);
  // Values representable in both formats (k / 128 with |k| < 256) come back exactly.
  for (const dtype of ['F16', 'BF16'] as const) {
    const sd = tinyBertStateDict(tinyOpts);
    const q = new Map<string, FloatTensor>();
    for (const [k, t] of sd) q.set(k, { shape: t.shape, data: t.data.map((v) => Math.max(-255, Math.min(255, Math.round(v * 128))) / 128) });
    const d32 = tinyDir(), dh = tinyDir();
    writeFileSync(join(d32, 'model.safetensors'), encodeSafetensors(q, 'F32'));
    writeFileSync(join(dh, 'model.safetensors'), encodeSafetensors(q, dtype));
    const exact = loadCheckpoint(d32);
    assert.ok(exact.clsW.data.every((v) => Number.isInteger(v * 128)));
    weightsEqual(loadCheckpoint(dh), exact);
  }
});

// ---------------------------------------------------------------- malformed folders and files

test('missing folder, missing or bad config.json, unsupported architecture, missing weights', () => {
  const gone = join(TMP, 'no-such-model');
  throwsUser(() => loadCheckpoint(gone), gone, /no such model folder/);
  let d = tinyDir();
  rmSync(join(d, 'config.json'));
  throwsUser(() => loadCheckpoint(d), join(d, 'config.json'), /missing/);
  d = tinyDir();
  writeFileSync(join(d, 'config.json'), '{"hidden_size": 16,');
  throwsUser(() => loadCheckpoint(d), join(d, 'config.json'), /not valid JSON/);
  d = tinyDir();
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
  throwsUser(() => loadCheckpoint(d), join(d, 'config.json'), /GPT2LMHeadModel is not supported/);
  d = tinyDir();
  rmSync(join(d, 'model.safetensors'));
  throwsUser(() => loadCheckpoint(d), d, /no model\.safetensors or pytorch_model\.bin/);
});

test('corrupt safetensors: truncated, header length past the end, header not JSON', () => {
  let d = tinyDir();
  let st = join(d, 'model.safetensors');
  const full = readFileSync(st);
  writeFileSync(st, full.subarray(0, Math.floor(full.length / 2)));
  throwsUser(() => loadCheckpoint(d), st, /truncated/);
  d = tinyDir(); st = join(d, 'model.safetensors');
  const big = Buffer.from(full); big.writeBigUInt64LE(BigInt(full.length * 2));
  writeFileSync(st, big);
  throwsUser(() => loadCheckpoint(d), st, /header length .* does not fit/);
  d = tinyDir(); st = join(d, 'model.safetensors');
  const garbled = Buffer.from(full); garbled.fill(0x7e, 8, 40);
  writeFileSync(st, garbled);
  throwsUser(() => loadCheckpoint(d), st, /header does not start with .\{.|header is not JSON/);
});

test('bad tensors: wrong dtype, wrong shape, missing tensor, NaN', () => {
  const sd = tinyBertStateDict(tinyOpts);
  const write = (mut: (ts: [string, string, number[], Uint8Array][]) => void) => {
    const ts: [string, string, number[], Uint8Array][] = [...sd].map(([k, t]) => [k, 'F32', t.shape, new Uint8Array(new Float32Array(t.data).buffer)]);
    mut(ts);
    const d = tinyDir();
    writeFileSync(join(d, 'model.safetensors'), rawSafetensors(ts));
    return [d, join(d, 'model.safetensors')];
  };
  let [d, st] = write((ts) => { const i = ts.findIndex((t) => t[0] === 'classifier.bias'); ts[i] = ['classifier.bias', 'I8', [2], new Uint8Array([1, 2])]; });
  throwsUser(() => loadCheckpoint(d), st, /'classifier\.bias' has dtype I8/);
  [d, st] = write(() => {});
  const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
  writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, intermediate_size: 48 }));
  throwsUser(() => loadCheckpoint(d), st, /intermediate\.dense\.weight' has shape \[32,16\], but config\.json implies \[48,16\]/);
  [d, st] = write((ts) => ts.splice(ts.findIndex((t) => t[0] === 'bert.pooler.dense.weight'), 1));
  throwsUser(() => loadCheckpoint(d), st, /missing tensor 'bert\.pooler\.dense\.weight'/);
  [d, st] = write((ts) => { const t = ts.find((x) => x[0] === 'bert.encoder.layer.1.output.dense.weight')!; new Float32Array(t[3].buffer)[5] = NaN; });
  throwsUser(() => loadCheckpoint(d), st, /layer\.1\.output\.dense\.weight' holds a non-finite value \(NaN\) at index 5/);
});

test.run();
