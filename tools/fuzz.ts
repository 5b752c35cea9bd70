/**
 * The fuzz suite (issue 11): valid inputs of every loader, mutated thousands of times from a fixed seed
 * (src/util/rng.ts), must each end in a correct result or a one-line UserError — never another exception, a
 * hang or memory past a bound. Cases run in a worker thread; the main thread time-boxes each case (a case
 * still running after `timeBoxMs` is a hang: the worker is ended and the run goes on after it) and samples
 * memory (rss past `memBoundMiB` over the start ends the case as a failure).
 *
 *   npm run fuzz                                   # every class, 20000 cases each, seed 1
 *   npm run fuzz -- --cases 500 --seed 7 --class bin-pickle
 *   npm run fuzz -- --class safetensors --case 1234 # one case, in this thread, with its stack
 *
 * Classes: safetensors, bin-zip (the zip layer of pytorch_model.bin), bin-pickle (data.pkl, re-zipped), jsonl
 * (pairs), qrels and run (TREC; plain and gzipped), checkpoint (a run's checkpoint.safetensors through
 * src/run/state.ts readState), run-folder (manifest.json and aggregate.safetensors through readRunDir).
 * A mutated input that parses is checked for invariants (sizes, types, finiteness) and, where the mutation
 * keeps the meaning (BOM, CRLF, blank lines, header key order), for equality with the unmutated result.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { UserError } from '../src/util/errors.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { parseSafetensors, serializeSafetensors, toFloat, type RawTensor } from '../src/formats/safetensors.ts';
import { parseTorchBin, readZip, zipEntryBytes } from '../src/formats/torchbin.ts';
import { maxCheckpointBytes, weightsFromStateDict } from '../src/model/weights.ts';
import { parseConfig } from '../src/model/config.ts';
import { encodeSafetensors, tinyBertStateDict } from '../src/toy/tiny-bert.ts';
import { toyVocab } from '../src/toy/vocab.ts';
import { readPairsJsonl } from '../src/data/pairs-jsonl.ts';
import { readQrels, readRun } from '../src/data/trec.ts';
import { readState, serializeAggregate, serializeState, type RunState } from '../src/run/state.ts';
import { readRunDir } from '../src/run/run-dir.ts';
import { runKey, shardKey, DATASET_IG, type KeyInputs } from '../src/run/keys.ts';
import { makeZip } from '../test/helpers/torch-files.ts';

// ---------------------------------------------------------------- mutations

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const INTERESTING = [0, 1, 2, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
const TEXT_BYTES = [0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x3a, 0x2c, 0x20, 0x09, 0x0a, 0x0d, 0x23, 0x2d, 0x2e, 0x65, 0x30, 0x31, 0x39, 0xef, 0xbb, 0xbf, 0xc3, 0xa9, 0xff, 0xfe, 0x80, 0x00];

/** One to three stacked mutations of `b`: bit flips, interesting bytes and integers, cuts, deletions, insertions, duplicated blocks. */
export function mutate(b: Uint8Array, r: Rand, text = false): { bytes: Uint8Array; what: string } {
  let out = new Uint8Array(b);
  const what: string[] = [];
  for (let n = 1 + int(r, 3); n > 0; n--) {
    const at = int(r, Math.max(1, out.length));
    switch (int(r, text ? 8 : 7)) {
      case 0: { const bit = int(r, 8); if (out.length) out[at] ^= 1 << bit; what.push(`flip ${at}.${bit}`); break; }
      case 1: { const v = INTERESTING[int(r, INTERESTING.length)] & 0xff; if (out.length) out[at] = v; what.push(`byte ${at}=${v}`); break; }
      case 2: { // a little-endian integer of 2, 4 or 8 bytes
        const w = [2, 4, 8][int(r, 3)], v = BigInt(INTERESTING[int(r, INTERESTING.length)]) + BigInt(int(r, 3) - 1);
        for (let i = 0; i < w && at + i < out.length; i++) out[at + i] = Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 0xffn);
        what.push(`int${8 * w} ${at}=${v}`);
        break;
      }
      case 3: out = out.slice(0, at); what.push(`cut ${at}`); break;
      case 4: { const len = 1 + int(r, 64); out = new Uint8Array([...out.subarray(0, at), ...out.subarray(at + len)]); what.push(`delete ${at}+${len}`); break; }
      case 5: { const len = 1 + int(r, 16); const ins = Array.from({ length: len }, () => int(r, 256)); out = new Uint8Array([...out.subarray(0, at), ...ins, ...out.subarray(at)]); what.push(`insert ${at}+${len}`); break; }
      case 6: { const from = int(r, Math.max(1, out.length)), len = 1 + int(r, 256); const blk = out.slice(from, from + len); out = new Uint8Array([...out.subarray(0, at), ...blk, ...out.subarray(at)]); what.push(`dup ${from}+${len}@${at}`); break; }
      default: { const v = TEXT_BYTES[int(r, TEXT_BYTES.length)]; if (out.length) out[at] = v; what.push(`char ${at}=${v}`); }
    }
  }
  return { bytes: out, what: what.join(', ') };
}

// ---------------------------------------------------------------- classes

/** A class: valid base inputs, and how one (mutated) input is checked; `check` throws on a wrong result. */
interface FuzzClass {
  name: string;
  text?: boolean;
  bases: Uint8Array[];
  /** Parses `bytes`; throws UserError to refuse, any other error is a failure; returns a comparable summary. */
  check(bytes: Uint8Array, base: number): unknown;
  /** Meaning-preserving variants of base `i` (their result must equal the base's). */
  benign?(b: Uint8Array, r: Rand): Uint8Array;
}

const TINY = { seed: 3, hidden: 8, layers: 1, heads: 2, intermediate: 16, labels: 2, maxPositions: 16 };
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U64: 8, U32: 4, U16: 2, F8_E4M3: 1, F8_E5M2: 1 };

function checkTensors(sd: Map<string, RawTensor>): void {
  for (const [k, t] of sd) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.bytes.byteLength !== n * DTYPE_BYTES[t.dtype]) throw new Error(`invariant: tensor ${k} has ${t.bytes.byteLength} bytes for shape [${t.shape}] ${t.dtype}`);
  }
}

function summary(w: ReturnType<typeof weightsFromStateDict>): string {
  let s = 0;
  for (const t of [w.wordEmb, w.clsW, w.layers[0].iW]) for (const v of t.data) s += v;
  return s.toFixed(6);
}

function buildClasses(tmp: string): FuzzClass[] {
  const sd = tinyBertStateDict(TINY);
  const cfgText = JSON.stringify({ architectures: ['BertForSequenceClassification'], model_type: 'bert', vocab_size: toyVocab().length, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, max_position_embeddings: 16, type_vocab_size: 2, num_labels: 2 });
  const cfg = parseConfig(cfgText, 'config.json');
  const limits = { maxBytes: maxCheckpointBytes(cfg), why: 'what config.json implies' };
  const model = (st: Map<string, RawTensor>, f: string) => { checkTensors(st); return summary(weightsFromStateDict(st, cfg, f)); };

  // .bin: the tiny model as torch.save writes it (one storage per tensor), STORED and DEFLATE
  const names = [...sd.keys()];
  const pkl: number[] = [0x80, 2, 0x63, ...Buffer.from('collections\nOrderedDict\n'), 0x29, 0x52, 0x28];
  const str = (s: string) => { const b = Buffer.from(s); return [0x58, b.length & 255, b.length >> 8, 0, 0, ...b]; };
  const i32 = (n: number) => [0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255];
  names.forEach((name, k) => {
    const t = sd.get(name)!;
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    pkl.push(...str(name), 0x63, ...Buffer.from('torch._utils\n_rebuild_tensor_v2\n'), 0x28,
      0x28, ...str('storage'), 0x63, ...Buffer.from('torch\nFloatStorage\n'), ...str(String(k)), ...str('cpu'), ...i32(t.data.length), 0x74, 0x51,
      ...i32(0), 0x28, ...t.shape.flatMap(i32), 0x74, 0x28, ...stride.flatMap(i32), 0x74, 0x89, 0x63, ...Buffer.from('collections\nOrderedDict\n'), 0x29, 0x52, 0x74, 0x52);
  });
  pkl.push(0x75, 0x2e);
  const pickleBytes = new Uint8Array(pkl);
  const storages = names.map((name, k): [string, Uint8Array] => [`archive/data/${k}`, new Uint8Array(sd.get(name)!.data.buffer)]);
  const zipOf = (p: Uint8Array, deflate = false) => makeZip([['archive/data.pkl', p], ...storages, ['archive/version', Buffer.from('3\n')]], deflate);
  const bin = (bytes: Uint8Array) => model(parseTorchBin(bytes, 'fuzz.bin', limits), 'fuzz.bin');

  // text inputs
  const jsonl = Buffer.from('{"id":"p1","query":"what is bm25","passage":"a ranking function"}\n{"id":2,"query":"été ü","passage":"naïve café 文書"}\n{"id":"p3","query":"q","passage":""}\n');
  const qrels = Buffer.from('# comment\n1 0 d1 1\n1 0 d2 0\n2 0 d1 -1\n2 Q0 d9 3\n');
  const run = Buffer.from('1 Q0 d1 1 2.5 tag\n1 Q0 d2 2 -1e3 tag\n2 Q0 d1 1 0.125 tag2\n');
  const file = (name: string, bytes: Uint8Array) => { const f = join(tmp, name); writeFileSync(f, bytes); return f; };
  const mapOfMaps = (m: Map<string, Map<string, number>>) => JSON.stringify([...m].map(([q, d]) => [q, [...d]]));
  const textBenign = (b: Uint8Array, r: Rand): Uint8Array => {
    let s = Buffer.from(b).toString('utf8');
    if (r() < 0.5) s = s.replace(/\n/g, '\r\n');
    if (r() < 0.5) s += '\n\n';
    if (r() < 0.5) s = `\uFEFF${s}`;
    return Buffer.from(s);
  };

  // a run's checkpoint and a finished run folder (one shard), written with the run code's own writers
  const units = 2 * 3;
  const cell = (c: number) => ({ count: c, total: Uint32Array.from({ length: units * 6 }, (_, i) => (i * 2654435761) >>> 0), seg: new Uint32Array(5 * units * 6).fill(7) });
  const pairs = [{ dataset: 'toy', qid: '1', docid: 'd1', label: 'rel' }, { dataset: 'toy', qid: '1', docid: 'd2', label: 'nonrel' }, { dataset: 'toy', qid: '2', docid: 'd3', label: 'rel' }];
  const keyInputs: KeyInputs = { model: 'm'.repeat(64), tokenizer: 'wordpiece', nig: { steps: 4, rule: null, target: null, baseline: null, chunk: null }, units: 'ffn-pre', maxLength: 64, maxMemoryMiB: null, keepPairs: false, ig: DATASET_IG };
  const rk = runKey(keyInputs, pairs), key = shardKey(rk, { index: 0, count: 1 });
  const state: RunState = { key, done: 3, cells: new Map([['toy/rel', cell(2)], ['toy/nonrel', cell(1)]]), deltas: Float32Array.of(0.5, -0.25, 1e-3) };
  const ckpt = serializeState(state, units);
  const manifest = Buffer.from(JSON.stringify({
    kind: 'dataset-run', key, runKey: rk, keyInputs,
    model: { dir: 'm', hash: keyInputs.model, config: { layers: 2, intermediate: 3, hidden: 8, numLabels: 2 } },
    options: { nig: { steps: 4, rule: null, target: null, baseline: null }, units: 'ffn-pre', maxLength: 64 },
    datasets: [{ name: 'toy', group: 'in-domain', relThreshold: 1 }], shard: { index: 0, count: 1 }, pairs: { total: 3 },
  }, null, 2));
  const aggregate = serializeAggregate(state, 2, 3, {});
  const runDir = join(tmp, 'run');
  mkdirSync(join(runDir, 'datasets'), { recursive: true });
  writeFileSync(join(runDir, 'datasets', 'toy.json'), JSON.stringify({ pairs }));
  const folder = (mf: Uint8Array, agg: Uint8Array) => {
    writeFileSync(join(runDir, 'manifest.json'), mf);
    writeFileSync(join(runDir, 'aggregate.safetensors'), agg);
    const r = readRunDir(runDir);
    for (const c of r.cells) if (c.sum.length !== 6 || !c.sum.every(Number.isFinite)) throw new Error(`invariant: cell ${c.dataset}/${c.label} has ${c.sum.length} sums`);
    return JSON.stringify(r.cells.map((c) => [c.dataset, c.label, c.count, [...c.sum]]));
  };

  return [
    {
      name: 'safetensors',
      bases: [encodeSafetensors(sd, 'F32', { format: 'pt' }), encodeSafetensors(sd, 'BF16')],
      check: (b) => model(parseSafetensors(b, 'fuzz.safetensors'), 'fuzz.safetensors'),
      benign: (b, r) => { // the same tensors with the header's keys in another order and more padding
        const st = parseSafetensors(b, 'x');
        const ks = [...st.keys()].sort(() => r() - 0.5);
        const dtype = st.get(ks[0])!.dtype as 'F32' | 'BF16';
        return encodeSafetensors(new Map(ks.map((k) => [k, { shape: st.get(k)!.shape, data: toFloat(st.get(k)!, Float32Array) }])), dtype);
      },
    },
    { name: 'bin-zip', bases: [zipOf(pickleBytes), zipOf(pickleBytes, true)], check: bin },
    { name: 'bin-pickle', bases: [pickleBytes], check: (p) => bin(zipOf(p)) },
    {
      name: 'jsonl', text: true, bases: [jsonl],
      check: (b) => {
        const ps = readPairsJsonl(file('pairs.jsonl', b));
        if (new Set(ps.map((p) => p.id)).size !== ps.length || !ps.every((p) => typeof p.id === 'string' && typeof p.query === 'string' && typeof p.passage === 'string')) throw new Error('invariant: pairs');
        return JSON.stringify(ps);
      },
      benign: textBenign,
    },
    {
      name: 'qrels', text: true, bases: [qrels, gzipSync(qrels)],
      check: (b) => {
        const q = readQrels(file('qrels.txt', b));
        for (const d of q.values()) for (const g of d.values()) if (!Number.isSafeInteger(g)) throw new Error(`invariant: grade ${g}`);
        return mapOfMaps(q);
      },
      benign: (b, r) => (b[0] === 0x1f ? b : textBenign(b, r)),
    },
    {
      name: 'run', text: true, bases: [run, gzipSync(run)],
      check: (b) => {
        const rn = readRun(file('run.txt', b));
        for (const ds of rn.values()) for (const d of ds) if (!Number.isFinite(d.score)) throw new Error(`invariant: score ${d.score}`);
        return JSON.stringify([...rn]);
      },
      benign: (b, r) => (b[0] === 0x1f ? b : textBenign(b, r)),
    },
    {
      name: 'checkpoint', bases: [ckpt],
      check: (b) => {
        const s = readState(file('checkpoint.safetensors', b));
        for (const c of s.cells.values()) if (c.total.length !== units * 6 || c.seg.length !== 5 * units * 6) throw new Error('invariant: cell words');
        return JSON.stringify([s.key, s.done, [...s.cells].map(([k, c]) => [k, c.count, [...c.total]])]);
      },
    },
    {
      name: 'run-folder', bases: [manifest, aggregate],
      check: (b, base) => (base === 0 ? folder(b, aggregate) : folder(manifest, b)),
    },
  ];
}

// ---------------------------------------------------------------- running

export interface ClassCounts { name: string; cases: number; parsed: number; refused: number; failures: string[] }
interface Job { seed: number; cases: number; start?: { cls: string; from: number }; classes: string[]; progress: SharedArrayBuffer }

/** Runs cases [from, cases) of each class; reports the case index it starts through `progress` ([class, case]). */
function runCases(job: Job, onCount: (c: ClassCounts) => void, oneCase?: number): void {
  const tmp = mkdtempSync(join(tmpdir(), 'fuzz-'));
  const progress = new Int32Array(job.progress);
  try {
    const all = buildClasses(tmp);
    all.forEach((cls, ci) => {
      if (!job.classes.includes(cls.name)) return;
      const counts: ClassCounts = { name: cls.name, cases: 0, parsed: 0, refused: 0, failures: [] };
      const want = cls.bases.map((b, i) => cls.check(b, i)); // the bases must parse (a failure here is a harness bug)
      for (let k = oneCase ?? (job.start?.cls === cls.name ? job.start.from : 0); k < (oneCase !== undefined ? oneCase + 1 : job.cases); k++) {
        Atomics.store(progress, 0, ci); Atomics.store(progress, 1, k);
        const r = mulberry32((job.seed * 1_000_003 + ci * 7919 + k) >>> 0);
        const base = int(r, cls.bases.length);
        const isBenign = !!cls.benign && r() < 0.1;
        const m = isBenign ? { bytes: cls.benign!(cls.bases[base], r), what: 'benign' } : mutate(cls.bases[base], r, cls.text);
        counts.cases++;
        const tag = `${cls.name} case ${k} (base ${base}: ${m.what})`;
        try {
          const got = cls.check(m.bytes, base);
          counts.parsed++;
          if (isBenign && got !== want[base]) counts.failures.push(`${tag}: a meaning-preserving change gave another result`);
        } catch (e) {
          if (e instanceof UserError && !/[\n\r]/.test(e.message) && e.message.length < 2000) counts.refused++;
          else counts.failures.push(`${tag}: ${e instanceof UserError ? `UserError not on one line: ${JSON.stringify(e.message.slice(0, 300))}` : `${(e as Error)?.name}: ${(e as Error)?.message?.slice(0, 300)}`}`);
          if (oneCase !== undefined) console.log((e as Error).stack);
        }
      }
      onCount(counts);
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Runs the suite in a worker, time-boxing each case and bounding memory; returns per-class counts. */
export async function runFuzz(o: { seed: number; cases: number; classes?: string[]; timeBoxMs?: number; memBoundMiB?: number; log?: (s: string) => void }): Promise<ClassCounts[]> {
  const classes = o.classes ?? CLASSES;
  const timeBox = o.timeBoxMs ?? 5000, memBound = (o.memBoundMiB ?? 1024) * 2 ** 20;
  const results = new Map<string, ClassCounts>();
  const rss0 = process.memoryUsage().rss;
  let start: Job['start'], pending = [...classes];
  while (pending.length) {
    const progress = new SharedArrayBuffer(8);
    const p = new Int32Array(progress);
    p[0] = -1;
    const job: Job = { seed: o.seed, cases: o.cases, start, classes: pending, progress };
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); }).then((f) => f.workerMain())`;
    const w = new Worker(boot, { eval: true, workerData: job, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
    const verdict = await new Promise<{ stuck?: string }>((res) => {
      let last = '', since = Date.now();
      const timer = setInterval(() => {
        const now = `${p[0]}:${p[1]}`;
        if (now !== last) { last = now; since = Date.now(); }
        const rss = process.memoryUsage().rss - rss0;
        if (Date.now() - since > timeBox) { clearInterval(timer); void w.terminate(); res({ stuck: `ran past the ${timeBox} ms time box` }); }
        else if (rss > memBound) { clearInterval(timer); void w.terminate(); res({ stuck: `memory grew by ${(rss / 2 ** 20).toFixed(0)} MiB (bound ${memBound / 2 ** 20})` }); }
      }, 20);
      w.on('message', (c: ClassCounts) => { results.set(c.name, c); o.log?.(`${c.name}: ${c.cases} cases, ${c.parsed} parsed, ${c.refused} refused, ${c.failures.length} failures`); });
      w.on('error', (e) => { clearInterval(timer); res({ stuck: `worker error ${e.name}: ${e.message}` }); });
      w.on('exit', () => { clearInterval(timer); res({}); });
    });
    if (!verdict.stuck) break;
    // A hang, a memory blow-up or a crash: record it against the case, go on after it.
    const name = CLASSES[p[0]], k = p[1];
    const c = results.get(name) ?? { name, cases: 0, parsed: 0, refused: 0, failures: [] };
    c.cases = k + 1; // the counts of the cases before it were lost with the worker; the failure is what matters
    c.failures.push(`${name} case ${k}: ${verdict.stuck}`);
    results.set(name, c);
    o.log?.(`${name} case ${k}: ${verdict.stuck}`);
    pending = pending.slice(pending.indexOf(name));
    start = { cls: name, from: k + 1 };
    if (k + 1 >= o.cases) { pending = pending.slice(1); start = undefined; }
  }
  return classes.map((n) => results.get(n)!).filter(Boolean);
}

export const CLASSES = ['safetensors', 'bin-zip', 'bin-pickle', 'jsonl', 'qrels', 'run', 'checkpoint', 'run-folder'];

/** The worker's side: run the job, post each class's counts. */
export function workerMain(): void {
  runCases(workerData as Job, (c) => parentPort!.postMessage(c));
}

async function main(argv: string[]): Promise<void> {
  const get = (f: string) => { const i = argv.indexOf(f); return i >= 0 ? argv[i + 1] : undefined; };
  const seed = Number(get('--seed') ?? 1), cases = Number(get('--cases') ?? 20000);
  const classes = get('--class')?.split(',') ?? CLASSES;
  for (const c of classes) if (!CLASSES.includes(c)) throw new UserError(`fuzz: unknown class '${c}'; classes: ${CLASSES.join(', ')}`);
  if (get('--case') !== undefined) {
    runCases({ seed, cases, classes, progress: new SharedArrayBuffer(8) }, (c) => console.log(JSON.stringify(c, null, 2)), Number(get('--case')));
    return;
  }
  const t0 = Date.now();
  const res = await runFuzz({ seed, cases, classes, log: (s) => console.log(s) });
  const failures = res.flatMap((c) => c.failures);
  console.log(`fuzz: seed ${seed}, ${res.reduce((a, c) => a + c.cases, 0)} cases in ${((Date.now() - t0) / 1000).toFixed(1)} s; ${failures.length} failures`);
  for (const f of failures.slice(0, 50)) console.log(`  ${f}`);
  process.exitCode = failures.length ? 1 : 0;
}

if (isMainThread && process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) await main(process.argv.slice(2));
void fileURLToPath;
