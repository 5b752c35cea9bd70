/**
 * Run folders cannot be silently corrupted (issue 11, items 1-5): a refused run leaves the folder byte-identical;
 * the shard index and --keep-pairs are in the key; a lock keeps a second run out of a folder (a stale one is taken
 * over); checkpoints, aggregates and pair vectors carry checksums; resume, merge and report verify keys, checksums
 * and count identities. Small dataset runs of the planted toy model on a toy collection (no ../shared needed).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { requestGpu } from '../src/gpu/node.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { BertGpu } from '../src/model/forward.ts';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { NigEngine } from '../src/ig/engine.ts';
import { runDatasets, type DatasetRunArgs } from '../src/run/datasets.ts';
import { readRunDir } from '../src/run/run-dir.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { main } from '../src/cli/main.ts';

const S = suite('run-safety');
const tmp = mkdtempSync(join(tmpdir(), 'run-safety-'));
const MODEL = join(tmp, 'model');
const CONFIG = join(tmp, 'datasets.json');
const base = (out: string): DatasetRunArgs => ({
  spec: 'toy-in', configFile: CONFIG, shared: tmp, selection: { seed: 3, perQuery: 1, perDataset: 3 },
  nig: { steps: 4, rule: 'right', target: 'relevant', baseline: 'pad-keep-special' },
  units: 'ffn-pre', maxLength: 64, checkpointEvery: 2, resume: false, keepPairs: true, outDir: out, modelDir: MODEL, modelHash: 'toy',
});
let engine: NigEngine;
let tok: ReturnType<typeof loadTokenizer>;

async function setup(): Promise<void> {
  if (engine) return;
  makePlantedBert({ out: MODEL, seed: 1 });
  makeToyCollection({ out: join(tmp, 'toy-in'), seed: 1 });
  writeFileSync(CONFIG, JSON.stringify({
    version: 1,
    datasets: [{ name: 'toy-in', group: 'in-domain', format: 'tsv', relThreshold: 2, unlisted: 'unjudged', files: { docs: 'toy-in/corpus.tsv', queries: 'toy-in/queries.tsv', qrels: 'toy-in/qrels.txt', run: 'toy-in/run.txt' } }],
  }));
  tok = loadTokenizer(MODEL);
  const g = await requestGpu();
  const model = await BertGpu.create(g, loadCheckpoint(MODEL));
  engine = new NigEngine(model, { clsId: tok.clsId, sepId: tok.sepId, padId: tok.padId, maskId: tok.maskId, unkId: tok.unkId });
}

/** Every file under `dir` (relative name → sha256 of its bytes). */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string) => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`);
      else out.set(`${rel}${f}`, createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir, '');
  return out;
}

async function rejects(p: Promise<unknown> | (() => unknown), re: RegExp, what: string): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    assert.match((e as Error).message, re, what);
    assert.not.ok((e as Error).message.includes('\n'), `${what}: one line`);
    return (e as Error).message;
  }
  assert.unreachable(`${what}: expected a refusal matching ${re}`);
  return "";
}

async function cli(argv: string[]): Promise<{ code: number; err: string }> {
  const err: string[] = [];
  const ew = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), err: err.join('') };
  } finally {
    process.stderr.write = ew;
  }
}

function tensors(file: string): Map<string, Float64Array> {
  const st = parseSafetensors(readFileSync(file), file);
  return new Map([...st].map(([k, v]) => [k, toFloat(v, Float64Array)]));
}

/** Rewrites a safetensors file's metadata field (same bytes otherwise; the header keeps its length when `value` does). */
function editMeta(file: string, field: string, value: string): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = buf.subarray(8, 8 + n).toString('utf8');
  const edited = header.replace(new RegExp(`"${field}":"[^"]*"`), `"${field}":"${value}"`);
  assert.is.not(edited, header, `${field} found`);
  assert.is(Buffer.byteLength(edited), n, 'same header length');
  writeFileSync(file, Buffer.concat([buf.subarray(0, 8), Buffer.from(edited), buf.subarray(8 + n)]));
}

/** Flips one bit in the data section of a safetensors file, inside tensor `name`. */
function flipBit(file: string, name: string): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const t = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'))[name];
  buf[8 + n + t.data_offsets[0] + 5] ^= 0x10;
  writeFileSync(file, buf);
}

const full = join(tmp, 'full');

/** `e` as if recorded on another machine: another OS, CPU and adapter. */
function otherMachine(e: Record<string, any>): Record<string, unknown> {
  return { ...e, os: { platform: 'another-os', release: '1', arch: 'arm64' }, cpu: { model: 'another CPU', cores: 128 }, adapter: { ...e.adapter, vendor: 'another', description: 'another GPU' } };
}

const sha = (f: string) => `sha256:${createHash('sha256').update(readFileSync(f)).digest('hex')}`;

S('item 1: a refused run leaves the run folder byte-identical; the report still describes the run that was made', async () => {
  await setup();
  await runDatasets(base(full), engine, tok);
  const before = snapshot(full);
  assert.ok(before.has('aggregate.safetensors') && before.has('manifest.json') && before.has('datasets/toy-in.json'));
  const other = { ...base(full), nig: { ...base(full).nig, steps: 3, rule: 'left' as const } };
  await rejects(runDatasets(other, engine, tok), /checkpoint\.safetensors exists: add --resume/, 'rerun without --resume');
  assert.equal(snapshot(full), before, 'refused rerun: folder unchanged');
  const msg = await rejects(runDatasets({ ...other, resume: true }, engine, tok), /belongs to a different run/, 'resume with other options');
  assert.match(msg, /nig\.steps 4 → 3/);
  assert.match(msg, /nig\.rule "right" → "left"/);
  assert.equal(snapshot(full), before, 'refused resume: folder unchanged');
  const rd = readRunDir(full);
  assert.is(rd.manifest.options.nig.steps, 4);
  assert.is(rd.cells.reduce((s, c) => s + c.count, 0), 6);
  // a refused run into a folder that did not exist leaves no folder behind
  const fresh = join(tmp, 'never', 'made');
  await rejects(runDatasets({ ...base(fresh), shardSpec: '2/2' }, engine, tok), /--shard 2\/2: need 0 ≤ i < n/, 'bad shard');
  await rejects(runDatasets({ ...base(fresh), resume: true }, engine, tok), /no checkpoint to resume from/, 'resume of nothing');
  assert.not.ok(existsSync(join(tmp, 'never')), 'created folders removed again');
});

S('item 2: the shard index is in the key: a copy of shard 1 resumed as shard 0, or relabelled, is refused', async () => {
  await setup();
  const s0 = join(tmp, 's0'), s1 = join(tmp, 's1');
  await runDatasets({ ...base(s0), shardSpec: '0/2' }, engine, tok);
  await runDatasets({ ...base(s1), shardSpec: '1/2' }, engine, tok);
  const copy = join(tmp, 's1-as-0');
  cpSync(s1, copy, { recursive: true });
  const before = snapshot(copy);
  await rejects(runDatasets({ ...base(copy), shardSpec: '0/2', resume: true }, engine, tok), /is the checkpoint of shard 1\/2 of this run, not 0\/2; resume it with --shard 1\/2/, 'shard 1 resumed as 0');
  assert.equal(snapshot(copy), before);
  // the copy relabelled as shard 0 in its manifest: merge refuses it (instead of counting shard 1 twice)
  const mf = join(copy, 'manifest.json');
  writeFileSync(mf, readFileSync(mf, 'utf8').replace(/"index": 1/, '"index": 0'));
  let r = await cli(['merge', '--out', join(tmp, 'm-bad'), copy, s1]);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, /^ir-neurons merge: .*s1-as-0\/manifest\.json: its key \w+ is not that of shard 0\/2 of run \w+; the manifest was edited/);
  assert.is(r.err.trimEnd().split('\n').length, 1);
  // the real pair merges, and equals the unsharded run tensor for tensor (the accumulator words are integers), also
  // when the shards were made on different machines (the environment is not keyed); the merge keeps each one's
  const m0 = JSON.parse(readFileSync(join(s0, 'manifest.json'), 'utf8'));
  m0.environment = otherMachine(m0.environment);
  writeFileSync(join(s0, 'manifest.json'), JSON.stringify(m0, null, 1));
  r = await cli(['merge', '--out', join(tmp, 'merged'), s1, s0]);
  assert.is(r.code, 0, r.err);
  const mm = JSON.parse(readFileSync(join(tmp, 'merged', 'manifest.json'), 'utf8'));
  assert.equal(mm.mergedFrom.map((x: { environment: { os: { platform: string } } }) => x.environment.os.platform), [process.platform, 'another-os']);
  assert.is(mm.environment.adapter, null, 'the merge itself ran on no GPU');
  assert.is(mm.environment.node, process.version);
  const A = tensors(join(full, 'aggregate.safetensors')), M = tensors(join(tmp, 'merged', 'aggregate.safetensors'));
  assert.equal([...M.keys()].sort(), [...A.keys()].sort());
  for (const [k, v] of A) assert.equal(Array.from(M.get(k)!), Array.from(v), k);
  assert.equal(Array.from(tensors(join(tmp, 'merged', 'pairs.safetensors')).get('nig')!), Array.from(tensors(join(full, 'pairs.safetensors')).get('nig')!));
  assert.is(readRunDir(join(tmp, 'merged')).manifest.options.nig.steps, 4);
  // a merge that lacks a shard, or gives one twice, is refused
  r = await cli(['merge', '--out', join(tmp, 'm2'), s0, s0]);
  assert.is(r.code, 2);
  assert.match(r.err, /shard 0\/2 given twice/);
  // merging again into the merged folder replaces it; merging into another run's folder is refused
  r = await cli(['merge', '--out', join(tmp, 'merged'), s0, s1]);
  assert.is(r.code, 0, r.err);
  const elsewhere = join(tmp, 'elsewhere');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'manifest.json'), JSON.stringify({ kind: 'dataset-run', runKey: 'another' }));
  const was = snapshot(elsewhere);
  r = await cli(['merge', '--out', elsewhere, s0, s1]);
  assert.is(r.code, 2);
  assert.match(r.err, /elsewhere: holds another run/);
  assert.equal(snapshot(elsewhere), was);
});

S('item 3: one run per folder (a lock with pid and host); a stale lock is taken over; report checks the aggregate against the manifest', async () => {
  await setup();
  // two runs started into one folder: the second is refused at once, the first finishes
  const both = join(tmp, 'both');
  const results = await Promise.allSettled([runDatasets(base(both), engine, tok), runDatasets({ ...base(both), nig: { ...base(both).nig, steps: 3 } }, engine, tok)]);
  assert.is(results[0].status, 'fulfilled', String((results[0] as PromiseRejectedResult).reason));
  assert.is(results[1].status, 'rejected');
  assert.match(String((results[1] as PromiseRejectedResult).reason.message), new RegExp(`is in use by pid ${process.pid} on host ${hostname()}`));
  assert.is(readRunDir(both).manifest.options.nig.steps, 4);
  assert.not.ok(existsSync(join(both, 'run.lock')), 'lock released');
  // a lock of a live process (another one) refuses the run and the folder stays as it was
  const live = spawn('sleep', ['60']);
  const busy = join(tmp, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'run.lock'), JSON.stringify({ pid: live.pid, host: hostname(), start: null, slurmJob: null, since: '2026-01-01T00:00:00Z', command: 'attribute (another run)' }));
  const before = snapshot(busy);
  try {
    await rejects(runDatasets(base(busy), engine, tok), new RegExp(`busy is in use by pid ${live.pid} on host ${hostname()} since 2026-01-01T00:00:00Z \\(attribute \\(another run\\)\\): wait for that run to finish`), 'live lock');
    assert.equal(snapshot(busy), before);
  } finally {
    live.kill('SIGKILL');
  }
  // a lock left by a killed run on this host (its pid is gone): taken over with a note
  const dead = spawnSync('true').pid!;
  writeFileSync(join(busy, 'run.lock'), JSON.stringify({ pid: dead, host: hostname(), start: null, slurmJob: null, since: '2026-01-01T00:00:00Z', command: 'attribute (killed)' }));
  const err: string[] = [];
  const ew = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    await runDatasets(base(busy), engine, tok);
  } finally {
    process.stderr.write = ew;
  }
  assert.match(err.join(''), new RegExp(`note: taking over the stale lock .*run\\.lock \\(its process ${dead} on ${hostname()} is gone\\)`));
  assert.ok(existsSync(join(busy, 'aggregate.safetensors')));
  assert.not.ok(existsSync(join(busy, 'run.lock')));
  // the manifest of one run beside the aggregate of another: report and merge refuse
  const mixed = join(tmp, 'mixed');
  cpSync(full, mixed, { recursive: true });
  cpSync(join(tmp, 's0', 'aggregate.safetensors'), join(mixed, 'aggregate.safetensors'));
  await rejects(() => readRunDir(mixed), /aggregate\.safetensors: carries key \w+, the manifest \w+: they come from different runs/, 'mixed folder');
  const r = await cli(['report', mixed, '--out', join(tmp, 'rep.html')]);
  assert.is(r.code, 2);
  assert.match(r.err, /carries key/);
});

S('item 4: checksums and count identities: flipped bytes, an edited done, counts that do not add up are refused', async () => {
  await setup();
  // aggregate: one flipped bit in the accumulator words
  const flipped = join(tmp, 'flipped');
  cpSync(full, flipped, { recursive: true });
  flipBit(join(flipped, 'aggregate.safetensors'), 'toy-in/rel.acc_total');
  await rejects(() => readRunDir(flipped), /aggregate\.safetensors: checksum mismatch .*the file was changed or damaged/, 'flipped aggregate');
  let r = await cli(['merge', '--out', join(tmp, 'm3'), flipped]);
  assert.is(r.code, 2);
  assert.match(r.err, /checksum mismatch/);
  // checkpoint: stopped after 2 pairs, then done=0 in its metadata, or a flipped bit: --resume refuses
  const stopped = join(tmp, 'stopped');
  await runDatasets({ ...base(stopped), stopAfter: 2 }, engine, tok);
  const ck = join(stopped, 'checkpoint.safetensors');
  const good = readFileSync(ck);
  editMeta(ck, 'done', '0');
  const before = snapshot(stopped);
  await rejects(runDatasets({ ...base(stopped), resume: true }, engine, tok), /checkpoint\.safetensors: checksum mismatch/, 'done=0');
  assert.equal(snapshot(stopped), before);
  writeFileSync(ck, good);
  flipBit(ck, 'toy-in/nonrel.acc_seg');
  await rejects(runDatasets({ ...base(stopped), resume: true }, engine, tok), /checkpoint\.safetensors: checksum mismatch/, 'flipped checkpoint');
  // counts that do not add up to done (a consistent checksum: written by a faulty writer, not damaged later)
  const { readState, serializeState } = await import('../src/run/state.ts');
  writeFileSync(ck, good);
  const st = readState(ck);
  const c = [...st.cells.values()][0];
  c.count += 1;
  writeFileSync(ck, serializeState(st, c.total.length / 6));
  await rejects(() => readState(ck), /cell counts add up to 3 pairs, but it says 2 are done/, 'counts vs done');
  // a cell count moved between cells (sum kept): the pair list says which cell the first pairs are in
  c.count -= 1;
  const [x, y] = [...st.cells.values()];
  const moved = x.count > 0 ? x : y;
  moved.count -= 1;
  (moved === x ? y : x).count += 1;
  writeFileSync(ck, serializeState(st, c.total.length / 6, { shard: '0/1', total: String(st.deltas.length) }));
  await rejects(runDatasets({ ...base(stopped), resume: true }, engine, tok), /cell toy-in\/\w+ counts \d pairs, but the first 2 pairs of shard 0\/1 hold \d of it/, 'cells vs pair list');
  // the intact checkpoint resumes to the uninterrupted run's numbers, also when it was started on another machine
  // (the environment is not keyed): the manifest keeps that machine's environment beside this one's
  writeFileSync(ck, good);
  const mf = join(stopped, 'manifest.json');
  const m = JSON.parse(readFileSync(mf, 'utf8'));
  m.environment = otherMachine(m.environment);
  writeFileSync(mf, JSON.stringify(m, null, 1));
  await runDatasets({ ...base(stopped), resume: true }, engine, tok);
  const resumed = JSON.parse(readFileSync(mf, 'utf8'));
  assert.is(resumed.environment.os.platform, process.platform);
  assert.equal(resumed.earlierEnvironments.map((e: { os: { platform: string } }) => e.os.platform), ['another-os']);
  const A = tensors(join(full, 'aggregate.safetensors')), B = tensors(join(stopped, 'aggregate.safetensors'));
  for (const [k, v] of A) assert.equal(Array.from(B.get(k)!), Array.from(v), k);
});

S('item 5: --keep-pairs is in the key: resuming with it after a run without it is refused (no rows of NaN)', async () => {
  await setup();
  const out = join(tmp, 'nokeep');
  await runDatasets({ ...base(out), keepPairs: false, stopAfter: 2 }, engine, tok);
  const before = snapshot(out);
  const msg = await rejects(runDatasets({ ...base(out), keepPairs: true, resume: true }, engine, tok), /belongs to a different run/, 'keep-pairs added on resume');
  assert.match(msg, /keepPairs false → true/);
  assert.equal(snapshot(out), before);
  // pair vectors with a missing row are refused by the report instead of being skipped
  const holes = join(tmp, 'holes');
  cpSync(full, holes, { recursive: true });
  const { pairVectorsFile } = await import('../src/run/scheduler.ts');
  const { readMetadata } = await import('../src/run/integrity.ts');
  const pf = join(holes, 'pairs.safetensors');
  const v = new Float32Array(tensors(pf).get('nig')!);
  v.fill(NaN, 128, 256);
  writeFileSync(pf, pairVectorsFile(v, 6, 128, readMetadata(readFileSync(pf), pf).key, 6));
  await rejects(() => readRunDir(holes), /pairs\.safetensors: row 1 .* was never attributed/, 'NaN row');
});

S('issue 23: the manifest records the environment (package, git, Node, kernels, input hashes), outside the run key', async () => {
  const m = JSON.parse(readFileSync(join(full, 'manifest.json'), 'utf8'));
  const e = m.environment;
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.is(e.package.version, pkg.version);
  assert.is(e.node, process.version);
  assert.is(e.os.platform, process.platform);
  const root = new URL('..', import.meta.url).pathname;
  if (existsSync(join(root, '.git'))) {
    const head = spawnSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    assert.is(e.package.git.commit, head);
  }
  const g = engine.model.g;
  assert.is(e.kernels.class, g.kernels);
  assert.is(e.adapter.description, g.adapterInfo.description);
  assert.is(e.adapter.software, g.adapterInfo.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader/i.test(g.adapterInfo.description));
  // the pipelines the run built, matmul among them (re-written once the run finished)
  assert.ok(e.kernels.pipelines.some((k: string) => k.startsWith('matmul/')), e.kernels.pipelines.join(' '));
  assert.is(e.inputs.model.files['config.json'], sha(join(MODEL, 'config.json')));
  assert.is(e.inputs.model.files['model.safetensors'], sha(join(MODEL, 'model.safetensors')));
  assert.is(e.inputs.tokenizer.sha256, sha(tok.file));
  const files = e.inputs.datasets[0].files;
  assert.equal(Object.keys(files).sort(), ['docs', 'qrels', 'queries', 'run']);
  assert.is(files.docs.sha256, sha(join(tmp, 'toy-in', 'corpus.tsv')));
  assert.is(files.run.sha256, sha(join(tmp, 'toy-in', 'run.txt')));
  assert.not.ok(JSON.stringify(m.keyInputs).includes(e.cpu.model), 'the environment is not keyed');
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
