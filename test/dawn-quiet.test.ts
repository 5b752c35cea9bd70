/**
 * Dawn's two "maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced …" warnings, which it writes
 * with fprintf(stderr) while it discovers adapters, stay out of stderr whatever stderr is: `doctor --verbose` runs
 * with stderr a terminal, a pipe, a regular file, a file shared with stdout (`> log 2>&1`) and a Unix socket, and
 * each time Dawn's lines are absent while our own stderr line (the adapter) is there; in the shared file stdout's
 * text is whole and in order. The mechanism itself (src/gpu/node.ts withNativeStderrSilenced: glibc's stderr stream
 * on /dev/null for the call, fd 2 untouched) is checked without Dawn too, so a GPU whose driver gives Dawn nothing to
 * warn about does not leave this file checking nothing. IR_NEURONS_DAWN_LOG=1 keeps Dawn's lines.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type StdioOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO } from './helpers/shared.ts';

const S = suite('dawn-quiet');
const tmp = mkdtempSync(join(tmpdir(), 'dawn-quiet-'));
const CLI = [join(REPO, 'bin/ir-neurons.js'), 'doctor', '--verbose'];
const DAWN = /artificially reduced|BuffersPerPipelineLayout/;
const ADAPTER = /^adapter: .+$/m;

interface Ran { code: number | null; out: string; err: string }

/** Runs `cmd` with `stdio` (what is 'pipe' there comes back as text) and `env` added to ours. */
function run(cmd: string, args: string[], stdio: StdioOptions, env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: REPO, stdio, env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => { out += d; });
    p.stderr?.on('data', (d: Buffer) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

/** The CLI with stdout and stderr on the files `out` and `err` (the same path: one description for both). */
async function cliToFiles(out: string | null, err: string): Promise<Ran> {
  const e = openSync(err, 'w');
  const o = out === err ? e : out ? openSync(out, 'w') : 'pipe';
  try {
    return await run(process.execPath, CLI, ['ignore', o, e]);
  } finally {
    closeSync(e);
    if (typeof o === 'number' && o !== e) closeSync(o);
  }
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const hasScript = !spawnSync('script', ['-V'], { stdio: 'ignore' }).error;
const numbersOut = (s: string): string => s.replace(/\d+(\.\d+)?/g, 'N');

S('no Dawn warning on stderr as a terminal, a pipe, a file, a file shared with stdout, a socket', async () => {
  const errFile = join(tmp, 'err.txt');
  const both = join(tmp, 'both.txt');
  const [file, shared, socket, pipe, tty, loud] = await Promise.all([
    cliToFiles(null, errFile),
    cliToFiles(both, both),
    // Node's 'pipe' for a child's stdio is one end of a Unix socketpair (checked below)
    run(process.execPath, CLI, ['ignore', 'pipe', 'pipe']),
    // a real pipe (FIFO) for stderr: the shell's `|`; stdout to /dev/null
    run('sh', ['-c', `${[process.execPath, ...CLI].map(quote).join(' ')} 2>&1 >/dev/null | cat`], ['ignore', 'pipe', 'pipe']),
    hasScript ? run('script', ['-qec', [process.execPath, ...CLI].map(quote).join(' '), '/dev/null'], ['ignore', 'pipe', 'pipe'])
      : Promise.resolve(null),
    run(process.execPath, CLI, ['ignore', 'pipe', 'pipe'], { IR_NEURONS_DAWN_LOG: '1' }),
  ]);

  const isSocket = spawnSync(process.execPath, ['-e', 'process.exit(require("fs").fstatSync(2).isSocket() ? 0 : 3)'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  assert.is(isSocket.status, 0, "a child's stdio 'pipe' is a socket");

  const fileErr = readFileSync(errFile, 'utf8');
  const sharedText = readFileSync(both, 'utf8');
  const modes: [string, Ran | null, string][] = [
    ['regular file', file, fileErr],
    ['file shared with stdout', shared, sharedText],
    ['Unix socket', socket, socket.err],
    ['pipe', pipe, pipe.out],
    ['terminal', tty, tty?.out ?? ''],
  ];
  for (const [mode, r, err] of modes) {
    if (!r) { console.log(`note: no \`script\`; the terminal case is not run`); continue; }
    assert.is(r.code, 0, `${mode}: exit ${r.code}: ${r.err}`);
    assert.not.match(err + r.out + r.err, DAWN, `${mode}: no Dawn warning`);
    assert.match(err, ADAPTER, `${mode}: our --verbose adapter line is on stderr`);
  }

  // the shared file holds stdout's text whole and in one piece, plus exactly our stderr lines
  const stdout = file.out;
  assert.match(stdout, /^features: /m);
  assert.ok(sharedText.includes(stdout), `stdout's text whole and in order in the shared file:\n${sharedText}`);
  assert.is(numbersOut(sharedText.replace(stdout, '')), numbersOut(fileErr), 'and besides it our stderr lines only');
  assert.ok(sharedText.indexOf(ADAPTER.exec(fileErr)![0]) < sharedText.indexOf(stdout), 'the adapter line first');

  assert.is(loud.code, 0, loud.err);
  if (/llvmpipe/.test(loud.err)) assert.match(loud.err, DAWN, 'IR_NEURONS_DAWN_LOG=1 keeps them (lavapipe has them)');
});

S('the C stdio stderr is on /dev/null inside withNativeStderrSilenced only; fd 2 is the same file throughout', async () => {
  const node = pathToFileURL(join(REPO, 'src/gpu/node.ts')).href;
  const script = [
    `const { withNativeStderrSilenced } = await import(${JSON.stringify(node)});`,
    // process._rawDebug is Node's fprintf(stderr), the path Dawn's warnings take
    `withNativeStderrSilenced(() => process._rawDebug('hidden'));`,
    `process._rawDebug('native after');`,
    `process.stdout.write('stdout\\n');`,
    `process.stderr.write('js after\\n');`,
  ].join('\n');
  const both = join(tmp, 'raw.txt');
  const b = openSync(both, 'w');
  try {
    const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], ['ignore', b, b]);
    assert.is(r.code, 0, r.err);
  } finally {
    closeSync(b);
  }
  assert.is(readFileSync(both, 'utf8'), 'native after\nstdout\njs after\n');
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
