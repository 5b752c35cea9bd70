/**
 * `ir-neurons merge --out DIR SHARD_DIR...`: combines the outputs of `attribute --dataset ... --shard i/n`
 * runs. The accumulators are integers, so the merged aggregate equals the unsharded run's exactly.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, required } from './args.ts';
import { UserError } from '../util/errors.ts';
import { readState, serializeAggregate, type RunState } from '../run/state.ts';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { parseSafetensors, serializeSafetensors } from '../formats/safetensors.ts';
import { addWords } from '../ig/cells.ts';
import { readPairVectors } from '../run/scheduler.ts';

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('merge', argv, { out: 'string' });
  const outDir = required('merge', a, 'out');
  const dirs = a.positionals;
  if (!dirs.length) throw new UserError('give the shard output folders to merge: ir-neurons merge --out DIR SHARD_DIR...');
  const shards = dirs.map((d) => {
    const file = join(d, 'aggregate.safetensors');
    if (!existsSync(file)) throw new UserError(`${d}: no aggregate.safetensors; that shard has not finished (resume it with --resume)`);
    const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    const meta = readMeta(file);
    return { dir: d, state: readState(file), manifest, meta };
  });
  const n = shards[0].manifest.shard.count;
  const key = shards[0].manifest.key;
  const seen = new Set<number>();
  for (const s of shards) {
    if (s.manifest.key !== key) throw new UserError(`${s.dir}: belongs to a different run than ${shards[0].dir} (model, options or pairs differ)`);
    if (s.manifest.shard.count !== n) throw new UserError(`${s.dir}: shard count ${s.manifest.shard.count} differs from ${n}`);
    if (seen.has(s.manifest.shard.index)) throw new UserError(`${s.dir}: shard ${s.manifest.shard.index}/${n} given twice`);
    seen.add(s.manifest.shard.index);
  }
  const missing = [...Array(n).keys()].filter((i) => !seen.has(i));
  if (missing.length) throw new UserError(`shards ${missing.map((i) => `${i}/${n}`).join(', ')} are missing; merge needs all ${n}`);
  const cfg = shards[0].manifest.model.config;
  const total = shards[0].manifest.pairs.total;
  const merged: RunState = { key, done: total, cells: new Map(), deltas: new Float32Array(total).fill(NaN) };
  for (const s of shards) {
    for (const [cell, w] of s.state.cells) {
      const m = merged.cells.get(cell);
      merged.cells.set(cell, m ? { count: m.count + w.count, total: addWords(m.total, w.total), seg: addWords(m.seg, w.seg) } : { count: w.count, total: w.total.slice(), seg: w.seg.slice() });
    }
    const idx = s.manifest.shard.index;
    s.state.deltas.forEach((d, j) => { merged.deltas[j * n + idx] = d; });
  }
  mkdirSync(join(outDir, 'datasets'), { recursive: true });
  // per-pair vectors (--keep-pairs), when every shard kept them: rows back in global pair order
  if (shards.every((s) => existsSync(join(s.dir, 'pairs.safetensors')))) {
    const units = cfg.layers * cfg.intermediate;
    const all = new Float32Array(total * units).fill(NaN);
    for (const s of shards) {
      const mine = Math.ceil((total - s.manifest.shard.index) / n);
      const v = readPairVectors(join(s.dir, 'pairs.safetensors'), mine, units);
      for (let j = 0; j < mine; j++) all.set(v.subarray(j * units, (j + 1) * units), (j * n + s.manifest.shard.index) * units);
    }
    writeFileAtomic(join(outDir, 'pairs.safetensors'), serializeSafetensors(new Map([['nig', { dtype: 'F32', shape: [total, units], data: all }]]), { key, done: String(total) }));
  }
  writeFileAtomic(join(outDir, 'aggregate.safetensors'), serializeAggregate(merged, cfg.layers, cfg.intermediate, { shard: `merged ${n}`, total: String(total) }));
  for (const f of readdirSync(join(shards[0].dir, 'datasets'))) copyFileSync(join(shards[0].dir, 'datasets', f), join(outDir, 'datasets', f));
  writeJsonAtomic(join(outDir, 'manifest.json'), { ...shards[0].manifest, shard: { index: 0, count: 1 }, mergedFrom: shards.map((s) => ({ dir: s.dir, shard: s.manifest.shard, meta: s.meta })), pairs: { total, shard: total } });
  process.stderr.write(`merged ${n} shards (${total} pairs, ${merged.cells.size} cells) -> ${join(outDir, 'aggregate.safetensors')}\n`);
  return 0;
}

function readMeta(file: string): Record<string, string> {
  const buf = readFileSync(file);
  parseSafetensors(buf, file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).__metadata__ ?? {};
}
