/**
 * The manifest.json of a run folder, one builder for both kinds: `attribute --pairs` (attributions.safetensors)
 * and `attribute --dataset` (kind 'dataset-run'). The common head says what produced the files (package, Node,
 * time, model and its hash, tokenizer, GPU adapter, and the whole `environment`: src/run/environment.ts); the
 * caller adds what its kind needs. Fields given as undefined are left out (JSON), so a pairs run has no `kind` and
 * no `key`. `engine` and `device` are kept for readers of older manifests; `environment` says more.
 */
import { readFileSync } from 'node:fs';
import type { Gpu } from '../gpu/device.ts';
import { describeGpu } from '../gpu/device.ts';
import type { BertConfig } from '../model/types.ts';
import { familyOf } from '../model/config.ts';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';
import { runEnvironment, type EnvironmentInputs } from './environment.ts';

export interface ManifestHead {
  /** 'dataset-run' for dataset runs; absent for pairs runs */
  kind?: string;
  /** the run's identity (runKey), dataset runs only */
  key?: string;
  model: { dir: string; hash: string; config: BertConfig };
  tokenizer: PairTokenizer;
  g: Gpu;
  /** the input files besides the model and the tokenizer (hashed into `environment.inputs`) */
  inputs?: Pick<EnvironmentInputs, 'datasets' | 'experiment' | 'files'>;
}

/** The environment of the run `head` describes (its model folder and tokenizer file among the inputs). */
export function headEnvironment(head: ManifestHead): ReturnType<typeof runEnvironment> {
  return runEnvironment(head.g, { modelDir: head.model.dir, tokenizerFile: head.tokenizer.file, ...head.inputs });
}

/** The manifest object: `kind`, `engine`, `created`, `key`, `model`, `tokenizer`, `device`, `environment`, then `body`'s fields in order. */
export function runManifest(head: ManifestHead, body: Record<string, unknown>): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return {
    kind: head.kind,
    engine: { name: pkg.name, version: pkg.version, node: process.version },
    created: new Date().toISOString(),
    key: head.key,
    // the family (bert, roberta, electra, distilbert: src/model/config.ts) first, so a reader sees what ran
    model: { family: familyOf(head.model.config), ...head.model },
    tokenizer: head.tokenizer.describe(),
    device: describeGpu(head.g).split('\n')[0],
    environment: headEnvironment(head),
    ...body,
  };
}
