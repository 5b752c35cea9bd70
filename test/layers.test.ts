/**
 * The import graph of src/ (docs/architecture.md draws it): every import points down the layers, no file imports
 * itself through a circle (type-only imports included), and src/ never reaches into bench/, tools/ or test/.
 * The folders' ranks below are the architecture; a new folder must be given one.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(REPO, 'src');

/** Lower ranks are lower layers; a folder may import its own rank or below, never above. */
export const LAYERS: Record<string, number> = {
  util: 0,        // errors, progress, rng, atomic files: no project imports
  formats: 1,     // safetensors, torch zip/pickle, hashing
  gpu: 1,         // device, buffers, pipelines, autotuner: no model names
  hub: 1,         // the Hugging Face hub's URL layout: listing, resumable hash-checked downloads
  data: 2,        // collections, qrels, runs, pairs
  kernels: 2,     // one module per shaders/<family>/: dispatch builders
  model: 3,       // config, weights, layout, forward, backward, scoring
  analysis: 3,    // rankings, schemes, metrics, pruning tables on plain arrays (no GPU)
  tokenizer: 4,   // WordPiece and `tokenizers`, producing the model's EncodedPair
  report: 4,      // HTML/JSON/Markdown from analysis results
  toy: 4,         // the bundled tiny models and collections
  ig: 5,          // path, NIG and IG engines, GPU cell accumulators
  ref: 6,         // float64 reference of the model and NIG
  'analysis-gpu': 6, // the analysis on the GPU buffers
  bench: 6,       // benchmark parts the page shares with bench/
  run: 7,         // dataset runs: scheduler, checkpoints, run folders
  pipeline: 8,    // pruning runs, report inputs
  cli: 9,         // commands (thin)
  browser: 9,     // the page and the browser library entry
  api: 10,        // the package's public entries (Node, browser): re-exports only
};

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : /\.ts$/.test(n) && !n.endsWith('.d.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, dynamic, re-exports, type-only), resolved to absolute paths. */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(resolve(dirname(file), m[1] ?? m[2] ?? m[3]));
  }
  return out;
}

const folderOf = (file: string) => {
  const rel = relative(SRC, file).split('/');
  return rel.length > 1 ? rel[0] : '';
};

const files = walk(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Imports from a lower layer to a higher one (folder(x) names x's folder). */
function upward(g: Map<string, string[]>, folder: (f: string) => string): string[] {
  const bad: string[] = [];
  for (const [f, deps] of g) {
    for (const d of deps) {
      const from = LAYERS[folder(f)], to = LAYERS[folder(d)];
      if (!(to <= from)) bad.push(`${f} (${folder(f)}, ${from}) -> ${d} (${folder(d)}, ${to})`);
    }
  }
  return bad;
}

/** Every circle found by a depth-first search, as 'a -> b -> a'. */
function circles(g: Map<string, string[]>): string[] {
  const state = new Map<string, 1 | 2>();
  const out: string[] = [];
  const visit = (f: string, stack: string[]) => {
    state.set(f, 1);
    for (const d of g.get(f) ?? []) {
      if (!g.has(d)) continue;
      if (state.get(d) === 1) out.push([...stack.slice(stack.indexOf(d)), f, d].join(' -> '));
      else if (!state.has(d)) visit(d, [...stack, f]);
    }
    state.set(f, 2);
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f, []);
  return out;
}

/** The graph with paths relative to src/ (imports leaving src/ keep their '../' path). */
const relGraph = new Map([...graph].map(([f, ds]) => [relative(SRC, f), ds.map((d) => relative(SRC, d))]));
const relFolder = (p: string) => (p.startsWith('..') ? '(outside src)' : p.includes('/') ? p.split('/')[0] : '');

test('every folder of src/ has a layer', () => {
  const folders = [...new Set(files.map(folderOf))].filter(Boolean).sort();
  assert.equal(folders.filter((f) => !(f in LAYERS)), [], 'give new folders a rank in LAYERS and in docs/architecture.md');
  assert.equal(files.filter((f) => folderOf(f) === '').map((f) => relative(REPO, f)), [], 'no loose files directly under src/');
});

test('imports point down the layers and stay inside src/', () => {
  assert.equal(upward(relGraph, relFolder), []);
});

test('no import circles (type-only imports count)', () => {
  assert.equal(circles(relGraph), []);
});

test('every import resolves to a file', () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => { try { return !statSync(d).isFile(); } catch { return true; } }).map((d) => `${relative(REPO, f)} -> ${relative(REPO, d)}`));
  assert.equal(missing, []);
});

test('the checks find an upward import, an import from outside src/ and a circle in a planted graph', () => {
  const fake = new Map<string, string[]>([
    ['kernels/a.ts', ['model/b.ts', 'util/x.ts']], ['model/b.ts', ['model/c.ts']], ['model/c.ts', ['model/b.ts', '../bench/y.ts']], ['util/x.ts', []],
  ]);
  assert.equal(upward(fake, relFolder), ['kernels/a.ts (kernels, 2) -> model/b.ts (model, 3)', 'model/c.ts (model, 3) -> ../bench/y.ts ((outside src), undefined)']);
  assert.equal(circles(fake), ['model/b.ts -> model/c.ts -> model/b.ts']);
});

test.run();
