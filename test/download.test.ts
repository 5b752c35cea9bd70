/**
 * `ir-neurons download` against a local hub on 127.0.0.1 that serves the fixtures under the Hugging Face URL layout:
 * the model-info API (`/api/models/<repo>/revision/<rev>?blobs=true`: `sha`, `siblings` with `size`, `blobId` and
 * `lfs.sha256`), `/<repo>/resolve/<commit>/<file>` (LFS files redirect to a CDN path, as on the hub), Range requests,
 * a transfer cut halfway, a corrupted file, a sharded checkpoint, a gated repository, a body that never ends (cut
 * off at the listed size) and a server that stalls (stopped after the stall time). The fresh download spawns the CLI;
 * the other commands run its `main` in this process (test/helpers/cli.ts: same output and exit code, no second of
 * tsx start-up each).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { downloadModel } from '../src/hub/download.ts';
import { loadCheckpoint } from '../src/model/checkpoint.ts';
import { UserError } from '../src/util/errors.ts';
import { shardCheckpoint } from '../tools/shard-safetensors.ts';
import { FIXTURES, REPO, TOKENIZER_JSON } from './helpers/shared.ts';
import { runCli } from './helpers/cli.ts';

const FIX = FIXTURES;
const MODEL = join(FIX, 'tiny-monobert');
const TOKENIZER = TOKENIZER_JSON;
const HAVE = existsSync(join(MODEL, 'model.safetensors')) && existsSync(TOKENIZER);
if (!HAVE && process.env.CI) throw new Error(`fixtures missing under ${FIX}`);

const LFS = new Set(['model.safetensors', 'pytorch_model.bin']);
const isLfs = (f: string) => LFS.has(f) || f.endsWith('.safetensors');

interface HubRepo { sha: string; files: Map<string, Buffer>; token?: string }
interface Hub {
  url: string; server: Server; repos: Map<string, HubRepo>; log: { url: string; range?: string; auth?: string }[]; cut: Map<string, number>; corrupt: Set<string>;
  /** files served as a body that never ends (with `announce`, a Content-Length that large), and what was sent of each */
  endless: Map<string, { announce?: number }>; sent: Map<string, { bytes: number; closed: Promise<void> }>;
  /** files whose answer stops after this many bytes, the connection kept open; repositories that never answer */
  stall: Map<string, number>; mute: Set<string>;
  /** the answers left hanging, destroyed by `release` */
  open: ServerResponse[];
}
const MiB = 2 ** 20;
const release = (hub: Hub) => { for (const r of hub.open.splice(0)) r.destroy(); };

const gitBlobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function siblings(r: HubRepo) {
  return [...r.files].map(([f, b]) => (isLfs(f)
    ? { rfilename: f, size: b.length, blobId: gitBlobId(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(b)}\nsize ${b.length}\n`)), lfs: { sha256: sha256(b), size: b.length, pointerSize: 134 } }
    : { rfilename: f, size: b.length, blobId: gitBlobId(b) }));
}

/** Serves `body` (or its tail from a Range), cutting the connection after `cut` bytes or flipping a byte when asked. */
function serveBytes(hub: Hub, key: string, body: Buffer, req: IncomingMessage, res: ServerResponse): void {
  if (hub.corrupt.has(key)) { body = Buffer.from(body); body[body.length >> 1] ^= 0xff; }
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  const endless = hub.endless.get(key);
  if (endless) { serveEndless(hub, key, endless.announce, m ? 206 : 200, res); return; }
  const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'content-length': body.length - start, 'accept-ranges': 'bytes' };
  if (m) headers['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
  res.writeHead(m ? 206 : 200, headers);
  const stallAt = hub.stall.get(key);
  if (stallAt !== undefined) {
    res.write(body.subarray(start, Math.max(start, stallAt)));
    hub.open.push(res);
    return;
  }
  const cut = hub.cut.get(key);
  if (cut !== undefined && !m) {
    hub.cut.delete(key);
    res.write(body.subarray(0, cut), () => res.socket?.destroy());
    return;
  }
  res.end(body.subarray(start));
}

/**
 * A body without end, 300 bytes a millisecond (chunked, or under a Content-Length of `announce`), until the client
 * goes away; the old downloader read such a body until the server gave up, so this one gives up after 20 s or 64 MiB.
 */
function serveEndless(hub: Hub, key: string, announce: number | undefined, status: number, res: ServerResponse): void {
  res.writeHead(status, { 'content-type': 'application/octet-stream', ...(announce !== undefined ? { 'content-length': announce } : {}) });
  const chunk = Buffer.alloc(300, 0x7b);
  const t0 = Date.now();
  const sent = { bytes: 0, closed: new Promise<void>((ok) => res.on('close', ok)) };
  hub.sent.set(key, sent);
  const pump = () => {
    if (res.destroyed) return;
    if (Date.now() - t0 > 20_000 || sent.bytes > 64 * MiB) { res.destroy(); return; }
    res.write(chunk, (err) => { if (!err) { sent.bytes += chunk.length; setTimeout(pump, 1); } });
  };
  pump();
}

async function startHub(): Promise<Hub> {
  const hub = { repos: new Map(), log: [], cut: new Map(), corrupt: new Set(), endless: new Map(), sent: new Map(), stall: new Map(), mute: new Set(), open: [] } as unknown as Hub;
  hub.server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub');
    hub.log.push({ url: url.pathname, range: req.headers.range, auth: req.headers.authorization });
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    const file = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(url.pathname);
    const repoId = api?.[1] ?? file?.[1] ?? cdn?.[1];
    const r = repoId ? hub.repos.get(repoId) : undefined;
    if (!r) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}'); return; }
    if (hub.mute.has(repoId!)) { hub.open.push(res); return; }  // accepts the request, never answers
    if (r.token && req.headers.authorization !== `Bearer ${r.token}` && !cdn) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Access to model is restricted. You must have access to it and be authenticated to access it."}');
      return;
    }
    if (api) {
      if (url.searchParams.get('blobs') !== 'true') { res.writeHead(400).end(); return; }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repoId, sha: r.sha, siblings: siblings(r) }));
      return;
    }
    const name = decodeURIComponent((file ?? cdn)![file ? 3 : 2]);
    const body = r.files.get(name);
    if (!body || (file && file[2] !== r.sha)) { res.writeHead(404).end('Entry not found'); return; }
    // the hub answers LFS files with a redirect to its CDN
    if (file && isLfs(name)) { res.writeHead(302, { location: `/cdn/${repoId}/${encodeURIComponent(name)}` }).end(); return; }
    serveBytes(hub, `${repoId}/${name}`, body, req, res);
  });
  await new Promise<void>((ok) => hub.server.listen(0, '127.0.0.1', ok));
  const addr = hub.server.address();
  hub.url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  return hub;
}

function addRepo(hub: Hub, id: string, files: Record<string, string | Buffer>, token?: string): HubRepo {
  const r: HubRepo = { sha: createHash('sha1').update(id).digest('hex'), files: new Map(), token };
  for (const [f, src] of Object.entries(files)) r.files.set(f, Buffer.isBuffer(src) ? src : readFileSync(src));
  hub.repos.set(id, r);
  return r;
}

const tmp = mkdtempSync(join(tmpdir(), 'ir-neurons-download-'));
let hub: Hub;
const same = (dir: string, r: HubRepo, f: string) => readFileSync(join(dir, f)).equals(r.files.get(f)!);

test.before(async () => {
  if (!HAVE) return;
  hub = await startHub();
  // what a cross-encoder repository holds, including files the engine does not need
  addRepo(hub, 'org/tiny', {
    'config.json': join(MODEL, 'config.json'), 'model.safetensors': join(MODEL, 'model.safetensors'),
    'pytorch_model.bin': join(MODEL, 'pytorch_model.bin'), 'tokenizer.json': TOKENIZER,
    'tokenizer_config.json': Buffer.from('{"do_lower_case": true, "model_max_length": 512}\n'), 'README.md': Buffer.from('# tiny\n'),
  });
});
test.after(() => {
  if (hub) release(hub);
  hub?.server.closeAllConnections();
  hub?.server.close();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * `ir-neurons download ARGS`: in this process (test/helpers/cli.ts), or with `spawned` in a child process, as a user
 * runs it (once, for the fresh download); asynchronous either way, since the hub answers from this event loop.
 */
async function cli(args: string[], env: Record<string, string> = {}, spawned = false): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  if (!spawned) {
    const r = await runCli(['download', ...args], { HF_TOKEN: '', ...env });
    return { status: r.code, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
  }
  const child = spawn(process.execPath, [join(REPO, 'bin/ir-neurons.js'), 'download', ...args], { env: { ...process.env, HF_TOKEN: '', ...env } });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((ok) => child.on('close', (status) => { clearTimeout(timer); ok({ status, stdout, stderr, ms: performance.now() - t0 }); }));
}

test('fresh: the CLI fetches config, weights and tokenizer (not the rest), checks them and says the folder loads', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'fresh');
  hub.log.length = 0;
  const r = await cli(['org/tiny', '--dir', dir], { HF_ENDPOINT: hub.url }, true);
  assert.is(r.status, 0, r.stderr);
  const repo = hub.repos.get('org/tiny')!;
  assert.equal(readdirSync(dir).sort(), ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  for (const f of readdirSync(dir)) assert.ok(same(dir, repo, f), `${f} differs from the hub's`);
  assert.match(r.stderr, new RegExp(`downloaded org/tiny@${repo.sha.slice(0, 12)} -> ${dir}: 4 files, .* \\(4 fetched, 0 resumed, 0 already there\\); loads: bert, 2 layers, hidden 64, tokenizers tokenizer`));
  assert.not.match(r.stderr, /Warning: max/);
  // the listing pinned the commit: every file came from resolve/<sha>/
  assert.ok(hub.log.filter((l) => l.url.includes('/resolve/')).every((l) => l.url.includes(`/resolve/${repo.sha}/`)));
  // a second run finds everything in place and transfers nothing
  hub.log.length = 0;
  const again = await cli(['org/tiny', '--dir', dir], { HF_ENDPOINT: hub.url });
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stderr, /\(0 fetched, 0 resumed, 4 already there\)/);
  assert.equal(hub.log.map((l) => l.url), ['/api/models/org/tiny/revision/main']);
});

test('resumed: a transfer cut halfway continues with a Range request from where it stopped', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'resumed');
  const cutAt = 3_000_000;
  hub.cut.set('org/tiny/model.safetensors', cutAt);
  hub.log.length = 0;
  const notes: string[] = [];
  const r = await downloadModel({ repo: 'org/tiny', dir, endpoint: hub.url, token: '', onNote: (l) => notes.push(l) });
  const weights = hub.log.filter((l) => l.url.endsWith('/model.safetensors'));
  // resolve → CDN (cut at 3 MB), then resolve → CDN again, the Range header kept through the redirect
  assert.equal(weights.map((l) => [l.url.split('/')[1], l.range]), [['org', undefined], ['cdn', undefined], ['org', `bytes=${cutAt}-`], ['cdn', `bytes=${cutAt}-`]]);
  assert.equal(r.files.find((f) => f.path === 'model.safetensors')?.how, 'resumed');
  assert.ok(same(dir, hub.repos.get('org/tiny')!, 'model.safetensors'));
  assert.match(notes.join('\n'), /model\.safetensors: transfer stopped at 3000000 of 8268928 bytes/);
  assert.not.ok(existsSync(join(dir, 'model.safetensors.part')));
});

test('resumed across runs: a .part left by a killed run is continued, not restarted', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'killed');
  const repo = hub.repos.get('org/tiny')!;
  await downloadModel({ repo: 'org/tiny', dir, endpoint: hub.url, token: '' });
  rmSync(join(dir, 'model.safetensors'));
  writeFileSync(join(dir, 'model.safetensors.part'), repo.files.get('model.safetensors')!.subarray(0, 1_000_000));
  hub.log.length = 0;
  const r = await downloadModel({ repo: 'org/tiny', dir, endpoint: hub.url, token: '' });
  assert.equal(hub.log.filter((l) => l.url.endsWith('/model.safetensors')).map((l) => l.range), ['bytes=1000000-', 'bytes=1000000-']);
  assert.equal(r.files.map((f) => f.how), ['present', 'present', 'present', 'resumed']);
  assert.ok(same(dir, repo, 'model.safetensors'));
});

test('corrupted: a file whose sha256 differs from the hub\'s is refused with one line, and nothing of it is kept', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'corrupt');
  hub.corrupt.add('org/tiny/model.safetensors');
  try {
    const r = await cli(['org/tiny', '--dir', dir], { HF_ENDPOINT: hub.url });
    assert.is(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('download: ['));
    assert.is(lines.length, 1, r.stderr);
    const want = sha256(hub.repos.get('org/tiny')!.files.get('model.safetensors')!);
    assert.match(lines[0], new RegExp(`^ir-neurons download: ${dir}/model\\.safetensors: sha256 [0-9a-f]{64} does not match the hub's ${want}; the download was corrupted`));
    assert.not.ok(existsSync(join(dir, 'model.safetensors')));
    assert.not.ok(existsSync(join(dir, 'model.safetensors.part')));
  } finally {
    hub.corrupt.delete('org/tiny/model.safetensors');
  }
});

test('corrupted regular file: checked against its git blob id', async () => {
  if (!HAVE) return;
  hub.corrupt.add('org/tiny/config.json');
  try {
    const err = await downloadModel({ repo: 'org/tiny', dir: join(tmp, 'corrupt-config'), endpoint: hub.url, token: '' }).then(() => null, (e) => e);
    assert.instance(err, UserError);
    assert.match(err.message, /config\.json: git blob id [0-9a-f]{40} does not match the hub's [0-9a-f]{40}/);
  } finally {
    hub.corrupt.delete('org/tiny/config.json');
  }
});

test('sharded: the index and every shard it names are fetched, and the folder loads to the same weights', async () => {
  if (!HAVE) return;
  const src = join(tmp, 'shard-src');
  const shards = shardCheckpoint(MODEL, src, 3);
  addRepo(hub, 'org/sharded', Object.fromEntries([...['config.json', 'model.safetensors.index.json', ...shards].map((f) => [f, join(src, f)]), ['vocab.txt', Buffer.from('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nneuron\n')]]));
  const dir = join(tmp, 'sharded');
  const r = await downloadModel({ repo: 'org/sharded', dir, endpoint: hub.url, token: '' });
  assert.equal(r.files.map((f) => f.path), ['config.json', 'vocab.txt', 'model.safetensors.index.json', ...shards]);
  const a = loadCheckpoint(MODEL), b = loadCheckpoint(dir);
  const arrays = (w: unknown, out: Float32Array[] = []): Float32Array[] => {
    if (w instanceof Float32Array) out.push(w);
    else if (w && typeof w === 'object') for (const v of Object.values(w)) arrays(v, out);
    return out;
  };
  const [xa, xb] = [arrays(a), arrays(b)];
  assert.is(xb.length, 2 * 16 + 9, 'every tensor of a 2-layer model');
  assert.equal(xb.map((x) => x.length), xa.map((x) => x.length));
  assert.ok(xa.every((x, i) => x.every((v, j) => Object.is(v, xb[i][j]))), 'same weights as the unsharded file');
  // a shard missing from the folder is named
  rmSync(join(dir, shards[1]));
  assert.throws(() => loadCheckpoint(dir), (e: Error) => e instanceof UserError && e.message.includes(`${shards[1]}: missing, and`));
});

test('gated: 401 without HF_TOKEN (one line saying what to do), downloaded with it', async () => {
  if (!HAVE) return;
  addRepo(hub, 'org/gated', { 'config.json': join(MODEL, 'config.json'), 'model.safetensors': join(MODEL, 'model.safetensors'), 'tokenizer.json': TOKENIZER }, 'hf_secret');
  const dir = join(tmp, 'gated');
  const no = await cli(['org/gated', '--dir', dir], { HF_ENDPOINT: hub.url });
  assert.is(no.status, 2, no.stderr);
  assert.is(no.stderr.trim().split('\n').length, 1, no.stderr);
  assert.match(no.stderr, /HTTP 401\); org\/gated is gated or private: accept its terms on the model page, then set HF_TOKEN/);
  const bad = await cli(['org/gated', '--dir', dir], { HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_wrong' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /refused the token in HF_TOKEN \(HTTP 401\)/);
  hub.log.length = 0;
  const ok = await cli(['org/gated', '--dir', dir], { HF_ENDPOINT: hub.url, HF_TOKEN: 'hf_secret' });
  assert.is(ok.status, 0, ok.stderr);
  assert.ok(same(dir, hub.repos.get('org/gated')!, 'model.safetensors'));
  assert.ok(hub.log.filter((l) => !l.url.startsWith('/cdn/')).every((l) => l.auth === 'Bearer hf_secret'));
});

/** stderr without the per-file progress lines (stderr is not a terminal here). */
const errorLines = (stderr: string) => stderr.trim().split('\n').filter((l) => !l.startsWith('download: ['));
const KIB = Buffer.from(`{"note": "${'x'.repeat(1024 - 12)}"}`);

test('too long: a body without end for a file the hub lists at 1 KiB is cut off at once (one line, exit 2, nothing kept)', async () => {
  if (!HAVE) return;
  assert.is(KIB.length, 1024);
  addRepo(hub, 'org/endless', { 'config.json': KIB, 'model.safetensors': join(MODEL, 'model.safetensors'), 'tokenizer.json': TOKENIZER });
  hub.endless.set('org/endless/config.json', {});
  const dir = join(tmp, 'endless');
  try {
    const r = await cli(['org/endless', '--dir', dir], { HF_ENDPOINT: hub.url });
    assert.is(r.status, 2, r.stderr);
    const lines = errorLines(r.stderr);
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^ir-neurons download: ${dir}/config\\.json: the server sent at least \\d+ bytes, more than the 1024 the hub lists, and was cut off; the partial file was deleted: run the command again, and if it happens again the mirror in HF_ENDPOINT \\(${hub.url.replace(/\./g, '\\.')}\\) serves another file than it lists$`));
    const sent = hub.sent.get('org/endless/config.json')!;
    await sent.closed;  // the client closed the connection: the server did not have to stop
    assert.ok(sent.bytes < MiB, `the server sent ${sent.bytes} bytes before the client went away`);
    assert.ok(r.ms < 15_000, `${r.ms} ms`);
    assert.not.ok(existsSync(join(dir, 'config.json.part')), 'no part left to resume from');
    assert.not.ok(existsSync(join(dir, 'config.json')));
  } finally {
    hub.endless.delete('org/endless/config.json');
  }
});

test('too long, resumed: the bytes of the part count, and a Content-Length beyond the listed size is refused before reading', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'endless-resumed');
  mkdirSync(dir, { recursive: true });
  const part = join(dir, 'config.json.part');
  hub.endless.set('org/endless/config.json', {});
  try {
    writeFileSync(part, KIB.subarray(0, 512));
    hub.log.length = 0;
    let most = 0;
    const err = await downloadModel({ repo: 'org/endless', dir, endpoint: hub.url, token: '', onProgress: (p) => { if (p.file === 'config.json') most = Math.max(most, p.done); } }).then(() => null, (e) => e);
    assert.instance(err, UserError);
    assert.equal(hub.log.filter((l) => l.url.endsWith('/config.json')).map((l) => l.range), ['bytes=512-']);
    assert.match(err.message, /config\.json: the server sent at least \d+ bytes \(with the 512 resumed\), more than the 1024 the hub lists, and was cut off; the partial file was deleted/);
    assert.ok(most <= 1024, `${most} bytes written`);
    assert.not.ok(existsSync(part));
    // a Content-Length that says so: refused on the headers
    hub.endless.set('org/endless/config.json', { announce: 5_000_000_000 });
    writeFileSync(part, KIB.subarray(0, 512));
    const err2 = await downloadModel({ repo: 'org/endless', dir, endpoint: hub.url, token: '' }).then(() => null, (e) => e);
    assert.instance(err2, UserError);
    assert.match(err2.message, /config\.json: the server announced 5000000512 bytes \(with the 512 resumed\), more than the 1024 the hub lists, and was cut off/);
    assert.not.ok(existsSync(part));
    await hub.sent.get('org/endless/config.json')!.closed;
    assert.ok(hub.sent.get('org/endless/config.json')!.bytes < MiB);
  } finally {
    hub.endless.delete('org/endless/config.json');
  }
});

test('stalled: headers, some bytes, then nothing: stops after --stall-timeout with one line, keeps what came, and the next run resumes', async () => {
  if (!HAVE) return;
  const dir = join(tmp, 'stalled');
  const repo = hub.repos.get('org/tiny')!;
  hub.stall.set('org/tiny/model.safetensors', 100_000);
  try {
    const r = await cli(['org/tiny', '--dir', dir, '--stall-timeout', '1'], { HF_ENDPOINT: hub.url });
    assert.is(r.status, 2, r.stderr);
    const lines = errorLines(r.stderr);
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0], new RegExp(`^ir-neurons download: ${hub.url.replace(/\./g, '\\.')}/org/tiny/resolve/${repo.sha}/model\\.safetensors: no data for 1 s, the connection stalled; 100000 of 8268928 bytes of model\\.safetensors are kept in ${dir}/model\\.safetensors\\.part; run the command again \\(it resumes what was received\\), or allow longer waits with --stall-timeout S or IR_NEURONS_STALL_S$`));
    assert.ok(r.ms >= 1000 && r.ms < 15_000, `${r.ms} ms`);
    assert.is(statSync(join(dir, 'model.safetensors.part')).size, 100_000);
  } finally {
    hub.stall.delete('org/tiny/model.safetensors');
    release(hub);
  }
  hub.log.length = 0;
  const again = await cli(['org/tiny', '--dir', dir], { HF_ENDPOINT: hub.url });
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stderr, /\(0 fetched, 1 resumed, 3 already there\)/);
  assert.equal(hub.log.filter((l) => l.url.endsWith('/model.safetensors')).map((l) => l.range), ['bytes=100000-', 'bytes=100000-']);
  assert.ok(same(dir, repo, 'model.safetensors'));
});

test('stalled before answering: IR_NEURONS_STALL_S sets the time (the file listing too); --help documents it; a bad value is refused', async () => {
  if (!HAVE) return;
  addRepo(hub, 'org/mute', { 'config.json': join(MODEL, 'config.json') });
  hub.mute.add('org/mute');
  try {
    const r = await cli(['org/mute', '--dir', join(tmp, 'mute')], { HF_ENDPOINT: hub.url, IR_NEURONS_STALL_S: '0.5' });
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /\/api\/models\/org\/mute\/revision\/main\?blobs=true: no data for 0\.5 s, the connection stalled \(the list of files\); run the command again/);
    assert.ok(r.ms < 15_000, `${r.ms} ms`);
  } finally {
    hub.mute.delete('org/mute');
    release(hub);
  }
  const help = await cli(['--help']);
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /--stall-timeout S +seconds without a byte after which the download stops .*\(default: IR_NEURONS_STALL_S, else 60\)/);
  const bad = await cli(['org/tiny', '--dir', join(tmp, 'bad')], { HF_ENDPOINT: hub.url, IR_NEURONS_STALL_S: 'soon' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /IR_NEURONS_STALL_S='soon' is not a number of seconds > 0; unset it \(default 60\)/);
  const zero = await cli(['org/tiny', '--dir', join(tmp, 'bad'), '--stall-timeout', '0']);
  assert.is(zero.status, 2);
  assert.match(zero.stderr, /option --stall-timeout must be a number > 0, got 0/);
});

test('an experiment whose model is a hub id and revision downloads it as `download` does, once: the next run is a no-op, offline', async () => {
  if (!HAVE) return;
  const { makeToyCollection } = await import('../src/toy/collection.ts');
  const dir = join(tmp, 'exp-hub');
  mkdirSync(dir, { recursive: true });
  makeToyCollection({ out: join(dir, 'toy'), seed: 1, domain: 'in' });
  writeFileSync(join(dir, 'datasets.json'), JSON.stringify({ version: 1, datasets: [{ name: 'toy', group: 'in-domain', format: 'tsv', relThreshold: 2, unlisted: 'unjudged', files: { docs: 'toy/corpus.tsv', queries: 'toy/queries.tsv', qrels: 'toy/qrels.txt', run: 'toy/run.txt' } }] }));
  const file = join(dir, 'exp.json');
  writeFileSync(file, JSON.stringify({ version: 1, name: 'hub', model: { hub: 'org/tiny', revision: 'main' }, datasets: { names: 'toy', config: 'datasets.json', shared: '.' },
    attribute: { steps: 4, 'per-query': 1, 'max-length': 64 }, prune: { percents: [5], seeds: 5, depth: 10 }, report: { p: 5 } }));
  const out = join(dir, 'out');
  const r = await runCli(['experiment', file, '--out', out], { HF_ENDPOINT: hub.url, HF_TOKEN: '' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /downloading org\/tiny@main -> .*out\/model/);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) assert.ok(same(join(out, 'model'), hub.repos.get('org/tiny')!, f), f);
  const state = JSON.parse(readFileSync(join(out, 'experiment-state.json'), 'utf8'));
  assert.is(state.steps.model.commit, hub.repos.get('org/tiny')!.sha, 'the commit downloaded is kept');
  assert.ok(existsSync(join(out, 'report.html')) && existsSync(join(out, 'prune', 'pruning.json')));
  const manifest = JSON.parse(readFileSync(join(out, 'run', 'manifest.json'), 'utf8'));
  assert.is(manifest.environment.inputs.model.files['model.safetensors'], `sha256:${sha256(hub.repos.get('org/tiny')!.files.get('model.safetensors')!)}`);
  // the next run: nothing to do, and no request to the hub (it may be offline)
  const n = hub.log.length;
  const again = await runCli(['experiment', file, '--out', out], { HF_ENDPOINT: 'http://127.0.0.1:9', HF_TOKEN: '' });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stdout, /^experiment: hub is up to date in /);
  assert.is(hub.log.length, n);
});

test('errors: a bad model id, an unknown repository, no reachable hub', async () => {
  if (!HAVE) return;
  const bad = await cli(['../etc', '--dir', join(tmp, 'x')]);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /'\.\.\/etc' is not a model id; give it as on the hub, org\/name/);
  const missing = await cli(['org/none', '--dir', join(tmp, 'y')], { HF_ENDPOINT: hub.url });
  assert.is(missing.status, 2);
  assert.match(missing.stderr, /not found \(HTTP 404\); check the model id and --revision/);
  const closed = createServer();  // a port nobody listens on any more
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const port = (closed.address() as { port: number }).port;
  await new Promise((ok) => closed.close(ok));
  const down = await cli(['org/tiny', '--dir', join(tmp, 'z')], { HF_ENDPOINT: `http://127.0.0.1:${port}` });
  assert.is(down.status, 2);
  assert.match(down.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\); check the network, or set HF_ENDPOINT`));
});

test.run();
