/**
 * Loads a checkpoint folder in Node: `config.json` plus `model.safetensors` (preferred) or
 * `pytorch_model.bin` (zip + pickle, read by a restricted unpickler that never runs code).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { constants } from 'node:buffer';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseConfig } from './config.ts';
import { MAX_HEADER_BYTES, parseSafetensors, parseShardIndex, SHARD_INDEX, type RawTensor } from '../formats/safetensors.ts';
import { parseTorchBin } from '../formats/torchbin.ts';
import type { BertWeights } from './types.ts';
import { maxCheckpointBytes, weightsFromStateDict } from './weights.ts';

export function loadCheckpoint(dir: string): BertWeights {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`${dir}: no such model folder; point --model at a folder holding config.json and model.safetensors (or pytorch_model.bin)`);
  }
  const cfgFile = join(dir, 'config.json');
  if (!existsSync(cfgFile)) throw new UserError(`${cfgFile}: missing; a Hugging Face checkpoint folder has a config.json beside its weights`);
  const cfg = parseConfig(readFileSync(cfgFile, 'utf8'), cfgFile);
  const st = join(dir, 'model.safetensors');
  const bin = join(dir, 'pytorch_model.bin');
  if (existsSync(st)) return weightsFromStateDict(parseSafetensors(readWeightsFile(st, cfg), st), cfg, st);
  const index = join(dir, SHARD_INDEX);
  if (existsSync(index)) return loadShardedSafetensors(index, cfg);
  if (existsSync(bin)) return loadTorchBinWeights(bin, cfg);
  throw new UserError(`${dir}: no model.safetensors or pytorch_model.bin; download the checkpoint's weights into this folder`);
}

function loadTorchBinWeights(file: string, cfg: ReturnType<typeof parseConfig>): BertWeights {
  const limits = { maxBytes: maxCheckpointBytes(cfg), why: 'what config.json implies' };
  return weightsFromStateDict(parseTorchBin(readWeightsFile(file, cfg), file, limits), cfg, file);
}

/**
 * A weights file's bytes, refused before reading when larger than the config's tensors can be (plus the
 * safetensors header limit) or than one Node buffer holds (buffer.constants.MAX_LENGTH, 4 GiB on 64-bit Node 20).
 * Read in pieces of at most `piece` bytes: readFileSync stops at 2 GiB, and a large reranker's float32 weights do not
 * (bge-reranker-v2-m3: 2.27 GB).
 */
export function readWeightsFile(file: string, cfg: ReturnType<typeof parseConfig>, piece = 2 ** 30): Uint8Array {
  const size = statSync(file).size;
  const max = Math.min(constants.MAX_LENGTH, maxCheckpointBytes(cfg) + MAX_HEADER_BYTES);
  if (size > max) {
    throw new UserError(`${file}: ${size} bytes, more than the ${max} that config.json implies (or than one buffer holds); check that the weights belong to this config, or convert them to model.safetensors`);
  }
  const out = Buffer.allocUnsafe(size);
  const fd = openSync(file, 'r');
  try {
    for (let at = 0; at < size;) {
      const n = readSync(fd, out, at, Math.min(piece, size - at), at);
      if (n === 0) throw new UserError(`${file}: ended after ${at} of ${size} bytes while being read; is it still being written?`);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * Sharded safetensors (`model.safetensors.index.json`: `weight_map` from tensor name to shard file beside it): every
 * shard parsed as one file, each tensor taken from the shard the index names, and refused when a shard lacks a
 * tensor the index gives it or two shards hold the same name.
 */
function loadShardedSafetensors(index: string, cfg: ReturnType<typeof parseConfig>): BertWeights {
  const { weightMap: wanted, shards } = parseShardIndex(readFileSync(index, 'utf8'), index);
  const merged = new Map<string, RawTensor>();
  for (const shard of shards) {
    const file = join(dirname(index), shard);
    if (!existsSync(file)) throw new UserError(`${file}: missing, and ${index} names it; download every shard (ir-neurons download fetches them)`);
    for (const [name, t] of parseSafetensors(readWeightsFile(file, cfg), file)) {
      if (merged.has(name)) throw new UserError(`${file}: holds ${name}, which another shard holds too; the shards do not belong together`);
      if (wanted[name] !== undefined && wanted[name] !== shard) throw new UserError(`${file}: holds ${name}, which ${index} puts in ${String(wanted[name])}; the index does not belong to these shards`);
      merged.set(name, t);
    }
  }
  const lost = Object.entries(wanted).find(([name]) => !merged.has(name));
  if (lost) throw new UserError(`${join(dirname(index), String(lost[1]))}: has no tensor ${lost[0]}, which ${index} puts there; download the shard again`);
  return weightsFromStateDict(merged, cfg, index);
}
