#!/usr/bin/env node
/**
 * Browser build: `npm run build:web` writes web-dist/, which any static server can serve.
 *   web-dist/ir-neurons.js   the library as an ES module for browsers (src/browser/index.ts)
 *   web-dist/app.js          the demo page's script (src/browser/app.ts), self-contained as well
 *   web-dist/bench.js        the page's kernel benchmarks (src/browser/bench.ts), run on the device app.js opened
 *   web-dist/gpu-browser.min.js   gpu.js's own browser build (node_modules/gpu.js/dist), which bench.js loads on demand
 *   web-dist/index.html, style.css   the page (copied from web/)
 * WGSL is bundled as text: the virtual module 'ir-neurons:shaders' maps each path under shaders/
 * ('matmul/matmul.wgsl') to its source, and src/browser/gpu.ts registers it with setShaderProvider
 * (#include lines are resolved by shaderSource itself, as in Node).
 * The browser path may not use Node built-ins: an import of one fails the build, naming the importer.
 *
 * Usage: node scripts/build-web.mjs [--outdir DIR] [--minify]
 */
import { builtinModules, createRequire } from 'node:module';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHADERS = join(ROOT, 'shaders');
const WEB = join(ROOT, 'web');

/** Every .wgsl file under dir, as paths relative to shaders/ with forward slashes. */
function wgslFiles(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) wgslFiles(p, out);
    else if (name.endsWith('.wgsl')) out.push(relative(SHADERS, p).split('\\').join('/'));
  }
  return out;
}

/** 'ir-neurons:shaders' → `export default { 'matmul/matmul.wgsl': '...', ... }`, rebuilt from shaders/ on every build. */
export const shadersPlugin = {
  name: 'ir-neurons-shaders',
  setup(build) {
    build.onResolve({ filter: /^ir-neurons:shaders$/ }, (args) => ({ path: args.path, namespace: 'ir-neurons-shaders' }));
    build.onLoad({ filter: /.*/, namespace: 'ir-neurons-shaders' }, () => {
      const files = wgslFiles(SHADERS);
      const map = Object.fromEntries(files.map((f) => [f, readFileSync(join(SHADERS, f), 'utf8')]));
      return { contents: `export default ${JSON.stringify(map)};\n`, loader: 'js', watchFiles: files.map((f) => join(SHADERS, f)) };
    });
  },
};

const NODE_BUILTINS = new Set(builtinModules);

/** Fails the build on any Node built-in (node:fs, path, ...) reached from the browser entries. */
export const noNodePlugin = {
  name: 'no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const builtin = args.path.startsWith('node:') || NODE_BUILTINS.has(args.path.split('/')[0]);
      if (!builtin) return undefined;
      return {
        errors: [{
          text: `${relative(ROOT, args.importer)} imports the Node built-in '${args.path}', which browsers do not have; ` +
            'keep Node-only code out of the modules that src/browser/ reaches (take bytes or text as arguments instead)',
        }],
      };
    });
  },
};

export async function buildWeb({ outdir = join(ROOT, 'web-dist'), minify = false, logLevel = 'warning' } = {}) {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  // Two self-contained modules: the library, to import from any page, and the demo page's script.
  const common = {
    absWorkingDir: ROOT, outdir, bundle: true, format: 'esm', platform: 'browser', target: ['es2022', 'chrome113'],
    sourcemap: true, minify, metafile: true, legalComments: 'none', logLevel, plugins: [noNodePlugin, shadersPlugin],
  };
  const results = await Promise.all([
    esbuild.build({ ...common, entryPoints: { 'ir-neurons': 'src/browser/index.ts' } }),
    esbuild.build({ ...common, entryPoints: { app: 'src/browser/app.ts' } }),
    esbuild.build({ ...common, entryPoints: { bench: 'src/browser/bench.ts' } }),
  ]);
  for (const f of readdirSync(WEB)) copyFileSync(join(WEB, f), join(outdir, f));
  // gpu.js as shipped: one UMD script (its dependencies inside) that the benchmarks load only when they run
  copyFileSync(createRequire(import.meta.url).resolve('gpu.js/dist/gpu-browser.min.js'), join(outdir, 'gpu-browser.min.js'));
  const outputs = results.flatMap((r) => Object.entries(r.metafile.outputs))
    .filter(([f]) => f.endsWith('.js'))
    .map(([f, o]) => `${relative(ROOT, f)} ${(o.bytes / 1024).toFixed(1)} KiB`);
  return { outdir, outputs, shaders: wgslFiles(SHADERS).length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const o = args.indexOf('--outdir');
  try {
    const r = await buildWeb({ outdir: o >= 0 ? resolve(args[o + 1]) : undefined, minify: args.includes('--minify') });
    process.stderr.write(`build:web: ${r.shaders} WGSL files bundled; ${r.outputs.join(', ')}; serve ${relative(process.cwd(), r.outdir) || '.'}/ with any static server\n`);
  } catch (e) {
    // esbuild has already printed the located errors
    process.stderr.write(`build:web failed: ${e.message.split('\n')[0]}\n`);
    process.exit(1);
  }
}
