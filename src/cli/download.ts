/**
 * `ir-neurons download <org/name> [--revision R] [--dir DIR] [--stall-timeout S]`: fetches a cross-encoder from the
 * Hugging Face hub (src/hub/download.ts: config, weights, tokenizer; resumed, checked against the hub's sizes and
 * hashes) into DIR (default weights/<name>), then checks that the folder loads as `score` loads it: config, every
 * weight tensor against the config, the tokenizer, one pair encoded. HF_TOKEN for gated models, HF_ENDPOINT for
 * mirrors; a transfer that receives nothing for --stall-timeout seconds (IR_NEURONS_STALL_S, default 60) stops with
 * one line.
 */
import { join } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { DEFAULT_STALL_SECONDS, downloadModel, type DownloadProgress } from '../hub/download.ts';
import { loadCheckpoint } from '../model/checkpoint.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';
import { UserError } from '../util/errors.ts';
import { setWriteAdvice } from '../util/write-error.ts';

const MiB = 2 ** 20;

/** A progress bar on stderr: redrawn in place on a terminal, one line per finished file otherwise. */
function progressBar(): { tick(p: DownloadProgress): void; end(): void } {
  const tty = !!process.stderr.isTTY;
  let file = '', t0 = 0, last = 0, from = 0;
  return {
    tick(p) {
      const now = performance.now();
      if (p.file !== file) { file = p.file; t0 = now; last = 0; from = p.done; }
      const finished = p.done >= p.total;
      if (!tty) {
        if (finished && last !== -1) {
          process.stderr.write(`download: [${p.index + 1}/${p.count}] ${p.file} ${(p.total / MiB).toFixed(1)} MiB\n`);
          last = -1;
        }
        return;
      }
      if (!finished && now - last < 100) return;
      last = now;
      const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
      const width = 24, full = Math.round(frac * width);
      const rate = (p.done - from) / MiB / Math.max((now - t0) / 1000, 1e-3);
      process.stderr.write(`\r[${p.index + 1}/${p.count}] ${p.file} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ` +
        `${(p.done / MiB).toFixed(1)}/${(p.total / MiB).toFixed(1)} MiB ${rate.toFixed(1)} MiB/s\x1b[K`);
      if (finished) process.stderr.write('\n');
    },
    end() { /* every file ends its own line */ },
  };
}

export const command: CommandSpec = {
  name: 'download',
  usage: 'ORG/NAME [options]',
  summary: 'Fetches a cross-encoder from the Hugging Face hub (config, weights, tokenizer): resumable, each file checked against the size and hash the hub lists, then checks that the folder loads.',
  options: {
    revision: { kind: 'string', arg: 'R', default: 'main', help: 'branch, tag or commit' },
    dir: { kind: 'string', arg: 'DIR', derived: 'weights/<NAME>', help: 'where the files go (created)' },
    'stall-timeout': { kind: 'number', arg: 'S', min: 0, exclusiveMin: true, derived: `IR_NEURONS_STALL_S, else ${DEFAULT_STALL_SECONDS}`,
      help: 'seconds without a byte after which the download stops (what was received is kept: running again resumes)' },
  },
  notes: [
    'HF_TOKEN: a token for gated or private models; HF_ENDPOINT: a mirror instead of https://huggingface.co.',
    'A server that sends more than the size the hub lists is cut off at that size and the partial file deleted.',
  ],
  examples: ['ir-neurons download cross-encoder/ms-marco-MiniLM-L-6-v2 --dir weights/minilm-l6'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('download', argv, command);
  if (a.positionals.length !== 1) throw new UserError(`download takes one model id (org/name), got ${a.positionals.length ? a.positionals.join(' ') : 'none'}; e.g. ir-neurons download cross-encoder/ms-marco-MiniLM-L-6-v2`);
  const repo = a.positionals[0];
  const dir = (a.opts.dir as string | undefined) ?? join('weights', repo.split('/').pop() ?? repo);
  setWriteAdvice({ flag: '--dir', then: 'run the command again (it resumes the download)' });
  const bar = progressBar();
  const r = await downloadModel({
    repo, revision: a.opts.revision as string | undefined, dir, stallSeconds: a.opts['stall-timeout'] as number | undefined,
    onProgress: (p) => bar.tick(p),
    onNote: (line) => process.stderr.write(`download: ${line}\n`),
  });
  bar.end();
  // the folder must load the way `score` loads it
  const w = loadCheckpoint(dir);
  const tok = loadTokenizer(dir);
  if (tok.vocabSize > w.config.vocabSize) throw new UserError(`${tok.file}: tokenizer vocabulary (${tok.vocabSize}) is larger than the model's vocab_size (${w.config.vocabSize}); the repository's tokenizer does not belong to its weights`);
  await tok.encodePair('what is a neuron', 'a neuron is a cell', 32);
  const bytes = r.files.reduce((s, f) => s + f.size, 0);
  const how = (k: string) => r.files.filter((f) => f.how === k).length;
  process.stderr.write(`downloaded ${repo}@${r.commit.slice(0, 12)} -> ${dir}: ${r.files.length} files, ${(bytes / MiB).toFixed(1)} MiB ` +
    `(${how('fetched')} fetched, ${how('resumed')} resumed, ${how('present')} already there); loads: ${w.config.family ?? 'bert'}, ${w.config.layers} layers, hidden ${w.config.hidden}, ${tok.backend} tokenizer\n`);
  return 0;
}
