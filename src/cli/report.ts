/**
 * `ir-neurons report RUN_DIR [--pruning FILE] --out DIR|report.html`: HTML + JSON + Markdown report. The run folder
 * is verified first (src/run/run-dir.ts: keys, checksums, counts); a malformed pruning table is a one-line error.
 */
import { existsSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs, type CommandSpec } from './args.ts';
import { checkOutFile, prepareOutDir, readJsonFile } from '../util/out-path.ts';
import { UserError } from '../util/errors.ts';
import { guardWrite } from '../util/write-error.ts';
import { readRunDir } from '../run/run-dir.ts';
import { DEFAULT_REPORT_P, reportInput, type ReportOptions } from '../pipeline/report-input.ts';
import { writeReport } from '../report/write.ts';

export function makeReport(runDir: string, pruningFile: string | undefined, out: string, title?: string, p?: number, extra: Omit<ReportOptions, 'p' | 'title'> = {}): string {
  let pruning = null;
  if (pruningFile) {
    if (!existsSync(pruningFile)) throw new UserError(`${pruningFile}: no such pruning table; run 'ir-neurons prune' first`);
    const doc = readJsonFile<{ table?: { rows?: unknown; baselines?: unknown } }>(pruningFile, "give the pruning.json written by 'ir-neurons prune'");
    if (!doc || typeof doc !== 'object' || !doc.table || !Array.isArray(doc.table.rows) || !Array.isArray(doc.table.baselines)) {
      throw new UserError(`${pruningFile}: not a pruning table (no table.rows and table.baselines); give the pruning.json written by 'ir-neurons prune'`);
    }
    pruning = doc.table as never;
  }
  const run = readRunDir(runDir);
  const html = out.endsWith('.html');
  const dir = html ? dirname(out) : out;
  prepareOutDir(dir);
  if (html) checkOutFile(out);
  const { files } = writeReport(dir, reportInput(run, pruning, { ...extra, title, p }));
  const page = files.find((f) => f.endsWith('.html'))!;
  if (html && basename(out) !== basename(page)) guardWrite(out, () => renameSync(page, out));
  return html ? out : page;
}

export const command: CommandSpec = {
  name: 'report',
  usage: 'RUN_DIR [--pruning FILE] [options] --out DIR|FILE.html',
  summary: 'HTML, JSON and Markdown report of a dataset run folder (and its pruning table), after verifying the folder.',
  options: {
    pruning: { kind: 'string', arg: 'FILE', derived: 'RUN_DIR/pruning.json if present', help: "pruning table of 'ir-neurons prune'" },
    out: { kind: 'string', arg: 'DIR|FILE.html', required: true, help: 'a folder (report.html, report.json, report.md) or an .html file' },
    title: { kind: 'string', arg: 'TEXT', help: 'title of the report' },
    p: { kind: 'number', arg: 'PERCENT', min: 0, exclusiveMin: true, default: DEFAULT_REPORT_P, help: 'top p% of units per scheme' },
    exclude: { kind: 'string', arg: 'DATASETS', help: 'Fig. 3: also intersect all datasets but these (comma-separated, any datasets of the run); repeat the list with / for more rows, e.g. a,b/c' },
  },
  examples: ['ir-neurons report runs/merged --pruning runs/prune/pruning.json --out runs/report.html'],
};

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs('report', argv, command);
  const runDir = a.positionals[0];
  if (!runDir) throw new UserError('give the run folder: ir-neurons report RUN_DIR --out report.html');
  if (a.positionals.length > 1) throw new UserError(`give one run folder, got ${a.positionals.length} (${a.positionals.join(' ')}); merge shards first with ir-neurons merge`);
  const out = a.opts.out as string;
  const pruning = (a.opts.pruning as string | undefined) ?? (existsSync(join(runDir, 'pruning.json')) ? join(runDir, 'pruning.json') : undefined);
  const exclude = (a.opts.exclude as string | undefined)?.split('/').map((g) => g.split(',').map((d) => d.trim()).filter(Boolean)).filter((g) => g.length);
  const page = makeReport(runDir, pruning, out, a.opts.title as string | undefined, a.opts.p as number | undefined, { exclude });
  process.stderr.write(`report -> ${page}\n`);
  return 0;
}
