/** `ir-neurons report RUN_DIR [--pruning FILE] --out DIR|report.html`: HTML + JSON + Markdown report. */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs, required } from './args.ts';
import { UserError } from '../util/errors.ts';
import { readRunDir } from '../run/run-dir.ts';
import { reportInput } from '../pipeline/report-input.ts';
import { writeReport } from '../report/write.ts';

export function makeReport(runDir: string, pruningFile: string | undefined, out: string, title?: string, p?: number): string {
  const run = readRunDir(runDir);
  let pruning = null;
  if (pruningFile) {
    if (!existsSync(pruningFile)) throw new UserError(`${pruningFile}: no such pruning table; run 'ir-neurons prune' first`);
    pruning = JSON.parse(readFileSync(pruningFile, 'utf8')).table;
  }
  const html = out.endsWith('.html');
  const dir = html ? dirname(out) : out;
  const { files } = writeReport(dir, reportInput(run, pruning, { title, p }));
  const page = files.find((f) => f.endsWith('.html'))!;
  if (html && basename(out) !== basename(page)) renameSync(page, out);
  return html ? out : page;
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('report', argv, { pruning: 'string', out: 'string', title: 'string', p: 'number' });
  const runDir = a.positionals[0];
  if (!runDir) throw new UserError('give the run folder: ir-neurons report RUN_DIR --out report.html');
  const out = required('report', a, 'out');
  const pruning = (a.opts.pruning as string | undefined) ?? (existsSync(join(runDir, 'pruning.json')) ? join(runDir, 'pruning.json') : undefined);
  const page = makeReport(runDir, pruning, out, a.opts.title as string | undefined, a.opts.p as number | undefined);
  process.stderr.write(`report -> ${page}\n`);
  return 0;
}
