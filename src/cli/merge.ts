/**
 * `ir-neurons merge --out DIR SHARD_DIR...`: combines the outputs of `attribute --dataset ... --shard i/n`
 * runs. The accumulators are integers, so the merged aggregate equals the unsharded run's exactly. Every shard is
 * verified first (its manifest's key against its options and pair lists, its aggregate's checksum, key and
 * per-cell counts); the shards must share the run key and partition the pair list (each i of 0..n-1 once, every
 * pair of the list done exactly once).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { UserError } from '../util/errors.ts';
import { FIX, HEAD_KINDS, readState, serializeAggregate, type CellWords, type RunState } from '../run/state.ts';
import { makeDir, writeFileAtomic, writeJsonAtomic } from '../util/atomic.ts';
import { addWords } from '../ig/cells.ts';
import { pairVectorsFile, readPairVectors } from '../run/scheduler.ts';
import { readRunManifest, verifyAggregate } from '../run/run-dir.ts';
import { shardKey } from '../run/keys.ts';
import { lockDir } from '../run/lock.ts';
import { runEnvironment } from '../run/environment.ts';
import { checkOutDir, prepareOutDir, readJsonFile, removeCreated } from '../util/out-path.ts';

/** Optional per-pair tensors of a shard's state, rows in the shard's pair order (src/run/state.ts). */
const PER_PAIR_ROWS = ['cuts', 'adaptive'] as const;

export const command: CommandSpec = {
  name: 'merge',
  usage: '--out DIR SHARD_DIR...',
  summary: 'Combines the --out folders of all n shards of one `attribute --dataset ... --shard i/n` run into one run folder,\nexactly (integer accumulators): the result equals the unsharded run bit for bit on one device type.',
  options: {
    out: { kind: 'string', arg: 'DIR', required: true, help: 'the merged run folder (created if missing; locked while merging)' },
  },
  examples: ['ir-neurons merge --out runs/merged runs/shard-0 runs/shard-1 runs/shard-2 runs/shard-3'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('merge', argv, command);
  const outDir = a.opts.out as string;
  const dirs = a.positionals;
  if (!dirs.length) throw new UserError('give the shard output folders to merge: ir-neurons merge --out DIR SHARD_DIR...');
  if (dirs.some((d) => resolve(d) === resolve(outDir))) throw new UserError(`${outDir}: --out is one of the shard folders; merge into a new folder`);
  checkOutDir(outDir);
  const shards = dirs.map((d) => {
    const { manifest, pairs } = readRunManifest(d);
    const file = join(d, 'aggregate.safetensors');
    if (!existsSync(file)) throw new UserError(`${d}: no aggregate.safetensors; that shard has not finished (resume it with --resume)`);
    const state = readState(file, FIX.aggregate);
    verifyAggregate(d, manifest, pairs, state);
    return { dir: d, state, manifest, pairs };
  });
  const n = shards[0].manifest.shard.count;
  const rk = shards[0].manifest.runKey;
  const seen = new Map<number, string>();
  for (const s of shards) {
    if (s.manifest.runKey !== rk) throw new UserError(`${s.dir}: belongs to a different run than ${shards[0].dir} (model, tokenizer, options or pairs differ: run key ${s.manifest.runKey} vs ${rk})`);
    if (s.manifest.shard.count !== n) throw new UserError(`${s.dir}: shard count ${s.manifest.shard.count} differs from ${n}`);
    const i = s.manifest.shard.index;
    if (seen.has(i)) throw new UserError(`${s.dir}: shard ${i}/${n} given twice (also ${seen.get(i)})`);
    seen.set(i, s.dir);
  }
  const missing = [...Array(n).keys()].filter((i) => !seen.has(i));
  if (missing.length) throw new UserError(`shards ${missing.map((i) => `${i}/${n}`).join(', ')} are missing; merge needs all ${n}`);
  const cfg = shards[0].manifest.model.config;
  const total = shards[0].pairs.length;
  // the partition: shard i holds the pairs ≡ i (mod n), each verified complete, so every pair is counted once
  const counted = shards.reduce((s, x) => s + x.state.done, 0);
  if (counted !== total) throw new UserError(`the shards hold ${counted} pairs, the run's pair list ${total}; merge refuses a partial or overlapping set`);
  const keep = !!shards[0].manifest.keyInputs.keepPairs;
  const units = cfg.layers * cfg.intermediate;
  const vectors = keep ? shards.map((s) => {
    const f = join(s.dir, 'pairs.safetensors');
    const mine = Math.ceil((total - s.manifest.shard.index) / n);
    if (!existsSync(f)) throw new UserError(`${f}: missing, but the run kept pair vectors (--keep-pairs); restore it or rerun that shard`);
    const v = readPairVectors(f, mine, units, s.manifest.key);
    const gap = [...Array(mine).keys()].find((j) => !Number.isFinite(v.vectors[j * units]));
    if (v.done !== mine || gap !== undefined) throw new UserError(`${f}: ${gap !== undefined ? `row ${gap} was never attributed` : `holds ${v.done} of ${mine} pairs`}; rerun that shard`);
    return v.vectors;
  }) : null;

  // a folder that already holds a run: only this run's earlier merge may be replaced
  const old = join(outDir, 'manifest.json');
  if (existsSync(old)) {
    const was = readJsonFile<{ runKey?: string }>(old, 'merge into a new folder');
    if (was?.runKey !== rk) throw new UserError(`${outDir}: holds another run (${old} has run key ${was?.runKey}, the shards ${rk}); merge into a new folder`);
  }
  const created = prepareOutDir(outDir);
  let lock;
  try {
    lock = lockDir(outDir, `merge ${dirs.join(' ')}`);
  } catch (e) {
    removeCreated(created);
    throw e;
  }
  try {
    const key = shardKey(rk, { index: 0, count: 1 });
    const merged: RunState = { key, done: total, cells: new Map(), deltas: new Float32Array(total).fill(NaN) };
    for (const s of shards) {
      for (const [cell, w] of s.state.cells) {
        const m = merged.cells.get(cell);
        if (m && !m.heads !== !w.heads) throw new UserError(`cell ${cell}: one shard has heads, another not; merge shards of one run`);
        if (m && !m.gate !== !w.gate) throw new UserError(`cell ${cell}: one shard has the head-gate gradient, another not; merge shards of one run`);
        const heads: Partial<CellWords> = {};
        for (const k of HEAD_KINDS) {
          const a = m?.[k], b = w[k];
          if (b) heads[k] = a ? { total: addWords(a.total, b.total), seg: addWords(a.seg, b.seg) } : { total: b.total.slice(), seg: b.seg.slice() };
        }
        merged.cells.set(cell, m ? { count: m.count + w.count, total: addWords(m.total, w.total), seg: addWords(m.seg, w.seg), ...heads } : { count: w.count, total: w.total.slice(), seg: w.seg.slice(), ...heads });
      }
      const idx = s.manifest.shard.index;
      s.state.deltas.forEach((d, j) => { merged.deltas[j * n + idx] = d; });
    }
    // the other per-pair rows (e.g. 'cuts', 'adaptive'), when every shard has them: back in global pair order
    for (const f of PER_PAIR_ROWS) {
      const rows = shards.map((s) => (s.state as unknown as Record<string, Float32Array | undefined>)[f]);
      if (rows.some((r) => !r)) continue;
      const width = rows[0]!.length / shards[0].state.deltas.length;
      const all = new Float32Array(total * width).fill(NaN);
      shards.forEach((s, k) => {
        const idx = s.manifest.shard.index;
        for (let j = 0; j < s.state.deltas.length; j++) all.set(rows[k]!.subarray(j * width, (j + 1) * width), (j * n + idx) * width);
      });
      (merged as unknown as Record<string, Float32Array>)[f] = all;
    }
    makeDir(join(outDir, 'datasets'));
    if (vectors) {
      // per-pair vectors (--keep-pairs): rows back in global pair order
      const all = new Float32Array(total * units).fill(NaN);
      shards.forEach((s, k) => {
        const v = vectors[k];
        const mine = v.length / units;
        for (let j = 0; j < mine; j++) all.set(v.subarray(j * units, (j + 1) * units), (j * n + s.manifest.shard.index) * units);
      });
      writeFileAtomic(join(outDir, 'pairs.safetensors'), pairVectorsFile(all, total, units, key, total));
    }
    writeFileAtomic(join(outDir, 'aggregate.safetensors'), serializeAggregate(merged, cfg.layers, cfg.intermediate, { shard: `merged ${n}`, total: String(total) }));
    for (const f of readdirSync(join(shards[0].dir, 'datasets'))) writeFileAtomic(join(outDir, 'datasets', f), readFileSync(join(shards[0].dir, 'datasets', f)));
    writeJsonAtomic(join(outDir, 'manifest.json'), {
      ...shards[0].manifest, key, shard: { index: 0, count: 1 }, pairs: { total, shard: total },
      // the merge's own environment (no GPU); each shard's, which may be another machine's, under mergedFrom
      environment: runEnvironment(null), earlierEnvironments: undefined,
      mergedFrom: shards.map((s) => ({
        dir: s.dir, shard: s.manifest.shard, key: s.manifest.key, aggregateSha256: s.state.sha256,
        environment: s.manifest.environment ?? null, earlierEnvironments: s.manifest.earlierEnvironments,
      })),
    });
    process.stderr.write(`merged ${n} shards (${total} pairs, ${merged.cells.size} cells) -> ${join(outDir, 'aggregate.safetensors')}\n`);
    return 0;
  } finally {
    lock.release();
  }
}
