/**
 * Maps a state dict (tensor name -> RawTensor) onto BertWeights by the family's name table (BERT, RoBERTa/XLM-R,
 * ELECTRA, DistilBERT), accepting the name variants of older BERT checkpoints (`gamma`/`beta` for LayerNorm, no
 * `bert.` prefix) and checking every shape against the config.
 */
import { UserError } from '../util/errors.ts';
import { type RawTensor, toFloat } from '../formats/safetensors.ts';
import type { BertConfig, BertWeights, Family, LayerWeights, Tensor } from './types.ts';
import { embeddingSize, familyOf, positionRows } from './config.ts';

/** How many elements the tensors of a cross-encoder with this config hold in total (what weightsFromStateDict reads). */
export function weightElements(cfg: BertConfig): number {
  const { hidden: C, intermediate: F, vocabSize: V, typeVocab: TV, numLabels: NL } = cfg;
  const E = embeddingSize(cfg), P = positionRows(cfg);
  const layer = 4 * (C * C + C) + 2 * 2 * C + (F * C + F) + (C * F + C);
  return (V + P + TV) * E + 2 * E + (E !== C ? C * E + C : 0) + cfg.layers * layer + (C * C + C) + (NL * C + NL);
}

/**
 * The most bytes a checkpoint for this config may hold or inflate to: every expected tensor at the widest
 * dtype read (F64, 8 bytes), plus 1/16 and 4 MiB for extras a checkpoint may carry (e.g. `position_ids`).
 * Loaders refuse anything larger before reading or inflating it.
 */
export function maxCheckpointBytes(cfg: BertConfig): number {
  return Math.ceil(weightElements(cfg) * 8 * (1 + 1 / 16)) + 4 * 2 ** 20;
}

/** One family's tensor names: the model prefix, the names inside a layer, the head's. */
interface NameTable {
  prefix: string;
  layer: (l: number) => Record<keyof LayerWeights, string>;
  dense: string; out: string; // the head's dense and output layers (no prefix)
}
const bertLayer = (p: string) => (l: number): Record<keyof LayerWeights, string> => {
  const q = `${p}encoder.layer.${l}.`;
  const n = (k: string) => [`${q}${k}.weight`, `${q}${k}.bias`];
  const [qW, qB] = n('attention.self.query'), [kW, kB] = n('attention.self.key'), [vW, vB] = n('attention.self.value');
  const [aoW, aoB] = n('attention.output.dense'), [ln1G, ln1B] = n('attention.output.LayerNorm');
  const [iW, iB] = n('intermediate.dense'), [oW, oB] = n('output.dense'), [ln2G, ln2B] = n('output.LayerNorm');
  return { qW, qB, kW, kB, vW, vB, aoW, aoB, ln1G, ln1B, iW, iB, oW, oB, ln2G, ln2B };
};
const NAMES: Record<Family, (prefixed: boolean) => NameTable> = {
  bert: (pre) => ({ prefix: pre ? 'bert.' : '', layer: bertLayer(pre ? 'bert.' : ''), dense: `${pre ? 'bert.' : ''}pooler.dense`, out: 'classifier' }),
  roberta: () => ({ prefix: 'roberta.', layer: bertLayer('roberta.'), dense: 'classifier.dense', out: 'classifier.out_proj' }),
  electra: () => ({ prefix: 'electra.', layer: bertLayer('electra.'), dense: 'classifier.dense', out: 'classifier.out_proj' }),
  distilbert: () => ({
    prefix: 'distilbert.',
    layer: (l) => {
      const q = `distilbert.transformer.layer.${l}.`;
      const n = (k: string) => [`${q}${k}.weight`, `${q}${k}.bias`];
      const [qW, qB] = n('attention.q_lin'), [kW, kB] = n('attention.k_lin'), [vW, vB] = n('attention.v_lin');
      const [aoW, aoB] = n('attention.out_lin'), [ln1G, ln1B] = n('sa_layer_norm');
      const [iW, iB] = n('ffn.lin1'), [oW, oB] = n('ffn.lin2'), [ln2G, ln2B] = n('output_layer_norm');
      return { qW, qB, kW, kB, vW, vB, aoW, aoB, ln1G, ln1B, iW, iB, oW, oB, ln2G, ln2B };
    },
    dense: 'pre_classifier', out: 'classifier',
  }),
};
const CLASS: Record<Family, string> = {
  bert: 'BertForSequenceClassification', roberta: '(XLM-)RobertaForSequenceClassification',
  electra: 'ElectraForSequenceClassification', distilbert: 'DistilBertForSequenceClassification',
};

export function weightsFromStateDict(sd: Map<string, RawTensor>, cfg: BertConfig, file: string): BertWeights {
  const family = familyOf(cfg);
  const names = NAMES[family]([...sd.keys()].some((k) => k.startsWith('bert.')));
  const candidates = (key: string): string[] => {
    const alts = [key];
    if (key.endsWith('LayerNorm.weight')) alts.push(key.replace(/weight$/, 'gamma'));
    if (key.endsWith('LayerNorm.bias')) alts.push(key.replace(/bias$/, 'beta'));
    return alts;
  };
  const get = (key: string, shape: number[]): Tensor => {
    const alts = candidates(key);
    const found = alts.find((k) => sd.has(k));
    if (!found) {
      throw new UserError(`${file}: missing tensor '${alts[0]}'; is this a ${CLASS[family]} checkpoint, as config.json says? (found ${sd.size} tensors, e.g. ${[...sd.keys()].slice(0, 3).join(', ')})`);
    }
    const t = sd.get(found)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${file}: tensor '${found}' has shape [${t.shape}], but config.json implies [${shape}]; the config and the weights do not belong together`);
    }
    if (!['F32', 'F16', 'BF16', 'F64'].includes(t.dtype)) {
      throw new UserError(`${file}: tensor '${found}' has dtype ${t.dtype}; expected F32, F16 or BF16`);
    }
    const data = toFloat(t, Float32Array);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new UserError(`${file}: tensor '${found}' holds a non-finite value (${data[i]}) at index ${i}; the checkpoint is corrupt`);
    }
    return { shape, data };
  };
  const { hidden: C, intermediate: F, vocabSize: V, typeVocab: TV, numLabels: NL } = cfg;
  const E = embeddingSize(cfg), P = positionRows(cfg);
  const shapes: Record<keyof LayerWeights, number[]> = {
    qW: [C, C], qB: [C], kW: [C, C], kB: [C], vW: [C, C], vB: [C], aoW: [C, C], aoB: [C], ln1G: [C], ln1B: [C],
    iW: [F, C], iB: [F], oW: [C, F], oB: [C], ln2G: [C], ln2B: [C],
  };
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.layers; l++) {
    const n = names.layer(l);
    layers.push(Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, get(n[k as keyof LayerWeights], s)])) as unknown as LayerWeights);
  }
  const e = `${names.prefix}embeddings.`;
  const proj = family === 'electra' && E !== C
    ? { projW: get(`${names.prefix}embeddings_project.weight`, [C, E]), projB: get(`${names.prefix}embeddings_project.bias`, [C]) }
    : {};
  return {
    config: cfg,
    wordEmb: get(`${e}word_embeddings.weight`, [V, E]),
    posEmb: get(`${e}position_embeddings.weight`, [P, E]),
    // DistilBERT has no token types: one zero row, so every family adds a type row
    typeEmb: cfg.tokenTypes === false ? { shape: [1, E], data: new Float32Array(E) } : get(`${e}token_type_embeddings.weight`, [TV, E]),
    embLnG: get(`${e}LayerNorm.weight`, [E]),
    embLnB: get(`${e}LayerNorm.bias`, [E]),
    ...proj,
    layers,
    poolW: get(`${names.dense}.weight`, [C, C]), poolB: get(`${names.dense}.bias`, [C]),
    clsW: get(`${names.out}.weight`, [NL, C]), clsB: get(`${names.out}.bias`, [NL]),
  };
}
