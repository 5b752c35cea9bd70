/**
 * Golden ids: the JS backend (`@huggingface/tokenizers`, src/tokenizer/json.ts; what the page runs) against the native
 * `tokenizers` package on tokenizer files of each model type made by tools/make-test-tokenizers.ts at test time
 * (Unigram with XLM-R's Precompiled + Metaspace, byte-level BPE with RoBERTa's processing, WordLevel), on the family
 * fixtures' tokenizer.json files, and on the real bert-base-uncased tokenizer.json. Pairs: each family's template,
 * passage-only truncation, literal special tokens, accents, full-width, CJK, emoji, empty strings. Where the JS
 * library differs from the native one, the cases are listed here and in docs/tokenizers.md, and asserted to differ.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadTokenizer, type PairTokenizer } from '../src/tokenizer/tokenizer.ts';
import { JsonPairTokenizer } from '../src/tokenizer/json.ts';
import type { EncodedPair } from '../src/model/types.ts';
import { makeTestTokenizers, TEXT } from '../tools/make-test-tokenizers.ts';
import { FIXTURES, REPO, TOKENIZER_JSON, fixtureRef, needsShared } from './helpers/shared.ts';

type Pair = [string, string];
const LONG = TEXT.replace(/\n/g, ' ').repeat(4);

/** Inputs for every type: ASCII, accents (composed and decomposed), full-width, CJK, Hangul, emoji, controls, specials, empty. */
export const CASES: string[] = [
  'What is the capital of Australia?',
  'Canberra is the capital, not Sydney.',
  'Café naïve résumé, Ångström and Straße; Dvořák',
  'decomposed e\u0301 vs \u00e9, a\u0308\u0304, o\u0328\u0301, Å vs A\u030a',
  'full-width ＡＢＣ　１２３！？ and half-width ｶﾀｶﾅ, ～ tilde, ﬁnance ligature, ① ² ½ ℃ Ⅻ',
  '北京大学在北京。東京と大阪; 한국어 텍스트입니다; 𠀀𪚥 𫝀 (extension B)',
  'emoji 🤗🏆😍 ➡️ 👍🏽 👨‍👩‍👧 and flags 🇫🇷',
  'Ελληνικά: ο σκύλος τρέχει. ΣΑΣ ΟΔΟΣ. العربية لغة جميلة.',
  'ctrl\u0001x\u0085y\u200bz\ufeff\u00ad tab\tnew\nline  two  spaces \u3000 ideographic space',
  'literal specials: <s> </s> <pad> [CLS] [SEP] <mask> [MASK]',
  'Prices rose 3.5% to $1,200 in 2024 (see table 2); e-mail info@example.org!',
  '',
];
const PAIRS: Pair[] = [
  ...CASES.map((c, i): Pair => [CASES[(i + 1) % CASES.length] || 'q', c]),
  ...CASES.filter(Boolean).map((c): Pair => [c, 'a passage']),
  ['neurons in transformers', LONG],
];

function same(a: EncodedPair, b: EncodedPair): boolean {
  return a.ids.length === b.ids.length && a.ids.every((x, i) => x === b.ids[i]) && a.typeIds.every((x, i) => x === b.typeIds[i]) && a.sep1 === b.sep1;
}

/** Encodes `pairs` with both backends at `maxLength`; a pair either encodes the same or throws in both. Returns the indices that differ. */
async function compare(nat: PairTokenizer, js: PairTokenizer, pairs: Pair[], maxLength: number): Promise<number[]> {
  const diff: number[] = [];
  for (let i = 0; i < pairs.length; i++) {
    const [q, p] = pairs[i];
    const [a, b] = await Promise.all([nat.encodePair(q, p, maxLength).catch((e: Error) => e), js.encodePair(q, p, maxLength).catch((e: Error) => e)]);
    if (a instanceof Error || b instanceof Error) {
      assert.ok(a instanceof Error && b instanceof Error, `pair ${i} at ${maxLength}: one backend throws: ${a instanceof Error ? a.message : b instanceof Error ? b.message : ''}`);
      continue;
    }
    if (!same(a, b)) diff.push(i);
  }
  return diff;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-golden-'));
const files = makeTestTokenizers(dir);
const load = (file: string) => [loadTokenizer(REPO, { tokenizerFile: file, backend: 'tokenizers' }), loadTokenizer(REPO, { tokenizerFile: file, backend: 'js' })] as const;

for (const type of ['unigram', 'bpe', 'wordlevel'] as const) {
  test(`${type}: JS == native ids on ${PAIRS.length} pairs at max length 512 and 48 (truncation), template and type ids included`, async () => {
    const [n, j] = load(files[type]);
    assert.is(n.backend, 'tokenizers');
    assert.is(j.backend, 'js');
    assert.match(j.describe(), /@huggingface\/tokenizers \(JS\)/);
    assert.equal([j.clsId, j.sepId, j.padId, j.unkId, j.maskId, j.vocabSize], [n.clsId, n.sepId, n.padId, n.unkId, n.maskId, n.vocabSize]);
    for (const L of [512, 48]) assert.equal(await compare(n, j, PAIRS, L), [], `${type} at ${L}: pairs whose ids differ`);
    const cut = await j.encodePair('neurons in transformers', LONG, 48);
    assert.is(cut.ids.length, 48);
    const seps = type === 'wordlevel' ? 1 : 2;
    const full = await j.encodePair('neurons in transformers', LONG, 512);
    assert.equal(cut.ids.slice(0, cut.sep1 + seps), full.ids.slice(0, full.sep1 + seps), 'query kept whole');
    assert.equal(cut.ids.slice(cut.sep1 + seps, -1), full.ids.slice(full.sep1 + seps, 47), 'passage a prefix');
    // the template: `<s> q </s></s> p </s>` (XLM-R/RoBERTa) or `[CLS] q [SEP] p [SEP]`
    const e = await j.encodePair('capital', 'Canberra', 64);
    assert.is(e.ids[0], j.clsId);
    assert.equal(e.ids.slice(e.sep1, e.sep1 + seps), new Array(seps).fill(j.sepId));
    assert.is(e.ids[e.ids.length - 1], j.sepId);
    assert.equal(e.typeIds, e.ids.map((_, i) => (i > e.sep1 + seps - 1 ? 1 : 0)));
    // a query that leaves no room for one passage token: refused by both
    const long = LONG.slice(0, 600);
    for (const t of [n, j]) {
      let threw = false;
      await t.encodePair(long, 'x', 16).catch(() => { threw = true; });
      assert.ok(threw, `${t.backend}: a 600-character query in 16 tokens`);
    }
  });
}

test('the tokenizer files differ by type and exercise what they claim (Precompiled folds full-width, Unigram unk, byte-level BPE)', async () => {
  const u = JSON.parse(readFileSync(files.unigram, 'utf8')), b = JSON.parse(readFileSync(files.bpe, 'utf8')), w = JSON.parse(readFileSync(files.wordlevel, 'utf8'));
  assert.equal([u.model.type, u.normalizer.normalizers[0].type, u.pre_tokenizer.type, u.post_processor.type], ['Unigram', 'Precompiled', 'Metaspace', 'TemplateProcessing']);
  assert.equal([b.model.type, b.pre_tokenizer.type, b.post_processor.type], ['BPE', 'ByteLevel', 'RobertaProcessing']);
  assert.equal([w.model.type, w.pre_tokenizer.type, w.post_processor.type], ['WordLevel', 'WhitespaceSplit', 'TemplateProcessing']);
  const [n] = load(files.unigram);
  // the charsmap folds full-width to ASCII and composes e + U+0301, as XLM-R's does
  assert.equal((await n.encodePair('ＡＢＣ', 'e\u0301', 16)).ids, (await n.encodePair('ABC', '\u00e9', 16)).ids);
  assert.ok((await n.encodePair('q', '🤗', 16)).ids.includes(n.unkId), 'an unknown emoji is <unk>');
  const [nb] = load(files.bpe);
  assert.not.ok((await nb.encodePair('q', '🤗 北京', 32)).ids.includes(nb.unkId), 'byte-level BPE has no unknowns');
});

const FAMILIES = path.join(FIXTURES, 'families');
needsShared(test, 'family fixtures (WordLevel, RobertaProcessing / TemplateProcessing): the JS backend gives the reference ids', () => {
  const fams = readdirSync(FAMILIES).filter((f) => !f.includes('.'));
  assert.ok(fams.includes('xlmr') && fams.length >= 5, fams.join(' '));
  for (const fam of fams) {
    const file = path.join(FAMILIES, fam, 'tokenizer.json');
    const t = JsonPairTokenizer.fromJson(JSON.parse(readFileSync(file, 'utf8')), file);
    const pairs = readFileSync(path.join(FAMILIES, fam, 'pairs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const R = fixtureRef(`families/${fam}`);
    assert.is(pairs.length, 6);
    pairs.forEach((p: { query: string; passage: string }, i: number) => {
      const e = t.encodePair(p.query, p.passage, 512);
      assert.equal(e.ids, Array.from(R(`p${i}.input_ids`)), `${fam} p${i}`);
      if (fam === 'xlmr') assert.equal(e.ids.slice(e.sep1, e.sep1 + 2), [2, 2], 'xlmr: </s></s>');
    });
  }
});

needsShared(test, 'bert-base-uncased: @huggingface/tokenizers == native on the DL19 pairs; differs on CJK extension B (why the page keeps the WordPiece port)', async () => {
  const lib = JsonPairTokenizer.fromJson(JSON.parse(readFileSync(TOKENIZER_JSON, 'utf8')), TOKENIZER_JSON);
  const n = loadTokenizer(REPO, { tokenizerFile: TOKENIZER_JSON, backend: 'tokenizers' });
  const dl19 = JSON.parse(readFileSync(path.join(FIXTURES, '../data/trec-dl/rank_llm-bm25-top100/retrieve_results_dl19.json'), 'utf8')) as { query: string; hits: { content: string }[] }[];
  const dl: Pair[] = dl19.flatMap((q) => q.hits.map((h): Pair => [q.query, h.content]));
  for (const L of [512, 128]) {
    const want = await n.encodePairs(dl, L);
    dl.forEach(([q, p], i) => { if (!same(lib.encodePair(q, p, L), want[i])) assert.unreachable(`DL19 pair ${i} at ${L} differs`); });
  }
  const diff = (await Promise.all(CASES.map(async (c) => same(lib.encodePair('q', c, 512), await n.encodePair('q', c, 512))))).map((ok, i) => (ok ? -1 : i)).filter((i) => i >= 0);
  // the library spaces CJK ideographs of the BMP only (U+20000 and above stay glued to their neighbours), and
  // lowercases a word-final Σ to ς (String.toLowerCase), where tokenizers lowercases per character (σ)
  assert.equal(diff, [CASES.findIndex((c) => c.includes('𠀀')), CASES.findIndex((c) => c.includes('ΣΑΣ'))]);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
