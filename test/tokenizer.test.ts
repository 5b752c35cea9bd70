/**
 * Tokenisation of query-passage pairs: the JS WordPiece port (src/tokenizer/wordpiece.ts) and the native `tokenizers`
 * backend (src/tokenizer/tokenizer.ts) against the transformers fixtures, against each other on real passages, and on
 * truncation and error cases. Tests that read /work/shared skip locally when it is missing and fail under CI=true.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UserError } from '../src/util/errors.ts';
import { parseSafetensors, toFloat } from '../src/formats/safetensors.ts';
import { effectiveMaxLength, loadTokenizer, type PairTokenizer } from '../src/tokenizer/tokenizer.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { WordPieceTokenizer } from '../src/tokenizer/wordpiece.ts';
import { needsShared } from './helpers/shared.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '../shared');
const TOK_JSON = path.join(SHARED, 'fixtures/tokenizer/bert-base-uncased.tokenizer.json');
const MINILM_JSON = path.join(SHARED, 'data/tokenizers/all-MiniLM-L6-v2/tokenizer.json'); // presets: truncation 128, padding Fixed 128
const VOCAB_DIR = path.join(SHARED, 'data/bert-base-uncased');
const DATA = path.join(SHARED, 'data');

/** A test that needs ../shared (the one rule of test/helpers/shared.ts). */
const sharedTest = (name: string, fn: () => void | Promise<void>): void => needsShared(test, name, fn, SHARED);

function expectUserError(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, UserError, `expected a UserError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a UserError matching ${re}`);
}

async function expectUserErrorAsync(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, UserError, `expected a UserError, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a UserError matching ${re}`);
}

/** Lazily built tokenizers over the shared files. */
const tk = {
  native: () => (tk._n ??= loadTokenizer(ROOT, { tokenizerFile: TOK_JSON })),
  jsJson: () => (tk._j ??= loadTokenizer(ROOT, { tokenizerFile: TOK_JSON, backend: 'js' })),
  jsVocab: () => (tk._v ??= loadTokenizer(VOCAB_DIR)),
  wp: () => (tk._w ??= WordPieceTokenizer.fromTokenizerJson(JSON.parse(readFileSync(TOK_JSON, 'utf8')), TOK_JSON)),
  _n: undefined as PairTokenizer | undefined, _j: undefined as PairTokenizer | undefined,
  _v: undefined as PairTokenizer | undefined, _w: undefined as WordPieceTokenizer | undefined,
};

// ---------------------------------------------------------------- (a) fixtures

sharedTest('backends pick the right files and report the vocabulary', () => {
  const n = tk.native(), j = tk.jsJson(), v = tk.jsVocab();
  assert.is(n.backend, 'tokenizers');
  assert.is(j.backend, 'js');
  assert.is(v.backend, 'js');
  assert.is(v.file, path.join(VOCAB_DIR, 'vocab.txt'));
  for (const t of [n, j, v]) {
    assert.equal([t.vocabSize, t.padId, t.unkId, t.clsId, t.sepId, t.maskId], [30522, 0, 100, 101, 102, 103], t.describe());
  }
  assert.match(n.describe(), /tokenizers .*native/);
  assert.match(v.describe(), /vocab\.txt: WordPiece \(JS\)/);
});

sharedTest('all backends reproduce the transformers fixture ids and type ids (6 pairs, both fixture models)', async () => {
  const backends: [string, PairTokenizer][] = [
    ['tokenizers(tokenizer.json)', tk.native()], ['js(tokenizer.json)', tk.jsJson()], ['js(vocab.txt)', tk.jsVocab()],
    ['tokenizers(vocab.txt)', loadTokenizer(VOCAB_DIR, { backend: 'tokenizers' })],
  ];
  for (const model of ['tiny-monobert', 'tiny-minilm']) {
    const dir = path.join(SHARED, 'fixtures', model);
    const ref = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as { pairs: { query: string; passage: string; tokens: number }[] };
    const st = parseSafetensors(new Uint8Array(readFileSync(path.join(dir, 'reference.safetensors'))), 'reference.safetensors');
    assert.is(ref.pairs.length, 6);
    for (let i = 0; i < ref.pairs.length; i++) {
      const { query, passage, tokens } = ref.pairs[i];
      const ids = Array.from(toFloat(st.get(`p${i}.input_ids`)!, Float64Array));
      const typeIds = Array.from(toFloat(st.get(`p${i}.token_type_ids`)!, Float64Array));
      assert.is(ids.length, tokens);
      for (const [name, t] of backends) {
        const e = await t.encodePair(query, passage, 48);
        assert.equal(e.ids, ids, `${model} p${i} ids via ${name}`);
        assert.equal(e.typeIds, typeIds, `${model} p${i} type ids via ${name}`);
        assert.is(e.sep1, typeIds.indexOf(1) - 1);
      }
    }
  }
});

// ---------------------------------------------------------------- (b) JS port == tokenizers on real text

type Pair = [string, string];

function loadPairs(): { name: string; maxLength: number; pairs: Pair[] }[] {
  const dl19 = JSON.parse(readFileSync(path.join(DATA, 'trec-dl/rank_llm-bm25-top100/retrieve_results_dl19.json'), 'utf8')) as
    { query: string; hits: { content: string }[] }[];
  const dlPairs: Pair[] = dl19.flatMap((q) => q.hits.map((h): Pair => [q.query, h.content]));
  const queries = dl19.map((q) => q.query);
  const nov = path.join(DATA, 'collections/noveleval');
  const novQueries = readFileSync(path.join(nov, 'queries.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t')[1]);
  const novDocs = readFileSync(path.join(nov, 'corpus.tsv'), 'utf8').trim().split('\n').map((l) => l.slice(l.indexOf('\t') + 1));
  const novPairs = novDocs.map((d, i): Pair => [novQueries[i % novQueries.length], d]);
  /** SMART format: the .W field of each .I record (CRLF tolerated). */
  const smart = (file: string): string[] =>
    readFileSync(path.join(DATA, 'collections', file), 'utf8').split(/^\.I /m).slice(1)
      .map((rec) => (rec.split(/^\.W\r?$/m)[1] ?? '').split(/^\.[A-Z]\r?$/m)[0].trim()).filter((w) => w.length > 0);
  // Long documents are cut at 3000 characters (still over 512 tokens) to keep the test fast.
  const withQueries = (docs: string[]): Pair[] => docs.map((d, i): Pair => [queries[i % queries.length], d.slice(0, 3000)]);
  const time = readFileSync(path.join(DATA, 'collections/time/TIME.ALL'), 'utf8').split(/^\*TEXT.*$/m).slice(1).map((t) => t.trim());
  return [
    { name: 'TREC DL19 BM25 top-100 (MS MARCO)', maxLength: 512, pairs: dlPairs },
    { name: 'NovelEval corpus (unicode, emoji)', maxLength: 128, pairs: novPairs },
    { name: 'NovelEval corpus (unicode, emoji)', maxLength: 512, pairs: novPairs },
    { name: 'Cranfield abstracts', maxLength: 128, pairs: withQueries(smart('cranfield/cran.all.1400')) },
    { name: 'MEDLINE abstracts (CRLF)', maxLength: 512, pairs: withQueries(smart('medline/MED.ALL')) },
    { name: 'TIME 1963 articles (upper case, long)', maxLength: 512, pairs: withQueries(time) },
  ];
}

/** Hand-picked hard cases: accents, CJK, emoji, controls, zero-width, mojibake, literal specials, very long words. */
const TRICKY: string[] = [
  'Café naïve résumé — Ångström, Øresund, Straße, ÆØÅ, Dvořák, Łódź, ﬁnance',
  'ΣΑΣ ΟΔΟΣ. Σίσυφος; İstanbul, ǅemal, ΐ, Ⅻ, ½, ², ℃, №',
  '北京大学 is in 北京; 東京 (Tokyo) と 大阪; 한국어 텍스트; カタカナ; 𠀀𪚥 𫝀',
  'emoji 🤗🏆😍 ➡️ 👍🏽 👨‍👩‍👧 🥰 and flags 🇫🇷',
  'ctrl\u0000x\u0001y\u0085z\u200b\u200d\ufeff\u00ad\u2028\u2029\u3000\t\r\nend \ufffd \ud800 lone',
  'mojibake: donâ€™t â€œquoteâ€\u009d Â£5 Ã©tÃ©',
  'literal specials: [SEP] [CLS]x [sep] [MASK][PAD] [UNK] [unused1]',
  `long ${'a'.repeat(101)} word, exactly ${'b'.repeat(100)} and ${'supercalifragilistic'.repeat(6)}`,
  'urls https://example.com/a_b?c=d&e=f#g, e-mail x.y@z.org, $3,000.50, 10^6, 5<6>4, a|b~c`d',
  'Arabic العربية, Hebrew עברית, Hindi हिन्दी, Thai ภาษาไทย, Devanagari combining क्ष्',
  'decomposed e\u0301 vs \u00e9, a\u0308\u0304, \u1e9b\u0323, o\u0328\u0301',
  '',
  '   ',
];

sharedTest('JS WordPiece == tokenizers on 8,000+ real query-passage pairs at max length 128 and 512', async () => {
  const sets = loadPairs();
  sets.push({ name: 'hand-picked unicode cases', maxLength: 512, pairs: TRICKY.flatMap((t, i): Pair[] => [[TRICKY[(i + 3) % TRICKY.length] || 'q', t], [t || 'q', 'passage']]) });
  const native = tk.native(), js = tk.jsJson();
  let compared = 0, truncated128 = 0, truncated512 = 0, nonAscii = 0;
  const passages = new Set<string>();
  for (const s of sets) {
    const want = await native.encodePairs(s.pairs, s.maxLength);
    const got = await js.encodePairs(s.pairs, s.maxLength);
    for (let i = 0; i < s.pairs.length; i++) {
      const [q, p] = s.pairs[i];
      const a = want[i], b = got[i];
      if (a.ids.length !== b.ids.length || a.ids.some((x, k) => x !== b.ids[k]) || a.typeIds.some((x, k) => x !== b.typeIds[k]) || a.sep1 !== b.sep1) {
        assert.equal(b, a, `${s.name} pair ${i} (max ${s.maxLength}): query ${JSON.stringify(q.slice(0, 80))} passage ${JSON.stringify(p.slice(0, 200))}`);
      }
      compared++;
      passages.add(p);
      if (/[^\x00-\x7f]/.test(p)) nonAscii++;
      if (a.ids.length === s.maxLength) s.maxLength === 128 ? truncated128++ : truncated512++;
    }
  }
  assert.ok(compared >= 8000, `compared ${compared} pairs`);
  assert.ok(passages.size >= 7000, `${passages.size} distinct passages`);
  assert.ok(truncated128 >= 1000, `${truncated128} pairs filled max length 128`);
  assert.ok(truncated512 >= 100, `${truncated512} pairs filled max length 512`);
  assert.ok(nonAscii >= 500, `${nonAscii} passages with non-ASCII text`);
  console.log(`  compared ${compared} pairs (${passages.size} distinct passages, ${nonAscii} with non-ASCII text): ` +
    `${truncated128} cut to 128, ${truncated512} cut to 512; all identical`);
});

sharedTest('JS normaliser and pre-tokeniser == tokenizers on every code point of planes 0-3', () => {
  const req = createRequire(import.meta.url);
  const native = req('tokenizers') as typeof import('tokenizers');
  const norm = native.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true, lowercase: true });
  const pre = native.bertPreTokenizer();
  const wp = tk.wp();
  for (let start = 0; start < 0x40000; start += 0x8000) {
    let s = '';
    for (let cp = start; cp < start + 0x8000; cp++) if (cp < 0xd800 || cp > 0xdfff) s += 'x' + String.fromCodePoint(cp);
    const a = norm.normalizeString(s), b = wp.normalize(s);
    if (a !== b) {
      const A = Array.from(a), B = Array.from(b);
      const k = A.findIndex((c, i) => c !== B[i]);
      assert.unreachable(`normalised text differs in U+${start.toString(16)}..: at char ${k}: ${JSON.stringify(A.slice(k - 4, k + 4).join(''))} vs ${JSON.stringify(B.slice(k - 4, k + 4).join(''))}`);
    }
    assert.equal(wp.preTokenize(b), pre.preTokenizeString(a).map((x) => x[0]), `pre-tokenised words differ in U+${start.toString(16)}..`);
  }
});

sharedTest('vocab.txt + tokenizer_config.json settings: do_lower_case false matches tokenizers built the same way', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-cased-'));
  try {
    copyFileSync(path.join(VOCAB_DIR, 'vocab.txt'), path.join(dir, 'vocab.txt'));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, strip_accents: null }));
    const js = loadTokenizer(dir), native = loadTokenizer(dir, { backend: 'tokenizers' });
    assert.match(js.describe(), /lowercase false, strip accents false/);
    const pairs = TRICKY.map((t): Pair => ['Who Wrote Pride AND Prejudice?', t]);
    assert.equal(await js.encodePairs(pairs, 256), await native.encodePairs(pairs, 256));
    const cased = await js.encodePair('Hello', 'World', 16), uncased = await tk.jsVocab().encodePair('Hello', 'World', 16);
    assert.not.equal(cased.ids, uncased.ids);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- (c) truncation

const LONG = 'The quick brown fox jumps over the lazy dog near the riverbank at dawn. '.repeat(60); // ~900 tokens

sharedTest('passage-only truncation: exactly maxLength tokens, query intact, passage a prefix', async () => {
  const wp = tk.wp();
  const query = 'what does the fox jump over';
  const q = wp.encode(query), p = wp.encode(LONG);
  assert.ok(p.length > 600);
  for (const t of [tk.native(), tk.jsJson(), tk.jsVocab()]) {
    for (const L of [16, 128, 300, 512]) {
      const e: EncodedPair = await t.encodePair(query, LONG, L);
      assert.is(e.ids.length, L, `${t.backend} at ${L}`);
      assert.is(e.sep1, q.length + 1);
      assert.equal(e.ids.slice(0, e.sep1 + 1), [t.clsId, ...q, t.sepId]);
      assert.equal(e.ids.slice(e.sep1 + 1, -1), p.slice(0, L - q.length - 3));
      assert.is(e.ids[L - 1], t.sepId);
      assert.equal(e.typeIds, [...new Array(e.sep1 + 1).fill(0), ...new Array(L - e.sep1 - 1).fill(1)]);
    }
    // A long query is kept whole; the passage gives way, down to a single token.
    const longQuery = LONG.slice(0, 400);
    const lq = wp.encode(longQuery).length;
    const e = await t.encodePair(longQuery, LONG, lq + 4);
    assert.is(e.ids.length, lq + 4);
    assert.is(e.sep1, lq + 1);
    await expectUserErrorAsync(t.encodePair(longQuery, LONG, lq + 3), /query .*(fit|need)|max length/);
    // Short pairs: not padded, not cut.
    const s = await t.encodePair('hi', 'there', 512);
    assert.is(s.ids.length, 5);
    const exact = await t.encodePair(query, 'a b c', q.length + 6);
    assert.is(exact.ids.length, q.length + 6);
    const empty = await t.encodePair(query, '', 64);
    assert.equal(empty.ids, [t.clsId, ...q, t.sepId, t.sepId]);
    assert.equal(empty.typeIds.slice(-1), [1]);
  }
});

sharedTest("the file's truncation 128 / padding Fixed 128 presets are overridden", async () => {
  const preset = JSON.parse(readFileSync(MINILM_JSON, 'utf8'));
  assert.equal([preset.truncation.max_length, preset.padding.strategy], [128, { Fixed: 128 }]);
  const passage = LONG.slice(0, 1300); // ~290 tokens
  for (const backend of ['tokenizers', 'js'] as const) {
    const t = loadTokenizer(ROOT, { tokenizerFile: MINILM_JSON, backend });
    const e = await t.encodePair('what does the fox jump over', passage, 512);
    assert.ok(e.ids.length > 280 && e.ids.length < 512, `${backend}: ${e.ids.length} tokens, not cut at 128`);
    const cut = await t.encodePair('what does the fox jump over', passage, 200);
    assert.is(cut.ids.length, 200, `${backend}: cut at 200`);
    assert.equal(cut.ids.slice(0, 199), e.ids.slice(0, 199));
    const short = await t.encodePair('capital of australia', 'Canberra.', 512);
    assert.is(short.ids.length, 8, `${backend}: no padding to 128`);
    assert.not.ok(short.ids.includes(t.padId));
  }
});

sharedTest('the native tokenizer keeps each call at its own max length, also when calls overlap', async () => {
  const t = tk.native();
  const lengths = [128, 512, 64, 128, 300, 512, 16];
  const out = await Promise.all(lengths.map((L) => t.encodePair('fox', LONG, L)));
  assert.equal(out.map((e) => e.ids.length), lengths);
  const batch = await t.encodePairs([['fox', LONG], ['dog', 'short one']], 100);
  assert.equal(batch.map((e) => e.ids.length), [100, 6]);
});

test('effectiveMaxLength: 512 by default, capped by max_position_embeddings (a warning only for an explicit --max-length)', () => {
  const warnings: string[] = [];
  const warn = (m: string) => warnings.push(m);
  assert.is(effectiveMaxLength(undefined, 512, warn), 512);
  assert.is(effectiveMaxLength(128, 512, warn), 128);
  assert.is(warnings.length, 0);
  assert.is(effectiveMaxLength(undefined, 256, warn), 256);
  assert.is(warnings.length, 0, 'the default quietly follows the model');
  assert.is(effectiveMaxLength(1024, 512, warn), 512);
  assert.match(warnings[0], /--max-length 1024 exceeds .*max_position_embeddings 512/);
  expectUserError(() => effectiveMaxLength(2, 512, warn), /not an integer >= 4/);
  expectUserError(() => effectiveMaxLength(100.5, 512, warn), /not an integer >= 4/);
});

// ---------------------------------------------------------------- (d) errors

test('missing tokenizer files: a UserError naming the folder and --tokenizer', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-empty-'));
  try {
    expectUserError(() => loadTokenizer(dir), /neither tokenizer\.json nor vocab\.txt.*--tokenizer FILE/);
    expectUserError(() => loadTokenizer(path.join(dir, 'nope')), /does not exist/);
    expectUserError(() => loadTokenizer(dir, { tokenizerFile: path.join(dir, 'missing.json') }), /missing\.json: the --tokenizer file does not exist/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed tokenizer.json: a UserError for both backends', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-bad-'));
  try {
    const file = path.join(dir, 'tokenizer.json');
    writeFileSync(file, '{"version": "1.0", "model": {');
    for (const backend of ['tokenizers', 'js'] as const) expectUserError(() => loadTokenizer(dir, { backend }), /tokenizer\.json: not valid JSON/);
    writeFileSync(file, JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } }));
    // not a BERT pipeline: both backends (the JS one through @huggingface/tokenizers) refuse the missing pair template
    for (const backend of ['tokenizers', 'js'] as const) expectUserError(() => loadTokenizer(dir, { backend }), /'post_processor' is null; a cross-encoder's tokenizer\.json pairs/);
    const vocab = Object.fromEntries(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'a', 'b'].map((t, i) => [t, i]));
    const bertTemplate = { type: 'BertProcessing', sep: ['[SEP]', 3], cls: ['[CLS]', 2] };
    writeFileSync(file, JSON.stringify({ model: { type: 'WordPiece', vocab }, normalizer: { type: 'BertNormalizer' }, pre_tokenizer: { type: 'Whitespace' }, post_processor: bertTemplate }));
    expectUserError(() => loadTokenizer(dir, { backend: 'js' }), /pre_tokenizer is "Whitespace", not 'BertPreTokenizer'/);
    // a pair template of another shape: refused by both
    writeFileSync(file, JSON.stringify({ model: { type: 'WordLevel', vocab, unk_token: '[UNK]' }, post_processor: { type: 'TemplateProcessing', single: [], pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }], special_tokens: {} } }));
    for (const backend of ['tokenizers', 'js'] as const) expectUserError(() => loadTokenizer(dir, { backend }), /pair template is \[A:0 B:1\], not/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

sharedTest('vocab.txt lacking [CLS] (or [MASK]): a UserError naming what is missing', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-vocab-'));
  try {
    const lines = readFileSync(path.join(VOCAB_DIR, 'vocab.txt'), 'utf8').split('\n');
    lines[101] = '[unused_cls]';
    writeFileSync(path.join(dir, 'vocab.txt'), lines.join('\n'));
    expectUserError(() => loadTokenizer(dir), /vocab\.txt: the vocabulary \(30522 tokens\) lacks the classifier token '\[CLS\]'; use/);
    lines[101] = '[CLS]';
    lines[103] = '[mask]';
    writeFileSync(path.join(dir, 'vocab.txt'), lines.join('\n'));
    expectUserError(() => loadTokenizer(dir), /lacks the mask token '\[MASK\]'/);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), '{do_lower_case: true');
    expectUserError(() => loadTokenizer(dir), /tokenizer_config\.json: not valid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('WordPiece on a toy vocabulary: longest match first, ## pieces, [UNK] words', () => {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'un', 'unaff', '##aff', '##able', 'able', '##ord', 'ab', ',', 'x'];
  const wp = WordPieceTokenizer.fromVocabTxt(tokens.join('\n') + '\n', undefined, 'toy/vocab.txt');
  const ids = (s: string) => wp.encode(s).map((i) => tokens[i]);
  assert.equal(ids('Unaffable, unaffordable'), ['unaff', '##able', ',', 'unaff', '##ord', '##able']);
  assert.equal(ids('ABLE unable abx'), ['able', 'un', '##able', '[UNK]']); // 'ab' leaves 'x', and there is no '##x'
  assert.equal(ids(`x ${'x'.repeat(101)} [SEP]x`), ['x', '[UNK]', '[SEP]', 'x']); // over 100 chars; literal [SEP] kept
  const e = wp.encodePair('able', 'un un un un', 7);
  assert.equal(e.ids.map((i) => tokens[i]), ['[CLS]', 'able', '[SEP]', 'un', 'un', 'un', '[SEP]']);
  assert.equal([e.typeIds, e.sep1], [[0, 0, 0, 1, 1, 1, 1], 2]);
  expectUserError(() => wp.encodePair('able able able able', 'un', 7), /toy\/vocab\.txt: the query has 4 tokens.*need 8 > max length 7/);
});

test.run();
