/**
 * Content hashes of input files: a checkpoint folder's (config + weights, recorded in every output manifest and
 * keyed into dataset runs) and any one file's sha256 (the environment's input hashes, src/run/environment.ts).
 * Files are read in chunks (a 400 MB checkpoint is never held whole), and each file's sha256 is kept for the life
 * of the process by (path, size, mtime, inode): `modelHash` fills it as it reads, so hashing the same files again
 * for the environment costs a stat per file.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseShardIndex, SHARD_INDEX as INDEX } from './safetensors.ts';

const CHUNK = 8 << 20;

/** sha256 (hex) of each file read, by absolute path, with the stat it was read under. */
const known = new Map<string, { stamp: string; sha256: string }>();
/** modelHash of a folder, by its files' stamps. */
const models = new Map<string, string>();

const stampOf = (p: string): string => {
  const s = statSync(p);
  return `${s.size}:${s.mtimeMs}:${s.ino}`;
};

/** Streams `path` into `also` (if given) and returns the file's own sha256, caching it under its stamp. */
function readHashed(path: string, also?: Hash): string {
  const abs = resolve(path);
  const stamp = stampOf(abs);
  const own = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  const fd = openSync(abs, 'r');
  try {
    for (let n; (n = readSync(fd, buf, 0, CHUNK, null)) > 0;) {
      const b = buf.subarray(0, n);
      own.update(b);
      also?.update(b);
    }
  } finally {
    closeSync(fd);
  }
  const sha256 = own.digest('hex');
  known.set(abs, { stamp, sha256 });
  return sha256;
}

/** The sha256 (hex) of a file's bytes; read once per process while its size, mtime and inode stay the same. */
export function fileSha256(path: string): string {
  const abs = resolve(path);
  const hit = known.get(abs);
  if (hit && hit.stamp === stampOf(abs)) return hit.sha256;
  return readHashed(abs);
}

/** The files of a checkpoint folder that `modelHash` covers, in its order (those that exist). */
export function modelFiles(dir: string): string[] {
  return ['config.json', 'model.safetensors', ...shardFiles(dir), 'pytorch_model.bin'].filter((f) => existsSync(join(dir, f)));
}

/** `sha256:` of the folder's files (name, then bytes, for each of `modelFiles`); once per process per state of the files. */
export function modelHash(dir: string): string {
  const files = modelFiles(dir);
  const id = `${resolve(dir)}\n${files.map((f) => `${f}@${stampOf(join(dir, f))}`).join('\n')}`;
  const hit = models.get(id);
  if (hit) return hit;
  const h = createHash('sha256');
  for (const f of files) {
    h.update(f);
    readHashed(join(dir, f), h);
  }
  const out = `sha256:${h.digest('hex')}`;
  models.set(id, out);
  return out;
}

/** A sharded checkpoint's index and the shards it names (sorted); none when the folder has no index. */
function shardFiles(dir: string): string[] {
  const p = join(dir, INDEX);
  if (!existsSync(p)) return [];
  try {
    return [INDEX, ...parseShardIndex(readFileSync(p, 'utf8'), p).shards];
  } catch {
    return [INDEX];  // the loader says what is wrong with it
  }
}
