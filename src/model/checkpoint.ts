/**
 * Loads a checkpoint folder in Node: `config.json` plus `model.safetensors` (preferred) or
 * `pytorch_model.bin` (zip + pickle, read by a restricted unpickler that never runs code).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseConfig } from './config.ts';
import { MAX_HEADER_BYTES, parseSafetensors, type RawTensor } from '../formats/safetensors.ts';
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
  const index = join(dir, 'model.safetensors.index.json');
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
 * safetensors header limit) or than Node reads at once (2 GiB).
 */
function readWeightsFile(file: string, cfg: ReturnType<typeof parseConfig>): Uint8Array {
  const size = statSync(file).size;
  const max = Math.min(2 ** 31 - 1, maxCheckpointBytes(cfg) + MAX_HEADER_BYTES);
  if (size > max) {
    throw new UserError(`${file}: ${size} bytes, more than the ${max} that config.json implies (or than can be read at once); check that the weights belong to this config, or convert them to model.safetensors`);
  }
  return readFileSync(file);
}

/**
 * Sharded safetensors (`model.safetensors.index.json`: `weight_map` from tensor name to shard file beside it): every
 * shard parsed as one file, each tensor taken from the shard the index names, and refused when a shard lacks a
 * tensor the index gives it or two shards hold the same name.
 */
function loadShardedSafetensors(index: string, cfg: ReturnType<typeof parseConfig>): BertWeights {
  let map: unknown;
  try {
    map = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new UserError(`${index}: not JSON (${(e as Error).message.replace(/\s+/g, ' ')}); download it again (ir-neurons download)`);
  }
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new UserError(`${index}: no 'weight_map' object (tensor name -> shard file); is it a safetensors index?`);
  const wanted = map as Record<string, unknown>;
  const merged = new Map<string, RawTensor>();
  for (const shard of [...new Set(Object.values(wanted))].sort()) {
    if (typeof shard !== 'string' || !/^[\w.-]+\.safetensors$/.test(shard)) throw new UserError(`${index}: weight_map names ${JSON.stringify(shard)}, not a .safetensors file beside the index`);
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
