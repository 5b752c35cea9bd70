/**
 * Any tokenizer.json in plain JavaScript (no Node imports: the browser build runs it), through
 * `@huggingface/tokenizers` (models WordPiece, Unigram, BPE, and WordLevel through its `Legacy` model; normalizers,
 * pre-tokenizers as the file says). The library encodes the query and the passage, each without special tokens; the
 * pair is then assembled here from the file's post_processor, as the native backend (tokenizer.ts) gets it:
 *   `[CLS] q [SEP] p [SEP]`     TemplateProcessing `[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1` or BertProcessing, types 0 then 1
 *   `<s> q </s></s> p </s>`     RobertaProcessing, or XLM-R's TemplateProcessing `<s> $A </s> </s> $B </s>`;
 *                               type ids mark the passage (1) for the baselines, the model reads 0 (one type row)
 * and the passage alone is cut so the pair fits maxLength (only_second); nothing is padded, and any truncation or
 * padding preset in the file is ignored. Where this differs from the native package (XLM-R's Precompiled normalizer,
 * which the library approximates with NFKC): docs/tokenizers.md.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { UserError } from '../util/errors.ts';
import type { EncodedPair } from '../model/types.ts';
import { buildPair, checkMaxLength, WordPieceTokenizer } from './wordpiece.ts';

/** A tokenizer's vocabulary size and special ids (every backend has them). */
export interface TokenizerIds {
  readonly vocabSize: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maskId: number;
  readonly unkId: number;
}

/** What the page and the Node 'js' backend encode with: the WordPiece port or the library, the same surface. */
export interface SyncPairTokenizer extends TokenizerIds {
  readonly vocab: ReadonlyMap<string, number>;
  /** The file it was read from, for messages. */
  readonly source: string;
  encodePair(query: string, passage: string, maxLength: number): EncodedPair;
  tokenToId(token: string): number | undefined;
  describe(): string;
}

/** A BERT pipeline (WordPiece model and BertNormalizer): the WordPiece port's to run and validate. */
export function isBertPipeline(json: unknown): boolean {
  const j = json as Record<string, any> | null;
  return !!j && typeof j === 'object' && j.model?.type === 'WordPiece' && j.normalizer?.type === 'BertNormalizer';
}

/**
 * Any tokenizer.json in JS: a BERT WordPiece pipeline through the port (wordpiece.ts: equal to the native package on
 * every code point of planes 0-3, and 3.5x faster than the library), anything else through `@huggingface/tokenizers`.
 */
export function jsTokenizerFromJson(json: unknown, file: string): SyncPairTokenizer {
  return isBertPipeline(json) ? WordPieceTokenizer.fromTokenizerJson(json, file) : JsonPairTokenizer.fromJson(json, file);
}

/** The pair template of a tokenizer.json: its two special tokens and how many separators part query and passage. */
export interface PairTemplate {
  cls: string;
  sep: string;
  /** 1: `[CLS] q [SEP] p [SEP]`, types 0 then 1; 2: `<s> q </s></s> p </s>`. */
  seps: 1 | 2;
  /** One phrase for describe(). */
  what: string;
}

/** Reads the pair template from a tokenizer.json's post_processor; `bad` throws the caller's error. */
export function pairTemplate(json: unknown, bad: (what: string) => never): PairTemplate {
  const j = json as Record<string, any>;
  const pp = j?.post_processor;
  const what = (type: string) => `${j?.model?.type ?? 'WordLevel'} model, ${type}`;
  if (pp?.type === 'RobertaProcessing') return { cls: pp.cls?.[0] ?? '<s>', sep: pp.sep?.[0] ?? '</s>', seps: 2, what: what(pp.type) };
  if (pp?.type === 'BertProcessing') return { cls: pp.cls?.[0] ?? '[CLS]', sep: pp.sep?.[0] ?? '[SEP]', seps: 1, what: what(pp.type) };
  if (pp?.type === 'TemplateProcessing' && Array.isArray(pp.pair)) {
    // `[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1`, or XLM-R's (transformers' XLMRobertaConverter) `<s> $A </s> </s> $B </s>`
    const pair = pp.pair as any[];
    const shape = pair.map((e) => (e.SpecialToken ? `${e.SpecialToken.id}:${e.SpecialToken.type_id}` : `${e.Sequence?.id}:${e.Sequence?.type_id}`));
    const sepAt = (i: number) => pair[i]?.SpecialToken && pair[i].SpecialToken.id === pair[2].SpecialToken?.id;
    const bert = shape.length === 5 && shape[1] === 'A:0' && shape[3] === 'B:1' && pair[0].SpecialToken && sepAt(2) && sepAt(4);
    const xlmr = shape.length === 6 && shape[1] === 'A:0' && /^B:/.test(shape[4]) && pair[0].SpecialToken && sepAt(2) && sepAt(3) && sepAt(5);
    if (!bert && !xlmr) bad(`'post_processor' pair template is [${shape.join(' ')}], not [CLS]:0 A:0 [SEP]:0 B:1 [SEP]:1 nor <s> A </s> </s> B </s>`);
    return { cls: pair[0].SpecialToken.id, sep: pair[2].SpecialToken.id, seps: xlmr ? 2 : 1, what: what(pp.type) };
  }
  return bad(`'post_processor' is ${JSON.stringify(pp?.type ?? null)}`);
}

/** `<s> q </s></s> p </s>`, the passage cut from the right so the pair has at most maxLength tokens (at least one passage token). */
export function buildPair2(q: number[], p: number[], maxLength: number, clsId: number, sepId: number, source: string): EncodedPair {
  checkMaxLength(maxLength);
  const keep = Math.min(p.length, maxLength - q.length - 4);
  if (keep < 1) {
    throw new UserError(`${source}: <s> query </s></s>, one passage token and </s> do not fit in max length ${maxLength} (the query has ${q.length} tokens, the passage ${p.length}); shorten the query or raise the max length`);
  }
  const ids = [clsId, ...q, sepId, sepId, ...p.slice(0, keep), sepId];
  const sep1 = q.length + 1;
  return { ids, typeIds: ids.map((_, i) => (i >= sep1 + 2 ? 1 : 0)), sep1, passage: sep1 + 2 };
}

/** A tokenizer.json run by `@huggingface/tokenizers`, encoding query-passage pairs synchronously. */
export class JsonPairTokenizer implements SyncPairTokenizer {
  readonly vocabSize: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maskId: number;
  readonly unkId: number;

  private constructor(private readonly tok: Tokenizer, readonly template: PairTemplate, ids: number[], readonly source: string) {
    [this.clsId, this.sepId, this.padId, this.maskId, this.unkId, this.vocabSize] = ids;
  }

  /** Builds from a parsed tokenizer.json; `file` names it in errors. */
  static fromJson(json: unknown, file: string): JsonPairTokenizer {
    const bad = (what: string): never => {
      throw new UserError(`${file}: ${what}; a cross-encoder's tokenizer.json pairs \`[CLS] q [SEP] p [SEP]\` (TemplateProcessing or BertProcessing) or \`<s> q </s></s> p </s>\` (RobertaProcessing)`);
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('not a JSON object');
    const j = json as Record<string, any>;
    if (typeof j.model !== 'object' || j.model === null || j.model.vocab === undefined) bad("'model.vocab' is missing");
    const template = pairTemplate(j, bad);
    // WordLevel has no model of its own in the library: its `Legacy` model maps whole words, with the unk token of the config
    const config = { unk_token: typeof j.model.unk_token === 'string' ? j.model.unk_token : undefined };
    let tok: Tokenizer;
    try {
      tok = new Tokenizer({ normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, added_tokens: [], ...j }, config);
    } catch (e) {
      return bad(`@huggingface/tokenizers cannot read it (${(e as Error).message})`);
    }
    const id = (name: string | undefined): number | undefined => (name === undefined ? undefined : tok.token_to_id(name));
    const first = (...names: (string | undefined)[]): number => {
      for (const n of names) { const v = id(n); if (v !== undefined) return v; }
      return -1;
    };
    const clsId = id(template.cls), sepId = id(template.sep);
    if (clsId === undefined || sepId === undefined) bad(`the post_processor's ${template.cls} / ${template.sep} are not in the vocabulary`);
    const padId = first(typeof j.padding?.pad_token === 'string' ? j.padding.pad_token : undefined, '<pad>', '[PAD]');
    if (padId < 0) bad('no pad token (padding.pad_token, <pad> or [PAD]); the baselines need it');
    const unkName = typeof j.model.unk_token === 'string' ? j.model.unk_token : Number.isInteger(j.model.unk_id) ? tok.id_to_token(j.model.unk_id) : undefined;
    let vocabSize = 0;
    for (const v of tok.get_vocab(true).values()) vocabSize = Math.max(vocabSize, v + 1);
    return new JsonPairTokenizer(tok, template, [clsId!, sepId!, padId, first('<mask>', '[MASK]'), first(unkName, '<unk>', '[UNK]'), vocabSize], file);
  }

  /** Token ids of one text, without special tokens. */
  encode(text: string): number[] {
    return text.length === 0 ? [] : this.tok.encode(text, { add_special_tokens: false }).ids;
  }

  /** The pair as the file's template gives it, the passage cut so the pair has at most maxLength tokens; no padding. */
  encodePair(query: string, passage: string, maxLength: number): EncodedPair {
    const q = this.encode(query), p = this.encode(passage);
    return this.template.seps === 2
      ? buildPair2(q, p, maxLength, this.clsId, this.sepId, this.source)
      : buildPair(q, p, maxLength, this.clsId, this.sepId, this.source);
  }

  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  /** Token to id, added tokens included. */
  get vocab(): ReadonlyMap<string, number> {
    return this.tok.get_vocab(true);
  }

  /** The pipeline and the library, in a phrase. */
  describe(): string {
    return `@huggingface/tokenizers (JS), vocab ${this.vocabSize} tokens, ${this.template.what}`;
  }
}
