/**
 * Small tokenizer.json files of each model type, made with the native `tokenizers` package, for the golden-id tests
 * (test/tokenizers-golden.test.ts) that hold the JS backend (@huggingface/tokenizers) to the native ids:
 *   unigram.json    XLM-R's pipeline: Precompiled (an NFKC charsmap built here, as sentencepiece's nmt_nfkc is:
 *                   per code point and per canonical decomposition, plus nmt's control/space rules), Replace of runs of
 *                   spaces, Metaspace (▁, prepend always), Unigram, `<s> $A </s> </s> $B </s>` TemplateProcessing
 *   bpe.json        RoBERTa's: ByteLevel pre-tokenizer (no prefix space), byte-level BPE, RobertaProcessing
 *   wordlevel.json  Lowercase, WhitespaceSplit pre-tokenizer (as the family fixtures), WordLevel, `[CLS] $A [SEP] $B [SEP]` TemplateProcessing
 * Vocabularies come from TEXT below (deterministic: no randomness), so the files are the same on every run.
 *   node --import tsx tools/make-test-tokenizers.ts OUT_DIR
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

type Native = typeof import('tokenizers');
const native = (): Native => createRequire(import.meta.url)('tokenizers') as Native;

/** The training text: English, accents, Greek, CJK, Korean, Arabic, digits, punctuation. */
export const TEXT = [
  'The quick brown fox jumps over the lazy dog near the riverbank at dawn.',
  'What is the capital of Australia? Canberra is the capital, not Sydney.',
  'Café naïve résumé, Ångström and Straße; Dvořák wrote the New World symphony in 1893.',
  'Neurons in the hidden layers of a transformer encode lexical and semantic features.',
  'Ελληνικά: ο σκύλος τρέχει. 北京大学在北京。東京と大阪。한국어 텍스트입니다. العربية لغة جميلة.',
  'Prices rose 3.5% to $1,200 in 2024 (see table 2); e-mail info@example.org for details!',
  'information retrieval ranks passages by relevance to a query; cross-encoders read both together.',
].join('\n');

// ---------------------------------------------------------------- Precompiled charsmap (darts-clone double array)

/**
 * The precompiled_charsmap format that tokenizers' Precompiled normalizer reads (spm_precompiled): u32 trie size in
 * bytes, the darts-clone double array (u32 units), then the replacement strings, each ended by NUL. A unit holds a
 * label (bits 0-7; bit 31 marks a value unit), has_leaf (bit 8) and the XOR offset to its children (bits 10-30).
 */
export function precompiledCharsmap(map: Map<string, string>): Uint8Array {
  const enc = new TextEncoder();
  // replacement blob
  const blobParts: number[] = [];
  const valueOf = new Map<string, number>();
  // trie of the keys' UTF-8 bytes
  interface Node { kids: Map<number, Node>; value?: number; base?: number }
  const root: Node = { kids: new Map() };
  for (const [key, repl] of [...map].sort(([a], [b]) => (a < b ? -1 : 1))) {
    let v = valueOf.get(repl);
    if (v === undefined) { v = blobParts.length; valueOf.set(repl, v); blobParts.push(...enc.encode(repl), 0); }
    let n = root;
    for (const b of enc.encode(key)) {
      let k = n.kids.get(b);
      if (!k) { k = { kids: new Map() }; n.kids.set(b, k); }
      n = k;
    }
    n.value = v;
  }
  const units: number[] = [0];
  const used: boolean[] = [true];
  const isBase = new Set<number>();
  let searchFrom = 1;
  const free = (p: number) => !used[p];
  const place = (n: Node): number => {
    const labels = [...n.kids.keys()];
    for (let b = searchFrom; ; b++) {
      if (isBase.has(b) || !free(b) || !labels.every((c) => free(b ^ c))) continue;
      isBase.add(b);
      used[b] = true;
      for (const c of labels) used[b ^ c] = true;
      while (used[searchFrom]) searchFrom++;
      return b;
    }
  };
  // breadth first: place each node's children, then write their units
  root.base = place(root);
  units[0] = (root.base ^ 0) << 10;
  const queue: Node[] = [root];
  while (queue.length) {
    const n = queue.shift()!;
    if (n.value !== undefined) units[n.base!] = (0x80000000 | n.value) >>> 0;
    for (const [c, k] of n.kids) {
      k.base = place(k);
      const pos = n.base! ^ c, off = pos ^ k.base;
      if (off >= 1 << 21) throw new Error('charsmap trie too large for plain offsets');
      units[pos] = ((off << 10) | (k.value !== undefined ? 1 << 8 : 0) | c) >>> 0;
      queue.push(k);
    }
  }
  const size = units.length;
  const out = new Uint8Array(4 + size * 4 + blobParts.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, size * 4, true);
  for (let i = 0; i < size; i++) dv.setUint32(4 + 4 * i, units[i] ?? 0, true);
  out.set(blobParts, 4 + size * 4);
  return out;
}

/** nmt_nfkc as sentencepiece builds it: NFKC per code point and per canonical decomposition, nmt's control and space rules. */
export function nmtNfkcMap(): Map<string, string> {
  const m = new Map<string, string>();
  for (let cp = 1; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCodePoint(cp);
    if (!/\P{Cn}/u.test(ch)) continue;
    const nfkc = ch.normalize('NFKC');
    if (nfkc !== ch) m.set(ch, nfkc);
    const nfd = ch.normalize('NFD');
    if (nfd !== ch && Array.from(nfd).length > 1) m.set(nfd, nfkc);
  }
  // nmt: controls removed, the other white space characters to ' '
  for (const cp of [...range(1, 8), 0x0b, 0x0e, ...range(0x0f, 0x1f), 0x7f, 0x8f, 0x9f]) m.set(String.fromCodePoint(cp), '');
  for (const cp of [0x09, 0x0a, 0x0c, 0x0d, 0x1680, ...range(0x200b, 0x200f), 0x2028, 0x2029, 0x2581, 0xfeff, 0xfffd]) m.set(String.fromCodePoint(cp), ' ');
  return m;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

// ---------------------------------------------------------------- vocabularies from TEXT

/** Unigram pieces: substrings of 1-6 characters of TEXT's ▁-words (single characters, ▁-prefixes, any seen twice), scored by log frequency (no ties). */
function unigramVocab(): [string, number][] {
  const words = TEXT.normalize('NFKC').split(/\s+/).filter(Boolean).map((w) => '▁' + w);
  const count = new Map<string, number>();
  for (const w of words) {
    const cs = Array.from(w);
    for (let i = 0; i < cs.length; i++) for (let n = 1; n <= 6 && i + n <= cs.length; n++) {
      const s = cs.slice(i, i + n).join('');
      count.set(s, (count.get(s) ?? 0) + 1);
    }
  }
  const kept = [...count].filter(([s, c]) => Array.from(s).length === 1 || c >= 2 || s.startsWith('▁')).sort(([a], [b]) => (a < b ? -1 : 1));
  const total = kept.reduce((t, [, c]) => t + c, 0);
  const pieces = kept.map(([s, c], i): [string, number] => [s, Math.log(c / total) - i * 1e-6]);
  return [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...pieces, ['<mask>', 0]];
}

/** Byte-level BPE: the 256 byte symbols, then 300 merges learned greedily on TEXT (ties broken by the pair's text). */
function bpeVocabMerges(n: Native): { vocab: Record<string, number>; merges: [string, string][] } {
  const alphabet = n.byteLevelAlphabet().sort();
  const vocab: Record<string, number> = { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3 };
  for (const a of alphabet) vocab[a] = Object.keys(vocab).length;
  const pre = n.byteLevelPreTokenizer(false, true);
  let words = pre.preTokenizeString(TEXT).map(([w]) => Array.from(w));
  const merges: [string, string][] = [];
  for (let k = 0; k < 300; k++) {
    const pairs = new Map<string, number>();
    for (const w of words) for (let i = 0; i + 1 < w.length; i++) { const key = w[i] + '\u0000' + w[i + 1]; pairs.set(key, (pairs.get(key) ?? 0) + 1); }
    let best = '', bc = 1;
    for (const [key, c] of pairs) if (c > bc || (c === bc && best && key < best)) [best, bc] = [key, c];
    if (!best) break;
    const [a, b] = best.split('\u0000');
    merges.push([a, b]);
    vocab[a + b] ??= Object.keys(vocab).length;
    words = words.map((w) => {
      const out: string[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) { out.push(a + b); i++; } else out.push(w[i]);
      }
      return out;
    });
  }
  vocab['<mask>'] = Object.keys(vocab).length;
  return { vocab, merges };
}

// ---------------------------------------------------------------- the files

/** Writes unigram.json, bpe.json and wordlevel.json into `dir`; returns their paths by type. */
export function makeTestTokenizers(dir: string): { unigram: string; bpe: string; wordlevel: string } {
  const n = native();
  mkdirSync(dir, { recursive: true });
  const out = { unigram: path.join(dir, 'unigram.json'), bpe: path.join(dir, 'bpe.json'), wordlevel: path.join(dir, 'wordlevel.json') };

  const uv = unigramVocab();
  const u = new n.Tokenizer(n.Unigram.init(uv, { unkId: 3 }));
  u.setNormalizer(n.sequenceNormalizer([n.precompiled(Array.from(precompiledCharsmap(nmtNfkcMap()))), n.replace('  ', ' ')]));
  u.setPreTokenizer(n.metaspacePreTokenizer('▁', 'always', true));
  u.setDecoder(n.metaspaceDecoder('▁', 'always', true));
  u.setPostProcessor(n.templateProcessing('<s>:0 $A:0 </s>:0', '<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0', [['<s>', 0], ['</s>', 2]]));
  u.addSpecialTokens(['<s>', '<pad>', '</s>', '<unk>', '<mask>']);
  u.save(out.unigram);

  const { vocab, merges } = bpeVocabMerges(n);
  const b = new n.Tokenizer(n.BPE.init(vocab, merges, { unkToken: '<unk>' }));
  b.setPreTokenizer(n.byteLevelPreTokenizer(false, true));
  b.setPostProcessor(n.robertaProcessing(['</s>', 2], ['<s>', 0], true, false));
  b.addSpecialTokens(['<s>', '<pad>', '</s>', '<unk>', '<mask>']);
  b.save(out.bpe);

  const words = [...new Set(TEXT.toLowerCase().match(/[\p{L}\p{N}\p{M}_]+|[^\p{L}\p{N}\p{M}_\s]+/gu) ?? [])].sort();
  const wv: Record<string, number> = { '[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4 };
  for (const w of words) wv[w] ??= Object.keys(wv).length;
  const w = new n.Tokenizer(n.WordLevel.init(wv, { unkToken: '[UNK]' }));
  w.setNormalizer(n.lowercase());
  w.setPreTokenizer(n.whitespaceSplitPreTokenizer());
  w.setPostProcessor(n.templateProcessing('[CLS]:0 $A:0 [SEP]:0', '[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1', [['[CLS]', 2], ['[SEP]', 3]]));
  w.addSpecialTokens(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']);
  w.save(out.wordlevel);
  return out;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  const dir = process.argv[2];
  if (!dir) { console.error('usage: node --import tsx tools/make-test-tokenizers.ts OUT_DIR'); process.exit(2); }
  for (const [type, file] of Object.entries(makeTestTokenizers(dir))) console.log(`${type}: ${file}`);
}
