/**
 * The environment a manifest records (src/run/environment.ts) and the file hashes under it (src/formats/hash.ts),
 * without a device: per-file sha256 equal to an independent hash and re-read when a file changes, modelHash's
 * value as before its streaming and caching, the experiment file's given hash, missing inputs as null, and no git
 * state outside a checkout. A real run's manifest is checked in test/run-safety.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSha256, modelFiles, modelHash } from '../src/formats/hash.ts';
import { describeEnvironment, gitState, machineOf, runEnvironment } from '../src/run/environment.ts';

const S = suite('environment');
const tmp = mkdtempSync(join(tmpdir(), 'environment-'));
const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

S('fileSha256: the sha256 of the bytes, read again when the file changes', () => {
  const f = join(tmp, 'a.txt');
  writeFileSync(f, 'first');
  assert.is(fileSha256(f), hex('first'));
  writeFileSync(f, 'second, longer');
  assert.is(fileSha256(f), hex('second, longer'));
  const big = Buffer.alloc((8 << 20) + 12345, 7); // more than one read chunk
  writeFileSync(f, big);
  assert.is(fileSha256(f), hex(big));
});

S('modelHash: name then bytes of each file, as before its streaming and cache; a changed file is hashed again', () => {
  const dir = join(tmp, 'model');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), '{"hidden_size": 8}');
  writeFileSync(join(dir, 'model.safetensors'), Buffer.alloc(1000, 3));
  const expected = () => {
    const h = createHash('sha256');
    for (const f of ['config.json', 'model.safetensors']) { h.update(f); h.update(readFileSync(join(dir, f))); }
    return `sha256:${h.digest('hex')}`;
  };
  const first = modelHash(dir);
  assert.is(first, expected());
  assert.equal(modelFiles(dir), ['config.json', 'model.safetensors']);
  const e = runEnvironment(null, { modelDir: dir });
  assert.is(e.inputs.model!.files['model.safetensors'], `sha256:${hex(Buffer.alloc(1000, 3))}`);
  writeFileSync(join(dir, 'config.json'), '{"hidden_size": 16}');
  assert.is(modelHash(dir), expected(), 'a changed config: hashed again');
  assert.is.not(modelHash(dir), first);
});

S('runEnvironment: package, Node, inputs (missing ones null, the experiment hash as given); no git outside a checkout', () => {
  const q = join(tmp, 'queries.tsv');
  writeFileSync(q, '1\thello\n');
  const e = runEnvironment(null, {
    datasets: [{ name: 'd', files: { queries: q, docs: join(tmp, 'gone.tsv') } }],
    experiment: { file: join(tmp, 'exp.json'), hash: 'sha256:given' },
    files: { pairs: q },
  });
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  assert.is(e.package.name, pkg.name);
  assert.is(e.package.version, pkg.version);
  assert.is(e.node, process.version);
  assert.is(e.adapter, null);
  assert.is(e.kernels, null);
  assert.is(e.webgpu?.version, JSON.parse(readFileSync(new URL('../node_modules/webgpu/package.json', import.meta.url), 'utf8')).version);
  assert.is(e.inputs.datasets![0].files.queries.sha256, `sha256:${hex('1\thello\n')}`);
  assert.is(e.inputs.datasets![0].files.docs.sha256, null);
  assert.is(e.inputs.experiment!.sha256, 'sha256:given');
  assert.is(e.inputs.files!.pairs.sha256, `sha256:${hex('1\thello\n')}`);
  assert.is(gitState(tmp), null);
  assert.match(describeEnvironment(e), new RegExp(`package: ${pkg.name} ${pkg.version.replace(/\./g, '\\.')}`));
  // another machine is told apart; another set of inputs is not
  assert.is(machineOf(e), machineOf(runEnvironment(null)));
  assert.is.not(machineOf(e), machineOf({ ...e, cpu: { model: 'other', cores: 1 } }));
});

S.after(() => rmSync(tmp, { recursive: true, force: true }));
S.run();
