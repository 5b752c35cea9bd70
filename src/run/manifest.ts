/**
 * The manifest.json of a run folder, one builder for both kinds: `attribute --pairs` (attributions.safetensors)
 * and `attribute --dataset` (kind 'dataset-run'). The common head says what produced the files (package, Node,
 * time, model and its hash, tokenizer, GPU adapter); the caller adds what its kind needs. Fields given as
 * undefined are left out (JSON), so a pairs run has no `kind` and no `key`.
 */
import { readFileSync } from 'node:fs';
import type { Gpu } from '../gpu/device.ts';
import { describeGpu } from '../gpu/device.ts';
import type { BertConfig } from '../model/types.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';

export interface ManifestHead {
  /** 'dataset-run' for dataset runs; absent for pairs runs */
  kind?: string;
  /** the run's identity (runKey), dataset runs only */
  key?: string;
  model: { dir: string; hash: string; config: BertConfig };
  tokenizer: PairTokenizer;
  g: Gpu;
}

/** The manifest object: `kind`, `engine`, `created`, `key`, `model`, `tokenizer`, `device`, then `body`'s fields in order. */
export function runManifest(head: ManifestHead, body: Record<string, unknown>): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return {
    kind: head.kind,
    engine: { name: pkg.name, version: pkg.version, node: process.version },
    created: new Date().toISOString(),
    key: head.key,
    model: head.model,
    tokenizer: head.tokenizer.describe(),
    device: describeGpu(head.g).split('\n')[0],
    ...body,
  };
}
