/**
 * Loads a checkpoint folder in Node: `config.json` plus `model.safetensors` (preferred) or
 * `pytorch_model.bin` (zip + pickle, read by a restricted unpickler that never runs code).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseConfig } from './config.ts';
import { MAX_HEADER_BYTES, parseSafetensors } from '../formats/safetensors.ts';
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
