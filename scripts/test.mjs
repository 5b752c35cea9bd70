#!/usr/bin/env node
// `npm test`: the uvu suite (every test/*.test.ts but the browser ones) in parallel shards, one uvu process each,
// the files shared out longest first by their recorded cold durations (test/durations.json; a new file counts 5 s).
// Many files mostly wait (npm installs, spawned CLIs, stalled downloads) while others compute, so two shards on a
// 2-core box take about 60 % of one (bench/RESULTS.md). Each shard's lines are printed as they come, prefixed
// [1], [2]; the exit code is 1 when any shard fails.
//   node scripts/test.mjs [REGEX]     only the files whose name matches REGEX (e.g. 'nig|forward')
//   IR_NEURONS_TEST_JOBS=N            N shards (default: min(2, cores)); 1 runs one uvu process as before
//   node scripts/test.mjs --record    also write this run's durations into test/durations.json (run it on a cold cache)
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const record = args.includes('--record');
const filter = args.find((a) => !a.startsWith('--'));
let files = readdirSync(`${root}test`).filter((f) => /^(?!browser)[\w-]+\.test\.ts$/.test(f)).sort();
if (filter) files = files.filter((f) => new RegExp(filter).test(f));
if (!files.length) {
  process.stderr.write(`test: no test file matches '${filter}'\n`);
  process.exit(2);
}
const durationsFile = `${root}test/durations.json`;
let durations = {};
try { durations = JSON.parse(readFileSync(durationsFile, 'utf8')).seconds ?? {}; } catch { /* none yet: equal weights */ }
const weight = (f) => durations[f] ?? 5;
const jobs = Math.max(1, Math.min(files.length, Number(process.env.IR_NEURONS_TEST_JOBS) || Math.min(2, availableParallelism())));
const shards = Array.from({ length: jobs }, () => ({ files: [], load: 0 }));
for (const f of [...files].sort((a, b) => weight(b) - weight(a))) {
  const s = shards.reduce((a, b) => (b.load < a.load ? b : a));
  s.files.push(f);
  s.load += weight(f);
}

const esc = (f) => f.replace(/[.]/g, '\\.');
const t0 = performance.now();
const seen = {}; // file -> [start, end] seconds, from the shard's output
const results = await Promise.all(shards.map((s, i) => new Promise((done) => {
  const pattern = `^(${s.files.map(esc).join('|')})$`;
  const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', 'test', pattern], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  const tag = jobs > 1 ? `[${i + 1}] ` : '';
  let text = '', partial = '', current = null;
  const onData = (chunk) => {
    const now = (performance.now() - t0) / 1000;
    const str = chunk.toString();
    text += str;
    for (const m of str.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/([\w-]+\.test\.ts)/g)) {
      if (!s.files.includes(m[1]) || seen[m[1]]) continue;
      if (current) seen[current][1] = now;
      seen[m[1]] = [now, now];
      current = m[1];
    }
    if (jobs === 1) { process.stdout.write(chunk); return; }
    partial += str; // whole lines only, each with its shard's tag
    const cut = partial.lastIndexOf('\n') + 1;
    if (cut) process.stdout.write(partial.slice(0, cut).replace(/^(?=.)/gm, tag));
    partial = partial.slice(cut);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  child.on('close', (code) => {
    if (partial) process.stdout.write(`${tag}${partial}\n`);
    if (current) seen[current][1] = (performance.now() - t0) / 1000;
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
    const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
    const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? NaN);
    done({ code, total, passed, files: s.files.length });
  });
})));

const secs = ((performance.now() - t0) / 1000).toFixed(1);
const total = results.reduce((a, r) => a + (r.total || 0), 0);
const passed = results.reduce((a, r) => a + (r.passed || 0), 0);
const failed = results.some((r) => r.code !== 0);
if (jobs > 1) {
  process.stdout.write(`\n${results.map((r, i) => `shard ${i + 1}: ${r.files} files, ${r.passed}/${r.total} passed${r.code ? ` (exit ${r.code})` : ''}`).join('; ')}\n`);
  process.stdout.write(`all: ${passed}/${total} tests passed in ${secs} s (${jobs} shards)${failed ? ' — FAILED' : ''}\n`);
}
if (record && !failed) {
  const measured = Object.fromEntries(Object.entries(seen).map(([f, [a, b]]) => [f, Math.round((b - a) * 10) / 10]));
  const seconds = Object.fromEntries(Object.entries({ ...durations, ...measured }).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(durationsFile, JSON.stringify({ note: 'cold durations of each test file (node scripts/test.mjs --record on an empty MESA_SHADER_CACHE_DIR), for sharing the files out', seconds }, null, 1) + '\n');
}
process.exit(failed ? 1 : 0);
