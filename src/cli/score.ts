/**
 * `ir-neurons score --model DIR [--tokenizer FILE] --pairs FILE.jsonl [--prune-mask FILE] [--max-length N]
 *  [--batch N] --out FILE.json`: logits and relevance of each pair, in input order.
 */
import { parseArgs, required } from './args.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { readPairsJsonl } from '../data/pairs-jsonl.ts';
import { readPruneMask } from '../model/prune-mask.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu, relevance } from '../model/forward.ts';
import { UserError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import { scoreEncoded } from '../model/score.ts';

export interface ScoreRow { id: string; logits: number[]; relevance: number }

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('score', argv, { model: 'string', tokenizer: 'string', pairs: 'string', 'prune-mask': 'string', 'max-length': 'number', batch: 'number', out: 'string' });
  const modelDir = required('score', a, 'model');
  const pairsFile = required('score', a, 'pairs');
  const outFile = required('score', a, 'out');
  const batch = (a.opts.batch as number | undefined) ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new UserError(`--batch must be a positive integer, got ${batch}`);
  const w = loadCheckpoint(modelDir);
  const tok = loadTokenizer(modelDir, { tokenizerFile: a.opts.tokenizer as string | undefined });
  if (tok.vocabSize > w.config.vocabSize) throw new UserError(`${tok.file}: tokenizer vocabulary (${tok.vocabSize}) is larger than the model's vocab_size (${w.config.vocabSize}); use the tokenizer of this checkpoint`);
  const maxLength = effectiveMaxLength(a.opts['max-length'] as number | undefined, w.config.maxPositions);
  const pairs = readPairsJsonl(pairsFile);
  const masks = a.opts['prune-mask'] ? readPruneMask(a.opts['prune-mask'] as string, w.config) : null;
  const enc = await tok.encodePairs(pairs.map((p) => [p.query, p.passage] as const), maxLength);
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  masks?.forEach((m, l) => model.setMask(l, m));
  const logits = await scoreEncoded(model, enc, batch);
  const rows: ScoreRow[] = pairs.map((p, i) => {
    const l = Array.from(logits[i]);
    for (const v of l) if (!Number.isFinite(v)) throw new Error(`pair ${p.id}: the model produced a non-finite logit (${v})`);
    return { id: p.id, logits: l, relevance: relevance(l, w.config.numLabels)[0] };
  });
  writeJsonAtomic(outFile, rows);
  process.stderr.write(`scored ${rows.length} pairs with ${modelDir}${masks ? ` (pruned: ${masks.reduce((s, m) => s + m.filter((x) => x === 0).length, 0)} units)` : ''} -> ${outFile}\n`);
  return 0;
}
