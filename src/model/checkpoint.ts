/**
 * Loads a checkpoint folder in Node: `config.json` plus `model.safetensors` (preferred) or
 * `pytorch_model.bin` (zip + pickle, read by a restricted unpickler that never runs code).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.ts';
import { parseConfig } from './config.ts';
import { parseSafetensors } from '../formats/safetensors.ts';
import { parseTorchBin } from '../formats/torchbin.ts';
import type { BertWeights } from './types.ts';
import { weightsFromStateDict } from './weights.ts';

export function loadCheckpoint(dir: string): BertWeights {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new UserError(`${dir}: no such model folder; point --model at a folder holding config.json and model.safetensors (or pytorch_model.bin)`);
  }
  const cfgFile = join(dir, 'config.json');
  if (!existsSync(cfgFile)) throw new UserError(`${cfgFile}: missing; a Hugging Face checkpoint folder has a config.json beside its weights`);
  const cfg = parseConfig(readFileSync(cfgFile, 'utf8'), cfgFile);
  const st = join(dir, 'model.safetensors');
  const bin = join(dir, 'pytorch_model.bin');
  if (existsSync(st)) return weightsFromStateDict(parseSafetensors(readFileSync(st), st), cfg, st);
  if (existsSync(bin)) return loadTorchBinWeights(bin, cfg);
  throw new UserError(`${dir}: no model.safetensors or pytorch_model.bin; download the checkpoint's weights into this folder`);
}

function loadTorchBinWeights(file: string, cfg: ReturnType<typeof parseConfig>): BertWeights {
  // Node's readFileSync stops at 2 GiB; a checkpoint that large should be read as safetensors anyway.
  const size = statSync(file).size;
  if (size > 2 ** 31 - 1) throw new UserError(`${file}: ${size} bytes is more than can be read at once; convert the checkpoint to model.safetensors`);
  return weightsFromStateDict(parseTorchBin(readFileSync(file), file), cfg, file);
}
