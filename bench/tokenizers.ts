/**
 * Load time and pair-encoding throughput of the three tokenizers on the real bert-base-uncased tokenizer.json:
 * the native `tokenizers` package, `@huggingface/tokenizers` (pure JS, what the page runs) and the WordPiece port
 * (src/tokenizer/wordpiece.ts), over the TREC DL19 BM25 top-100 pairs (4,300) at max length 512.
 *   node --import tsx bench/tokenizers.ts [--file tokenizer.json] [--repeat 3]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTokenizer } from '../src/tokenizer/tokenizer.ts';
import { WordPieceTokenizer } from '../src/tokenizer/wordpiece.ts';
import { JsonPairTokenizer } from '../src/tokenizer/json.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '../shared');
const arg = (k: string, d: string) => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : d; };
const FILE = arg('--file', path.join(SHARED, 'fixtures/tokenizer/bert-base-uncased.tokenizer.json'));
const REPEAT = Number(arg('--repeat', '3'));
const dl19 = JSON.parse(readFileSync(path.join(SHARED, 'data/trec-dl/rank_llm-bm25-top100/retrieve_results_dl19.json'), 'utf8')) as { query: string; hits: { content: string }[] }[];
const pairs = dl19.flatMap((q) => q.hits.map((h) => [q.query, h.content] as [string, string]));

const ms = (t0: number) => performance.now() - t0;
async function time(name: string, load: () => unknown, encodeAll: (t: any) => Promise<number[][]> | number[][]): Promise<number[][]> {
  let t0 = performance.now();
  const tok = load();
  const loadMs = ms(t0);
  let best = Infinity, out: number[][] = [];
  for (let r = 0; r < REPEAT; r++) { // the first round warms the word caches; best of REPEAT
    t0 = performance.now();
    out = await encodeAll(tok);
    best = Math.min(best, ms(t0));
  }
  const toks = out.reduce((s, ids) => s + ids.length, 0);
  console.log(`${name.padEnd(34)} load ${loadMs.toFixed(0).padStart(5)} ms   ${pairs.length} pairs in ${best.toFixed(0).padStart(5)} ms = ${(pairs.length / best * 1000).toFixed(0).padStart(6)} pairs/s, ${(toks / best / 1000).toFixed(2)} M tokens/s`);
  return out;
}

console.log(`${path.basename(FILE)}, ${pairs.length} DL19 pairs, max length 512, best of ${REPEAT}; node ${process.version}`);
const text = () => readFileSync(FILE, 'utf8');
const a = await time('native tokenizers (encodePairs)', () => loadTokenizer(ROOT, { tokenizerFile: FILE, backend: 'tokenizers' }),
  async (t) => (await t.encodePairs(pairs, 512)).map((e: { ids: number[] }) => e.ids));
const b = await time('@huggingface/tokenizers (JS)', () => JsonPairTokenizer.fromJson(JSON.parse(text()), FILE),
  (t) => pairs.map(([q, p]) => t.encodePair(q, p, 512).ids));
const c = await time('WordPiece port (JS)', () => WordPieceTokenizer.fromTokenizerJson(JSON.parse(text()), FILE),
  (t) => pairs.map(([q, p]) => t.encodePair(q, p, 512).ids));
const same = (x: number[][], y: number[][]) => x.every((ids, i) => ids.length === y[i].length && ids.every((v, j) => v === y[i][j]));
console.log(`identical ids: @huggingface/tokenizers ${same(a, b)}, WordPiece port ${same(a, c)}`);
