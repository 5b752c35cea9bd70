/**
 * `ir-neurons score --model DIR [--tokenizer FILE] --pairs FILE.jsonl [--prune-mask FILE] [--max-length N]
 *  [--batch N] --out FILE.json`: logits and relevance of each pair, in input order.
 */
import { parseArgs, type CommandSpec } from './args.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { effectiveMaxLength, loadTokenizer } from '../tokenizer/tokenizer.ts';
import { readPairsJsonl } from '../data/pairs-jsonl.ts';
import { readHeadMask, readPruneMask } from '../model/prune-mask.ts';
import { requestGpu } from '../gpu/node.ts';
import { BertGpu, relevance } from '../model/forward.ts';
import { UserError } from '../util/errors.ts';
import { writeJsonAtomic } from '../util/atomic.ts';
import { DEFAULT_SCORE_BATCH, scoreEncoded } from '../model/score.ts';
import { checkOutFile } from '../util/out-path.ts';
import { displayName, STDIN } from '../util/stdio.ts';
import { encodeNamedPairs } from '../pipeline/encode.ts';

export interface ScoreRow { id: string; logits: number[]; relevance: number }

export const command: CommandSpec = {
  name: 'score',
  usage: '--model DIR --pairs FILE.jsonl [options] --out FILE.json',
  summary: 'Logits and relevance of each query-passage pair, in input order (optionally with FFN neurons pruned).',
  options: {
    model: { kind: 'string', arg: 'DIR', required: true, help: 'checkpoint folder (config.json, weights, tokenizer)' },
    tokenizer: { kind: 'string', arg: 'FILE', help: "tokenizer.json or vocab.txt to use instead of the model folder's" },
    pairs: { kind: 'string', arg: 'FILE.jsonl', required: true, help: '{"id","query","passage"} lines (- for standard input)' },
    'prune-mask': { kind: 'string', arg: 'FILE', help: 'units to prune: safetensors with a layer.<i> mask [d_ff] per layer (1 keep, 0 prune)' },
    'head-mask': { kind: 'string', arg: 'FILE', help: "heads to prune: safetensors with a 'heads' mask [layers, heads] (1 keep, 0 prune: the head's context output zeroed)" },
    'max-length': { kind: 'int', arg: 'N', min: 1, derived: "the model's max_position_embeddings (≤ 512)", help: 'tokens per pair (passage truncated)' },
    batch: { kind: 'int', arg: 'N', min: 1, default: DEFAULT_SCORE_BATCH, help: 'pairs per forward pass (changes no number)' },
    out: { kind: 'string', arg: 'FILE.json', required: true, help: 'output file; its folder must exist (checked before scoring); - for standard output' },
  },
  examples: ['ir-neurons score --model weights/minilm-l6 --pairs pairs.jsonl --out scores.json'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('score', argv, command);
  if (a.positionals.length) throw new UserError(`unexpected argument '${a.positionals[0]}'; every input is an option (see ir-neurons score --help)`);
  const modelDir = a.opts.model as string;
  const pairsFile = a.opts.pairs as string;
  const outFile = a.opts.out as string;
  if (outFile !== STDIN) checkOutFile(outFile);
  const batch = a.opts.batch as number;
  const w = loadCheckpoint(modelDir);
  const tok = loadTokenizer(modelDir, { tokenizerFile: a.opts.tokenizer as string | undefined });
  if (tok.vocabSize > w.config.vocabSize) throw new UserError(`${tok.file}: tokenizer vocabulary (${tok.vocabSize}) is larger than the model's vocab_size (${w.config.vocabSize}); use the tokenizer of this checkpoint`);
  const maxLength = effectiveMaxLength(a.opts['max-length'] as number | undefined, w.config.maxPositions);
  const pairs = readPairsJsonl(pairsFile);
  const masks = a.opts['prune-mask'] ? readPruneMask(a.opts['prune-mask'] as string, w.config) : null;
  const enc = await encodeNamedPairs(tok, pairs, maxLength, displayName(pairsFile));
  const g = await requestGpu();
  const model = await BertGpu.create(g, w);
  masks?.forEach((m, l) => model.setMask(l, m));
  if (a.opts['head-mask']) model.setHeadMask(readHeadMask(a.opts['head-mask'] as string, w.config));
  const logits = await scoreEncoded(model, enc, batch);
  const rows: ScoreRow[] = pairs.map((p, i) => {
    const l = Array.from(logits[i]);
    for (const v of l) if (!Number.isFinite(v)) throw new Error(`pair ${p.id}: the model produced a non-finite logit (${v})`);
    return { id: p.id, logits: l, relevance: relevance(l, w.config.numLabels)[0] };
  });
  if (outFile === STDIN) process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
  else writeJsonAtomic(outFile, rows);
  process.stderr.write(`scored ${rows.length} pairs with ${modelDir}${masks ? ` (pruned: ${masks.reduce((s, m) => s + m.filter((x) => x === 0).length, 0)} units)` : ''} -> ${displayName(outFile, 'out')}\n`);
  return 0;
}
