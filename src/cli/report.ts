/**
 * `ir-neurons report RUN_DIR [--pruning FILE] [--pruning-heads FILE] --out DIR|report.html`: HTML + JSON + Markdown
 * report. The run folder is verified first (src/run/run-dir.ts: keys, checksums, counts); a malformed pruning table
 * is a one-line error. A run with head cells gets a Heads section; its head-pruning table (`prune --units heads`:
 * pruning-heads.json) is --pruning-heads, else the one beside the FFN table, else RUN_DIR's.
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
import { pruneFiles, type PruneUnits } from '../pipeline/prune.ts';
import type { PruningTable } from '../analysis/pruning.ts';

/** A pruning table file of `units` (ffn: pruning.json, heads: pruning-heads.json), checked enough to draw. */
function readPruning(file: string, units: PruneUnits): PruningTable {
  const name = pruneFiles(units).table, flag = units === 'heads' ? '--pruning-heads' : '--pruning';
  if (!existsSync(file)) throw new UserError(`${file}: no such pruning table; run 'ir-neurons prune${units === 'heads' ? ' --units heads' : ''}' first`);
  const doc = readJsonFile<{ units?: unknown; table?: { rows?: unknown; baselines?: unknown } }>(file, `give the ${name} written by 'ir-neurons prune'`);
  if (!doc || typeof doc !== 'object' || !doc.table || !Array.isArray(doc.table.rows) || !Array.isArray(doc.table.baselines)) {
    throw new UserError(`${file}: not a pruning table (no table.rows and table.baselines); give the ${name} written by 'ir-neurons prune'`);
  }
  const has = doc.units === 'heads' ? 'heads' : 'ffn';
  if (has !== units) throw new UserError(`${file}: a pruning table of ${has === 'heads' ? 'heads' : 'FFN units'}, given as ${flag}; give it as ${has === 'heads' ? '--pruning-heads' : '--pruning'}`);
  return doc.table as PruningTable;
}

export function makeReport(runDir: string, pruningFile: string | undefined, out: string, title?: string, p?: number, extra: Omit<ReportOptions, 'p' | 'title' | 'pruningHeads'> = {}, pruningHeadsFile?: string): string {
  const pruning = pruningFile ? readPruning(pruningFile, 'ffn') : null;
  const beside = [pruningFile && join(dirname(pruningFile), pruneFiles('heads').table), join(runDir, pruneFiles('heads').table)].find((f): f is string => !!f && existsSync(f));
  const headsFile = pruningHeadsFile ?? beside;
  const pruningHeads = headsFile ? readPruning(headsFile, 'heads') : null;
  const run = readRunDir(runDir);
  if (pruningHeads && !run.headCells) throw new UserError(`${headsFile}: a head-pruning table, but ${runDir} has no head cells to report; give the run attributed with --units ffn-pre,heads`);
  const html = out.endsWith('.html');
  const dir = html ? dirname(out) : out;
  prepareOutDir(dir);
  if (html) checkOutFile(out);
  const { files } = writeReport(dir, reportInput(run, pruning, { ...extra, title, p, pruningHeads }));
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
    'pruning-heads': { kind: 'string', arg: 'FILE', derived: 'pruning-heads.json beside the pruning table, or in RUN_DIR, if present', help: "head-pruning table of 'ir-neurons prune --units heads' (the Heads section's curves)" },
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
  const page = makeReport(runDir, pruning, out, a.opts.title as string | undefined, a.opts.p as number | undefined, { exclude }, a.opts['pruning-heads'] as string | undefined);
  process.stderr.write(`report -> ${page}\n`);
  return 0;
}
