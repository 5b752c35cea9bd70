#!/usr/bin/env node
/**
 * The publishable package: `npm run build` writes dist/ (git-ignored), which `files` in package.json ships.
 *   dist/lib/node.js      the Node entry (src/api/node.ts): `import … from 'ir-neurons'`
 *   dist/lib/cli.js       the CLI (src/cli/main.ts), which bin/ir-neurons.js runs when installed
 *   dist/lib/chunk-*.js   code the two share and the commands loaded on demand (ES module splitting)
 *   dist/browser/index.js the browser entry (src/api/browser.ts): `import … from 'ir-neurons/browser'`, one
 *                         self-contained module, WGSL inlined, no Node built-ins (the build fails on one)
 *   dist/experiment.schema.json  the JSON Schema of experiment files (experiments/*.json name it), from the
 *                         commands' option tables (`ir-neurons experiment --schema`, run from the sources)
 *   dist/types/           declarations (tsc: scripts/tsconfig.build.json), dist/types/api/{node,browser}.d.ts, and
 *                         dist/types/api/{node,browser}.webgpu.d.ts for TypeScript < 6 (see WEBGPU_SHIM)
 * Every bundle sits two folders below the package root, as its source does below the repository (src/<layer>/),
 * so the sources' `new URL('../../…', import.meta.url)` (package.json, shaders/, data/) resolve to the package's
 * own files: the Node build reads WGSL from the shipped shaders/ folder exactly as the sources do.
 * Dependencies (webgpu, tokenizers) stay external.
 *
 * Usage: node scripts/build.mjs [--outdir DIR] [--no-types]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { noNodePlugin, shadersPlugin } from './build-web.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The declarations name WebGPU's global types (GPUDevice, GPUBuffer, …). TypeScript ≥ 6 has them in its DOM lib;
 * older versions do not, and take them from @webgpu/types (a dependency), which must then be referenced, while on
 * TypeScript ≥ 6 the same reference would declare them twice (TS2300, without skipLibCheck). So each entry gets a
 * twin, `<entry>.webgpu.d.ts`, that references @webgpu/types and re-exports the entry, and package.json sends
 * TypeScript < 6 there: the `types@<6` condition of `exports` (node16/nodenext/bundler resolution) and
 * `typesVersions` (node10 resolution).
 */
const WEBGPU_SHIM = (entry) => `/// <reference types="@webgpu/types" />\nexport * from './${entry}.js';\n`;

/** Total size of the .js files under dir, in KiB. */
function jsKiB(dir) {
  let n = 0;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) n += jsKiB(p) * 1024;
    else if (f.endsWith('.js')) n += statSync(p).size;
  }
  return n / 1024;
}

export async function build({ outdir = join(ROOT, 'dist'), types = true, logLevel = 'warning' } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const common = { absWorkingDir: ROOT, bundle: true, format: 'esm', sourcemap: true, legalComments: 'none', logLevel, metafile: true };
  await Promise.all([
    esbuild.build({
      ...common, platform: 'node', target: 'node20', packages: 'external', splitting: true,
      entryPoints: { node: 'src/api/node.ts', cli: 'src/cli/main.ts' }, outdir: join(outdir, 'lib'), chunkNames: 'chunk-[hash]',
    }),
    esbuild.build({
      ...common, platform: 'browser', target: ['es2022', 'chrome113'], plugins: [noNodePlugin, shadersPlugin],
      entryPoints: { index: 'src/api/browser.ts' }, outdir: join(outdir, 'browser'),
    }),
  ]);
  const schema = spawnSync(process.execPath, [join(ROOT, 'bin/ir-neurons.js'), 'experiment', '--schema'], { encoding: 'utf8', cwd: ROOT });
  if (schema.status !== 0) throw new Error(`experiment --schema failed: ${schema.stderr.trim().split('\n')[0]}`);
  writeFileSync(join(outdir, 'experiment.schema.json'), schema.stdout);
  if (types) {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'scripts/tsconfig.build.json'), '--outDir', join(outdir, 'types')], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`tsc (declarations) failed: ${(tsc.stdout + tsc.stderr).trim().split('\n').slice(0, 5).join(' | ')}`);
    for (const entry of ['node', 'browser']) writeFileSync(join(outdir, 'types/api', `${entry}.webgpu.d.ts`), WEBGPU_SHIM(entry));
  }
  return { outdir, lib: jsKiB(join(outdir, 'lib')), browser: jsKiB(join(outdir, 'browser')) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const o = args.indexOf('--outdir');
  const t0 = performance.now();
  try {
    const r = await build({ outdir: o >= 0 ? resolve(args[o + 1]) : undefined, types: !args.includes('--no-types') });
    process.stderr.write(`build: ${relative(process.cwd(), r.outdir) || '.'}/lib ${r.lib.toFixed(0)} KiB (Node entry + CLI), browser ${r.browser.toFixed(0)} KiB, ` +
      `types${args.includes('--no-types') ? ' skipped' : ''} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  } catch (e) {
    process.stderr.write(`build failed: ${e.message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
