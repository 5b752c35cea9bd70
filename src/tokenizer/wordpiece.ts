/**
 * BERT WordPiece tokenisation of query-passage pairs, in plain TypeScript (no Node imports: the browser build runs it).
 * A port of what Hugging Face `tokenizers` does for bert-base-uncased, stage by stage:
 *   added tokens  [CLS] [SEP] [PAD] [UNK] [MASK] found verbatim in the raw text stay whole (as `tokenizers` does)
 *   BertNormalizer  clean_text (drop NUL, U+FFFD and control chars, whitespace -> ' '), spaces around CJK
 *                   ideographs, strip_accents (NFD, drop Mn; null follows lowercase), per-char lowercase
 *   BertPreTokenizer  split on whitespace, every punctuation char its own word
 *   WordPiece       greedy longest match first, '##' continuing prefix, words over 100 chars -> [UNK]
 *   template        [CLS] A [SEP] B [SEP], type ids 0 for CLS, A and the first SEP, 1 for B and the last SEP
 *   truncation      of the passage only (only_second), so that the pair fits maxLength
 * Any truncation or padding preset in tokenizer.json is ignored: the caller's maxLength decides, and nothing is padded.
 *
 * Unicode notes. `tokenizers` classifies characters with Rust crates whose tables predate the Unicode 17 of Node 20:
 * characters assigned or recategorised since are handled as tokenizers handles them, using the exception tables
 * below (NOT_MN, NO_NFD, ...), which were found by running tokenizers on every code point. Unassigned code points (Cn)
 * are kept, as in tokenizers; only Cc, Cf, Co and Cs count as control characters.
 */
import { UserError } from '../util/errors.ts';
import type { EncodedPair } from '../model/types.ts';

export interface WordPieceOptions {
  vocab: Map<string, number>;
  unkToken: string;              // '[UNK]'
  continuingPrefix: string;      // '##'
  maxInputCharsPerWord: number;  // 100
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean | null;  // null: follow lowercase
  lowercase: boolean;
  clsToken: string;              // '[CLS]'
  sepToken: string;              // '[SEP]'
  padToken: string;              // '[PAD]'
  maskToken: string;             // '[MASK]'
  /** Tokens matched whole before normalisation (normalized=false) or after it (normalized=true). */
  addedTokens: { content: string; normalized: boolean }[];
  /** Names the source (a file path) in error messages. */
  source: string;
}

/** The five special tokens a BERT cross-encoder vocabulary must hold. */
export const BERT_SPECIALS = ['[CLS]', '[SEP]', '[PAD]', '[UNK]', '[MASK]'] as const;

// ---- character classes (as tokenizers' normalizers/bert.rs and pre_tokenizers/bert.rs define them) ----

/** Rust char::is_whitespace (the Unicode White_Space property). */
function isWhitespace(cp: number): boolean {
  return (cp >= 0x09 && cp <= 0x0d) || cp === 0x20 || cp === 0x85 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x2028 || cp === 0x2029 || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

const RE_CONTROL = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u; // not Cn: tokenizers keeps unassigned code points
const RE_PUNCT = /^\p{P}$/u;

// Where tokenizers' character tables (the Rust crates unicode_categories and unicode-normalization, older than the
// Unicode 17 of Node 20's ICU) disagree with this engine's. Found by running tokenizers' BertNormalizer and
// BertPreTokenizer on every code point; an engine with an older Unicode simply never hits most of them.
/** Cf to Unicode 17, but kept by tokenizers (assigned after its tables): 20 code points. */
const NOT_CONTROL: readonly number[] = [0x890, 0x891, 0x8e2, 0x8e2, 0x110cd, 0x110cd, 0x13430, 0x1343f];
/** Mn to Unicode 17, but not stripped by tokenizers (assigned after its tables): 486 code points. */
const NOT_MN: readonly number[] = [
  0x7fd, 0x7fd, 0x897, 0x89f, 0x8ca, 0x8e1, 0x9fe, 0x9fe, 0xafa, 0xaff, 0xb55, 0xb55, 0xc04, 0xc04, 0xc3c, 0xc3c,
  0xd00, 0xd00, 0xd3b, 0xd3c, 0xd81, 0xd81, 0xeba, 0xeba, 0xece, 0xece, 0x180f, 0x180f, 0x1885, 0x1886,
  0x1abf, 0x1add, 0x1ae0, 0x1aeb, 0x1df6, 0x1dfb, 0xa82c, 0xa82c, 0xa8c5, 0xa8c5, 0xa8ff, 0xa8ff, 0xa9bd, 0xa9bd,
  0x10d24, 0x10d27, 0x10d69, 0x10d6d, 0x10eab, 0x10eac, 0x10efa, 0x10eff, 0x10f46, 0x10f50, 0x10f82, 0x10f85,
  0x11070, 0x11070, 0x11073, 0x11074, 0x110c2, 0x110c2, 0x111c9, 0x111c9, 0x111cf, 0x111cf, 0x1123e, 0x1123e,
  0x11241, 0x11241, 0x1133b, 0x1133b, 0x113bb, 0x113c0, 0x113ce, 0x113ce, 0x113d0, 0x113d0, 0x113d2, 0x113d2,
  0x113e1, 0x113e2, 0x11438, 0x1143f, 0x11442, 0x11444, 0x11446, 0x11446, 0x1145e, 0x1145e, 0x1182f, 0x11837,
  0x11839, 0x1183a, 0x1193b, 0x1193c, 0x1193e, 0x1193e, 0x11943, 0x11943, 0x119d4, 0x119d7, 0x119da, 0x119db,
  0x119e0, 0x119e0, 0x11a01, 0x11a0a, 0x11a33, 0x11a38, 0x11a3b, 0x11a3e, 0x11a47, 0x11a47, 0x11a51, 0x11a56,
  0x11a59, 0x11a5b, 0x11a8a, 0x11a96, 0x11a98, 0x11a99, 0x11b60, 0x11b60, 0x11b62, 0x11b64, 0x11b66, 0x11b66,
  0x11c30, 0x11c36, 0x11c38, 0x11c3d, 0x11c3f, 0x11c3f, 0x11c92, 0x11ca7, 0x11caa, 0x11cb0, 0x11cb2, 0x11cb3,
  0x11cb5, 0x11cb6, 0x11d31, 0x11d36, 0x11d3a, 0x11d3a, 0x11d3c, 0x11d3d, 0x11d3f, 0x11d45, 0x11d47, 0x11d47,
  0x11d90, 0x11d91, 0x11d95, 0x11d95, 0x11d97, 0x11d97, 0x11ef3, 0x11ef4, 0x11f00, 0x11f01, 0x11f36, 0x11f3a,
  0x11f40, 0x11f40, 0x11f42, 0x11f42, 0x11f5a, 0x11f5a, 0x13440, 0x13440, 0x13447, 0x13455, 0x1611e, 0x16120,
  0x16129, 0x16129, 0x1612d, 0x1612f, 0x16f4f, 0x16f4f, 0x16fe4, 0x16fe4, 0x1cf00, 0x1cf2d, 0x1cf30, 0x1cf46,
  0x1e000, 0x1e006, 0x1e008, 0x1e018, 0x1e01b, 0x1e021, 0x1e023, 0x1e024, 0x1e026, 0x1e02a, 0x1e08f, 0x1e08f,
  0x1e130, 0x1e136, 0x1e2ae, 0x1e2ae, 0x1e2ec, 0x1e2ef, 0x1e4ec, 0x1e4ef, 0x1e5ee, 0x1e5ef, 0x1e6e3, 0x1e6e3,
  0x1e6e6, 0x1e6e6, 0x1e6ee, 0x1e6ef, 0x1e6f5, 0x1e6f5, 0x1e944, 0x1e94a
];
/** Mc to Unicode 17, but Mn to tokenizers (recategorised since): 2 code points. */
const EXTRA_MN: readonly number[] = [0x1734, 0x1734, 0x1171e, 0x1171e];
/** decomposed by NFD in Unicode 17, but not by tokenizers (Unicode 16-17 additions): 21 code points. */
const NO_NFD: readonly number[] = [
  0x105c9, 0x105c9, 0x105e4, 0x105e4, 0x11383, 0x11383, 0x11385, 0x11385, 0x1138e, 0x1138e, 0x11391, 0x11391,
  0x113c5, 0x113c5, 0x113c7, 0x113c8, 0x11938, 0x11938, 0x16121, 0x16128, 0x16d68, 0x16d6a
];
/** P* to Unicode 17, but not punctuation to tokenizers (assigned after its tables): 141 code points. */
const NOT_PUNCT: readonly number[] = [
  0x61d, 0x61d, 0x9fd, 0x9fd, 0xa76, 0xa76, 0xc77, 0xc77, 0xc84, 0xc84, 0x1b4e, 0x1b4f, 0x1b7d, 0x1b7f,
  0x2e43, 0x2e4f, 0x2e52, 0x2e5d, 0x10d6e, 0x10d6e, 0x10ead, 0x10ead, 0x10ed0, 0x10ed0, 0x10f55, 0x10f59,
  0x10f86, 0x10f89, 0x113d4, 0x113d5, 0x113d7, 0x113d8, 0x1144b, 0x1144f, 0x1145a, 0x1145b, 0x1145d, 0x1145d,
  0x11660, 0x1166c, 0x116b9, 0x116b9, 0x1183b, 0x1183b, 0x11944, 0x11946, 0x119e2, 0x119e2, 0x11a3f, 0x11a46,
  0x11a9a, 0x11a9c, 0x11a9e, 0x11aa2, 0x11b00, 0x11b09, 0x11be1, 0x11be1, 0x11c41, 0x11c45, 0x11c70, 0x11c71,
  0x11ef7, 0x11ef8, 0x11f43, 0x11f4f, 0x11fff, 0x11fff, 0x12ff1, 0x12ff2, 0x16d6d, 0x16d6f, 0x16e97, 0x16e9a,
  0x16fe2, 0x16fe2, 0x1e5ff, 0x1e5ff, 0x1e95e, 0x1e95f
];
/** punctuation to tokenizers, but no longer P* in Unicode 17: 2 code points. */
const EXTRA_PUNCT: readonly number[] = [0x166d, 0x166d, 0x111c9, 0x111c9];

function inRanges(cp: number, ranges: readonly number[]): boolean {
  // ranges: sorted [first0, last0, first1, last1, ...]
  let lo = 0, hi = (ranges.length >> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < ranges[2 * mid]) hi = mid - 1;
    else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

/** tokenizers' is_control: categories Cc Cf Co Cs except \t \n \r (which count as whitespace). */
function isControl(cp: number): boolean {
  if (cp === 0x09 || cp === 0x0a || cp === 0x0d) return false;
  return RE_CONTROL.test(String.fromCodePoint(cp)) && !inRanges(cp, NOT_CONTROL);
}

/** tokenizers' is_bert_punc: ASCII punctuation or Unicode category P*. */
function isPunct(cp: number): boolean {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  if (cp < 128) return false;
  if (inRanges(cp, EXTRA_PUNCT)) return true;
  return RE_PUNCT.test(String.fromCodePoint(cp)) && !inRanges(cp, NOT_PUNCT);
}

/** Nonspacing mark (Mn) as tokenizers' strip_accents sees it. */
function isStrippedMark(cp: number): boolean {
  if (inRanges(cp, EXTRA_MN)) return true;
  return /^\p{Mn}$/u.test(String.fromCodePoint(cp)) && !inRanges(cp, NOT_MN) && !inRanges(cp, NO_NFD);
}

const RE_MARK = new RegExp(`[\\p{Mn}${rangesClass(EXTRA_MN)}]`, 'gu');
const RE_NO_NFD = new RegExp(`([${rangesClass(NO_NFD)}])`, 'u');

function rangesClass(ranges: readonly number[]): string {
  let s = '';
  for (let i = 0; i < ranges.length; i += 2) s += `\\u{${ranges[i].toString(16)}}-\\u{${ranges[i + 1].toString(16)}}`;
  return s;
}

/** strip_accents: NFD (except where tokenizers' tables have no decomposition), then drop nonspacing marks. */
function stripAccents(s: string): string {
  let d: string;
  if (RE_NO_NFD.test(s)) d = s.split(RE_NO_NFD).map((piece, i) => (i % 2 ? piece : piece.normalize('NFD'))).join('');
  else d = s.normalize('NFD');
  return d.replace(RE_MARK, (m) => (isStrippedMark(m.codePointAt(0)!) ? '' : m));
}

/** CJK ideograph blocks as BERT defines them (not all of CJK: no Hangul, kana, ...). */
function isChinese(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) || (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

// Per-code-point classes, cached: 0 keep, 1 drop (clean_text), 2 whitespace, 3 CJK, 4 punctuation (pre-tokenizer).
const CLASS_CACHE = new Map<number, number>();
function charClass(cp: number): number {
  let c = CLASS_CACHE.get(cp);
  if (c === undefined) {
    c = cp === 0 || cp === 0xfffd || isControl(cp) ? 1 : isWhitespace(cp) ? 2 : isChinese(cp) ? 3 : isPunct(cp) ? 4 : 0;
    CLASS_CACHE.set(cp, c);
  }
  return c;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A regex matching any of `tokens`, longest first (leftmost-longest, as tokenizers' added-token trie). */
function alternation(tokens: string[]): RegExp | null {
  if (tokens.length === 0) return null;
  const sorted = [...new Set(tokens)].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(escapeRegExp).join('|'), 'gu');
}

/** Splits `text` into [piece, isAddedToken] runs around matches of `re`. */
function splitOn(text: string, re: RegExp | null): [string, boolean][] {
  if (!re) return [[text, false]];
  const out: [string, boolean][] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index! > last) out.push([text.slice(last, m.index), false]);
    out.push([m[0], true]);
    last = m.index! + m[0].length;
  }
  if (last < text.length) out.push([text.slice(last), false]);
  return out;
}

export class WordPieceTokenizer {
  readonly vocab: Map<string, number>;
  readonly vocabSize: number;
  readonly clsId: number;
  readonly sepId: number;
  readonly unkId: number;
  readonly padId: number;
  readonly maskId: number;
  readonly source: string;
  private readonly o: WordPieceOptions;
  private readonly stripAccents: boolean;
  private readonly rawAdded: RegExp | null;
  private readonly normAdded: RegExp | null;
  private readonly wordCache = new Map<string, number[]>();

  constructor(o: WordPieceOptions) {
    this.o = o;
    this.source = o.source;
    this.vocab = o.vocab;
    let maxId = -1;
    for (const id of o.vocab.values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;
    const roles: [string, string][] = [[o.clsToken, 'classifier'], [o.sepToken, 'separator'], [o.padToken, 'padding'],
      [o.unkToken, 'unknown-word'], [o.maskToken, 'mask']];
    const missing = roles.filter(([t]) => !o.vocab.has(t)).map(([t, role]) => `${role} token '${t}'`);
    if (missing.length) {
      throw new UserError(`${o.source}: the vocabulary (${o.vocab.size} tokens) lacks the ${missing.join(', ')}; use the tokenizer files saved with the BERT checkpoint`);
    }
    [this.clsId, this.sepId, this.padId, this.unkId, this.maskId] = roles.map(([t]) => o.vocab.get(t)!);
    this.stripAccents = o.stripAccents ?? o.lowercase;
    const added = o.addedTokens.filter((t) => t.content.length > 0);
    this.rawAdded = alternation(added.filter((t) => !t.normalized).map((t) => t.content));
    this.normAdded = alternation(added.filter((t) => t.normalized).map((t) => this.normalize(t.content)));
  }

  /** Builds from a parsed tokenizer.json (BertNormalizer + BertPreTokenizer + WordPiece); `file` names it in errors. */
  static fromTokenizerJson(json: unknown, file: string): WordPieceTokenizer {
    const bad = (what: string): never => {
      throw new UserError(`${file}: ${what}; the JS tokenizer reads BERT WordPiece tokenizer.json files (use the one saved with the checkpoint, or the native 'tokenizers' backend)`);
    };
    if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('not a JSON object');
    const j = json as Record<string, any>;
    const m = j.model;
    if (!m || m.type !== 'WordPiece') bad(`model type is ${JSON.stringify(m?.type)}, not 'WordPiece'`);
    if (typeof m.vocab !== 'object' || m.vocab === null) bad('model.vocab is missing');
    const vocab = new Map<string, number>();
    for (const [tok, id] of Object.entries(m.vocab)) {
      if (!Number.isInteger(id) || (id as number) < 0) bad(`model.vocab['${tok}'] is ${JSON.stringify(id)}, not a token id`);
      vocab.set(tok, id as number);
    }
    const addedTokens: { content: string; normalized: boolean }[] = [];
    for (const t of (Array.isArray(j.added_tokens) ? j.added_tokens : []) as any[]) {
      if (typeof t?.content !== 'string' || !Number.isInteger(t?.id)) bad(`added_tokens has an entry without content and id: ${JSON.stringify(t)}`);
      if (t.lstrip || t.rstrip || t.single_word) bad(`added token '${t.content}' uses lstrip/rstrip/single_word, which the JS tokenizer does not implement`);
      if (!vocab.has(t.content)) vocab.set(t.content, t.id);
      addedTokens.push({ content: t.content, normalized: t.normalized ?? !t.special });
    }
    const n = j.normalizer;
    if (!n || n.type !== 'BertNormalizer') bad(`normalizer is ${JSON.stringify(n?.type ?? null)}, not 'BertNormalizer'`);
    const p = j.pre_tokenizer;
    if (!p || p.type !== 'BertPreTokenizer') bad(`pre_tokenizer is ${JSON.stringify(p?.type ?? null)}, not 'BertPreTokenizer'`);
    const [clsToken, sepToken] = pairSpecials(j.post_processor, bad);
    return new WordPieceTokenizer({
      vocab,
      unkToken: typeof m.unk_token === 'string' ? m.unk_token : '[UNK]',
      continuingPrefix: typeof m.continuing_subword_prefix === 'string' ? m.continuing_subword_prefix : '##',
      maxInputCharsPerWord: Number.isInteger(m.max_input_chars_per_word) ? m.max_input_chars_per_word : 100,
      cleanText: n.clean_text ?? true,
      handleChineseChars: n.handle_chinese_chars ?? true,
      stripAccents: typeof n.strip_accents === 'boolean' ? n.strip_accents : null,
      lowercase: n.lowercase ?? true,
      clsToken, sepToken, addedTokens, source: file,
      padToken: typeof j.padding?.pad_token === 'string' ? j.padding.pad_token : '[PAD]',
      maskToken: '[MASK]',
    });
  }

  /**
   * Builds from vocab.txt (one token a line, id = line number) and an optional parsed tokenizer_config.json
   * (`do_lower_case` default true, `strip_accents` default null, `tokenize_chinese_chars` default true).
   */
  static fromVocabTxt(text: string, config: unknown, file: string, configFile = 'tokenizer_config.json'): WordPieceTokenizer {
    const lines = text.split('\n');
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // the final newline ends the last token
    const vocab = new Map<string, number>();
    lines.forEach((line, i) => vocab.set(line.endsWith('\r') ? line.slice(0, -1) : line, i));
    if (vocab.size < 10) throw new UserError(`${file}: only ${lines.length} lines; a WordPiece vocab.txt has one token per line (about 30,000 for BERT)`);
    const c = (config ?? {}) as Record<string, any>;
    if (typeof c !== 'object' || Array.isArray(c)) throw new UserError(`${configFile}: expected a JSON object`);
    if (c.do_basic_tokenize === false) throw new UserError(`${configFile}: do_basic_tokenize is false, which the JS tokenizer does not implement; remove it or provide a tokenizer.json`);
    const name = (k: string, dflt: string): string => {
      const v = c[k];
      return typeof v === 'string' ? v : typeof v?.content === 'string' ? v.content : dflt;
    };
    const specials = [name('cls_token', '[CLS]'), name('sep_token', '[SEP]'), name('pad_token', '[PAD]'), name('unk_token', '[UNK]'), name('mask_token', '[MASK]')];
    return new WordPieceTokenizer({
      vocab,
      unkToken: specials[3],
      continuingPrefix: '##',
      maxInputCharsPerWord: 100,
      cleanText: true,
      handleChineseChars: c.tokenize_chinese_chars ?? true,
      stripAccents: typeof c.strip_accents === 'boolean' ? c.strip_accents : null,
      lowercase: c.do_lower_case ?? true,
      clsToken: specials[0], sepToken: specials[1], padToken: specials[2], maskToken: specials[4],
      addedTokens: specials.filter((t) => vocab.has(t)).map((content) => ({ content, normalized: false })),
      source: file,
    });
  }

  /** BertNormalizer: clean_text, CJK spacing, strip_accents, lowercase (per character, like Rust's char::to_lowercase). */
  normalize(text: string): string {
    const o = this.o;
    let s = '';
    for (const ch of text) {
      const c = charClass(ch.codePointAt(0)!);
      if (o.cleanText && c === 1) continue;
      if (o.cleanText && c === 2) s += ' ';
      else if (o.handleChineseChars && c === 3) s += ' ' + ch + ' ';
      else s += ch;
    }
    if (this.stripAccents) s = stripAccents(s);
    // String.toLowerCase lowercases a word-final capital sigma to 'ς'; per-character lowercasing gives 'σ'.
    if (o.lowercase) s = s.replace(/Σ/g, 'σ').toLowerCase();
    return s;
  }

  /** BertPreTokenizer: words split on whitespace, each punctuation character a word of its own. */
  preTokenize(normalized: string): string[] {
    const words: string[] = [];
    let w = '';
    for (const ch of normalized) {
      const cp = ch.codePointAt(0)!;
      const c = isWhitespace(cp) ? 2 : charClass(cp);
      if (c === 2 || c === 4) {
        if (w) words.push(w);
        w = '';
        if (c === 4) words.push(ch);
      } else w += ch;
    }
    if (w) words.push(w);
    return words;
  }

  /** WordPiece on one word: greedy longest-match-first; [UNK] for the whole word if any piece is missing. */
  tokenizeWord(word: string): number[] {
    const cached = this.wordCache.get(word);
    if (cached) return cached;
    const o = this.o;
    const chars = Array.from(word);
    let ids: number[] = [];
    if (chars.length > o.maxInputCharsPerWord) ids = [this.unkId];
    else {
      for (let start = 0; start < chars.length;) {
        let end = chars.length, id: number | undefined;
        for (; end > start; end--) {
          const sub = (start > 0 ? o.continuingPrefix : '') + chars.slice(start, end).join('');
          id = o.vocab.get(sub);
          if (id !== undefined) break;
        }
        if (id === undefined) { ids = [this.unkId]; break; }
        ids.push(id);
        start = end;
      }
    }
    if (this.wordCache.size > 200_000) this.wordCache.clear();
    this.wordCache.set(word, ids);
    return ids;
  }

  /** Token ids of one text, without special tokens around it. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [raw, isAdded] of splitOn(text, this.rawAdded)) {
      if (isAdded) { ids.push(this.vocab.get(raw)!); continue; }
      for (const [norm, isAddedN] of splitOn(this.normalize(raw), this.normAdded)) {
        if (isAddedN) { ids.push(this.addedId(norm)); continue; }
        for (const w of this.preTokenize(norm)) for (const id of this.tokenizeWord(w)) ids.push(id);
      }
    }
    return ids;
  }

  private addedId(normalizedContent: string): number {
    for (const t of this.o.addedTokens) if (t.normalized && this.normalize(t.content) === normalizedContent) return this.vocab.get(t.content)!;
    return this.unkId;
  }

  /**
   * `[CLS] query [SEP] passage [SEP]` with type ids 0 then 1, the passage cut from the right (only_second) so that
   * the pair has at most maxLength tokens. The query is never cut: if it leaves no room for one passage token, throws.
   */
  encodePair(query: string, passage: string, maxLength: number): EncodedPair {
    const q = this.encode(query);
    const p = this.encode(passage);
    return buildPair(q, p, maxLength, this.clsId, this.sepId, this.source);
  }

  /** The settings this tokenizer was built with. */
  get options(): Readonly<WordPieceOptions> {
    return this.o;
  }

  /** strip_accents as applied (null in the options follows lowercase). */
  get stripsAccents(): boolean {
    return this.stripAccents;
  }

  /** One line: the settings in force. */
  describe(): string {
    const o = this.o;
    return `WordPiece (JS) with ${this.vocab.size} tokens, lowercase ${o.lowercase}, strip accents ${this.stripAccents}` +
      `${o.stripAccents === null ? ' (follows lowercase)' : ''}, CJK spacing ${o.handleChineseChars}, max ${o.maxInputCharsPerWord} chars a word`;
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }
}

/** [CLS]/[SEP] of the pair template in tokenizer.json's post_processor (TemplateProcessing or BertProcessing). */
function pairSpecials(pp: any, bad: (what: string) => never): [string, string] {
  if (!pp) return ['[CLS]', '[SEP]'];
  if (pp.type === 'BertProcessing') return [pp.cls?.[0] ?? '[CLS]', pp.sep?.[0] ?? '[SEP]'];
  if (pp.type !== 'TemplateProcessing') bad(`post_processor is '${pp.type}', not TemplateProcessing or BertProcessing`);
  const pair = pp.pair as any[];
  const shape = Array.isArray(pair)
    ? pair.map((e) => (e.SpecialToken ? `${e.SpecialToken.id}:${e.SpecialToken.type_id}` : `${e.Sequence?.id}:${e.Sequence?.type_id}`))
    : [];
  const ok = shape.length === 5 && shape[1] === 'A:0' && shape[3] === 'B:1' && shape[0].endsWith(':0') && shape[2].endsWith(':0') &&
    shape[4].endsWith(':1') && pair[2].SpecialToken && pair[4].SpecialToken && pair[0].SpecialToken &&
    pair[2].SpecialToken.id === pair[4].SpecialToken.id;
  if (!ok) bad(`post_processor pair template is [${shape.join(' ')}], not [CLS]:0 A:0 [SEP]:0 B:1 [SEP]:1`);
  return [pair[0].SpecialToken.id, pair[2].SpecialToken.id];
}

/** Assembles the pair and truncates the passage only, as tokenizers' only_second strategy (direction right, stride 0). */
export function buildPair(q: number[], p: number[], maxLength: number, clsId: number, sepId: number, source: string): EncodedPair {
  checkMaxLength(maxLength);
  let keep = p.length;
  const excess = q.length + p.length + 3 - maxLength;
  if (excess > 0) {
    if (p.length <= excess) {
      throw new UserError(`${source}: the query has ${q.length} tokens, so [CLS] query [SEP] plus one passage token and [SEP] need ${q.length + 4} > max length ${maxLength}; shorten the query or raise the max length`);
    }
    keep = p.length - excess;
  }
  const ids = [clsId, ...q, sepId, ...p.slice(0, keep), sepId];
  const typeIds = new Array<number>(ids.length).fill(0, 0, q.length + 2).fill(1, q.length + 2);
  return { ids, typeIds, sep1: q.length + 1 };
}

/** Throws unless maxLength can hold [CLS] [SEP] [SEP] and one token. */
export function checkMaxLength(maxLength: number): void {
  if (!Number.isInteger(maxLength) || maxLength < 4) {
    throw new UserError(`max length ${maxLength} is not an integer >= 4 ([CLS] [SEP] [SEP] and one token); give a max length such as 512`);
  }
}
