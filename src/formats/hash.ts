/** A content hash of a checkpoint folder (config + weights), recorded in every output manifest. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseShardIndex, SHARD_INDEX as INDEX } from './safetensors.ts';


export function modelHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of ['config.json', 'model.safetensors', ...shardFiles(dir), 'pytorch_model.bin']) {
    const p = join(dir, f);
    if (existsSync(p)) { h.update(f); h.update(readFileSync(p)); }
  }
  return `sha256:${h.digest('hex')}`;
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
