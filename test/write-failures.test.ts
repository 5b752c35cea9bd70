/**
 * Write failures (ENOSPC, EDQUOT, EACCES, EPERM, EROFS, ...) in every command end in one line naming the file and
 * what to do, with exit 2, and leave no temporary file behind; `attribute --dataset ... --resume` then continues to
 * exactly the uninterrupted run's bytes. The CLI runs on the planted toy model and a toy collection: spawned for the
 * uninterrupted run, the first failure and standard output on /dev/full, its `main` in this process for the rest.
 * Failures are injected with the test hook IR_NEURONS_FAIL_WRITE=CODE:NAME[@N] (src/util/write-error.ts), and made
 * real where that needs no root: an unwritable folder (chmod as a user, `chattr +i` as root: EACCES or EPERM),
 * standard output and a download's part file on /dev/full (ENOSPC).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { makeToyCollection } from '../src/toy/collection.ts';
import { writeFileAtomic } from '../src/util/atomic.ts';
import { setWriteAdvice, WriteError, writeFailure } from '../src/util/write-error.ts';
import { REPO } from './helpers/shared.ts';
import { runCli } from './helpers/cli.ts';

const S = suite('write-failures');
const tmp = mkdtempSync(join(tmpdir(), 'write-failures-'));
const MODEL = join(tmp, 'model');
const CONFIG = join(tmp, 'datasets.json');
const REF = join(tmp, 'ref');
const HOOK = 'IR_NEURONS_FAIL_WRITE';

function setup(): void {
  if (existsSync(CONFIG)) return;
  makePlantedBert({ out: MODEL, seed: 1 });
  makeToyCollection({ out: join(tmp, 'toy-in'), seed: 1 });
  writeFileSync(CONFIG, JSON.stringify({
    version: 1,
    datasets: [{ name: 'toy-in', group: 'in-domain', format: 'tsv', relThreshold: 2, unlisted: 'unjudged', files: { docs: 'toy-in/corpus.tsv', queries: 'toy-in/queries.tsv', qrels: 'toy-in/qrels.txt', run: 'toy-in/run.txt' } }],
  }));
}

/**
 * `ir-neurons ARGS`; `fail` sets the test hook. In a child process with `spawned` or `stdout` (a file descriptor for
 * its output), else through the CLI's `main` in this process (test/helpers/cli.ts: the same stderr and exit code).
 */
async function cli(args: string[], o: { fail?: string; stdout?: number; env?: Record<string, string>; spawned?: boolean } = {}): Promise<{ code: number; err: string }> {
  if (!o.spawned && o.stdout === undefined) {
    const r = await runCli(args, { ...o.env, [HOOK]: o.fail });
    return { code: r.code, err: r.stderr };
  }
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env };
  delete env[HOOK];
  if (o.fail) env[HOOK] = o.fail;
  const child = spawn(process.execPath, [join(REPO, 'bin/ir-neurons.js'), ...args], { cwd: REPO, env, stdio: ['ignore', o.stdout ?? 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c) => { err += c; });
  return new Promise((res) => child.on('close', (code) => res({ code: code ?? -1, err })));
}

/** Exit 2, and the error is the last line of stderr, the only one from the command: `cannot write FILE: … (CODE); …`. */
function refused(r: { code: number; err: string }, file: string, code: string): string {
  assert.is(r.code, 2, `exit 2 expected, got ${r.code}: ${r.err}`);
  const lines = r.err.trimEnd().split('\n');
  const mine = lines.filter((l) => l.startsWith('ir-neurons '));
  assert.is(mine.length, 1, `one error line: ${r.err}`);
  assert.is(mine[0], lines[lines.length - 1], 'the error is the last line');
  assert.ok(mine[0].includes(`cannot write ${file}: `), `names ${file}: ${mine[0]}`);
  assert.ok(mine[0].includes(`(${code}); `), `names ${code}: ${mine[0]}`);
  assert.not.match(r.err, /internal error|\n\s+at /);
  return mine[0];
}

/** Temporary files of atomic writes left anywhere under `dir`. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      if (statSync(join(d, f)).isDirectory()) walk(join(d, f));
      else if (/\.tmp-\d+$/.test(f)) out.push(join(d, f));
    }
  };
  walk(dir);
  return out;
}

const attribute = (out: string, ...more: string[]) => ['attribute', '--model', MODEL, '--dataset', 'toy-in', '--datasets-config', CONFIG, '--shared', tmp,
  '--steps', '4', '--per-query', '1', '--per-dataset', '3', '--checkpoint-every', '2', '--pack', '1', '--keep-pairs', '--out', out, ...more];
const same = (dir: string, file: string) => readFileSync(join(dir, file)).equals(readFileSync(join(REF, file)));

S('writeFileAtomic: a failed write removes its temporary file and keeps the old target; only the disk\'s errors become WriteErrors', () => {
  const dir = join(tmp, 'unit');
  mkdirSync(dir);
  const file = join(dir, 'a.json');
  writeFileAtomic(file, 'old\n');
  try {
    for (const [code, fix] of [['ENOSPC', /free space or choose another --out, then run the command again$/], ['EACCES', /check the permissions of .*unit or choose another --out/],
      ['EROFS', /remount that file system read-write/], ['EDQUOT', /free space within your quota/], ['EIO', /check the disk/]] as const) {
      process.env[HOOK] = `${code}:a.json`;
      assert.throws(() => writeFileAtomic(file, 'x'.repeat(1 << 16)), (e: Error) => e instanceof WriteError && fix.test(e.message) && e.message.startsWith(`cannot write ${file}: `) && e.message.includes(`(${code})`));
      assert.is(readFileSync(file, 'utf8'), 'old\n', `${code}: the target keeps its old content`);
      assert.equal(readdirSync(dir), ['a.json'], `${code}: no temporary file left`);
    }
    // the N-th write fails; a command's advice ends the message
    process.env[HOOK] = 'ENOSPC:a.json@2';
    writeFileAtomic(file, 'first\n');
    setWriteAdvice({ elsewhere: 'move it', then: () => 'rerun with --resume to continue' });
    assert.throws(() => writeFileAtomic(file, 'second\n'), /\(ENOSPC\); free space or move it, then rerun with --resume to continue$/);
    assert.is(readFileSync(file, 'utf8'), 'first\n');
  } finally {
    delete process.env[HOOK];
    setWriteAdvice();
  }
  // any other failure (here: the target is a folder) also removes the temporary file, and stays what it was
  const sub = join(dir, 'sub');
  mkdirSync(sub);
  writeFileSync(join(sub, 'x'), '');
  assert.throws(() => writeFileAtomic(sub, 'x'), (e: Error) => !(e instanceof WriteError) && /EISDIR|ENOTEMPTY|EEXIST/.test((e as NodeJS.ErrnoException).code ?? ''));
  assert.equal(readdirSync(dir).sort(), ['a.json', 'sub']);
  assert.is(writeFailure(Object.assign(new Error('x'), { code: 'toString' }), file) instanceof WriteError, false);
});

S('attribute --dataset: a full disk at a checkpoint or the aggregate is one line, exit 2, no temporary file; --resume gives the uninterrupted run\'s bytes', async () => {
  setup();
  const ok = await cli(attribute(REF), { spawned: true });
  assert.is(ok.code, 0, ok.err);
  for (const [fail, file] of [['ENOSPC:checkpoint.safetensors@2', 'checkpoint.safetensors'], ['ENOSPC:aggregate.safetensors', 'aggregate.safetensors'], ['EDQUOT:pairs.safetensors@3', 'pairs.safetensors']]) {
    const out = join(tmp, `attr-${file}`);
    const line = refused(await cli(attribute(out), { fail, spawned: file === 'checkpoint.safetensors' }), join(out, file), fail.split(':')[0]);
    assert.match(line, new RegExp(`or move ${out} to another disk and give that as --out, then rerun with --resume to continue$`));
    assert.equal(leftovers(out), [], `${fail}: no temporary file`);
    assert.not.ok(existsSync(join(out, 'run.lock')), `${fail}: the lock is released`);
    assert.not.ok(existsSync(join(out, 'aggregate.safetensors')), `${fail}: no aggregate yet`);
    const resumed = await cli(attribute(out, '--resume'));
    assert.is(resumed.code, 0, resumed.err);
    for (const f of ['aggregate.safetensors', 'pairs.safetensors', 'checkpoint.safetensors']) assert.ok(same(out, f), `${fail}: ${f} equals the uninterrupted run's, byte for byte`);
  }
});

/** Makes `dir` refuse new files for real (chmod as a user; as root, which chmod does not stop, `chattr +i`). Returns the code a write gets, or null. */
function unwritable(dir: string): { code: string; undo: () => void } | null {
  if (process.getuid?.() !== 0) {
    chmodSync(dir, 0o555);
    return { code: 'EACCES', undo: () => chmodSync(dir, 0o755) };
  }
  if (spawnSync('chattr', ['+i', dir]).status !== 0) return null;
  return { code: 'EPERM', undo: () => spawnSync('chattr', ['-i', dir]) };
}

S('attribute --dataset: a real permission error (an unwritable datasets/ folder) names the file; with no checkpoint yet the advice is to run again', async () => {
  setup();
  const out = join(tmp, 'attr-perm');
  mkdirSync(join(out, 'datasets'), { recursive: true });
  const lock = unwritable(join(out, 'datasets'));
  if (!lock) {
    console.log('note: cannot make a folder unwritable here (root without chattr +i); skipping the real permission error');
    return;
  }
  let r;
  try {
    r = await cli(attribute(out));
  } finally {
    lock.undo();
  }
  const line = refused(r, join(out, 'datasets', 'toy-in.json'), lock.code);
  assert.match(line, new RegExp(`check the permissions (\\(and attributes\\) )?of ${join(out, 'datasets')} or move .*, then run the command again$`));
  assert.equal(leftovers(out), []);
  const again = await cli(attribute(out));
  assert.is(again.code, 0, again.err);
  assert.ok(same(out, 'aggregate.safetensors'));
});

S('score, report and prune: a failed write of --out is one line, exit 2, no temporary file, the old file kept; no --resume in the advice', async () => {
  setup();
  if (!existsSync(join(REF, 'aggregate.safetensors'))) assert.is((await cli(attribute(REF))).code, 0);
  const pairs = join(tmp, 'pairs.jsonl');
  writeFileSync(pairs, '{"id":"a","query":"neuron","passage":"a neuron is a cell"}\n');
  const scores = join(tmp, 'scores.json');
  writeFileSync(scores, '"old"\n');
  const s = refused(await cli(['score', '--model', MODEL, '--pairs', pairs, '--out', scores], { fail: 'ENOSPC:scores.json' }), scores, 'ENOSPC');
  assert.match(s, /free space or choose another --out, then run the command again$/);
  assert.is(readFileSync(scores, 'utf8'), '"old"\n', 'score: the old --out file is kept');

  const rep = join(tmp, 'report');
  const r = refused(await cli(['report', REF, '--out', rep], { fail: 'EROFS:report.json' }), join(rep, 'report.json'), 'EROFS');
  assert.match(r, /read-only file system \(EROFS\); remount that file system read-write or choose another --out, then run the command again$/);
  assert.equal(leftovers(rep), []);

  const pr = join(tmp, 'prune');
  const prune = ['prune', '--model', MODEL, '--run', REF, '--datasets-config', CONFIG, '--shared', tmp, '--percents', '10', '--seeds', '5', '--out', pr];
  refused(await cli(prune, { fail: 'ENOSPC:pruning.json' }), join(pr, 'pruning.json'), 'ENOSPC');
  assert.equal(leftovers(pr), []);
  refused(await cli(prune, { fail: 'EACCES:runs' }), join(pr, 'runs'), 'EACCES');
  assert.not.ok(existsSync(join(pr, 'pruning.json')));
  for (const c of [s, r]) assert.not.match(c, /--resume/);
});

S('evaluate: standard output on a full disk (/dev/full, a real ENOSPC) is one line, exit 2', async () => {
  setup();
  if (!existsSync('/dev/full')) return;
  const fd = openSync('/dev/full', 'w');
  try {
    const r = await cli(['evaluate', '--qrels', join(tmp, 'toy-in/qrels.txt'), '--run', join(tmp, 'toy-in/run.txt'), '-q'], { stdout: fd });
    assert.match(refused(r, 'standard output', 'ENOSPC'), /redirect it elsewhere/);
  } finally {
    closeSync(fd);
  }
});

S('download: a real ENOSPC while writing a part file is one line naming it, exit 2, not retried as a network error; the next run completes', async () => {
  setup();
  if (!existsSync('/dev/full')) return;
  const sha = 'a'.repeat(40);
  const files = new Map(['config.json', 'model.safetensors', 'vocab.txt', 'tokenizer_config.json'].map((f) => [f, readFileSync(join(MODEL, f))]));
  const gets: string[] = [];
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.startsWith('/api/models/toy/planted/revision/main')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        sha, siblings: [...files].map(([f, b]) => ({ rfilename: f, size: b.length, lfs: { sha256: createHash('sha256').update(b).digest('hex'), size: b.length } })),
      }));
      return;
    }
    const f = files.get(url.slice(`/toy/planted/resolve/${sha}/`.length));
    gets.push(url);
    if (f) res.writeHead(200, { 'content-length': f.length }).end(f);
    else res.writeHead(404).end();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  try {
    const env = { HF_ENDPOINT: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
    const dir = join(tmp, 'download');
    mkdirSync(dir);
    const part = join(dir, 'model.safetensors.part');
    symlinkSync('/dev/full', part);
    const line = refused(await cli(['download', 'toy/planted', '--dir', dir], { env }), part, 'ENOSPC');
    assert.match(line, /free space or choose another --dir, then run the command again \(it resumes the download\)$/);
    assert.is(gets.filter((u) => u.endsWith('/model.safetensors')).length, 1, 'a full disk is not retried as a network error');
    rmSync(part);
    const ok = await cli(['download', 'toy/planted', '--dir', dir], { env });
    assert.is(ok.code, 0, ok.err);
    assert.ok(readFileSync(join(dir, 'model.safetensors')).equals(files.get('model.safetensors')!));
  } finally {
    server.close();
  }
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
