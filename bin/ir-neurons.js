#!/usr/bin/env node
// Entry point of the `ir-neurons` CLI. Installed from the package it runs the built JS (dist/lib/cli.js, no tsx);
// in a checkout (src/ beside it) it runs the TypeScript sources through tsx, so edits apply at once and a stale
// dist/ is never run. IR_NEURONS_DIST=1 runs the built JS from a checkout too (npm run build first).
// `--verbose` anywhere on the line prints the WebGPU adapter line (IR_NEURONS_VERBOSE=1 does the same).
import { existsSync } from 'node:fs';

const argv = process.argv.slice(2);
const v = argv.indexOf('--verbose');
if (v >= 0) { argv.splice(v, 1); process.env.IR_NEURONS_VERBOSE = '1'; }
const src = new URL('../src/cli/main.ts', import.meta.url);
const dist = new URL('../dist/lib/cli.js', import.meta.url);
let main;
if (process.env.IR_NEURONS_DIST !== '1' && existsSync(src)) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(src.href));
} else if (existsSync(dist)) {
  ({ main } = await import(dist.href));
} else {
  process.stderr.write('ir-neurons: dist/lib/cli.js is missing; run `npm run build` (or reinstall the package)\n');
  process.exit(1);
}
process.exitCode = await main(argv);
