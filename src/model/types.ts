/**
 * In-memory model: config and weights of a BertForSequenceClassification checkpoint, in float32.
 * Linear weights keep Hugging Face's layout `[out, in]` (row o holds the weights of output o).
 */
export interface BertConfig {
  vocabSize: number;
  hidden: number;          // C
  layers: number;          // number of encoder layers
  heads: number;           // NH; head size = hidden / heads
  intermediate: number;    // d_ff, FFN width
  maxPositions: number;    // max_position_embeddings
  typeVocab: number;       // type_vocab_size
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
  wordEmb: Tensor;   // (V, C)
  posEmb: Tensor;    // (P, C)
  typeEmb: Tensor;   // (TV, C)
  embLnG: Tensor; embLnB: Tensor; // (C)
  layers: LayerWeights[];
  poolW: Tensor; poolB: Tensor;   // (C, C), (C)
  clsW: Tensor; clsB: Tensor;     // (numLabels, C), (numLabels)
}

/** A tokenised query-passage pair: `[CLS] q [SEP] p [SEP]`, token types 0 then 1. */
export interface EncodedPair {
  ids: number[];
  typeIds: number[];
  /** Token index of the first [SEP] (end of the query segment). */
  sep1: number;
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
