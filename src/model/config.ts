/** Reads a Hugging Face BERT `config.json` into a BertConfig, refusing what the engine cannot run. */
import { UserError } from '../util/errors.ts';
import type { BertConfig } from './types.ts';

const SUPPORTED_ARCH = new Set(['BertForSequenceClassification']);
const SUPPORTED_TYPES = new Set(['bert']);

export function parseConfig(text: string, file: string): BertConfig {
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${file}: not valid JSON (${(e as Error).message.replace(/\s+/g, ' ')}); it should be the config.json saved with the checkpoint`);
  }
  if (typeof c !== 'object' || c === null) throw new UserError(`${file}: expected a JSON object`);
  const arch = c.architectures as string[] | undefined;
  if (Array.isArray(arch) && !arch.some((a) => SUPPORTED_ARCH.has(a))) {
    throw new UserError(`${file}: architecture ${arch.join(', ')} is not supported; this engine runs BertForSequenceClassification cross-encoders`);
  }
  if (c.model_type !== undefined && !SUPPORTED_TYPES.has(c.model_type as string)) {
    throw new UserError(`${file}: model_type '${c.model_type}' is not supported; this engine runs BERT ('bert') cross-encoders`);
  }
  const act = (c.hidden_act ?? 'gelu') as string;
  if (act !== 'gelu') throw new UserError(`${file}: hidden_act '${act}' is not supported; the engine implements exact-erf 'gelu'`);
  if (c.position_embedding_type !== undefined && c.position_embedding_type !== 'absolute') {
    throw new UserError(`${file}: position_embedding_type '${c.position_embedding_type}' is not supported; only 'absolute'`);
  }
  const int = (k: string, dflt?: number): number => {
    const v = c[k] ?? dflt;
    if (!Number.isInteger(v) || (v as number) <= 0) throw new UserError(`${file}: '${k}' must be a positive integer, found ${JSON.stringify(c[k])}`);
    return v as number;
  };
  let numLabels = 2;
  if (c.id2label && typeof c.id2label === 'object') numLabels = Object.keys(c.id2label as object).length;
  if (Number.isInteger(c.num_labels)) numLabels = c.num_labels as number;
  const cfg: BertConfig = {
    vocabSize: int('vocab_size'),
    hidden: int('hidden_size'),
    layers: int('num_hidden_layers'),
    heads: int('num_attention_heads'),
    intermediate: int('intermediate_size'),
    maxPositions: int('max_position_embeddings', 512),
    typeVocab: int('type_vocab_size', 2),
    eps: typeof c.layer_norm_eps === 'number' ? c.layer_norm_eps : 1e-12,
    numLabels,
    padTokenId: Number.isInteger(c.pad_token_id) ? (c.pad_token_id as number) : 0,
  };
  if (cfg.hidden % cfg.heads !== 0) throw new UserError(`${file}: hidden_size ${cfg.hidden} is not a multiple of num_attention_heads ${cfg.heads}`);
  if (numLabels !== 1 && numLabels !== 2) throw new UserError(`${file}: ${numLabels} labels; a cross-encoder has 1 (score) or 2 (non-relevant, relevant)`);
  return cfg;
}
