/**
 * The command line's contract (issue 11, items 6, 9 and 10), without a GPU: every command prints `--help` from the
 * table that parses its options; numbers are parsed strictly; options of the other `attribute` mode are refused, not
 * ignored; bad output paths and malformed input files are one line with exit 2, found before any long work.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { main } from '../src/cli/main.ts';
import type { CommandSpec } from '../src/cli/args.ts';
import { makePlantedBert } from '../src/toy/planted-bert.ts';
import { FIXTURES, REPO, TOKENIZER_JSON } from './helpers/shared.ts';

const S = suite('cli');
const tmp = mkdtempSync(join(tmpdir(), 'cli-'));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = ((c: string | Uint8Array) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

/** Exit 2 and one line on stderr matching `re`. */
async function refused(argv: string[], re: RegExp): Promise<string> {
  const r = await cli(argv);
  assert.is(r.code, 2, `${argv.join(' ')}: exit ${r.code}: ${r.err}`);
  const lines = r.err.trimEnd().split('\n');
  assert.is(lines.length, 1, `one line expected: ${r.err}`);
  assert.match(lines[0], re);
  return lines[0];
}

const COMMANDS = ['doctor', 'score', 'attribute', 'merge', 'prune', 'report', 'compare', 'evaluate', 'experiment', 'demo'];

S('--version (and -V) prints the package version and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  for (const flag of ['--version', '-V']) {
    const r = await cli([flag]);
    assert.is(r.code, 0);
    assert.is(r.out, `ir-neurons ${pkg.version}\n`);
    assert.is(r.err, '');
  }
});

S('- is standard input for evaluate --run / --qrels (not both) and score --pairs, standard output for score --out', async () => {
  const bin = join(REPO, 'bin/ir-neurons.js');
  const qrels = join(tmp, 'stdin-qrels.txt');
  writeFileSync(qrels, 'q1 0 d1 1\nq1 0 d3 1\n');
  const ev = spawnSync(process.execPath, [bin, 'evaluate', '--qrels', qrels, '--run', '-', '--measures', 'recip_rank_10'], { input: 'q1 Q0 d2 1 2.0 t\nq1 Q0 d1 2 1.0 t\n', encoding: 'utf8' });
  assert.is(ev.status, 0, ev.stderr);
  assert.match(ev.stdout, /^recip_rank_10\s+all\s+0\.5000$/m);
  const both = spawnSync(process.execPath, [bin, 'evaluate', '--qrels', '-', '--run', '-'], { input: '', encoding: 'utf8' });
  assert.is(both.status, 2);
  assert.match(both.stderr, /--qrels and --run cannot both be - \(standard input\)/);
  const model = join(FIXTURES, 'tiny-monobert');
  if (!existsSync(model)) return;
  const pairs = '{"id":"a","query":"what is x","passage":"x is a letter"}\n{"id":"b","query":"q","passage":"p"}\n';
  const viaStdio = spawnSync(process.execPath, [bin, 'score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', '-', '--out', '-'], { input: pairs, encoding: 'utf8', timeout: 120_000 });
  assert.is(viaStdio.status, 0, viaStdio.stderr);
  assert.match(viaStdio.stderr, /scored 2 pairs with .* -> standard output\n$/);
  const pf = join(tmp, 'stdio-pairs.jsonl'), out = join(tmp, 'stdio-scores.json');
  writeFileSync(pf, pairs);
  const viaFiles = spawnSync(process.execPath, [bin, 'score', '--model', model, '--tokenizer', TOKENIZER_JSON, '--pairs', pf, '--out', out], { encoding: 'utf8', timeout: 120_000 });
  assert.is(viaFiles.status, 0, viaFiles.stderr);
  assert.equal(JSON.parse(viaStdio.stdout), JSON.parse(readFileSync(out, 'utf8')), 'the same scores through files and through standard input and output');
});

S('every command prints --help from its option table (options, defaults, an example), exit 0', async () => {
  for (const name of COMMANDS) {
    const mod = (await import(`../src/cli/${name}.ts`)) as { command: CommandSpec };
    assert.ok(mod.command, `${name} exports its table`);
    for (const flag of ['--help', '-h']) {
      const r = await cli([name, flag]);
      assert.is(r.code, 0, `${name} ${flag}: ${r.err}`);
      assert.is(r.err, '');
      assert.match(r.out, new RegExp(`^usage: ir-neurons ${name}`));
      assert.match(r.out, /\nexamples?:\n {2}ir-neurons /);
      for (const [opt, o] of Object.entries(mod.command.options)) {
        assert.ok(r.out.includes(`--${opt}`), `${name} --help lists --${opt}`);
        if (typeof o === 'object' && o.default !== undefined) assert.ok(r.out.includes(`(default: ${o.default})`), `${name} --${opt} default`);
      }
      for (const ex of mod.command.examples) assert.ok(r.out.includes(ex));
    }
    // --help wins over anything else on the line, even an unknown option
    assert.is((await cli([name, '--bogus', '--help'])).code, 0);
  }
  // the table that prints the help is the one that parses: an option it lists is accepted, one it does not is refused
  const { parseArgs } = await import('../src/cli/args.ts');
  const attr = (await import('../src/cli/attribute.ts')).command;
  const p = parseArgs('attribute', ['--model', 'm', '--steps', '8', '--out', 'o', '--pairs', 'p', '--max-length', '64'], attr);
  assert.equal([p.opts.steps, p.opts['max-length']], [8, 64]);
  await refused(['attribute', '--bogus', '1'], /unknown option --bogus .*see ir-neurons attribute --help/);
});

S('numbers are parsed strictly: 0x8, 8abc, 1e3 for an integer, empty strings are refused; bounds named', async () => {
  const { parseValue } = await import('../src/cli/args.ts');
  const int = { kind: 'int' as const, min: 1 };
  assert.is(parseValue('steps', '8', int), 8);
  assert.is(parseValue('x', '-2.5e-3', { kind: 'number' }), -0.0025);
  for (const bad of ['0x8', '8abc', '1e3', '', ' 8', '8.0', '0b1', 'Infinity', '99999999999999999999']) {
    assert.throws(() => parseValue('steps', bad, int), /--steps/, `'${bad}'`);
  }
  for (const bad of ['0x1p3', '1,5', 'NaN', '.', '1e']) assert.throws(() => parseValue('p', bad, { kind: 'number' }), /--p expects a number/, `'${bad}'`);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--steps', '0x8', '--out', 'o'], /option --steps expects an integer, got '0x8'/);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--steps', '0', '--out', 'o'], /option --steps must be an integer >= 1, got 0/);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--steps', '8', '--ig-rule', 'gauss-legendre', '--ig-steps', '0', '--out', 'o'], /option --ig-steps must be an integer >= 1, got 0/);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--steps', '8', '--max-memory', '0', '--out', 'o'], /--max-memory must be a number > 0/);
  await refused(['score', '--model', 'm', '--pairs', 'p', '--batch', '2.5', '--out', 'o.json'], /--batch expects an integer, got '2.5'/);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--steps', '8', '--per-token=yes', '--out', 'o'], /--per-token is a flag/);
});

S('options of the other attribute mode are refused, never ignored (item 6)', async () => {
  const pairs = ['attribute', '--model', 'm', '--pairs', 'p.jsonl', '--steps', '8', '--out', join(tmp, 'o')];
  await refused([...pairs, '--shard', '0/2'], /--shard applies to --dataset runs only/);
  await refused([...pairs, '--resume'], /--resume applies to --dataset runs only/);
  await refused([...pairs, '--per-dataset', '3'], /--per-dataset applies to --dataset runs only/);
  await refused([...pairs, '--keep-pairs', '--seed', '2'], /--seed, --keep-pairs apply to --dataset runs only/);
  await refused([...pairs, '--ig-steps', '4'], /--ig-steps sets the steps of --ig-rule; give --ig-rule too/);
  const ds = ['attribute', '--model', 'm', '--dataset', 'dl19', '--steps', '8', '--out', join(tmp, 'o')];
  await refused([...ds, '--ig-rule', 'gauss-legendre'], /--ig-rule applies to --pairs runs only/);
  await refused([...ds, '--ig-steps', '6'], /--ig-steps applies to --pairs runs only/);
  await refused([...ds, '--per-token'], /--per-token applies to --pairs runs only/);
  await refused(['attribute', '--model', 'm', '--steps', '8', '--out', 'o'], /give the pairs: --pairs FILE\.jsonl, or --dataset NAMES/);
  await refused(['attribute', '--model', 'm', '--pairs', 'p', '--out', 'o'], /--steps is required/);
});

S('bad output paths: one line, exit 2, before any long work (item 9)', async () => {
  const file = join(tmp, 'a-file');
  writeFileSync(file, 'x');
  const attr = (out: string) => ['attribute', '--model', join(tmp, 'no-model'), '--pairs', 'p.jsonl', '--steps', '8', '--out', out];
  await refused(attr(file), /a-file: --out is a file, not a folder/);
  await refused(attr(join(file, 'sub')), /cannot be created, .*a-file is a file/);
  await refused(['attribute', '--model', 'm', '--dataset', 'dl19', '--steps', '8', '--out', file], /a-file: --out is a file/);
  const score = (out: string) => ['score', '--model', join(tmp, 'no-model'), '--pairs', 'p.jsonl', '--out', out];
  await refused(score(tmp), /--out is a folder; give a file name/);
  await refused(score(join(tmp, 'missing', 'scores.json')), /missing, which does not exist; create it first/);
  await refused(['merge', '--out', file, join(tmp, 'nope')], /a-file: --out is a file/);
  await refused(['merge', '--out', join(tmp, 'm'), join(tmp, 'nope')], /nope: no manifest\.json/);
  // /proc: mkdirSync(recursive) loops forever there; a child process with a deadline proves it returns
  for (const args of [attr('/proc/x/y'), score('/proc/x/scores.json'), ['merge', '--out', '/proc/x/y', tmp]]) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [join(REPO, 'bin/ir-neurons.js'), ...args], { encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 2, `${args.join(' ')}: ${r.signal ?? ''} ${r.stderr}`);
    assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /\/proc/);
    assert.ok(Date.now() - t0 < 60_000);
  }
});

S('malformed inputs: a broken shard manifest (merge), a malformed pruning table (report): one line, exit 2 (item 9)', async () => {
  const shard = join(tmp, 'shard-broken');
  mkdirSync(shard, { recursive: true });
  writeFileSync(join(shard, 'manifest.json'), '{"kind": "dataset-run", ');
  writeFileSync(join(shard, 'aggregate.safetensors'), 'x');
  await refused(['merge', '--out', join(tmp, 'merged'), shard], /shard-broken\/manifest\.json: not valid JSON/);
  writeFileSync(join(shard, 'manifest.json'), '{"kind": "dataset-run"}');
  await refused(['merge', '--out', join(tmp, 'merged'), shard], /manifest\.json: has no run key/);
  writeFileSync(join(shard, 'manifest.json'), '[]');
  await refused(['merge', '--out', join(tmp, 'merged'), shard], /not a dataset run/);
  const pruning = join(tmp, 'pruning.json');
  writeFileSync(pruning, '{"table": ');
  await refused(['report', shard, '--pruning', pruning, '--out', join(tmp, 'rep')], /pruning\.json: not valid JSON/);
  writeFileSync(pruning, '{"table": {"rows": 3}}');
  await refused(['report', shard, '--pruning', pruning, '--out', join(tmp, 'rep')], /pruning\.json: not a pruning table/);
  await refused(['report', shard, '--out', join(tmp, 'rep')], /manifest\.json: not a dataset run/);
});

S('a query too long for --max-length names the pair and the file (item 9)', async () => {
  const model = join(tmp, 'planted');
  makePlantedBert({ out: model, seed: 1 });
  const pairs = join(tmp, 'long.jsonl');
  writeFileSync(pairs, '{"id":"short-one","query":"cat","passage":"dog"}\n{"id":"the-long-one","query":"cat dog cat dog cat dog cat dog","passage":"dog"}\n');
  await refused(['score', '--model', model, '--pairs', pairs, '--max-length', '8', '--out', join(tmp, 's.json')], /long\.jsonl: pair 'the-long-one': .*max length 8/);
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
