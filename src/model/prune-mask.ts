/** Prune masks as files: safetensors with one `layer.<i>` float tensor of length d_ff per layer (1 keep, 0 prune). */
import { existsSync, readFileSync } from 'node:fs';
import { UserError } from '../util/errors.ts';
import { parseSafetensors, toFloat } from '../formats/safetensors.ts';
import type { BertConfig } from './types.ts';

export function readPruneMask(file: string, cfg: BertConfig): Float32Array[] {
  if (!existsSync(file)) throw new UserError(`${file}: no such prune-mask file`);
  const st = parseSafetensors(readFileSync(file), file);
  const masks: Float32Array[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const t = st.get(`layer.${l}`);
    if (!t) throw new UserError(`${file}: missing tensor 'layer.${l}'; a prune mask has one float tensor 'layer.<i>' of length ${cfg.intermediate} per layer (0..${cfg.layers - 1})`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.shape.length !== 1 || n !== cfg.intermediate) throw new UserError(`${file}: 'layer.${l}' has shape [${t.shape}], expected [${cfg.intermediate}] (the model's intermediate_size)`);
    const m = toFloat(t, Float32Array);
    for (let i = 0; i < n; i++) if (!Number.isFinite(m[i])) throw new UserError(`${file}: 'layer.${l}'[${i}] is ${m[i]}; mask values must be finite (1 keep, 0 prune)`);
    masks.push(m);
  }
  for (const k of st.keys()) {
    const mm = /^layer\.(\d+)$/.exec(k);
    if (!mm || Number(mm[1]) >= cfg.layers) throw new UserError(`${file}: unexpected tensor '${k}'; the model has layers 0..${cfg.layers - 1}`);
  }
  return masks;
}

/** Head masks as files: safetensors with one float tensor `heads` [layers, heads] (1 keep, 0 prune: the head's context output zeroed). */
export function readHeadMask(file: string, cfg: BertConfig): Float32Array {
  if (!existsSync(file)) throw new UserError(`${file}: no such head-mask file`);
  const st = parseSafetensors(readFileSync(file), file);
  const t = st.get('heads');
  if (!t || st.size !== 1) throw new UserError(`${file}: a head mask has one float tensor 'heads' [${cfg.layers}, ${cfg.heads}] (layers × heads; 1 keep, 0 prune), found ${[...st.keys()].join(', ') || 'none'}`);
  if (t.shape.length !== 2 || t.shape[0] !== cfg.layers || t.shape[1] !== cfg.heads) throw new UserError(`${file}: 'heads' has shape [${t.shape}], expected [${cfg.layers}, ${cfg.heads}] (the model's layers × attention heads)`);
  const m = toFloat(t, Float32Array);
  for (let i = 0; i < m.length; i++) if (!Number.isFinite(m[i])) throw new UserError(`${file}: 'heads'[${i}] is ${m[i]}; mask values must be finite (1 keep, 0 prune)`);
  return m;
}
