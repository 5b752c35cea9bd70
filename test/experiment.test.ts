/**
 * One file, one command: `ir-neurons experiment FILE.json --out DIR` on a small copy of experiments/demo.json —
 * every step runs once; run again it is a one-line no-op with the same exit code; a changed pruning field re-runs
 * pruning and the report but not NIG, a changed report field the report alone, a changed NIG field everything;
 * `--shard i/n` runs shards that `merge` combines and the next run adopts. The file's checks name the file and
 * the field; its schema, the CLI's parser and `--help` all read the commands' option tables.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.ts';
import { checkExperiment, experimentSchema, readExperiment, SECTIONS } from '../src/cli/experiment-file.ts';
import { command as attributeCommand } from '../src/cli/attribute.ts';
import { command as pruneCommand } from '../src/cli/prune.ts';
import { helpText, parseArgs } from '../src/cli/args.ts';
import { DEFAULT_RULE, NIG_RULES } from '../src/ig/path.ts';
import { MIN_SEEDS } from '../src/pipeline/prune.ts';
import { DEFAULT_PACK } from '../src/run/scheduler.ts';

const S = suite('experiment');
const tmp = mkdtempSync(join(tmpdir(), 'experiment-'));
const REPO = new URL('..', import.meta.url).pathname;
const demo = JSON.parse(readFileSync(join(REPO, 'experiments/demo.json'), 'utf8'));

/** A small demo: few steps, two percents, the fewest seeds. */
function small(edit: (e: typeof demo) => void = () => {}): string {
  const e = structuredClone(demo);
  e.attribute.steps = 8;
  e.prune.percents = [1, 5];
  e.prune.seeds = MIN_SEEDS;
  edit(e);
  const f = join(tmp, `exp-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(e, null, 1));
  return f;
}

const ran = (r: { stderr: string; stdout: string }) => ({
  nig: /NIG of all \d+ FFN units/.test(r.stderr),
  reused: /reusing the finished NIG run/.test(r.stderr),
  prune: /pruning [\d., ]+% of units/.test(r.stderr),
  report: /^Report: /m.test(r.stdout),
});

S('a run does every step; again it is a one-line no-op with the same exit code; a changed field redoes only the steps that read it', async () => {
  const out = join(tmp, 'a');
  const file = small();
  const r1 = await runCli(['experiment', file, '--out', out]);
  assert.ok(r1.code === 0 || r1.code === 1, r1.stderr);
  assert.equal(ran(r1), { nig: true, reused: false, prune: true, report: true });
  for (const f of ['run/aggregate.safetensors', 'prune/pruning.json', 'report.html', 'report.json', 'experiment.json', 'experiment-state.json']) assert.ok(existsSync(join(out, f)), f);
  assert.is(readFileSync(join(out, 'experiment.json'), 'utf8'), readFileSync(file, 'utf8'), 'DIR keeps a copy of the file');
  const state = JSON.parse(readFileSync(join(out, 'experiment-state.json'), 'utf8'));
  assert.is(state.hash, readExperiment(file).hash);
  assert.match(state.hash, /^sha256:[0-9a-f]{64}$/);
  assert.is(state.code, r1.code);
  const pruning = JSON.parse(readFileSync(join(out, 'prune/pruning.json'), 'utf8'));
  assert.equal([...new Set(pruning.table.rows.map((x: { p: number }) => x.p))], [1, 5]);

  const r2 = await runCli(['experiment', file, '--out', out]);
  assert.is(r2.code, r1.code, 'the no-op keeps the exit code');
  assert.is(r2.stderr, '');
  assert.is(r2.stdout.trimEnd().split('\n').length, 1, r2.stdout);
  assert.match(r2.stdout, /^experiment: demo is up to date in .* \(nothing to do\)/);

  // pruning changes: NIG is reused, pruning and the report are redone (and old pruning runs go)
  const r3 = await runCli(['experiment', small((e) => { e.prune.percents = [5]; }), '--out', out]);
  assert.equal(ran(r3), { nig: false, reused: true, prune: true, report: true }, r3.stderr);
  assert.equal([...new Set(JSON.parse(readFileSync(join(out, 'prune/pruning.json'), 'utf8')).table.rows.map((x: { p: number }) => x.p))], [5]);
  assert.ok(readdirSync(join(out, 'prune/runs')).every((f) => !f.includes('@1.')), 'no run of the old 1% left');
  // a field that changes no number (pack, batch) redoes nothing
  const r4 = await runCli(['experiment', small((e) => { e.prune.percents = [5]; e.prune.batch = 7; e.attribute.pack = 2; }), '--out', out]);
  assert.match(r4.stdout, /is up to date/);
  // the report alone
  const r5 = await runCli(['experiment', small((e) => { e.prune.percents = [5]; e.report.p = 4; }), '--out', out]);
  assert.equal(ran(r5), { nig: false, reused: true, prune: false, report: true }, r5.stderr);
  // a NIG field: everything
  const r6 = await runCli(['experiment', small((e) => { e.prune.percents = [5]; e.attribute.steps = 6; }), '--out', out]);
  assert.equal(ran(r6), { nig: true, reused: false, prune: true, report: true }, r6.stderr);
  assert.match(r6.stderr, /made with other fields/);
  assert.is(JSON.parse(readFileSync(join(out, 'run/manifest.json'), 'utf8')).options.nig.steps, 6);
});

S('attribute.units ffn-pre,heads and prune.units heads: the head table (prune/pruning-heads.json, runs-heads/) and the report\'s Heads section with its curves; again a no-op', async () => {
  const out = join(tmp, 'heads');
  const file = small((e) => { e.attribute.units = 'ffn-pre,heads'; e.prune.units = 'heads'; e.prune.percents = [25, 50]; e.prune.schemes = ['fusion/all/rel']; });
  const r1 = await runCli(['experiment', file, '--out', out]);
  assert.is(r1.code, 0, r1.stderr);
  assert.match(r1.stderr, /pruning 25, 50% of heads per scheme, against 5 random sets each/);
  assert.ok(!existsSync(join(out, 'prune/pruning.json')), 'no FFN table when prune.units is heads');
  const t = JSON.parse(readFileSync(join(out, 'prune/pruning-heads.json'), 'utf8'));
  assert.is(t.units, 'heads');
  assert.equal(t.table.rows.map((x: { dataset: string; p: number; units: number }) => `${x.dataset}:${x.p}:${x.units}`), ['toy-in:25:1', 'toy-in:50:2', 'toy-ood-a:25:1', 'toy-ood-a:50:2', 'toy-ood-b:25:1', 'toy-ood-b:50:2']);
  assert.is(readdirSync(join(out, 'prune/runs-heads')).length, 3 * (1 + 2 + 2 * 5));
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.is(rep.pruning, null);
  assert.is(rep.heads.top[0].name, 'L1.H0');
  assert.equal(rep.heads.pruning, t.table);
  assert.is(rep.heads.pruningCurves.length, 3 * 2);
  const r2 = await runCli(['experiment', file, '--out', out]);
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /is up to date/);
});

S('portable: the experiment on the CPU-class and on the GPU-class kernels agrees by `compare` (exit 0, the same top-5% sets); other NIG steps are told apart (exit 1)', async () => {
  const { requestGpu } = await import('../src/gpu/node.ts');
  const g = await requestGpu();
  const before = g.kernels;
  const file = small((e) => { e.prune.percents = [5]; });
  try {
    for (const k of ['cpu', 'gpu'] as const) {
      g.kernels = k; // what IR_NEURONS_KERNELS=k chooses when the device opens (this process shares one device)
      const r = await runCli(['experiment', file, '--out', join(tmp, `class-${k}`)]);
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
    }
  } finally {
    g.kernels = before;
  }
  const c = await runCli(['compare', join(tmp, 'class-cpu'), join(tmp, 'class-gpu'), '--json']);
  assert.is(c.code, 0, c.stdout + c.stderr);
  const j = JSON.parse(c.stdout);
  const worst = Math.max(...j.tensors.map((t: { maxRel: number }) => t.maxRel));
  assert.ok(worst > 0 && worst < 1e-4, `worst relative difference ${worst}: other kernels, within the stated tolerance`);
  const fusion = j.rankings.find((r: { scheme: string }) => r.scheme === 'fusion/all/rel');
  assert.ok(fusion, 'the fusion scheme is compared');
  assert.is(fusion.overlaps.find((o: { p: number }) => o.p === 5).overlap, 1, 'the same top-5% set');
  const other = await runCli(['experiment', small((e) => { e.prune.percents = [5]; e.attribute.steps = 6; }), '--out', join(tmp, 'class-steps')]);
  assert.ok(other.code === 0 || other.code === 1);
  const d = await runCli(['compare', join(tmp, 'class-cpu'), join(tmp, 'class-steps')]);
  assert.is(d.code, 1, d.stdout + d.stderr);
  assert.match(d.stdout, /compare: DIFFER: options differ \(nig\.steps 8 vs 6\)/);
});

S('--shard i/n runs the attribute step alone; merged into DIR/run, the next run adopts it and equals an unsharded run', async () => {
  const out = join(tmp, 'sh');
  const file = small((e) => { e.prune = false; });
  for (const i of [0, 1]) {
    const r = await runCli(['experiment', file, '--out', out, '--shard', `${i}/2`]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`shard ${i}/2 done`));
    assert.match(r.stdout, /ir-neurons merge --out /);
    assert.not.ok(existsSync(join(out, 'report.html')));
  }
  const m = await runCli(['merge', '--out', join(out, 'run'), join(out, 'shards/0-of-2'), join(out, 'shards/1-of-2')]);
  assert.is(m.code, 0, m.stderr);
  const r = await runCli(['experiment', file, '--out', out]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  assert.match(r.stderr, /adopting the merged run of 2 shards/);
  assert.equal(ran(r), { nig: false, reused: true, prune: false, report: true });
  // the same aggregate as one unsharded run
  const one = join(tmp, 'one');
  const u = await runCli(['experiment', file, '--out', one]);
  assert.is(u.code, r.code);
  const { readRunDir } = await import('../src/run/run-dir.ts');
  const [a, b] = [readRunDir(join(out, 'run')), readRunDir(join(one, 'run'))];
  assert.equal(a.cells.map((c) => [c.dataset, c.label, c.count]), b.cells.map((c) => [c.dataset, c.label, c.count]));
  for (let i = 0; i < a.cells.length; i++) assert.equal(Array.from(a.cells[i].sum), Array.from(b.cells[i].sum), a.cells[i].dataset);
});

S('the file is checked first: one line naming the file and the field, exit 2; relative paths resolve against its folder', async () => {
  const bad = async (edit: (e: typeof demo) => void, re: RegExp) => {
    const f = small(edit);
    const r = await runCli(['experiment', f, '--out', join(tmp, 'never')]);
    assert.is(r.code, 2, `${re}: ${r.stderr}`);
    assert.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.includes(f), r.stderr);
    assert.match(r.stderr, re);
    assert.not.ok(existsSync(join(tmp, 'never', 'run')));
  };
  await bad((e) => { e.attribute.stepz = 3; }, /attribute\.stepz: is not a field of attribute; did you mean "steps"\?/);
  await bad((e) => { e.attribute.steps = 0; }, /attribute\.steps must be an integer >= 1, got 0/);
  await bad((e) => { e.attribute.steps = '8'; }, /attribute\.steps: must be a number, got "8"/);
  await bad((e) => { e.attribute.rule = 'simpson'; }, /attribute\.rule: 'simpson' is not one of: right, left, trapezoid, richardson/);
  await bad((e) => { e.attribute.tol = 1; }, /attribute\.tol takes a relative error in \(0, 1\), e\.g\. 1e-3; got 1/);
  await bad((e) => { e.prune.seeds = 3; }, new RegExp(`prune\\.seeds must be an integer >= ${MIN_SEEDS}, got 3`));
  await bad((e) => { e.report.p = -1; }, /report\.p must be a number > 0/);
  await bad((e) => { e.version = 2; }, /version: must be 1/);
  await bad((e) => { e.model = { toy: 'planted', dir: 'x' }; }, /model\.dir: is not a field of model/);
  await bad((e) => { delete e.attribute; }, /attribute: is required/);
  await bad((e) => { e.attribute = false; }, /attribute: is required/);
  const notJson = join(tmp, 'broken.json');
  writeFileSync(notJson, '{"version": 1,');
  const r = await runCli(['experiment', notJson, '--out', join(tmp, 'never')]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /broken\.json: not valid JSON/);
  const missing = await runCli(['experiment', join(tmp, 'nope.json'), '--out', join(tmp, 'never')]);
  assert.is(missing.code, 2);
  assert.match(missing.stderr, /nope\.json: no such experiment file/);
  // relative paths: against the file's folder, not the current one
  const sub = join(tmp, 'sub');
  mkdirSync(sub, { recursive: true });
  const e = checkExperiment({ version: 1, name: 'x', model: { dir: '../weights/m' }, tokenizer: 'tok.json', datasets: { names: ['dl19', 'scifact'], config: 'ds.json', shared: '../../shared' }, attribute: { steps: 4 } }, 'x.json', sub);
  assert.equal(e.model, { kind: 'dir', dir: join(tmp, 'weights/m') });
  assert.is(e.tokenizer, join(sub, 'tok.json'));
  assert.equal(e.datasets, { kind: 'config', names: 'dl19,scifact', config: join(sub, 'ds.json'), shared: join(tmp, '..', 'shared') });
  // defaults from the tables: NIG rule, pack, pruning seeds
  assert.is(e.attribute.rule, DEFAULT_RULE);
  assert.is(e.attribute.pack, DEFAULT_PACK);
  assert.is(e.prune!.seeds, MIN_SEEDS);
});

S('one table per command: the parser applies its defaults, --help shows them, the schema and the file read the same fields', () => {
  const a = parseArgs('attribute', ['--model', 'm', '--out', 'o', '--steps', '3'], attributeCommand);
  assert.is(a.opts.rule, DEFAULT_RULE);
  assert.is(a.opts.pack, DEFAULT_PACK);
  assert.is(a.opts.target, undefined, 'a derived default is not applied by the parser');
  assert.equal([...a.given].sort(), ['model', 'out', 'steps']);
  assert.throws(() => parseArgs('attribute', ['--model', 'm', '--out', 'o', '--rule', 'simpson'], attributeCommand), /--rule 'simpson' is not one of: right, left, trapezoid, richardson/);
  const p = parseArgs('prune', ['--model', 'm', '--run', 'r', '--out', 'o'], pruneCommand);
  assert.is(p.opts.seeds, MIN_SEEDS);
  assert.match(helpText(pruneCommand), new RegExp(`--seeds N .*\\(default: ${MIN_SEEDS}\\)`));
  const schema = experimentSchema() as { properties: Record<string, { properties?: Record<string, { enum?: string[]; default?: unknown; minimum?: number }>; anyOf?: { properties?: Record<string, { minimum?: number }> }[] }> };
  const attr = schema.properties.attribute.properties!;
  assert.equal(Object.keys(attr), Object.keys(SECTIONS.attribute));
  assert.ok(!('model' in attr) && !('out' in attr) && !('shard' in attr), 'the experiment decides the model, folders and shards');
  assert.equal(attr.rule.enum, NIG_RULES);
  assert.is(attr.rule.default, DEFAULT_RULE);
  assert.is(schema.properties.prune.anyOf![0].properties!.seeds.minimum, MIN_SEEDS);
  // every shipped experiment passes the checks
  const dir = join(REPO, 'experiments');
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 4, files.join(' '));
  for (const f of files) readExperiment(join(dir, f));
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
