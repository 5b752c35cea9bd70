/**
 * The identity of a dataset run, in two levels:
 * - the **run key**: the model (hash of its files), the tokenizer (backend and hash of its file), every option that
 *   changes a number or a file (NIG steps, rule, target, baseline, chunk; units; max length; the memory budget;
 *   --keep-pairs; the IG of the completeness deltas) and the exact pair list. Every shard of a run has it.
 * - the **shard key**: the run key and the shard i/n. Checkpoints, aggregates and pair files carry it, so a
 *   checkpoint of shard 1 cannot be resumed as shard 0, nor one run's files mixed with another's.
 * `keyInputs` is stored in manifest.json and the pair list in datasets/*.json, so a reader recomputes the key
 * from what the folder says and refuses a manifest that was edited or mixed up (`verifyRunKey`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PairTokenizer } from '../tokenizer/tokenizer.ts';

export interface Shard { index: number; count: number }

/** What the run key hashes besides the pair list (stored verbatim in manifest.json as `keyInputs`). */
export interface KeyInputs {
  model: string;
  tokenizer: string;
  /** every NIG option: these five always (null: the engine's default), any other as given */
  nig: { steps: number; rule: string | null; target: string | null; baseline: string | null; chunk: number | null; [other: string]: unknown };
  units: string;
  maxLength: number;
  maxMemoryMiB: number | null;
  keepPairs: boolean;
  /** how the completeness deltas are computed: IG on the embeddings along the NIG path (dataset runs have no --ig-rule) */
  ig: string;
}

export const DATASET_IG = 'conductance on the NIG path (--rule, --steps)';

export interface PairId { dataset: string; qid: string; docid: string; label: string }

/** `backend:sha256` of the tokenizer's file (a --tokenizer override changes the token ids, so the numbers). */
export function tokenizerId(tok: Pick<PairTokenizer, 'backend' | 'file'>): string {
  let hash = 'unreadable';
  try {
    hash = createHash('sha256').update(readFileSync(tok.file)).digest('hex').slice(0, 32);
  } catch {
    // a tokenizer that loaded from a file we cannot reread: the backend alone identifies it
  }
  return `${tok.backend}:${hash}`;
}

export function runKey(inputs: KeyInputs, pairs: readonly PairId[]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(inputs));
  for (const p of pairs) h.update(`${p.dataset}\t${p.qid}\t${p.docid}\t${p.label}\n`);
  return h.digest('hex').slice(0, 32);
}

export function shardKey(run: string, s: Shard): string {
  return createHash('sha256').update(`${run}\tshard ${s.index}/${s.count}`).digest('hex').slice(0, 32);
}
