/**
 * The package as a user gets it: what `npm pack` would ship from this checkout (no sources, no tests), that `npm ci`
 * has no install-script notice to print (allowScripts covers the lock file's install scripts), then the
 * build packed and installed into a fresh project outside the repository (no tsx there), where an .mjs file imports
 * the Node entry and scores and attributes a fixture pair through the public API (numbers equal to the CLI's),
 * `npx ir-neurons score` runs, the browser entry is bundled with esbuild (no `node:` imports, WGSL inlined), and a
 * strict TypeScript consumer type-checks against the shipped declarations with and without skipLibCheck (this
 * checkout's TypeScript, and TypeScript 5, which takes the `types@<6` route to @webgpu/types, when npm's cache has
 * it). Installing needs no network: the tarball's dependencies are linked from this checkout's node_modules
 * (`npm install --offline`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { FIXTURES, REPO, TOKENIZER_JSON } from './helpers/shared.ts';
// @ts-expect-error: a plain .mjs script without declarations
import { build } from '../scripts/build.mjs';

const FIX = FIXTURES;
const MODEL = join(FIX, 'tiny-monobert');
const TOKENIZER = TOKENIZER_JSON;
const HAVE = existsSync(join(MODEL, 'model.safetensors')) && existsSync(TOKENIZER);
if (!HAVE && process.env.CI) throw new Error(`fixtures missing under ${FIX}`);

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tmp = mkdtempSync(join(tmpdir(), 'ir-neurons-package-'));
const proj = join(tmp, 'project');
const npm = (args: string[], cwd: string) => execFileSync(NPM, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const node = (args: string[], cwd = proj) => spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '' } });

test.after(() => { if (!process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true }); });

test('npm pack ships the built entries, the CLI, the WGSL and data/datasets.json, and no sources or tests', () => {
  const [r] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], REPO));
  const files: string[] = r.files.map((f: { path: string }) => f.path);
  for (const p of ['package.json', 'README.md', 'bin/ir-neurons.js', 'data/datasets.json', 'experiments/demo.json', 'shaders/matmul/matmul.wgsl', 'docs/api.md']) assert.ok(files.includes(p), `${p} is shipped`);
  assert.equal(files.filter((f) => /^(src|test|tools|bench|web|scripts|weights|out)\//.test(f) || f.endsWith('.ts') && !f.endsWith('.d.ts')), [], 'nothing else');
  assert.equal(pkg.dependencies.tsx, undefined, 'tsx is not needed at run time');
});

test('npm ci prints no install-script notice: every locked package with an install script is in allowScripts, and .npmrc turns off the funding and audit summaries', () => {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8'));
  const allow: Record<string, boolean> = pkg.allowScripts ?? {};
  const scripted = Object.entries(lock.packages as Record<string, { version: string; hasInstallScript?: boolean }>)
    .filter(([p, v]) => p && v.hasInstallScript).map(([p, v]) => ({ name: p.slice(p.lastIndexOf('node_modules/') + 13), version: v.version }));
  assert.ok(scripted.some((s) => s.name === 'webgpu') && scripted.some((s) => s.name === 'esbuild'), 'the lock file marks install scripts');
  for (const s of scripted) assert.ok(allow[s.name] === true || allow[`${s.name}@${s.version}`] === true, `${s.name}@${s.version} has an install script: approve it in package.json's allowScripts (npm install-scripts approve ${s.name})`);
  const npmrc = readFileSync(join(REPO, '.npmrc'), 'utf8');
  assert.match(npmrc, /^fund=false$/m);
  assert.match(npmrc, /^audit=false$/m);
  // npm 11 itself agrees about what is installed here (npm 10 has no install-scripts command: nothing to ask)
  const ls = spawnSync(NPM, ['install-scripts', 'ls', '--json'], { cwd: REPO, encoding: 'utf8' });
  if (ls.status === 0) assert.equal(JSON.parse(ls.stdout).allowScripts, [], ls.stdout);
});

test('build, pack and install into a fresh project (offline)', () => {
  if (!HAVE) return;
  // a staging copy, so that concurrent runs never share dist/: the build goes there, then what `files` lists
  const stage = join(tmp, 'stage');
  mkdirSync(stage);
  for (const f of ['package.json', 'README.md', ...pkg.files]) {
    if (!f.startsWith('dist/') && existsSync(join(REPO, f))) cpSync(join(REPO, f), join(stage, f), { recursive: true });
  }
  return build({ outdir: join(stage, 'dist') }).then(() => {
    const [packed] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], stage));
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    for (const p of ['dist/lib/node.js', 'dist/lib/cli.js', 'dist/browser/index.js', 'dist/types/api/node.d.ts', 'dist/types/api/browser.d.ts', 'dist/experiment.schema.json']) assert.ok(files.includes(p), `${p} is in the tarball`);
    // the dependencies come from this checkout: linked, so the install needs no registry
    const nm = join(REPO, 'node_modules');
    const deps: Record<string, string> = { 'ir-neurons': `file:${join(tmp, packed.filename)}` };
    for (const d of ['webgpu', 'tokenizers', 'debug', 'ms', '@webgpu/types']) deps[d] = `file:${join(nm, d)}`;
    mkdirSync(proj);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', private: true, type: 'module', dependencies: deps }, null, 2));
    npm(['install', '--offline', '--no-audit', '--no-fund'], proj);
    assert.ok(existsSync(join(proj, 'node_modules/ir-neurons/dist/lib/node.js')));
    assert.not.ok(existsSync(join(proj, 'node_modules/ir-neurons/src')), 'no sources installed');
    assert.not.ok(existsSync(join(proj, 'node_modules/tsx')), 'no tsx installed');
  });
});

test('the Node entry scores and attributes a fixture pair with the numbers of the installed CLI', () => {
  if (!HAVE) return;
  const pairs = join(proj, 'pairs.jsonl');
  writeFileSync(pairs, `${JSON.stringify({ id: 'q1-d1', query: 'what do neurons in a cross-encoder store', passage: 'feed-forward neurons store relevance signals that the classifier reads' })}\n`);
  writeFileSync(join(proj, 'api.mjs'), `
import { requestGpu, loadCheckpoint, loadTokenizer, effectiveMaxLength, readPairsJsonl, BertGpu, scoreEncoded, relevance, NigEngine } from 'ir-neurons';
const [dir, tokenizerFile, pairsFile] = process.argv.slice(2);
const w = loadCheckpoint(dir);
const tok = loadTokenizer(dir, { tokenizerFile });
const pairs = readPairsJsonl(pairsFile);
const enc = await tok.encodePairs(pairs.map((p) => [p.query, p.passage]), effectiveMaxLength(undefined, w.config.maxPositions));
const model = await BertGpu.create(await requestGpu(), w);
const logits = await scoreEncoded(model, enc, 32);
const r = await new NigEngine(model, tok).attribute(enc[0], { steps: 8 });
console.log(JSON.stringify({ logits: logits.map((l) => Array.from(l)), relevance: logits.map((l) => relevance(Array.from(l), w.config.numLabels)[0]), nig: Array.from(r.nigPre), F: Array.from(r.F) }));
`);
  const api = node(['api.mjs', MODEL, TOKENIZER, pairs]);
  assert.is(api.status, 0, api.stderr);
  const out = JSON.parse(api.stdout);
  const bin = join(proj, 'node_modules/.bin/ir-neurons');
  // through a shell pipe, as a user's terminal or `| tee` sees it (Dawn's two limit warnings are silenced for
  // terminals and pipes; Node's spawn gives the child a socket, where they stay: see src/gpu/node.ts)
  const score = spawnSync('sh', ['-c', 'npx --offline ir-neurons score --model "$1" --tokenizer "$2" --pairs "$3" --out "$4" 2>&1 | cat', 'sh', MODEL, TOKENIZER, pairs, join(proj, 'scores.json')], { cwd: proj, encoding: 'utf8', timeout: 120_000 });
  assert.is(score.status, 0, score.stderr);
  assert.is(score.stdout, `scored 1 pairs with ${MODEL} -> ${join(proj, 'scores.json')}\n`, 'only what the user needs');
  const rows = JSON.parse(readFileSync(join(proj, 'scores.json'), 'utf8'));
  assert.equal(rows.map((r: { logits: number[] }) => r.logits), out.logits);
  assert.equal(rows.map((r: { relevance: number }) => r.relevance), out.relevance);
  const attr = node([bin, 'attribute', '--model', MODEL, '--tokenizer', TOKENIZER, '--pairs', pairs, '--steps', '8', '--out', join(proj, 'attr')]);
  assert.is(attr.status, 0, attr.stderr);
  const t = parseSafetensors(readFileSync(join(proj, 'attr/attributions.safetensors')), 'attributions.safetensors');
  const nig = Array.from(toFloat(t.get('q1-d1.nig')!, Float32Array));
  assert.is(nig.length, 2 * 256);
  assert.equal(nig, out.nig, 'NIG through the API equals the CLI\'s, bit for bit');
  assert.equal(Array.from(toFloat(t.get('q1-d1.F')!, Float32Array)), out.F);
  assert.ok(out.nig.some((x: number) => x !== 0));
  // the installed CLI runs without tsx, prints its commands, and says where the adapter is only with --verbose
  const help = node([bin, '--help']);
  assert.is(help.status, 0, help.stderr);
  assert.match(help.stdout, /^ {2}download /m);
  const doctor = spawnSync('sh', ['-c', '"$1" "$2" doctor --verbose 2>&1 >/dev/null | cat', 'sh', process.execPath, bin], { cwd: proj, encoding: 'utf8', timeout: 120_000 });
  assert.is(doctor.status, 0, doctor.stderr);
  assert.match(doctor.stdout, /^adapter: [^\n]+\n$/, 'stderr: the adapter line alone');
});

test('the browser entry bundles with esbuild in the project: no Node built-ins, WGSL inlined', async () => {
  if (!HAVE) return;
  writeFileSync(join(proj, 'web.mjs'), `import { openBrowserGpu, loadModel, BertGpu, NigEngine } from 'ir-neurons/browser';\nexport async function run(files) { const m = await loadModel(files); const model = await BertGpu.create(await openBrowserGpu(), m.weights); return new NigEngine(model, m.special); }\n`);
  const r = await esbuild.build({ absWorkingDir: proj, entryPoints: ['web.mjs'], bundle: true, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'silent' });
  const js = r.outputFiles[0].text;
  assert.ok(Object.keys(r.metafile.inputs).some((f) => f.endsWith('node_modules/ir-neurons/dist/browser/index.js')), 'resolved through the exports map');
  assert.not.match(js, /from\s*["']node:|require\(["']node:|import\(["']node:/);
  assert.match(js, /@compute @workgroup_size/, 'WGSL kernels inlined');
  assert.match(js, /matmul\/matmul\.wgsl/);
});

/** The consumer: both entries, and a wrong type that must be caught (were the declarations `any`, the expected error would be missing). */
const CONSUMER = `
import { loadCheckpoint, NigEngine, type NigResult, type BertConfig, type Gpu } from 'ir-neurons';
import { openBrowserGpu, type LoadedModel } from 'ir-neurons/browser';
const cfg: BertConfig = loadCheckpoint('weights/x').config;
const layers: number = cfg.layers;
// @ts-expect-error: layers is a number, so the declarations are really there (not any)
const wrong: string = cfg.layers;
export const device = (g: Gpu): GPUDevice => g.device;
export type T = [NigResult['nigPre'], LoadedModel, typeof NigEngine, typeof openBrowserGpu, typeof layers, typeof wrong];
`;
let configs = 0;
/** Runs `tsc` (a TypeScript's bin/tsc) on `files` of the project under strict options plus `options`. */
function typecheck(tsc: string, options: Record<string, unknown>, files = ['consumer.ts']): { ok: boolean; out: string; files: string[] } {
  const name = `tsconfig.${++configs}.json`;
  writeFileSync(join(proj, name), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, types: [], lib: ['ES2022', 'DOM'], ...options }, files }));
  const r = node([tsc, '-p', name, '--listFiles']);
  const out = r.stdout + r.stderr;
  return { ok: r.status === 0, out: out.split('\n').filter((l) => !l.startsWith('/')).join('\n'), files: out.split('\n').filter((l) => l.startsWith('/')) };
}
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
/** The version a failure message names; asked only when an assertion fails (each `tsc -v` is a process). */
const tsVersion = (tsc: string) => node([tsc, '-v']).stdout.trim();
const ok = (r: { ok: boolean; out: string }, tsc: string, what: string) => { if (!r.ok) assert.unreachable(`${tsVersion(tsc)}, ${what}:\n${r.out}`); };

test('a strict TypeScript consumer type-checks against the shipped declarations, with skipLibCheck true and false (and a wrong type is caught)', () => {
  if (!HAVE) return;
  writeFileSync(join(proj, 'consumer.ts'), CONSUMER);
  for (const skipLibCheck of [true, false]) {
    const r = typecheck(TSC, { skipLibCheck });
    ok(r, TSC, `skipLibCheck ${skipLibCheck}`);
    // TypeScript ≥ 6 takes WebGPU's types from its DOM lib: @webgpu/types too would declare them twice
    assert.not.ok(r.files.some((f) => f.includes('@webgpu/types')), 'no @webgpu/types on TypeScript >= 6');
  }
  for (const skipLibCheck of [true, false]) {
    const r = typecheck(TSC, { module: 'ESNext', moduleResolution: 'Bundler', skipLibCheck });
    ok(r, TSC, `bundler resolution, skipLibCheck ${skipLibCheck}`);
  }
});

test('TypeScript < 6, whose DOM lib has no WebGPU types, is sent to entries that reference @webgpu/types (a dependency)', () => {
  if (!HAVE) return;
  const inst = JSON.parse(readFileSync(join(proj, 'node_modules/ir-neurons/package.json'), 'utf8'));
  assert.ok(inst.dependencies['@webgpu/types'], '@webgpu/types is a dependency, so consumers have it');
  for (const [sub, entry] of [['.', 'node'], ['./browser', 'browser']]) {
    assert.equal(Object.keys(inst.exports[sub]), ['types@<6', 'types', 'default'], `${sub}: the versioned condition comes first`);
    const shim = readFileSync(join(proj, 'node_modules/ir-neurons', inst.exports[sub]['types@<6']), 'utf8');
    assert.match(shim, /^\/\/\/ <reference types="@webgpu\/types" \/>\n/);
    assert.match(shim, new RegExp(`^export \\* from '\\./${entry}\\.js';$`, 'm'));
  }
  // the route, followed by this checkout's TypeScript through the same condition name: the twins re-export everything
  const routed = typecheck(TSC, { customConditions: ['types@<6'], skipLibCheck: true });
  assert.ok(routed.ok, routed.out);
  for (const f of ['dist/types/api/node.webgpu.d.ts', 'dist/types/api/browser.webgpu.d.ts', '@webgpu/types/dist/index.d.ts']) assert.ok(routed.files.some((l) => l.endsWith(f)), `${f} is in the program`);
  // and a real TypeScript 5 when npm's cache has one (nothing is downloaded): the case the twins exist for
  const ts5 = join(tmp, 'ts5');
  const got = spawnSync(NPM, ['install', '--offline', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', '--prefix', ts5, 'typescript@5'], { encoding: 'utf8' });
  const tsc5 = join(ts5, 'node_modules/typescript/bin/tsc');
  if (got.status !== 0 || !existsSync(tsc5)) {
    process.stderr.write('package.test: no TypeScript 5 in npm\'s cache, so the types@<6 route was followed with this checkout\'s TypeScript only (`npm cache add typescript@5` checks it with TypeScript 5 too)\n');
    return;
  }
  writeFileSync(join(proj, 'main-only.ts'), `import { loadCheckpoint, type BertConfig } from 'ir-neurons';\nexport const layers: number = (loadCheckpoint('x').config satisfies BertConfig).layers;\n`);
  for (const [label, options, files] of [
    ['nodenext', {}, undefined], ['bundler', { module: 'ESNext', moduleResolution: 'Bundler' }, undefined],
    ['node10 (typesVersions)', { module: 'ESNext', moduleResolution: 'node10' }, ['main-only.ts']],
  ] as const) {
    for (const skipLibCheck of [true, false]) {
      const r = typecheck(tsc5, { ...options, skipLibCheck }, files ? [...files] : undefined);
      ok(r, tsc5, `${label}, skipLibCheck ${skipLibCheck}`);
      assert.ok(r.files.some((f) => f.endsWith('@webgpu/types/dist/index.d.ts')), `${label}: @webgpu/types is in the program`);
    }
  }
});

test.run();
