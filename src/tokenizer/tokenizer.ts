/**
 * Finds and loads the tokenizer of a cross-encoder checkpoint and encodes query-passage pairs with it.
 * Lookup: `--tokenizer FILE` (a tokenizer.json, or a vocab.txt with tokenizer_config.json beside it), else
 * `<modelDir>/tokenizer.json`, else `<modelDir>/vocab.txt` (+ `<modelDir>/tokenizer_config.json` if present).
 * Backends: 'tokenizers' (the native Hugging Face package; the default for tokenizer.json) and 'js' (what the browser
 * runs: the WordPiece port in wordpiece.ts for vocab.txt and BERT's pipeline, `@huggingface/tokenizers` for any other
 * tokenizer.json, json.ts). Either way the pair is the file's template (`[CLS] query [SEP] passage [SEP]`, or
 * `<s> q </s></s> p </s>` for RoBERTa/XLM-R), the passage alone is truncated to maxLength, and nothing is padded: any
 * truncation or padding preset stored in tokenizer.json is overridden.
 *
 * encodePair is async because the native package only encodes asynchronously (on its own thread pool); the JS
 * backend resolves at once. Calls on one tokenizer run one after another, since maxLength is tokenizer-wide state
 * in the native package.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Encoding, Tokenizer, TruncationStrategy } from 'tokenizers';
import { UserError } from '../util/errors.ts';
import type { EncodedPair } from '../model/types.ts';
import { checkMaxLength, WordPieceTokenizer } from './wordpiece.ts';
import { isBertPipeline, jsTokenizerFromJson, pairTemplate, type SyncPairTokenizer, type TokenizerIds } from './json.ts';

export type TokenizerBackend = 'tokenizers' | 'js';

export interface PairTokenizer extends TokenizerIds {
  readonly backend: TokenizerBackend;
  /** The file the vocabulary came from. */
  readonly file: string;
  /** `[CLS] query [SEP] passage [SEP]`, passage cut so the pair has at most maxLength tokens; no padding. */
  encodePair(query: string, passage: string, maxLength: number): Promise<EncodedPair>;
  /** The same for many pairs (the native backend encodes them concurrently on its thread pool). */
  encodePairs(pairs: readonly (readonly [string, string])[], maxLength: number): Promise<EncodedPair[]>;
  /** One line: file, backend and settings. */
  describe(): string;
}

export interface LoadTokenizerOptions {
  /** A tokenizer.json or vocab.txt to use instead of the model folder's. */
  tokenizerFile?: string;
  /** Default: 'tokenizers' for tokenizer.json, 'js' for vocab.txt. */
  backend?: TokenizerBackend;
}

export const DEFAULT_MAX_LENGTH = 512;

/**
 * The max length to encode with: `requested`, or 512 by default, capped by the model's max_position_embeddings.
 * Capping is not an error: `warn` (console.warn by default) says so.
 */
export function effectiveMaxLength(requested: number | undefined, maxPositions: number, warn: (msg: string) => void = (m) => console.warn(`warning: ${m}`)): number {
  const want = requested ?? DEFAULT_MAX_LENGTH;
  if (!Number.isInteger(want) || want < 4) {
    throw new UserError(`--max-length ${requested} is not an integer >= 4 ([CLS] [SEP] [SEP] and one token); give e.g. --max-length 512`);
  }
  if (want <= maxPositions) return want;
  if (requested === undefined) return maxPositions; // the default quietly follows the model
  warn(`${requested === undefined ? 'the default max length' : '--max-length'} ${want} exceeds the model's max_position_embeddings ${maxPositions}; using ${maxPositions}`);
  return maxPositions;
}

// ---- the native package, loaded on first use so that a missing binary only matters when it is asked for ----

type NativeModule = typeof import('tokenizers');
let native: NativeModule | undefined;
let nativeError: string | undefined;

function loadNative(): NativeModule | undefined {
  if (native || nativeError) return native;
  try {
    native = createRequire(import.meta.url)('tokenizers') as NativeModule;
  } catch (e) {
    nativeError = (e as Error).message.split('\n')[0];
  }
  return native;
}

function nativeVersion(): string {
  try {
    return (createRequire(import.meta.url)('tokenizers/package.json') as { version: string }).version;
  } catch {
    return '?';
  }
}

// ---- lookup ----

export function loadTokenizer(modelDir: string, opts: LoadTokenizerOptions = {}): PairTokenizer {
  let file: string;
  if (opts.tokenizerFile) {
    file = opts.tokenizerFile;
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new UserError(`${file}: the --tokenizer file does not exist; give the path of a tokenizer.json or a vocab.txt`);
    }
  } else {
    const json = path.join(modelDir, 'tokenizer.json');
    const vocab = path.join(modelDir, 'vocab.txt');
    if (existsSync(json)) file = json;
    else if (existsSync(vocab)) file = vocab;
    else {
      const what = existsSync(modelDir) ? 'has neither tokenizer.json nor vocab.txt' : 'does not exist';
      throw new UserError(`${modelDir}: the model folder ${what}; copy the tokenizer files saved with the checkpoint there, or point --tokenizer FILE at a tokenizer.json or vocab.txt`);
    }
  }
  const isJson = file.toLowerCase().endsWith('.json');
  const backend = opts.backend ?? (isJson ? 'tokenizers' : 'js');
  if (backend !== 'tokenizers' && backend !== 'js') {
    throw new UserError(`tokenizer backend '${backend}' is unknown; use 'tokenizers' or 'js'`);
  }
  let note = '';
  if (backend === 'tokenizers' && !loadNative()) {
    if (opts.backend) throw new UserError(`the 'tokenizers' package could not be loaded (${nativeError}); reinstall it (npm install) or use the 'js' tokenizer backend`);
    note = ` (the native 'tokenizers' package could not be loaded: ${nativeError})`;
  }
  const useNative = backend === 'tokenizers' && native !== undefined;

  if (isJson) {
    const text = readFileSync(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${file}: not valid JSON (${(e as Error).message}); use the tokenizer.json saved with the checkpoint, or its vocab.txt`);
    }
    // JS: the WordPiece port for BERT's pipeline, @huggingface/tokenizers for any other (json.ts). Native: a BERT
    // pipeline is validated by the port first (its special tokens and template), any other by its post_processor.
    if (!useNative) return new JsPairTokenizer(jsTokenizerFromJson(json, file), note);
    if (isBertPipeline(json)) return new NativePairTokenizer(nativeFromString(text, file), wpSpecials(WordPieceTokenizer.fromTokenizerJson(json, file)), file);
    const tok = nativeFromString(text, file);
    return new NativePairTokenizer(tok, nativeSpecials(json, tok, file), file);
  }

  const vocabText = readFileSync(file, 'utf8');
  const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
  let config: unknown;
  if (existsSync(configFile)) {
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8'));
    } catch (e) {
      throw new UserError(`${configFile}: not valid JSON (${(e as Error).message}); fix or remove it (defaults: do_lower_case true)`);
    }
  }
  const wp = WordPieceTokenizer.fromVocabTxt(vocabText, config, file, configFile);
  if (!useNative) return new JsPairTokenizer(wp, note);
  return new NativePairTokenizer(nativeFromWordPiece(wp), wpSpecials(wp), file);
}

function nativeFromString(text: string, file: string): Tokenizer {
  try {
    return native!.Tokenizer.fromString(text);
  } catch (e) {
    throw new UserError(`${file}: the tokenizers package cannot read it (${(e as Error).message}); use the tokenizer.json saved with the checkpoint, or the 'js' backend`);
  }
}

/** What the native backend needs besides the pipeline: the special tokens, and how many separators part the pair. */
interface NativeSpecials {
  clsId: number; sepId: number; padId: number; maskId: number; unkId: number;
  clsToken: string; sepToken: string;
  /** 1: `[CLS] q [SEP] p [SEP]`, types 0 then 1; 2: RoBERTa's `<s> q </s></s> p </s>` (types not read). */
  seps: 1 | 2;
  /** One phrase for describe(). */
  what: string;
  /** The JS port's vocabulary size, where it read the file too. */
  vocab?: number;
}

function wpSpecials(wp: WordPieceTokenizer): NativeSpecials {
  return {
    clsId: wp.clsId, sepId: wp.sepId, padId: wp.padId, maskId: wp.maskId, unkId: wp.unkId, clsToken: wp.options.clsToken, sepToken: wp.options.sepToken,
    seps: 1, what: `WordPiece, lowercase ${wp.options.lowercase}, strip accents ${wp.stripsAccents}`, vocab: wp.vocabSize,
  };
}

/**
 * The special tokens of a non-BERT tokenizer.json (RoBERTa/XLM-R BPE or Unigram with RobertaProcessing, or any model
 * with a `[CLS] $A [SEP] $B [SEP]` TemplateProcessing or BertProcessing): cls/sep from the post-processor, pad from
 * the padding preset or the added tokens, mask and unk by their usual names.
 */
function nativeSpecials(json: unknown, tok: Tokenizer, file: string): NativeSpecials {
  const j = json as Record<string, any>;
  const bad = (what: string): never => {
    throw new UserError(`${file}: ${what}; a cross-encoder's tokenizer.json pairs \`[CLS] q [SEP] p [SEP]\` (TemplateProcessing or BertProcessing) or \`<s> q </s></s> p </s>\` (RobertaProcessing)`);
  };
  const { cls, sep, seps, what } = pairTemplate(j, bad);
  const id = (name: string | undefined): number | undefined => (name === undefined ? undefined : tok.tokenToId(name) ?? undefined);
  const first = (...names: (string | undefined)[]): number => {
    for (const n of names) { const v = id(n); if (v !== undefined) return v; }
    return -1;
  };
  const clsId = id(cls), sepId = id(sep);
  if (clsId === undefined || sepId === undefined) bad(`the post_processor's ${cls} / ${sep} are not in the vocabulary`);
  const padId = first(typeof j.padding?.pad_token === 'string' ? j.padding.pad_token : undefined, '<pad>', '[PAD]');
  if (padId < 0) bad('no pad token (padding.pad_token, <pad> or [PAD]); the baselines need it');
  return {
    clsId: clsId!, sepId: sepId!, padId, maskId: first('<mask>', '[MASK]'), unkId: first(typeof j.model?.unk_token === 'string' ? j.model.unk_token : undefined, '<unk>', '[UNK]'),
    clsToken: cls, sepToken: sep, seps, what,
  };
}

/** Builds the native pipeline that transformers' BertConverter makes from vocab.txt + tokenizer_config.json. */
function nativeFromWordPiece(wp: WordPieceTokenizer): Tokenizer {
  const o = wp.options;
  const n = native!;
  const model = n.WordPiece.init(Object.fromEntries(o.vocab), {
    unkToken: o.unkToken, continuingSubwordPrefix: o.continuingPrefix, maxInputCharsPerWord: o.maxInputCharsPerWord,
  });
  const tok = new n.Tokenizer(model);
  tok.setNormalizer(n.bertNormalizer({ cleanText: o.cleanText, handleChineseChars: o.handleChineseChars, stripAccents: wp.stripsAccents, lowercase: o.lowercase }));
  tok.setPreTokenizer(n.bertPreTokenizer());
  const cls = o.clsToken, sep = o.sepToken;
  tok.setPostProcessor(n.templateProcessing(`${cls}:0 $A:0 ${sep}:0`, `${cls}:0 $A:0 ${sep}:0 $B:1 ${sep}:1`, [[cls, wp.clsId], [sep, wp.sepId]]));
  tok.addSpecialTokens(o.addedTokens.map((t) => t.content));
  return tok;
}

// ---- backends ----

class JsPairTokenizer implements PairTokenizer {
  readonly backend = 'js' as const;
  readonly file: string;
  readonly vocabSize: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maskId: number;
  readonly unkId: number;

  constructor(readonly wp: SyncPairTokenizer, private readonly note: string) {
    this.file = wp.source;
    this.vocabSize = wp.vocabSize;
    ({ clsId: this.clsId, sepId: this.sepId, padId: this.padId, maskId: this.maskId, unkId: this.unkId } = wp);
  }

  async encodePair(query: string, passage: string, maxLength: number): Promise<EncodedPair> {
    return this.wp.encodePair(query, passage, maxLength);
  }

  async encodePairs(pairs: readonly (readonly [string, string])[], maxLength: number): Promise<EncodedPair[]> {
    return pairs.map(([q, p]) => this.wp.encodePair(q, p, maxLength));
  }

  describe(): string {
    return `${this.file}: ${this.wp.describe()}; passage-only truncation, no padding${this.note}`;
  }
}

class NativePairTokenizer implements PairTokenizer {
  readonly backend = 'tokenizers' as const;
  readonly vocabSize: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly padId: number;
  readonly maskId: number;
  readonly unkId: number;
  private maxLength = -1;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly tok: Tokenizer, private readonly sp: NativeSpecials, readonly file: string) {
    ({ clsId: this.clsId, sepId: this.sepId, padId: this.padId, maskId: this.maskId, unkId: this.unkId } = sp);
    this.vocabSize = Math.max(tok.getVocabSize(true), sp.vocab ?? 0);
    for (const [name, id] of [[sp.clsToken, this.clsId], [sp.sepToken, this.sepId]] as const) {
      const got = tok.tokenToId(name);
      if (got !== id) throw new UserError(`${file}: tokenizers maps ${name} to ${got}, its vocab to ${id}; the file is inconsistent, re-save it with save_pretrained`);
    }
    tok.disablePadding(); // the file's padding preset (all-MiniLM's is Fixed 128) must not apply
    tok.disableTruncation();
  }

  /** Runs `f` after every earlier call, with truncation set to maxLength, only_second. */
  private run<T>(maxLength: number, f: () => Promise<T>): Promise<T> {
    const job = this.queue.then(() => {
      checkMaxLength(maxLength);
      if (maxLength !== this.maxLength) {
        this.tok.setTruncation(maxLength, { strategy: 'OnlySecond' as TruncationStrategy });
        this.maxLength = maxLength;
      }
      return f();
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  private fail(e: unknown, maxLength: number): never {
    const msg = (e as Error).message ?? String(e);
    if (/truncat/i.test(msg)) {
      throw new UserError(`${this.file}: [CLS] query [SEP], one passage token and [SEP] do not fit in max length ${maxLength} (tokenizers: ${msg}); shorten the query or raise the max length`);
    }
    throw e;
  }

  private toPair(e: Encoding, maxLength: number): EncodedPair {
    const ids = e.getIds();
    if (this.sp.seps === 2) {
      // `<s> q </s></s> p </s>`, type ids all 0: the pair's token types mark the passage (1) for the baselines and
      // the page; a model with one type row reads 0 everywhere (BertGpu.writeInputs)
      // the first </s> after the query, found from the sequence ids (a literal `</s>` in the query is the query's)
      const seq = e.getSequenceIds();
      const firstB = seq.indexOf(1);
      const sep1 = firstB >= 0 ? firstB - 2 : seq.lastIndexOf(0) + 1;
      const n = ids.length;
      const ok = sep1 >= 1 && ids[0] === this.clsId && ids[sep1 + 1] === this.sepId && ids[n - 1] === this.sepId && n > sep1 + 3 && n <= maxLength;
      if (!ok) throw new UserError(`${this.file}: its RobertaProcessing does not give <s> query </s></s> passage </s> within ${maxLength} tokens (got ids ${ids.slice(0, 8).join(' ')}...); use the tokenizer.json saved with the checkpoint`);
      return { ids, typeIds: ids.map((_, i) => (i >= sep1 + 2 ? 1 : 0)), sep1, passage: sep1 + 2 };
    }
    const typeIds = e.getTypeIds();
    const sep1 = typeIds.indexOf(1) - 1; // B and the last [SEP] have type 1, [CLS] A [SEP] type 0
    const n = ids.length;
    const ok = sep1 >= 1 && ids[0] === this.clsId && ids[sep1] === this.sepId && ids[n - 1] === this.sepId && n <= maxLength &&
      typeIds.every((t, i) => t === (i > sep1 ? 1 : 0));
    if (!ok) {
      throw new UserError(`${this.file}: its post_processor does not give [CLS] query [SEP] passage [SEP] with type ids 0 then 1 within ${maxLength} tokens (got ids ${ids.slice(0, 8).join(' ')}...); use a BERT tokenizer.json`);
    }
    return { ids, typeIds, sep1 };
  }

  encodePair(query: string, passage: string, maxLength: number): Promise<EncodedPair> {
    return this.run(maxLength, async () => {
      let enc: Encoding;
      try {
        enc = await this.tok.encode(query, passage);
      } catch (e) {
        return this.fail(e, maxLength);
      }
      return this.toPair(enc, maxLength);
    });
  }

  encodePairs(pairs: readonly (readonly [string, string])[], maxLength: number): Promise<EncodedPair[]> {
    // tokenizers' encodeBatch takes single sequences only in this binding, so pairs go through encode, all in flight.
    return this.run(maxLength, async () => {
      let encs: Encoding[];
      try {
        encs = await Promise.all(pairs.map(([q, p]) => this.tok.encode(q, p)));
      } catch (e) {
        return this.fail(e, maxLength);
      }
      return encs.map((e) => this.toPair(e, maxLength));
    });
  }

  describe(): string {
    return `${this.file}: tokenizers ${nativeVersion()} (native), vocab ${this.vocabSize} tokens, ${this.sp.what}; ` +
      `passage-only truncation, no padding (the file's presets are overridden)`;
  }
}
