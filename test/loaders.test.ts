/**
 * Loaders that cannot be fooled (issue 11, items 7, 8, 9 and 11): a deflate bomb or a stride-0 view costs no
 * more than config.json implies, a storage key reused with a larger size is refused (never clamped to zeros),
 * a 300k-item APPENDS does not overflow the stack, safetensors is parsed as strictly as the reference library,
 * a non-ASCII tensor name keeps the data section aligned, and text inputs are strict UTF-8 with the BOM dropped.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/util/errors.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { maxCheckpointBytes } from '../src/model/weights.ts';
import { parseConfig } from '../src/model/config.ts';
import { parseSafetensors, serializeSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { parseTorchBin } from '../src/formats/torchbin.ts';
import { makeTinyBert, tinyBertStateDict } from '../src/toy/tiny-bert.ts';
import { parsePairsJsonl, readPairsJsonl } from '../src/data/pairs-jsonl.ts';
import { PAGE_PAIRS, parsePairs, parsePairsBytes } from '../src/data/pairs-text.ts';
import { pairsFromFile } from '../src/browser/pairs.ts';
import { readQrels, readRun } from '../src/data/trec.ts';
import { firstInvalidUtf8 } from '../src/data/text.ts';
import { f32Bytes, P, pickle, rawSafetensors, stateDictPickle, torchZip, type PickledTensor, type ZipIn } from './helpers/torch-files.ts';

const TMP = mkdtempSync(join(tmpdir(), 'loaders-test-'));
let dirCount = 0;
const newDir = (): string => { const d = join(TMP, `d${dirCount++}`); mkdirSync(d); return d; };
test.after(() => rmSync(TMP, { recursive: true, force: true }));

/** Runs fn, asserting it throws a one-line UserError naming `file` and matching `re`. */
function throwsUser(fn: () => unknown, file: string, re: RegExp): string {
  try { fn(); } catch (e) {
    assert.instance(e, UserError, `expected a UserError, got ${(e as Error)?.stack ?? e}`);
    const msg = (e as Error).message;
    assert.ok(msg.includes(file), `message does not name ${file}: ${msg}`);
    assert.match(msg, re);
    assert.not.match(msg, /[\n\r]/);
    return msg;
  }
  assert.unreachable(`expected a UserError matching ${re}`);
  return '';
}

const tinyOpts = { seed: 7, hidden: 16, layers: 2, heads: 2, intermediate: 32, labels: 2, maxPositions: 32 };

/** A tiny checkpoint folder whose weights are a hand-made pytorch_model.bin: the tiny model's tensors plus `extra`. */
function binDir(extra: { tensors?: PickledTensor[]; storages?: ZipIn[]; replace?: boolean } = {}): { dir: string; bin: string } {
  const dir = newDir();
  makeTinyBert({ out: dir, ...tinyOpts });
  rmSync(join(dir, 'model.safetensors'));
  const ts: PickledTensor[] = [], storages: ZipIn[] = [];
  if (!extra.replace) {
    let k = 0;
    for (const [name, t] of tinyBertStateDict(tinyOpts)) {
      const key = `s${k++}`;
      ts.push([name, 'FloatStorage', key, t.data.length, 0, t.shape, t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1))]);
      storages.push([key, new Uint8Array(t.data.buffer)]);
    }
  }
  const bin = join(dir, 'pytorch_model.bin');
  writeFileSync(bin, torchZip(stateDictPickle([...ts, ...(extra.tensors ?? [])]), [...storages, ...(extra.storages ?? [])]));
  return { dir, bin };
}

// ---------------------------------------------------------------- item 7: memory

test('the hand-made .bin of the tiny model loads (the base the hostile variants below start from)', () => {
  const { dir } = binDir();
  const w = loadCheckpoint(dir);
  const sd = tinyBertStateDict(tinyOpts);
  assert.equal([...w.clsW.data], [...sd.get('classifier.weight')!.data]);
  assert.equal([...w.layers[1].oW.data], [...sd.get('bert.encoder.layer.1.output.dense.weight')!.data]);
});

test('deflate bomb: an entry that inflates past its declared size stops there; a declared size past the config cap is never inflated', () => {
  const zeros = new Uint8Array(64 * 2 ** 20);
  const bomb = deflateRawSync(zeros, { level: 9 }); // 64 MiB of zeros in ~64 kB
  assert.ok(bomb.length < 100_000);
  // The header says 64 bytes: inflating stops after them.
  let { dir, bin } = binDir({ tensors: [['extra', 'FloatStorage', 'bomb', 16, 0, [16], [1]]], storages: [['bomb', zeros.subarray(0, 64), { deflated: bomb, size: 64 }]] });
  const before = process.memoryUsage().arrayBuffers;
  const t0 = performance.now();
  throwsUser(() => loadCheckpoint(dir), bin, /entry 'archive\/data\/bomb' inflates to more than the 64 bytes its header says/);
  assert.ok(performance.now() - t0 < 2000, 'refused quickly');
  assert.ok(process.memoryUsage().arrayBuffers - before < 32 * 2 ** 20, 'did not inflate 64 MiB');
  // The header tells the truth (64 MiB), which is more than this config's tensors can take: refused before inflating.
  ({ dir, bin } = binDir({ tensors: [['extra', 'FloatStorage', 'bomb', 16 * 2 ** 20, 0, [16 * 2 ** 20], [1]]], storages: [['bomb', zeros.subarray(0, 64), { deflated: bomb, size: 64 * 2 ** 20 }]] }));
  const cap = maxCheckpointBytes(parseConfig(readFileSync(join(dir, 'config.json'), 'utf8'), 'config.json'));
  assert.ok(cap < 8 * 2 ** 20, `cap ${cap}`);
  throwsUser(() => loadCheckpoint(dir), bin, new RegExp(`more than the ${cap} allowed \\(what config\\.json implies\\)`));
  // The same file without a config: the caller's limit applies.
  throwsUser(() => parseTorchBin(new Uint8Array(readFileSync(bin)), bin, { maxBytes: 2 ** 20 }), bin, /more than the 1048576 allowed/);
});

test('stride-0 (expanded) views are counted at full size and refused past the cap before any copy', () => {
  const big: PickledTensor[] = Array.from({ length: 6 }, (_, i) => [`expanded${i}`, 'FloatStorage', 'one', 1, 0, [8192, 8192], [0, 0]]);
  const { dir, bin } = binDir({ tensors: big, storages: [['one', f32Bytes([1])]] });
  const t0 = performance.now();
  throwsUser(() => loadCheckpoint(dir), bin, /tensor 'expanded0' \(shape \[8192,8192\]\) brings the state dict to \d+ bytes, more than the \d+ allowed \(what config\.json implies\)/);
  assert.ok(performance.now() - t0 < 2000, `refused in ${performance.now() - t0} ms`);
  // Small expanded views still load, value for value.
  const sd = parseTorchBin(torchZip(stateDictPickle([['e', 'FloatStorage', '0', 2, 1, [3, 2], [0, 0]]]), [['0', f32Bytes([5, 7])]]), 'e.bin');
  assert.equal([...toFloat(sd.get('e')!, Float32Array)], [7, 7, 7, 7, 7, 7]);
});

// ---------------------------------------------------------------- item 8: wrong weights

test('a second _rebuild_tensor_v2 on a seen storage key with a larger size is refused, not clamped to zeros', () => {
  const storage = f32Bytes([1, 2, 3, 4]);
  const pkl = stateDictPickle([
    ['a', 'FloatStorage', '0', 4, 0, [4], [1]],
    ['b', 'FloatStorage', '0', 1000, 0, [1000], [1]],
  ]);
  throwsUser(() => parseTorchBin(torchZip(pkl, [['0', storage]]), 'reuse.bin'), 'reuse.bin', /storage '0' holds 16 bytes, fewer than its 1000 F32 elements need/);
  // The same key read as another dtype is refused too.
  const pkl2 = stateDictPickle([['a', 'FloatStorage', '0', 4, 0, [4], [1]], ['b', 'HalfStorage', '0', 8, 0, [8], [1]]]);
  throwsUser(() => parseTorchBin(torchZip(pkl2, [['0', storage]]), 'retype.bin'), 'retype.bin', /storage '0' is read as F16 after F32/);
  // Through the model loader: the classifier's weight is a larger view of the bias's storage.
  const { dir, bin } = binDir({ replace: false });
  const bytes = new Uint8Array(readFileSync(bin));
  assert.ok(bytes.length > 0);
  const sd = tinyBertStateDict(tinyOpts);
  const ts: PickledTensor[] = [], st: ZipIn[] = [];
  let k = 0;
  for (const [name, t] of sd) {
    if (name === 'classifier.weight') continue;
    const key = name === 'classifier.bias' ? 'cls' : `s${k++}`;
    ts.push([name, 'FloatStorage', key, t.data.length, 0, t.shape, t.shape.length === 2 ? [t.shape[1], 1] : [1]]);
    st.push([key, new Uint8Array(t.data.buffer)]);
  }
  ts.push(['classifier.weight', 'FloatStorage', 'cls', 32, 0, [2, 16], [16, 1]]);
  writeFileSync(bin, torchZip(stateDictPickle(ts), st));
  throwsUser(() => loadCheckpoint(dir), bin, /storage 'cls' holds 8 bytes, fewer than its 32 F32 elements need/);
});

test('a 300k-item APPENDS (and deep MARK nesting) ends in a UserError, not a stack overflow', () => {
  const n = 300_000;
  const body = new Uint8Array(n * 2).map((_, i) => (i % 2 ? 0 : 0x4b)); // BININT1 0, n times
  const pkl = pickle(P.proto, P.emptyList, P.mark, [...body], P.appends, P.stop);
  throwsUser(() => parseTorchBin(torchZip(pkl), 'appends.bin'), 'appends.bin', /holds a tuple\/list, not a state dict/);
  const deep = pickle(P.proto, new Array(200_000).fill(0x28), P.stop);
  throwsUser(() => parseTorchBin(torchZip(deep), 'marks.bin'), 'marks.bin', /pops an empty stack|open MARK/);
});

// ---------------------------------------------------------------- safetensors, as strict as the reference

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const two: [string, string, number[], Uint8Array][] = [['a', 'F32', [2], f32([1, 2])], ['b', 'F32', [1], f32([3])]];

test('safetensors: a valid file parses; reordered header entries are fine', () => {
  const st = parseSafetensors(rawSafetensors(two), 'ok.st');
  assert.equal([...toFloat(st.get('a')!, Float32Array)], [1, 2]);
  assert.equal([...toFloat(st.get('b')!, Float32Array)], [3]);
  const swapped = rawSafetensors([two[1], two[0]].map(([n, d, s, b]) => [n, d, s, b]), { b: [8, 12], a: [0, 8] });
  // data written as b then a, but offsets say a is first: values follow the offsets
  assert.equal([...toFloat(parseSafetensors(swapped, 'x').get('b')!, Float32Array)], [2]);
});

test('safetensors: string offsets, overlap, gaps, trailing bytes, duplicate keys, huge or non-UTF-8 headers are refused', () => {
  const withHeader = (h: string, data = new Uint8Array(0)) => {
    const hb = Buffer.from(h), len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(hb.length));
    return new Uint8Array(Buffer.concat([len, hb, data]));
  };
  const cases: [string, Uint8Array, RegExp][] = [
    ['string offsets', rawSafetensors(two, { a: ['0', '8'] }), /tensor "a" has bad data_offsets/],
    ['float offsets', rawSafetensors(two, { a: [0, 8.5] }), /tensor "a" has bad data_offsets/],
    ['overlap', rawSafetensors([two[0], ['b', 'F32', [1], f32([3])], ['c', 'F32', [1], f32([4])]], { b: [4, 8], c: [8, 12] }), /tensor "b" starts at data byte 4, but the previous tensor ends at 8 \(overlap\)/],
    ['gap', withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}', new Uint8Array(16)), /tensor "b" starts at data byte 12, but the previous tensor ends at 8 \(gap\)/],
    ['trailing bytes', new Uint8Array([...rawSafetensors(two), 0, 0, 0, 0]), /tensors end at data byte 12, but the data section holds 16 bytes \(trailing bytes\)/],
    ['shape of strings', rawSafetensors([['a', 'F32', ['2' as unknown as number], f32([1, 2])]]), /tensor "a" has a bad shape/],
  ];
  for (const [what, bytes, re] of cases) throwsUser(() => parseSafetensors(bytes, `${what}.st`), `${what}.st`, re);
  throwsUser(() => parseSafetensors(withHeader('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32([1])), 'dup.st'), 'dup.st', /header names "a" twice/);
  throwsUser(() => parseSafetensors(withHeader('{"__metadata__":{"n":1}}'), 'meta.st'), 'meta.st', /__metadata__ is not a map of strings to strings/);
  throwsUser(() => parseSafetensors(withHeader('[1]'), 'arr.st'), 'arr.st', /does not start with '\{'/);
  throwsUser(() => parseSafetensors(withHeader('{"a":1'), 'cut.st'), 'cut.st', /header is not JSON/);
  const latin = withHeader('{"\u00e9":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}');
  latin[8 + 2] = 0xe9; latin[8 + 3] = 0x22; // é as one Latin-1 byte
  throwsUser(() => parseSafetensors(latin.subarray(0, latin.length), 'latin.st'), 'latin.st', /header is not UTF-8/);
  const huge = new Uint8Array(16); new DataView(huge.buffer).setBigUint64(0, 100_000_001n, true);
  throwsUser(() => parseSafetensors(huge, 'huge.st'), 'huge.st', /header length 100000001 is over the 100000000-byte limit/);
  // Nested duplicate keys count too, and an empty file of tensors is valid.
  throwsUser(() => parseSafetensors(withHeader('{"a":{"dtype":"F32","dtype":"F32","shape":[0],"data_offsets":[0,0]}}'), 'dup2.st'), 'dup2.st', /names "dtype" twice/);
  assert.is(parseSafetensors(withHeader('{}'), 'empty.st').size, 0);
});

// Issue 11, item 11: this test fails when the span check (byte span = shape × dtype size) is disabled.
test('safetensors: a tensor whose byte span differs from shape × dtype size is refused, even when the spans tile the data', () => {
  const longer = rawSafetensors([['a', 'F32', [2], f32([1, 2, 3])]]); // 12 bytes for 2 floats
  throwsUser(() => parseSafetensors(longer, 'span.st'), 'span.st', /tensor "a" spans 12 bytes but its shape \[2\] of F32 needs 8/);
  const shorter = rawSafetensors([['a', 'F16', [3], f32([1])]]); // 4 bytes for 3 halves
  throwsUser(() => parseSafetensors(shorter, 'span2.st'), 'span2.st', /tensor "a" spans 4 bytes but its shape \[3\] of F16 needs 6/);
});

test('non-ASCII tensor names (pair ids) keep the data section 8-byte aligned and the values exact', () => {
  for (const id of ['é', 'q1-文書', '🦀x', 'abc']) {
    const bytes = serializeSafetensors(new Map([[`${id}.F`, { dtype: 'F64' as const, shape: [1], data: Float64Array.of(Math.PI) }], [`${id}.nig`, { dtype: 'F32' as const, shape: [3], data: Float32Array.of(1.5, -2, 3.25) }]]), { note: `été ${id}` });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.is((8 + n) % 8, 0, `${id}: data section starts at ${8 + n}`);
    assert.is(bytes.length, 8 + n + 12 + 8);
    const st = parseSafetensors(bytes, 'x');
    assert.equal([...toFloat(st.get(`${id}.nig`)!, Float32Array)], [1.5, -2, 3.25]);
    assert.is(toFloat(st.get(`${id}.F`)!, Float64Array)[0], Math.PI);
    assert.is(new Float64Array(bytes.buffer, 8 + n, 1)[0], Math.PI, 'an aligned Float64Array view reads the value');
  }
});

// ---------------------------------------------------------------- item 9: text inputs

test('JSONL pairs: a UTF-8 BOM is accepted; non-UTF-8 bytes are refused naming the file and line', () => {
  const d = newDir();
  const f = join(d, 'pairs.jsonl');
  const lines = '{"id":"p1","query":"q","passage":"d"}\n{"id":"p2","query":"qü","passage":"e"}\n';
  writeFileSync(f, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines)]));
  assert.equal(readPairsJsonl(f), [{ id: 'p1', query: 'q', passage: 'd' }, { id: 'p2', query: 'qü', passage: 'e' }]);
  assert.equal(parsePairsJsonl(`\uFEFF${lines}`, 'x'), readPairsJsonl(f));
  const bad = Buffer.from(lines.replace('ü', 'u').replace('"e"', '"caf_"'));
  bad[bad.indexOf('_')] = 0xe9; // Latin-1 é on line 2
  writeFileSync(f, bad);
  throwsUser(() => readPairsJsonl(f), `${f}:2`, /not UTF-8 \(byte 0xe9 at offset \d+\); re-save the file as UTF-8/);
});

test('pairs: one parser for the CLI and the page; the page adds TSV lines and optional ids, both read strict UTF-8', () => {
  const jsonl = '{"id":"a","query":"q1","passage":"p1"}\n\n{"id":7,"query":"q2","passage":"","extra":1}\n';
  const want = [{ id: 'a', query: 'q1', passage: 'p1' }, { id: '7', query: 'q2', passage: '' }];
  assert.equal(parsePairs(jsonl, 'f'), want);
  assert.equal(parsePairs(jsonl, 'f', PAGE_PAIRS), want, 'the page reads JSONL as the CLI does');
  assert.equal(pairsFromFile(new TextEncoder().encode(`\uFEFF${jsonl}`), 'f'), want, "the page's reader, BOM dropped");
  // the page's options: TSV lines (2 or 3 fields) and made-up ids that skip the names given
  const mixed = '{"query":"q1","passage":"p1"}\npair1\tq2\tp2\nq3\tp3\n';
  assert.equal(parsePairs(mixed, 'f', PAGE_PAIRS).map((p) => [p.id, p.query, p.passage]), [['pair2', 'q1', 'p1'], ['pair1', 'q2', 'p2'], ['pair3', 'q3', 'p3']]);
  // ... which the CLI refuses, naming the line
  throwsUser(() => parsePairsJsonl(mixed, 'in.jsonl'), 'in.jsonl:1', /missing "id"/);
  throwsUser(() => parsePairs('{"id":"a","query":"q","passage":"p"}\nq\tp\n', 'in.jsonl'), 'in.jsonl:2', /not valid JSON .*each line must be \{"id"/);
  // the same checks on both sides
  for (const opts of [{}, PAGE_PAIRS]) {
    throwsUser(() => parsePairs('{"id":"a","query":"q","passage":"p"}\n{"id":"a","query":"r","passage":"s"}', 'x.jsonl', opts), 'x.jsonl:2', /duplicate id 'a'/);
    throwsUser(() => parsePairs('{"id":"a","query":"  ","passage":"p"}', 'x.jsonl', opts), 'x.jsonl:1', /empty query \(pair a\)/);
    throwsUser(() => parsePairs('{"id":"a","query":"q","passage":3}', 'x.jsonl', opts), 'x.jsonl:1', /"passage" must be a string/);
    throwsUser(() => parsePairs('\n \n', 'x.jsonl', opts), 'x.jsonl', /no pairs found/);
    const bad = new TextEncoder().encode('{"id":"a","query":"q","passage":"p"}\n{"id":"b","query":"caf_","passage":"p"}');
    bad[bad.indexOf(0x5f)] = 0xe9;
    throwsUser(() => parsePairsBytes(bad, 'x.jsonl', opts), 'x.jsonl:2', /not UTF-8 \(byte 0xe9/);
  }
  throwsUser(() => parsePairs('[1,2]', 'x.jsonl'), 'x.jsonl:1', /expected a JSON object/);
  throwsUser(() => parsePairs('[1,2]', 'x.jsonl', PAGE_PAIRS), 'x.jsonl:1', /1 tab-separated field; expected/);
  throwsUser(() => parsePairs('a\tb\tc\td', 'x.tsv', PAGE_PAIRS), 'x.tsv:1', /4 tab-separated fields; expected query<TAB>passage or id<TAB>query<TAB>passage/);
  throwsUser(() => parsePairs('\tp', 'x.tsv', PAGE_PAIRS), 'x.tsv:1', /empty query \(the pair on line 1\)/);
  throwsUser(() => parsePairs('a\tq\tp\na\tq2\tp2', 'x.tsv', PAGE_PAIRS), 'x.tsv:2', /duplicate id 'a'/);
});

test('qrels and runs: BOM dropped, non-UTF-8 refused with the line; the UTF-8 validator agrees with TextDecoder', () => {
  const d = newDir();
  const q = join(d, 'qrels.txt'), r = join(d, 'run.txt');
  writeFileSync(q, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('1 0 d1 1\n1 0 d2 0\n')]));
  assert.equal([...readQrels(q).get('1')!], [['d1', 1], ['d2', 0]]);
  writeFileSync(r, Buffer.concat([Buffer.from('1 Q0 d1 1 2.5 t\n1 Q0 d'), Buffer.from([0xff]), Buffer.from(' 2 1.5 t\n')]));
  throwsUser(() => readRun(r), `${r}:2`, /not UTF-8 \(byte 0xff/);
  const cases = [[0x61], [0xc3, 0xa9], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0xa6, 0x80], [0x80], [0xe2, 0x82, 0xac, 0xff]];
  for (const c of cases) {
    const b = new Uint8Array(c);
    let ok = true;
    try { new TextDecoder('utf-8', { fatal: true }).decode(b); } catch { ok = false; }
    assert.is(firstInvalidUtf8(b) === b.length, ok, `${c}`);
  }
});

test.run();
