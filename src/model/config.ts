/**
 * Reads a Hugging Face `config.json` of a sequence-classification cross-encoder into a BertConfig, refusing what the
 * engine cannot run before any weight is read. Families (transformers' modeling code):
 * - 'bert'       BertForSequenceClassification: positions 0.., token types, pooler dense → tanh → classifier.
 * - 'roberta'    XLMRobertaForSequenceClassification / RobertaForSequenceClassification: positions start at
 *                padding_idx + 1 and skip pads, one token-type row, no pooler, classifier.dense → tanh → out_proj.
 * - 'electra'    ElectraForSequenceClassification: embeddings of `embedding_size` then `embeddings_project` when it
 *                differs from hidden_size, classifier.dense → GELU → out_proj.
 * - 'distilbert' DistilBertForSequenceClassification: its own names, no token types, LayerNorm eps 1e-12,
 *                pre_classifier → ReLU → classifier.
 * The encoder (post-LN attention + GELU FFN) is BERT's in all four.
 */
import { UserError } from '../util/errors.ts';
import type { BertConfig, Family } from './types.ts';

/** model_type → family, and the architectures each family's loader reads. */
const FAMILY_OF_TYPE: Record<string, Family> = { bert: 'bert', roberta: 'roberta', 'xlm-roberta': 'roberta', electra: 'electra', distilbert: 'distilbert' };
const ARCH_FAMILY: Record<string, Family> = {
  BertForSequenceClassification: 'bert',
  RobertaForSequenceClassification: 'roberta', XLMRobertaForSequenceClassification: 'roberta',
  ElectraForSequenceClassification: 'electra',
  DistilBertForSequenceClassification: 'distilbert',
};
const RUNS = 'this engine runs BertForSequenceClassification, (XLM-)RobertaForSequenceClassification, ElectraForSequenceClassification and DistilBertForSequenceClassification cross-encoders';

export function parseConfig(text: string, file: string): BertConfig {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); it should be the config.json saved with the checkpoint`);
  }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new UserError(`${file}: expected a JSON object`);
  if (c.auto_map !== undefined) {
    const names = typeof c.auto_map === 'object' && c.auto_map ? Object.values(c.auto_map as object).map(String).slice(0, 2).join(', ') : String(c.auto_map);
    throw new UserError(`${file}: 'auto_map' names custom modeling code (${names}), which this engine cannot run; ${RUNS}`);
  }
  const arch = c.architectures as string[] | undefined;
  let family: Family | undefined;
  if (Array.isArray(arch)) {
    family = arch.map((a) => ARCH_FAMILY[a]).find((f) => f !== undefined);
    if (!family) throw new UserError(`${file}: 'architectures' ${arch.join(', ')} is not supported; ${RUNS}`);
  }
  if (c.model_type !== undefined) {
    const f = FAMILY_OF_TYPE[c.model_type as string];
    if (!f) throw new UserError(`${file}: 'model_type' '${String(c.model_type)}' is not supported; ${RUNS} (model_type bert, roberta, xlm-roberta, electra or distilbert)`);
    if (family && f !== family) throw new UserError(`${file}: 'model_type' '${String(c.model_type)}' does not match 'architectures' ${arch!.join(', ')}; fix one of them`);
    family = f;
  }
  family ??= 'bert';
  const distil = family === 'distilbert';
  const actKey = distil ? 'activation' : 'hidden_act';
  const act = (c[actKey] ?? 'gelu') as string;
  if (act !== 'gelu') throw new UserError(`${file}: '${actKey}' '${act}' is not supported; the engine implements exact-erf 'gelu'`);
  if (c.position_embedding_type !== undefined && c.position_embedding_type !== 'absolute') {
    throw new UserError(`${file}: 'position_embedding_type' '${String(c.position_embedding_type)}' is not supported; only 'absolute'`);
  }
  const int = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (!Number.isInteger(v) || (v as number) <= 0) throw new UserError(`${file}: '${k}' must be a positive integer, found ${JSON.stringify(c[k])}`);
    return v as number;
  };
  let numLabels = 2;
  if (c.id2label && typeof c.id2label === 'object') numLabels = Object.keys(c.id2label as object).length;
  if (Number.isInteger(c.num_labels)) numLabels = c.num_labels as number;
  const padTokenId = Number.isInteger(c.pad_token_id) ? (c.pad_token_id as number) : family === 'roberta' ? 1 : 0;
  const k = distil
    ? { hidden: 'dim', layers: 'n_layers', heads: 'n_heads', intermediate: 'hidden_dim' }
    : { hidden: 'hidden_size', layers: 'num_hidden_layers', heads: 'num_attention_heads', intermediate: 'intermediate_size' };
  const hidden = int(k.hidden);
  const posRows = int('max_position_embeddings', 512);
  // RoBERTa: position ids run padding_idx + 1 .. padding_idx + T, so T tokens need T + padding_idx + 1 rows
  const posOffset = family === 'roberta' ? padTokenId + 1 : 0;
  if (posRows - posOffset < 4) throw new UserError(`${file}: 'max_position_embeddings' ${posRows} leaves ${posRows - posOffset} positions after padding_idx + 1 = ${posOffset}; the checkpoint is not a usable ${family} model`);
  const cfg: BertConfig = {
    family,
    vocabSize: int('vocab_size'),
    hidden,
    layers: int(k.layers),
    heads: int(k.heads),
    intermediate: int(k.intermediate),
    maxPositions: posRows - posOffset,
    posRows,
    posOffset,
    typeVocab: distil ? 1 : int('type_vocab_size', 2),
    tokenTypes: !distil,
    embedding: family === 'electra' ? int('embedding_size', hidden) : hidden,
    eps: distil ? 1e-12 : typeof c.layer_norm_eps === 'number' ? c.layer_norm_eps : 1e-12,
    headAct: family === 'electra' ? 'gelu' : family === 'distilbert' ? 'relu' : 'tanh',
    numLabels,
    padTokenId,
  };
  if (cfg.hidden % cfg.heads !== 0) throw new UserError(`${file}: '${k.hidden}' ${cfg.hidden} is not a multiple of '${k.heads}' ${cfg.heads}`);
  if (numLabels !== 1 && numLabels !== 2) throw new UserError(`${file}: ${numLabels} labels; a cross-encoder has 1 (score) or 2 (non-relevant, relevant)`);
  return cfg;
}

/** Defaults of the family fields, for configs built in code (tests, toys): BERT's. */
export const familyOf = (cfg: BertConfig): Family => cfg.family ?? 'bert';
/** Width of the word/position/type embeddings (ELECTRA's embedding_size; the hidden size otherwise). */
export const embeddingSize = (cfg: BertConfig): number => cfg.embedding ?? cfg.hidden;
/** Rows of the position table (max_position_embeddings), and the position id of token 0. */
export const positionRows = (cfg: BertConfig): number => cfg.posRows ?? cfg.maxPositions;
/** The head's activation between its dense layer and the output layer. */
export const headActivation = (cfg: BertConfig): 'tanh' | 'gelu' | 'relu' => cfg.headAct ?? 'tanh';

/**
 * Position ids of a sequence (right padding, `len` real tokens of `T`): BERT, ELECTRA, DistilBERT t; RoBERTa
 * padding_idx + 1 + t on real tokens and padding_idx on pads (transformers' create_position_ids_from_input_ids, with
 * the ids' pads at the end; a pad id inside a real sequence does not occur in a tokenised pair).
 */
export function positionIds(cfg: BertConfig, ids: ArrayLike<number>, T = ids.length): Int32Array {
  const out = new Int32Array(T);
  if (!cfg.posOffset) { for (let t = 0; t < T; t++) out[t] = t; return out; }
  let n = 0;
  for (let t = 0; t < T; t++) {
    const real = t < ids.length && ids[t] !== cfg.padTokenId;
    if (real) n++;
    out[t] = real ? cfg.padTokenId + n : cfg.padTokenId;
  }
  return out;
}
