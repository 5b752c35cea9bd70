/** A content hash of a checkpoint folder (config + weights), recorded in every output manifest. */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export function modelHash(dir: string): string {
  const h = createHash('sha256');
  for (const f of ['config.json', 'model.safetensors', 'pytorch_model.bin']) {
    const p = join(dir, f);
    if (existsSync(p)) { h.update(f); h.update(readFileSync(p)); }
  }
  return `sha256:${h.digest('hex')}`;
}
