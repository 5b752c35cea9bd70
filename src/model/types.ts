/**
 * In-memory model: config and weights of a BERT-family sequence classifier (src/model/config.ts: BERT, RoBERTa /
 * XLM-R, ELECTRA, DistilBERT), in float32.
 * Linear weights keep Hugging Face's layout `[out, in]` (row o holds the weights of output o).
 */
/** The model families the engine runs (src/model/config.ts says what differs). */
export type Family = 'bert' | 'roberta' | 'electra' | 'distilbert';
export const FAMILIES: Family[] = ['bert', 'roberta', 'electra', 'distilbert'];

export interface BertConfig {
  /** Unset: 'bert' (configs built in code). The fields below marked "family" default to BERT's. */
  family?: Family;
  vocabSize: number;
  hidden: number;          // C
  layers: number;          // number of encoder layers
  heads: number;           // NH; head size = hidden / heads
  intermediate: number;    // d_ff, FFN width
  maxPositions: number;    // the most tokens a sequence may have (max_position_embeddings − posOffset)
  posRows?: number;        // family: rows of the position table (max_position_embeddings); default maxPositions
  posOffset?: number;      // family: position id of token 0 (RoBERTa padding_idx + 1, pads at padding_idx); default 0
  typeVocab: number;       // type_vocab_size (DistilBERT: 1, a zero row)
  tokenTypes?: boolean;    // family: whether the checkpoint has token type embeddings (DistilBERT: false)
  embedding?: number;      // family: E, width of the embeddings (ELECTRA's embedding_size); default hidden
  headAct?: 'tanh' | 'gelu' | 'relu'; // family: the head's activation after its dense layer; default tanh
  /**
   * Set by BertGpu when the word embeddings exceed the device's storage binding limit (XLM-R's 250k words): the GPU
   * holds no vocabulary, and each batch's distinct word rows are gathered on the host into the plan's `words` table.
   */
  hostWords?: boolean;
  eps: number;             // layer_norm_eps
  numLabels: number;       // 1 (logit relevance) or 2 (softmax[1] relevance)
  padTokenId: number;
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export interface LayerWeights {
  qW: Tensor; qB: Tensor;     // (C, C), (C)
  kW: Tensor; kB: Tensor;
  vW: Tensor; vB: Tensor;
  aoW: Tensor; aoB: Tensor;   // attention.output.dense (C, C), (C)
  ln1G: Tensor; ln1B: Tensor; // attention.output.LayerNorm (C)
  iW: Tensor; iB: Tensor;     // intermediate.dense (F, C), (F)
  oW: Tensor; oB: Tensor;     // output.dense (C, F), (C)
  ln2G: Tensor; ln2B: Tensor; // output.LayerNorm (C)
}

export interface BertWeights {
  config: BertConfig;
  wordEmb: Tensor;   // (V, E)
  posEmb: Tensor;    // (P, E)
  typeEmb: Tensor;   // (TV, E) (DistilBERT: one zero row)
  embLnG: Tensor; embLnB: Tensor; // (E)
  /** ELECTRA's embeddings_project (C, E), (C), when E ≠ C. */
  projW?: Tensor; projB?: Tensor;
  layers: LayerWeights[];
  /** The head's dense layer: BERT's pooler, RoBERTa/ELECTRA's classifier.dense, DistilBERT's pre_classifier. */
  poolW: Tensor; poolB: Tensor;   // (C, C), (C)
  /** The output layer: classifier (BERT, DistilBERT) or classifier.out_proj (RoBERTa, ELECTRA). */
  clsW: Tensor; clsB: Tensor;     // (numLabels, C), (numLabels)
}

/**
 * A tokenised query-passage pair: `[CLS] q [SEP] p [SEP]`, token types 0 then 1; RoBERTa/XLM-R `<s> q </s></s> p
 * </s>`, token types 0 up to the second `</s>` then 1 (they mark the passage; a family without token types reads none).
 */
export interface EncodedPair {
  ids: number[];
  typeIds: number[];
  /** Token index of the first [SEP] (end of the query segment). */
  sep1: number;
  /** Token index of the passage's first token; unset: sep1 + 1 (one separator; XLM-R has two, `</s></s>`). */
  passage?: number;
}

/**
 * The attributed output F, per sequence (src/ref/bert.ts computes it in float64, head_backward.wgsl on the GPU).
 * - 'relevant': 2 labels softmax(logits)[1]; 1 label the logit.
 * - 'nonrelevant': 2 labels softmax(logits)[0]; 1 label minus the logit (a one-logit model's score of non-relevance).
 * - 'logit': the raw logit of the relevant class, logits[NL - 1].
 */
export type Target = 'relevant' | 'nonrelevant' | 'logit';
export const TARGETS: Target[] = ['relevant', 'nonrelevant', 'logit'];
/** What NIG differentiates unless told: the 'relevant' probability, or the logit of a one-label model. */
export const defaultTarget = (numLabels: number): Target => (numLabels === 1 ? 'logit' : 'relevant');
