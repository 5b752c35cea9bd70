/**
 * Maps a state dict (tensor name -> RawTensor) onto BertWeights, accepting the name variants of older
 * checkpoints (`gamma`/`beta` for LayerNorm, no `bert.` prefix) and checking every shape against the config.
 */
import { UserError } from '../util/errors.ts';
import { type RawTensor, toFloat } from '../formats/safetensors.ts';
import type { BertConfig, BertWeights, LayerWeights, Tensor } from './types.ts';

/** How many elements the tensors of a BERT cross-encoder with this config hold in total (what weightsFromStateDict reads). */
export function weightElements(cfg: BertConfig): number {
  const { hidden: C, intermediate: F, vocabSize: V, maxPositions: P, typeVocab: TV, numLabels: NL } = cfg;
  const layer = 4 * (C * C + C) + 2 * 2 * C + (F * C + F) + (C * F + C);
  return (V + P + TV) * C + 2 * C + cfg.layers * layer + (C * C + C) + (NL * C + NL);
}

/**
 * The most bytes a checkpoint for this config may hold or inflate to: every expected tensor at the widest
 * dtype read (F64, 8 bytes), plus 1/16 and 4 MiB for extras a checkpoint may carry (e.g. `position_ids`).
 * Loaders refuse anything larger before reading or inflating it.
 */
export function maxCheckpointBytes(cfg: BertConfig): number {
  return Math.ceil(weightElements(cfg) * 8 * (1 + 1 / 16)) + 4 * 2 ** 20;
}

export function weightsFromStateDict(sd: Map<string, RawTensor>, cfg: BertConfig, file: string): BertWeights {
  const hasPrefix = [...sd.keys()].some((k) => k.startsWith('bert.'));
  const candidates = (name: string): string[] => {
    const base = hasPrefix && !name.startsWith('classifier') ? `bert.${name}` : name;
    const alts = [base];
    if (base.endsWith('LayerNorm.weight')) alts.push(base.replace(/weight$/, 'gamma'));
    if (base.endsWith('LayerNorm.bias')) alts.push(base.replace(/bias$/, 'beta'));
    return alts;
  };
  const get = (name: string, shape: number[]): Tensor => {
    const alts = candidates(name);
    const key = alts.find((k) => sd.has(k));
    if (!key) {
      throw new UserError(`${file}: missing tensor '${alts[0]}'; is this a BertForSequenceClassification checkpoint? (found ${sd.size} tensors, e.g. ${[...sd.keys()].slice(0, 3).join(', ')})`);
    }
    const t = sd.get(key)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${file}: tensor '${key}' has shape [${t.shape}], but config.json implies [${shape}]; the config and the weights do not belong together`);
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
      throw new UserError(`${file}: tensor '${key}' has dtype ${t.dtype}; expected F32, F16 or BF16`);
    }
    const data = toFloat(t, Float32Array);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new UserError(`${file}: tensor '${key}' holds a non-finite value (${data[i]}) at index ${i}; the checkpoint is corrupt`);
    }
    return { shape, data };
  };
  const { hidden: C, intermediate: F, vocabSize: V, maxPositions: P, typeVocab: TV, numLabels: NL } = cfg;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const p = `encoder.layer.${l}.`;
    layers.push({
      qW: get(`${p}attention.self.query.weight`, [C, C]), qB: get(`${p}attention.self.query.bias`, [C]),
      kW: get(`${p}attention.self.key.weight`, [C, C]), kB: get(`${p}attention.self.key.bias`, [C]),
      vW: get(`${p}attention.self.value.weight`, [C, C]), vB: get(`${p}attention.self.value.bias`, [C]),
      aoW: get(`${p}attention.output.dense.weight`, [C, C]), aoB: get(`${p}attention.output.dense.bias`, [C]),
      ln1G: get(`${p}attention.output.LayerNorm.weight`, [C]), ln1B: get(`${p}attention.output.LayerNorm.bias`, [C]),
      iW: get(`${p}intermediate.dense.weight`, [F, C]), iB: get(`${p}intermediate.dense.bias`, [F]),
      oW: get(`${p}output.dense.weight`, [C, F]), oB: get(`${p}output.dense.bias`, [C]),
      ln2G: get(`${p}output.LayerNorm.weight`, [C]), ln2B: get(`${p}output.LayerNorm.bias`, [C]),
    });
  }
  return {
    config: cfg,
    wordEmb: get('embeddings.word_embeddings.weight', [V, C]),
    posEmb: get('embeddings.position_embeddings.weight', [P, C]),
    typeEmb: get('embeddings.token_type_embeddings.weight', [TV, C]),
    embLnG: get('embeddings.LayerNorm.weight', [C]),
    embLnB: get('embeddings.LayerNorm.bias', [C]),
    layers,
    poolW: get('pooler.dense.weight', [C, C]), poolB: get('pooler.dense.bias', [C]),
    clsW: get('classifier.weight', [NL, C]), clsB: get('classifier.bias', [NL]),
  };
}
